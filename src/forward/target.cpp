#include "forward/target.h"

#include <fmt/format.h>
#include <ifaddrs.h>

#include <charconv>

namespace nuri::forward {

namespace {

// An address of one of this machine's interfaces, up or not (one brought up later would close
// the loop as well).
bool is_interface_address(const net::SocketAddress& address) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  const socklen_t length = address.family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  bool found = false;
  for (ifaddrs* it = list; it && !found; it = it->ifa_next) {
    found = it->ifa_addr && it->ifa_addr->sa_family == address.family() &&
            net::SocketAddress::from(it->ifa_addr, length).host() == address.host();
  }
  ::freeifaddrs(list);
  return found;
}

// Connecting to 0.0.0.0 or :: reaches this machine too (Linux takes it for loopback).
bool is_this_machine(const net::SocketAddress& address) {
  return address.is_loopback() || address.is_unspecified() || is_interface_address(address);
}

}  // namespace

std::optional<TargetSpec> parse_target(std::string_view text, std::string& error) {
  TargetSpec spec;
  spec.text = std::string(text);
  if (auto numeric = net::SocketAddress::parse(text)) {
    if (numeric->port() == 0) {
      error = fmt::format("target {}: port 0 cannot be connected to", text);
      return std::nullopt;
    }
    spec.port = numeric->port();
    spec.address = numeric;
    return spec;
  }
  const std::string usage = fmt::format("target '{}': expected HOST:PORT, like 192.168.17.17:80, [::1]:80 or backend.lan:80", text);
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || text.front() == '[') {
    error = usage;
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535 || host.find(':') != std::string_view::npos) {
    error = usage;
    return std::nullopt;
  }
  // Looks like a dotted address but did not parse: a typo, not a name to ask DNS about.
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
    error = fmt::format("target '{}': {} is not a valid IPv4 address", text, host);
    return std::nullopt;
  }
  spec.host = std::string(host);
  spec.port = static_cast<std::uint16_t>(port);
  return spec;
}

std::string forwarding_loop(const net::SocketAddress& listen, const TargetSpec& target,
                            const net::SocketAddress& address) {
  // An IPv6 listener is IPv6 only (IPV6_V6ONLY), so a wildcard catches its own family alone.
  // Port 0 (any free port, or no listen address yet) never matches a target's port.
  if (address.port() != listen.port() || address.family() != listen.family()) return {};
  const std::string name = target.host.empty() ? target.text : fmt::format("{} ({})", target.text, address.to_string());
  const std::string consequence = "connections would loop back to this rule until out of file descriptors";
  if (address.to_string() == listen.to_string()) {
    return fmt::format("target {} is the listen address itself: {}", name, consequence);
  }
  if (listen.is_unspecified() && is_this_machine(address)) {
    return fmt::format("target {} is on this machine, where {} listens on every address: {}", name,
                       listen.to_string(), consequence);
  }
  return {};
}

}  // namespace nuri::forward
