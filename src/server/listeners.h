#pragma once
// The listening sockets of `nuri serve`, kept by the main thread across reloads. Each address has
// one SO_REUSEPORT socket per worker (or one socket shared by all, when systemd passed it in);
// workers get duplicates of them, so that a reload that keeps an address keeps its sockets and
// the connections waiting in their backlogs, and only addresses that went away are closed.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/socket.h"

namespace nuri::server {

/// A listening socket handed to a worker, and the index of the config listener it serves.
struct ListenSocket {
  net::FileDescriptor fd;
  std::size_t listener = 0;
};

class ListenerSet {
 public:
  explicit ListenerSet(unsigned workers) : workers_(workers) {}

  /// Takes the sockets systemd passed (LISTEN_PID, LISTEN_FDS: fds 3, 4, ...), if any were passed
  /// to this process. False with `error` when one is not a listening TCP socket.
  bool adopt_inherited(std::string& error);
  std::size_t inherited_count() const;

  /// Finds or opens the sockets for `listeners`, leaving the sockets in use untouched, and sets
  /// each listener's address to the one bound (the real port after port 0). No listeners: those
  /// systemd passed, or else 127.0.0.1:8080; a socket systemd passed that no listener names is
  /// served too (appended with default options), since closing it would refuse its clients.
  /// On failure, `error` says why and nothing changes.
  bool prepare(std::vector<config::Listener>& listeners, std::string& error);

  /// For worker `w`: duplicates of the prepared sockets, with their listener indexes.
  std::vector<ListenSocket> sockets_for(unsigned w) const;

  /// Whether every prepared address deals its new connections to the workers in turn; false:
  /// the kernel spreads them by the hash of the client's address (or, on a socket from systemd,
  /// to whichever worker wakes first).
  bool in_turn() const;

  /// The prepared set becomes the current one: sockets no listener uses any more are closed.
  void commit();
  /// Forgets the prepared set: sockets opened for it are closed, the current ones stay.
  void rollback();
  /// Closes every socket (at shutdown, once the workers were told to stop).
  void close_all();

 private:
  struct Entry {
    net::SocketAddress requested;  // as configured (port 0 stays 0)
    net::SocketAddress bound;
    std::vector<net::FileDescriptor> fds;  // one per worker, or one when inherited
    bool inherited = false;
    bool in_turn = false;  // its new connections go to the workers in turn (net/reuseport_balance.h)
  };

  Entry* find(const net::SocketAddress& address) const;
  void keep_only(const std::vector<Entry*>& used);

  unsigned workers_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<Entry*> current_;   // in listener order
  std::vector<Entry*> prepared_;
};

}  // namespace nuri::server
