#include "proxy/upstreams.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/log.h"
#include "forward/resolver.h"
#include "http/response_parser.h"
#include "net/socket.h"

namespace nuri::proxy {

namespace {

std::int64_t now_ms() { return base::monotonic_ms(); }

std::string display_name(const config::Proxy::Upstream& u) {
  bool v6 = u.host.find(':') != std::string::npos;
  return v6 ? fmt::format("[{}]:{}", u.host, u.port) : fmt::format("{}:{}", u.host, u.port);
}

}  // namespace

Server::Server(const config::Proxy::Upstream& config) : config_(config), name_(display_name(config)) {
  auto a = std::make_shared<Addresses>();
  if (config.numeric) {
    if (auto parsed = net::SocketAddress::parse(name_)) a->push_back(*parsed);
  }
  addresses_.store(std::move(a));
}

Group::Group(const config::Proxy& config, std::string where) : config_(config), where_(std::move(where)) {
  for (const auto& u : config.upstreams) servers_.push_back(std::make_unique<Server>(u));
}

std::size_t Group::pick(std::uint64_t tried, std::int64_t now) const {
  const std::size_t n = std::min(servers_.size(), kMaxServers);
  std::size_t best = npos;
  std::size_t fallback = npos;  // every candidate is down: the one back soonest
  std::uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (start + k) % n;
    if (tried & (std::uint64_t{1} << i)) continue;
    const Server& s = *servers_[i];
    if (s.addresses()->empty()) continue;
    if (s.is_down(now)) {
      if (fallback == npos || (!s.check_down.load(std::memory_order_relaxed) &&
                               s.down_until_ms.load(std::memory_order_relaxed) <
                                   servers_[fallback]->down_until_ms.load(std::memory_order_relaxed))) {
        fallback = i;
      }
      continue;
    }
    if (config_.balance == config::Proxy::Balance::round_robin) return i;
    // Least connections; ties go to the round-robin order, so equal upstreams still alternate.
    if (best == npos || s.active.load(std::memory_order_relaxed) < servers_[best]->active.load(std::memory_order_relaxed)) {
      best = i;
    }
  }
  return best != npos ? best : fallback;
}

void Group::report_failure(std::size_t i, std::int64_t now) const {
  Server& s = *servers_[i];
  s.failures.fetch_add(1, std::memory_order_relaxed);
  if (config_.max_fails == 0) return;
  if (s.fails.fetch_add(1, std::memory_order_relaxed) + 1 >= config_.max_fails) {
    s.fails.store(0, std::memory_order_relaxed);
    auto until = now + base::timeout_ms(config_.fail_timeout);
    if (s.down_until_ms.exchange(until, std::memory_order_relaxed) <= now) {
      base::log_warn("upstream {} failed {} time(s) in a row: skipped for {} s", s.name(), config_.max_fails,
                     config_.fail_timeout);
    }
  }
}

void Group::report_success(std::size_t i) const {
  Server& s = *servers_[i];
  if (s.fails.load(std::memory_order_relaxed) != 0) s.fails.store(0, std::memory_order_relaxed);
}

Monitor::Monitor(std::vector<Group*> groups) {
  std::int64_t now = now_ms();
  bool any = false;
  for (Group* g : groups) {
    for (std::size_t i = 0; i < g->size(); ++i) {
      Watched w{g, i};
      if (!g->server(i).config().numeric) {
        resolve(w, now);
        any = true;
      }
      if (!g->config().health_check.empty()) {
        w.check_due_ms = now;
        any = true;
      }
      watched_.push_back(w);
    }
  }
  if (any) thread_ = std::thread([this] { run(); });
}

Monitor::~Monitor() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Monitor::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    std::int64_t now = now_ms();
    std::int64_t next = now + 1000;
    lock.unlock();
    for (Watched& w : watched_) {
      if (w.resolve_due_ms >= 0 && w.resolve_due_ms <= now) resolve(w, now);
      if (w.check_due_ms >= 0 && w.check_due_ms <= now) check(w, now);
      if (w.resolve_due_ms >= 0) next = std::min(next, w.resolve_due_ms);
      if (w.check_due_ms >= 0) next = std::min(next, w.check_due_ms);
    }
    lock.lock();
    if (stop_) break;
    wake_.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(next - now_ms(), 10)));
  }
}

void Monitor::resolve(Watched& w, std::int64_t now) {
  Server& s = w.group->server(w.index);
  forward::Resolver resolver;
  forward::Resolution r = resolver.error().empty()
                              ? resolver.resolve(s.config().host, s.config().port, false)
                              : forward::Resolution{{}, 0, resolver.error()};
  if (!r.error.empty()) {
    // Keep what it resolved to before; ask again soon.
    base::log_warn("upstream {}: cannot resolve {}: {}{}", s.name(), s.config().host, r.error,
                   s.addresses()->empty() ? " (skipped until it resolves)" : " (the previous addresses stay)");
    w.resolve_due_ms = now + 5000;
    return;
  }
  s.set_addresses(std::make_shared<const Addresses>(std::move(r.addresses)));
  // Asked again when the answer expires, but not more than once a second.
  w.resolve_due_ms = now + std::max<std::int64_t>(r.ttl_seconds, 1) * 1000;
}

void Monitor::check(Watched& w, std::int64_t now) {
  const config::Proxy& cfg = w.group->config();
  Server& s = w.group->server(w.index);
  w.check_due_ms = now + base::timeout_ms(cfg.health_interval);
  auto addresses = s.addresses();
  std::string why = "no address";
  int timeout = static_cast<int>(std::min(cfg.connect_timeout + cfg.timeout, std::max(cfg.health_interval, 1.0)) * 1000);
  bool local = false;
  bool up = !addresses->empty() && check_upstream(*addresses, s.name(), cfg.health_check, timeout, why, local);
  if (local) return;  // no socket or port here: the upstream's state is as unknown as before, and kept
  bool was_down = s.check_down.exchange(!up, std::memory_order_relaxed);
  if (was_down && up) {
    base::log_info("upstream {}: health check GET {} passed: back in use", s.name(), cfg.health_check);
    s.fails.store(0, std::memory_order_relaxed);
    s.down_until_ms.store(0, std::memory_order_relaxed);
  } else if (!was_down && !up) {
    base::log_warn("upstream {}: health check GET {} failed ({}): skipped until a check passes", s.name(),
                   cfg.health_check, why);
  }
}

bool check_upstream(const Addresses& addresses, const std::string& host_header, const std::string& path,
                    int timeout_ms, std::string& why, bool& local) {
  local = false;
  const net::SocketAddress& a = addresses.front();
  net::FileDescriptor fd(::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    local = net::short_of_resources(errno);
    why = std::strerror(errno);
    return false;
  }
  auto deadline = now_ms() + timeout_ms;
  auto wait_for = [&](short events) {
    for (;;) {
      int left = static_cast<int>(deadline - now_ms());
      if (left <= 0) return false;
      pollfd p{fd.get(), events, 0};
      int rc = ::poll(&p, 1, left);
      if (rc > 0) return true;
      if (rc == 0) return false;
      if (errno != EINTR) return false;
    }
  };
  if (::connect(fd.get(), a.get(), a.length()) != 0 && errno != EINPROGRESS) {
    local = errno == EADDRNOTAVAIL;  // no local port free for it: says nothing of the upstream
    why = std::strerror(errno);
    return false;
  }
  if (!wait_for(POLLOUT)) {
    why = "connect timed out";
    return false;
  }
  int error = 0;
  socklen_t length = sizeof error;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    why = std::strerror(error);
    return false;
  }
  std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: nuri-health-check\r\nConnection: close\r\n\r\n",
                                    path, host_header);
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    why = "the request could not be sent";
    return false;
  }
  std::string head(4096, '\0');
  std::size_t got = 0;
  http::ResponseParser parser;
  http::Response response;
  for (;;) {
    if (!wait_for(POLLIN)) {
      why = "no answer in time";
      return false;
    }
    ssize_t n = ::recv(fd.get(), head.data() + got, head.size() - got, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      why = n == 0 ? "closed without an answer" : std::strerror(errno);
      return false;
    }
    got += static_cast<std::size_t>(n);
    http::ResponseResult r = parser.parse({head.data(), got}, http::Method::get, response);
    if (r.state == http::ParseState::error) {
      why = fmt::format("malformed response: {}", http::describe(r.error));
      return false;
    }
    if (r.state == http::ParseState::complete) break;
    if (got == head.size()) {
      why = "response head too large";
      return false;
    }
  }
  if (response.status >= 200 && response.status < 400) return true;
  why = fmt::format("status {}", response.status);
  return false;
}

}  // namespace nuri::proxy
