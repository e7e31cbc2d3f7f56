#include "forward/target.h"

#include <netdb.h>

#include <fmt/format.h>

#include <charconv>

namespace nuri::forward {

std::optional<net::SocketAddress> resolve_target(std::string_view text, std::string& error) {
  if (auto numeric = net::SocketAddress::parse(text)) {
    if (numeric->port() == 0) {
      error = fmt::format("target {}: port 0 cannot be connected to", text);
      return std::nullopt;
    }
    return numeric;
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
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  std::string host_z(host);
  int rc = ::getaddrinfo(host_z.c_str(), nullptr, &hints, &list);
  if (rc != 0 || !list) {
    error = fmt::format("cannot resolve target host {}: {}", host, rc == EAI_SYSTEM ? "system error" : gai_strerror(rc));
    if (list) ::freeaddrinfo(list);
    return std::nullopt;
  }
  net::SocketAddress out = net::SocketAddress::from(list->ai_addr, list->ai_addrlen);
  ::freeaddrinfo(list);
  out.set_port(static_cast<std::uint16_t>(port));
  return out;
}

}  // namespace nuri::forward
