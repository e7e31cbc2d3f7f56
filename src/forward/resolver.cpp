#include "forward/resolver.h"

#include <ares.h>
#include <poll.h>

#include <fmt/format.h>

#include <algorithm>

namespace nuri::forward {

namespace {

struct Pending {
  bool done = false;
  Resolution* out = nullptr;
  std::uint16_t port = 0;
};

void on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* p = static_cast<Pending*>(arg);
  p->done = true;
  if (status != ARES_SUCCESS) {
    p->out->error = ares_strerror(status);
    if (result) ares_freeaddrinfo(result);
    return;
  }
  std::int64_t ttl = -1;
  for (ares_addrinfo_node* n = result->nodes; n; n = n->ai_next) {
    if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
    net::SocketAddress a = net::SocketAddress::from(n->ai_addr, static_cast<socklen_t>(n->ai_addrlen));
    a.set_port(p->port);
    bool seen = std::any_of(p->out->addresses.begin(), p->out->addresses.end(),
                            [&](const net::SocketAddress& b) { return b.to_string() == a.to_string(); });
    if (!seen) p->out->addresses.push_back(a);
    ttl = ttl < 0 ? n->ai_ttl : std::min<std::int64_t>(ttl, n->ai_ttl);
  }
  p->out->ttl_seconds = std::max<std::int64_t>(ttl, 0);
  if (p->out->addresses.empty()) p->out->error = "no address";
  ares_freeaddrinfo(result);
}

}  // namespace

Resolver::Resolver(const std::string& server) {
  static const int init = ares_library_init(ARES_LIB_INIT_ALL);
  if (init != ARES_SUCCESS) {
    error_ = ares_strerror(init);
    return;
  }
  ares_options options{};
  options.timeout = 2000;
  options.tries = 2;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) {
    error_ = ares_strerror(rc);
    return;
  }
  channel_ = channel;
  if (!server.empty()) {
    rc = ares_set_servers_ports_csv(channel, server.c_str());
    if (rc != ARES_SUCCESS) error_ = fmt::format("--resolver {}: {}", server, ares_strerror(rc));
  }
}

Resolver::~Resolver() {
  if (channel_) ares_destroy(static_cast<ares_channel>(channel_));
}

Resolution Resolver::resolve(const std::string& host, std::uint16_t port, bool udp) {
  Resolution out;
  if (!channel_) {
    out.error = error_;
    return out;
  }
  auto channel = static_cast<ares_channel>(channel_);
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  Pending pending{false, &out, port};
  ares_getaddrinfo(channel, host.c_str(), nullptr, &hints, on_answer, &pending);
  // poll rather than select: by now the workers may hold descriptors above FD_SETSIZE.
  while (!pending.done) {
    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, sockets, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[n++] = {sockets[i], events, 0};
    }
    timeval tv{};
    timeval* wait = ares_timeout(channel, nullptr, &tv);
    int timeout_ms = wait ? static_cast<int>(wait->tv_sec * 1000 + wait->tv_usec / 1000) : 1000;
    int ready = ::poll(fds, n, timeout_ms);
    if (ready <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // lets c-ares see its timeouts
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      ares_socket_t r = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel, r, w);
    }
  }
  return out;
}

}  // namespace nuri::forward
