#include "net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <cstring>

namespace nuri::net {

namespace {

// The IPv4-mapped IPv6 prefix ::ffff:0:0/96 (RFC 4291 §2.5.5.2).
constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Strict dotted quad: four decimal parts 0..255, no leading zeros (some parsers read "010" as
// octal 8, so an operator writing it meant something we cannot be sure of), nothing else.
bool parse_ipv4(std::string_view text, std::uint8_t* out) {
  int part = 0;
  std::size_t i = 0;
  while (part < 4) {
    std::size_t start = i;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 4) {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    const std::size_t digits = i - start;
    if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && text[start] == '0')) return false;
    out[part++] = static_cast<std::uint8_t>(value);
    if (part < 4) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
  }
  return i == text.size();
}

bool parse_ipv6(std::string_view text, std::uint8_t* out) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  for (const char c : text) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    if (!ok) return false;  // no zone ids ("%eth0"), no brackets
  }
  // An embedded IPv4 tail follows the same strict rules as a plain one.
  if (const auto dot = text.find('.'); dot != std::string_view::npos) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon > dot) return false;
    std::uint8_t ignored[4];
    if (!parse_ipv4(text.substr(colon + 1), ignored)) return false;
  }
  char buffer[INET6_ADDRSTRLEN];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return inet_pton(AF_INET6, buffer, out) == 1;
}

// Whether the first `prefix` bits of `a` and `b` are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a, b, static_cast<std::size_t>(whole)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  std::string ignored;
  return parse(text, ignored);
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string& why) {
  Cidr out;
  if (text == "all") return out;
  std::string_view address = text;
  std::string_view prefix_text;
  const bool has_prefix = text.find('/') != std::string_view::npos;
  if (has_prefix) {
    const auto slash = text.find('/');
    address = text.substr(0, slash);
    prefix_text = text.substr(slash + 1);
  }
  if (address.find(':') != std::string_view::npos) {
    if (!parse_ipv6(address, out.bytes_.data())) {
      why = fmt::format("\"{}\" is not an IPv6 address", address);
      return std::nullopt;
    }
    out.family_ = AF_INET6;
  } else {
    if (!parse_ipv4(address, out.bytes_.data())) {
      why = address.empty() ? std::string("empty address")
                            : fmt::format("\"{}\" is not an IPv4 address (a.b.c.d, each 0..255 without leading zeros)", address);
      return std::nullopt;
    }
    out.family_ = AF_INET;
  }
  const int max_prefix = out.family_ == AF_INET ? 32 : 128;
  out.prefix_ = max_prefix;
  if (has_prefix) {
    int value = 0;
    bool ok = !prefix_text.empty() && prefix_text.size() <= 3 && !(prefix_text.size() > 1 && prefix_text[0] == '0');
    // Digits are summed only once the length is known to be at most 3: a long run of digits
    // would overflow `value` (found by config_fuzz).
    for (const char c : prefix_text) {
      if (!ok || c < '0' || c > '9') {
        ok = false;
        break;
      }
      value = value * 10 + (c - '0');
    }
    if (!ok) {
      why = fmt::format("\"/{}\" is not a prefix length", prefix_text);
      return std::nullopt;
    }
    if (value > max_prefix) {
      why = fmt::format("prefix /{} out of range 0..{}", value, max_prefix);
      return std::nullopt;
    }
    out.prefix_ = value;
  }
  // Host bits beyond the prefix must be zero: "10.0.0.1/8" almost always hides a typo.
  const std::size_t length = out.family_ == AF_INET ? 4 : 16;
  for (std::size_t bit = static_cast<std::size_t>(out.prefix_); bit < length * 8; ++bit) {
    if (out.bytes_[bit / 8] & (0x80 >> (bit % 8))) {
      Cidr network = out;
      for (std::size_t b = static_cast<std::size_t>(out.prefix_); b < length * 8; ++b) {
        network.bytes_[b / 8] = static_cast<std::uint8_t>(network.bytes_[b / 8] & ~(0x80 >> (b % 8)));
      }
      why = fmt::format("host bits set beyond /{} (the network is {})", out.prefix_, network.to_string());
      return std::nullopt;
    }
  }
  return out;
}

bool Cidr::contains(const sockaddr* sa) const {
  if (!sa) return false;
  if (family_ == 0) return true;
  // Compare in IPv6 space: an IPv4 address is ::ffff:a.b.c.d, an IPv4 range is ::ffff:a.b.c.d/96+n.
  std::array<std::uint8_t, 16> client{};
  if (sa->sa_family == AF_INET) {
    std::memcpy(client.data(), kMappedPrefix.data(), kMappedPrefix.size());
    std::memcpy(client.data() + 12, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    std::memcpy(client.data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  } else {
    return false;
  }
  const bool ipv4_client = std::memcmp(client.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
  if (family_ == AF_INET6) {
    // An IPv6 range holds IPv4 clients only when written in mapped form (::ffff:a.b.c.d/96 and
    // longer). Else "::/0" or "::/1", meant for IPv6 clients, would take in every IPv4 client
    // too (as an allow), or shut them all out (as a deny). nginx keeps the two apart as well.
    const bool mapped_range =
        prefix_ >= 96 && std::memcmp(bytes_.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
    if (ipv4_client && !mapped_range) return false;
    return same_prefix(client.data(), bytes_.data(), prefix_);
  }
  if (!ipv4_client) return false;
  return same_prefix(client.data() + 12, bytes_.data(), prefix_);
}

std::string Cidr::to_string() const {
  if (family_ == 0) return "all";
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(family_, bytes_.data(), text, sizeof text)) return "?";
  return fmt::format("{}/{}", text, prefix_);
}

AccessVerdict access_verdict(const std::vector<AccessRule>& rules, const sockaddr* client) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].range.contains(client)) return {rules[i].allow, static_cast<int>(i)};
  }
  return {rules.empty() || !rules.back().allow, -1};
}

bool access_allowed(const std::vector<AccessRule>& rules, const sockaddr* client) {
  return access_verdict(rules, client).allowed;
}

}  // namespace nuri::net
