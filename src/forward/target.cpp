#include "forward/target.h"

#include <fmt/format.h>

#include <charconv>

namespace nuri::forward {

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

}  // namespace nuri::forward
