#include "forward/udp.h"

#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "net/cidr.h"

namespace nuri::forward {

net::FileDescriptor listen_udp(const net::SocketAddress& address, std::string& error) {
  net::FileDescriptor fd(::socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = fmt::format("cannot create a UDP socket for {}: {}", address.to_string(), std::strerror(errno));
    return {};
  }
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd.get(), address.get(), address.length()) != 0) {
    int e = errno;
    if (e == EADDRINUSE) {
      error = fmt::format("cannot listen on {} (UDP): the port is already in use by another program", address.to_string());
    } else if (e == EACCES) {
      error = fmt::format("cannot listen on {} (UDP): permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
                          address.to_string());
    } else if (e == EADDRNOTAVAIL) {
      error = fmt::format("cannot listen on {} (UDP): no interface of this machine has that address", address.to_string());
    } else {
      error = fmt::format("cannot listen on {} (UDP): {}", address.to_string(), std::strerror(e));
    }
    return {};
  }
  return fd;
}

// One client's entry in the table.
class UdpRelay::Session final : public net::EventHandler, public Timed {
 public:
  Session(UdpRelay& relay, const Key& key, const sockaddr* client, socklen_t length, const net::SocketAddress& target)
      : relay_(relay),
        key_(key),
        client_(net::SocketAddress::from(client, length)),
        target_(target),
        started_ms_(relay.worker_.now_ms()) {
    timer.owner = static_cast<Timed*>(this);
  }

  bool open() {
    fd_.reset(::socket(target_.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    // A connected UDP socket: the kernel keeps only the target's datagrams for us.
    if (!fd_ || ::connect(fd_.get(), target_.get(), target_.length()) != 0) return false;
    return relay_.worker_.loop().add(fd_.get(), EPOLLIN, this);
  }

  // A datagram from the client.
  void send(const char* data, std::size_t size) {
    ssize_t n = ::send(fd_.get(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == ECONNREFUSED) return end(EndReason::refused);  // ICMP port unreachable earlier
      return;  // a full buffer drops the datagram, as the network may
    }
    up_ += static_cast<std::uint64_t>(n);
    touch();
  }

  // Datagrams from the target: back to the client from the listening socket.
  void on_event(std::uint32_t) override {
    if (ended_) return;
    std::vector<char>& buffer = relay_.buffer_;
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNREFUSED) return end(EndReason::refused);
        return;  // EAGAIN
      }
      ssize_t sent = ::sendto(relay_.fd_, buffer.data(), static_cast<std::size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL,
                              client_.get(), client_.length());
      if (sent > 0) down_ += static_cast<std::uint64_t>(sent);
      touch();
    }
  }

  void on_timeout() override { end(EndReason::timeout); }

  void end(EndReason reason) {
    if (ended_) return;
    ended_ = true;
    Worker& w = relay_.worker_;
    server::TimerList::unlink(timer);
    fd_.reset();
    RuleState& rule = w.rule(relay_.rule_);
    rule.open.fetch_sub(1, std::memory_order_relaxed);
    std::string client = client_.to_string();
    std::string target = target_.to_string();
    w.log({client, rule.listen_text, target, up_, down_, w.now_ms() - started_ms_, reason});
    relay_.sessions_.erase(key_);
    relay_.retired_.push_back(this);
  }

  server::TimerNode timer;

 private:
  void touch() { relay_.worker_.idle_timers(relay_.rule_).schedule(timer, relay_.worker_.now_ms()); }

  UdpRelay& relay_;
  Key key_;
  net::SocketAddress client_;
  net::SocketAddress target_;
  net::FileDescriptor fd_;
  std::uint64_t up_ = 0;
  std::uint64_t down_ = 0;
  std::int64_t started_ms_;
  bool ended_ = false;
};

std::size_t UdpRelay::KeyHash::operator()(const Key& k) const {
  // FNV-1a over the address and port: cheap, and the table is per worker.
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  for (std::uint8_t b : k.address) mix(b);
  mix(static_cast<std::uint8_t>(k.port >> 8));
  mix(static_cast<std::uint8_t>(k.port));
  mix(k.family);
  return static_cast<std::size_t>(h);
}

UdpRelay::Key UdpRelay::key_of(const sockaddr* sa) {
  Key k;
  k.family = static_cast<std::uint8_t>(sa->sa_family);
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(k.address.data(), &in6->sin6_addr, 16);
    k.port = in6->sin6_port;
  } else {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(k.address.data(), &in4->sin_addr, 4);
    k.port = in4->sin_port;
  }
  return k;
}

UdpRelay::UdpRelay(Worker& worker, std::size_t rule, int listen_fd)
    : worker_(worker), rule_(rule), fd_(listen_fd), buffer_(65536) {}

UdpRelay::~UdpRelay() {
  end_all(EndReason::shutdown);
  collect();
}

UdpRelay::Session* UdpRelay::open_session(const Key& key, const sockaddr* client, socklen_t length) {
  RuleState& r = worker_.rule(rule_);
  if (!r.rule.access.empty() && !net::access_allowed(r.rule.access, client)) {
    // Dropped, not logged: a stream of datagrams from a denied host must not flood the log.
    r.denied.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  unsigned open = r.open.fetch_add(1, std::memory_order_relaxed);
  if (r.rule.max_conns != 0 && open >= r.rule.max_conns) {
    r.open.fetch_sub(1, std::memory_order_relaxed);
    r.over_limit.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  r.accepted.fetch_add(1, std::memory_order_relaxed);
  const net::SocketAddress& target = worker_.target(rule_, worker_.pick_target(rule_));
  auto* s = new Session(*this, key, client, length, target);
  sessions_.emplace(key, s);
  if (!s->open()) {
    base::log_error("forward {} (UDP): cannot open a socket to {}: {}", r.listen_text, target.to_string(),
                    std::strerror(errno));
    s->end(EndReason::error);
    return nullptr;
  }
  return s;
}

void UdpRelay::on_event(std::uint32_t) {
  if (fd_ < 0) return;
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    ssize_t n = ::recvfrom(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&peer), &length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN (an ICMP error for an earlier reply to a client is dropped too)
    }
    const auto* client = reinterpret_cast<const sockaddr*>(&peer);
    Key key = key_of(client);
    auto it = sessions_.find(key);
    Session* s = it != sessions_.end() ? it->second : open_session(key, client, length);
    if (s) s->send(buffer_.data(), static_cast<std::size_t>(n));
  }
}

void UdpRelay::end_all(EndReason reason) {
  while (!sessions_.empty()) sessions_.begin()->second->end(reason);
  fd_ = -1;
}

void UdpRelay::collect() {
  for (Session* s : retired_) delete s;
  retired_.clear();
}

}  // namespace nuri::forward
