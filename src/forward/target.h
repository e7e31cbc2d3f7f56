#pragma once
// The target of a rule as the operator wrote it: "192.168.17.17:80", "[2001:db8::1]:80" or
// "backend.lan:80" (a host name is resolved once, at start-up).
#include <optional>
#include <string>
#include <string_view>

#include "net/address.h"

namespace nuri::forward {

/// The address to connect to, or nullopt with `error` set to one line for the user ("cannot
/// resolve backend.lan: Name or service not known", "expected HOST:PORT ...").
std::optional<net::SocketAddress> resolve_target(std::string_view text, std::string& error);

}  // namespace nuri::forward
