#pragma once
// UDP forwarding, like a NAT table: each client address gets a session with its own socket
// connected to the target, so replies find their way back and the target sees one peer per
// client. A session ends after --idle-timeout without a datagram either way; --max-conns bounds
// the table (all workers together). With SO_REUSEPORT the kernel sends one client's datagrams to
// the same worker's socket, so each worker's table is its own.
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "forward/worker.h"
#include "net/address.h"
#include "net/event_loop.h"
#include "net/socket.h"

namespace nuri::forward {

/// A non-blocking UDP socket bound to `address` with SO_REUSEPORT (one per worker); on failure
/// an invalid descriptor and `error` set to one line.
net::FileDescriptor listen_udp(const net::SocketAddress& address, std::string& error);

class UdpRelay final : public net::EventHandler {
 public:
  UdpRelay(Worker& worker, std::size_t rule, int listen_fd);
  ~UdpRelay() override;
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  /// Datagrams from clients.
  void on_event(std::uint32_t events) override;
  /// Ends every session (stop accepting datagrams: there is nothing to finish gracefully).
  void end_all(EndReason reason);
  /// Frees the sessions that ended in this loop iteration (an event may still have been queued).
  void collect();
  int fd() const { return fd_; }

 private:
  class Session;
  struct Key {
    std::array<std::uint8_t, 16> address{};
    std::uint16_t port = 0;
    std::uint8_t family = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  static Key key_of(const sockaddr* sa);
  Session* open_session(const Key& key, const sockaddr* client, socklen_t length);

  Worker& worker_;
  std::size_t rule_;
  int fd_;
  std::unordered_map<Key, Session*, KeyHash> sessions_;
  std::vector<Session*> retired_;
  std::vector<char> buffer_;  // one datagram; the largest UDP payload
};

}  // namespace nuri::forward
