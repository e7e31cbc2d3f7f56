#include "forward/resolver.h"

#include <ares.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "dns/channel.h"

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
  dns::run_channel(channel, pending.done, std::chrono::steady_clock::now());
  return out;
}

}  // namespace nuri::forward
