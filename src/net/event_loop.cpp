#include "net/event_loop.h"

#include <cerrno>
#include <stdexcept>

namespace nuri::net {

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw std::runtime_error("epoll_create1 failed");
}

bool EventLoop::add(int fd, std::uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int EventLoop::wait(int timeout_ms) {
  int n = ::epoll_wait(epoll_.get(), events_, 256, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -1;
  return n;
}

void EventLoop::dispatch(int count) {
  for (int i = 0; i < count; ++i) {
    static_cast<EventHandler*>(events_[i].data.ptr)->on_event(events_[i].events);
  }
}

}  // namespace nuri::net
