#pragma once
// One forwarded TCP connection: the client's socket, the socket to the target, and a pipe per
// direction through which splice(2) moves the bytes without copying them to user space.
//
// Edge-triggered epoll says only when a socket *becomes* readable or writable, so each side
// remembers whether it may still be read or written; a direction stops reading its source while
// its pipe is full and the destination cannot take more (backpressure: the sender's TCP window
// closes), and continues on the destination's EPOLLOUT.
//
// Small messages (a request, a short reply) take a shortcut: while a direction's pipe is empty it
// reads with recv() into the worker's 16 KiB buffer and sends that straight on. For a few KiB one
// copy costs less than two splices, and a short read proves the socket drained, which saves the
// read that would otherwise only return EAGAIN. A full buffer means bulk data: the direction
// switches to splice, and back to copying once a splice from an empty pipe moves less than the
// buffer would have held.
#include <sys/socket.h>

#include <cstdint>

#include "forward/end_reason.h"
#include "forward/worker.h"
#include "net/address.h"
#include "net/event_loop.h"
#include "server/timer_list.h"

namespace nuri::forward {

class Session final : public Timed {
 public:
  /// Takes over the accepted `client_fd` of rule number `rule`.
  Session(Worker& worker, std::size_t rule, int client_fd, const sockaddr* peer, socklen_t peer_length);

  /// Starts the non-blocking connect to the target.
  void start();
  /// The connect or idle timer ran out.
  void on_timeout() override;
  /// Ends the session now (both sockets closed; a reset where `rst_*` says) and logs it.
  void finish(EndReason reason, bool rst_client, bool rst_target);

  server::TimerNode timer;
  std::size_t index_in_worker = 0;

 private:
  struct Side final : net::EventHandler {
    Session* session = nullptr;
    int fd = -1;
    bool readable = false;  // not known to be drained (edge-triggered: remember until EAGAIN)
    bool writable = false;
    bool hangup = false;    // EPOLLRDHUP/HUP/ERR seen: a FIN or error may wait behind the data
    void on_event(std::uint32_t events) override { session->on_event(*this, events); }
  };
  struct Direction {
    Side* from;
    Side* to;
    Pipe pipe;
    std::uint64_t bytes = 0;  // delivered to `to`
    bool eof = false;         // `from` sent its FIN
    bool shut = false;        // passed on: shutdown(to, SHUT_WR)
    bool bulk = false;        // the copy buffer came back full: splice until the flow thins out
  };
  enum class State : std::uint8_t { idle, connecting, relaying, closed };
  enum class Pump : std::uint8_t { ok, reset_from, reset_to, error };

  void on_event(Side& side, std::uint32_t events);
  void connect_target();
  void check_connect(std::uint32_t events);
  void connect_failed(int error);
  void connected();
  void relay();
  Pump pump(Direction& d, bool& progress);
  Pump copy(Direction& d, bool& moved);
  void reset_by(Side& broken);
  /// A reset (or another error) on `side` that no read or write ran into yet, say after its FIN
  /// or while the target is being connected: passed on now.
  void pass_on_error(Side& side);

  Worker& worker_;
  std::size_t rule_;
  State state_ = State::idle;
  Side client_;
  Side target_;
  Direction up_;    // client -> target
  Direction down_;  // target -> client
  net::SocketAddress peer_;
  std::int64_t started_ms_;
  int error_ = 0;  // errno behind EndReason::error
  std::size_t target_index_ = 0;  // in the worker's list of target addresses
  net::SocketAddress target_address_;
  std::size_t attempts_ = 0;      // targets tried so far (failover tries each once)
};

}  // namespace nuri::forward
