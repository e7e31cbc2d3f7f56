#pragma once
// Address ranges ("10.0.0.0/8", "::1", "2001:db8::/32") and ordered allow/deny lists, the
// firewall inbound rule of the lecture applied per listener and per location.
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nuri::net {

/// An IPv4 or IPv6 network. IPv4-mapped IPv6 client addresses (::ffff:a.b.c.d) match IPv4 ranges.
class Cidr {
 public:
  /// Parses "a.b.c.d", "a.b.c.d/n", an IPv6 address with or without "/n", or "all" (every
  /// address of both families). Host bits beyond the prefix must be zero ("10.0.0.1/8" is an
  /// error: it almost always hides a typo). nullopt when invalid.
  static std::optional<Cidr> parse(std::string_view text);

  /// The same, and on failure sets `why` to the reason ("host bits set beyond /8", "prefix
  /// /33 out of range 0..32", ...), for configuration error messages.
  static std::optional<Cidr> parse(std::string_view text, std::string& why);

  /// Whether the address `sa` (AF_INET or AF_INET6) lies in this range.
  bool contains(const sockaddr* sa) const;

  /// "10.0.0.0/8", "::1/128", "all".
  std::string to_string() const;

 private:
  int family_ = 0;  // AF_INET, AF_INET6, or 0 for "all"
  std::array<std::uint8_t, 16> bytes_{};
  int prefix_ = 0;
};

/// One rule of an access list.
struct AccessRule {
  bool allow = true;
  Cidr range;
};

/// Rules are evaluated in order; the first whose range contains the client decides. A client no
/// rule matches is allowed when the list is empty, and otherwise gets the opposite of the last
/// rule (a list ending in "allow" denies the rest, one ending in "deny" allows the rest), as
/// nginx and Apache operators expect.
bool access_allowed(const std::vector<AccessRule>& rules, const sockaddr* client);

/// What decided access_allowed(): `rule` is the index of the first rule containing the client,
/// or -1 when none did (then the list's default applied: allowed when empty, else the opposite
/// of the last rule). For `nuri explain`, which names the rule that denies.
struct AccessVerdict {
  bool allowed = true;
  int rule = -1;
};
AccessVerdict access_verdict(const std::vector<AccessRule>& rules, const sockaddr* client);

}  // namespace nuri::net
