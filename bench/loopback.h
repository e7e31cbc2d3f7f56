#pragma once
// What bench/ceiling.cpp and bench/relay_ceiling.cpp share: each worker's own listener on
// 127.0.0.1 (SO_REUSEPORT) in an epoll set of its own, and the edge-triggered registration of
// the connections it accepts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>

namespace bench {

[[noreturn]] inline void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

inline sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

struct ListenLoop {
  int listener = -1;
  int epoll = -1;  // the listener is in it with a null data.ptr
};

/// A listener on 127.0.0.1:`port` with TCP_NODELAY (inherited by accepted sockets) and, if
/// asked, TCP_DEFER_ACCEPT (as nuri and h2o have), in a new epoll set. Exits on failure.
inline ListenLoop listen_loopback(int port, bool defer_accept) {
  ListenLoop l;
  l.listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(l.listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(l.listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(l.listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (defer_accept) setsockopt(l.listener, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
  const sockaddr_in a = loopback(port);
  if (bind(l.listener, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || listen(l.listener, 4096) != 0) {
    die("listen");
  }
  l.epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(l.epoll, EPOLL_CTL_ADD, l.listener, &ev);
  return l;
}

/// `fd` in `epoll`, edge-triggered for reading and writing, its events naming `ptr`.
inline void watch(int epoll, int fd, void* ptr) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = ptr;
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

}  // namespace bench
