#pragma once
// One edge-triggered epoll loop per worker thread.
#include <sys/epoll.h>

#include <cstdint>

#include "net/socket.h"

namespace nuri::net {

/// Something that waits for readiness of a file descriptor.
class EventHandler {
 public:
  virtual ~EventHandler() = default;
  /// Called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP).
  virtual void on_event(std::uint32_t events) = 0;
};

class EventLoop {
 public:
  EventLoop();

  /// Watches `fd` for `events` (EPOLLET is added); `handler` must outlive the registration.
  bool add(int fd, std::uint32_t events, EventHandler* handler);
  void remove(int fd);

  /// Waits up to `timeout_ms` for readiness. Returns the number of ready events (0 on timeout
  /// or signal, -1 on error); hand that number to dispatch().
  int wait(int timeout_ms);

  /// Calls the handlers of the `count` events that wait() found.
  void dispatch(int count);

 private:
  FileDescriptor epoll_;
  epoll_event events_[256];
};

}  // namespace nuri::net
