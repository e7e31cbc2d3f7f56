#pragma once
// The targets of a rule as the operator wrote them: "192.168.17.17:80", "[2001:db8::1]:80" or
// "backend.lan:80" (a host name, resolved with c-ares: see resolver.h).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/address.h"

namespace nuri::forward {

struct TargetSpec {
  std::string text;                        ///< as given
  std::string host;                        ///< the name to resolve; empty for a numeric address
  std::uint16_t port = 0;
  std::optional<net::SocketAddress> address;  ///< set for a numeric address
};

/// Checks the syntax of one TARGET, or returns nullopt with `error` set to one line for the user
/// ("target 'x': expected HOST:PORT ...", "300.1.2.3 is not a valid IPv4 address").
std::optional<TargetSpec> parse_target(std::string_view text, std::string& error);

/// Empty, or one line for the user saying why forwarding from `listen` to `address` (what
/// `target` is, or what its name resolved to) would loop: the address is the listener itself,
/// or the listener is a wildcard (0.0.0.0, [::]) on the same port and the address is one of this
/// machine's (loopback, 0.0.0.0/::, or an interface's). Each connection would be forwarded to
/// the forwarder again, and that one again, until the process ran out of descriptors.
std::string forwarding_loop(const net::SocketAddress& listen, const TargetSpec& target,
                            const net::SocketAddress& address);

}  // namespace nuri::forward
