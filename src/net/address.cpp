#include "net/address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace nuri::net {

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  std::string host_z(host);
  SocketAddress out;
  if (text.front() == '[') {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage_);
    if (inet_pton(AF_INET6, host_z.c_str(), &sin6->sin6_addr) != 1) return std::nullopt;
    sin6->sin6_family = AF_INET6;
    out.length_ = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage_);
    if (inet_pton(AF_INET, host_z.c_str(), &sin->sin_addr) != 1) return std::nullopt;
    sin->sin_family = AF_INET;
    out.length_ = sizeof(sockaddr_in);
  }
  out.set_port(static_cast<std::uint16_t>(port));
  return out;
}

SocketAddress SocketAddress::from(const sockaddr* sa, socklen_t len) {
  SocketAddress out;
  std::memcpy(&out.storage_, sa, std::min<std::size_t>(len, sizeof(out.storage_)));
  out.length_ = len;
  return out;
}

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

void SocketAddress::set_port(std::uint16_t port) {
  if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  }
}

std::size_t format_host(const sockaddr* sa, char* out, std::size_t size) {
  const void* addr = sa->sa_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr)
                                               : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  if (!inet_ntop(sa->sa_family, addr, out, static_cast<socklen_t>(size))) {
    out[0] = '?';
    out[1] = '\0';
    return 1;
  }
  return std::strlen(out);
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN];
  std::size_t n = format_host(get(), text, sizeof text);
  return std::string(text, n);
}

std::string SocketAddress::to_string() const {
  if (family() == AF_INET6) return fmt::format("[{}]:{}", host(), port());
  return fmt::format("{}:{}", host(), port());
}

std::string SocketAddress::url() const { return fmt::format("http://{}/", to_string()); }

bool SocketAddress::is_loopback() const {
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr) >> 24) == 127;
}

bool SocketAddress::is_unspecified() const {
  if (family() == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
  }
  return reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr == htonl(INADDR_ANY);
}

std::vector<std::string> interface_addresses(int family) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr || it->ifa_addr->sa_family != family || !(it->ifa_flags & IFF_UP)) continue;
    char text[INET6_ADDRSTRLEN];
    std::size_t n = format_host(it->ifa_addr, text, sizeof text);
    out.push_back(fmt::format("{} ({})", std::string_view(text, n), it->ifa_name));
  }
  freeifaddrs(list);
  return out;
}

}  // namespace nuri::net
