#pragma once
// Wakes an event loop from another thread: an eventfd in the loop's epoll set. Its event only
// ends the wait; the loop's owner then acts on what was asked (stop, reload) after the batch of
// events is dispatched, when nothing it replaces can still have an event queued.
#include <cstdint>

#include "net/event_loop.h"
#include "net/socket.h"

namespace nuri::net {

class Waker final : public EventHandler {
 public:
  Waker();

  /// Adds it to `loop` (the thread that runs the loop calls this once).
  bool add_to(EventLoop& loop) { return loop.add(fd_.get(), EPOLLIN, this); }

  /// From any thread.
  void wake();

  void on_event(std::uint32_t events) override;

  /// Its eventfd, for as long as the Waker lives.
  int fd() const { return fd_.get(); }

 private:
  FileDescriptor fd_;
};

}  // namespace nuri::net
