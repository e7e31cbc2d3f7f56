#pragma once
// http:// URLs for `nuri get` (RFC 3986 §3, as browsers and curl read them): parsing, the
// request-target sent on the wire, and resolving a Location against the URL it came from.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nuri::client {

struct Url {
  std::string scheme = "http";
  std::string host;          ///< lower-cased; an IPv6 literal without its brackets
  bool ipv6 = false;         ///< host is an IPv6 literal
  std::uint16_t port = 80;
  std::string target = "/";  ///< path and query as sent on the wire (never empty, no fragment)

  /// "host", "host:port" when the port is not 80, "[v6]:port": the Host header (RFC 9112 §3.2).
  std::string authority() const;
  /// "http://authority/target".
  std::string to_string() const;
  /// The path alone (the target up to '?').
  std::string_view path() const;
};

enum class UrlError : std::uint8_t {
  none,
  malformed,    ///< not a URL nuri can use (bad host, port, credentials...)
  unsupported,  ///< a scheme other than http (https included)
};

/// Parses an absolute URL; "host:port/path" without a scheme is taken as http://, as curl does.
/// Bytes a request-target cannot carry (controls, space, non-ASCII, "<>\"\\^`{|}") are
/// percent-encoded, so no URL can inject anything into a request head. On failure returns
/// nullopt with the kind in `kind` and a one-line reason in `error`.
std::optional<Url> parse_url(std::string_view text, UrlError& kind, std::string& error);

/// Resolves a Location value (absolute, "//host/x", "/x", "x", "?q") against `base`
/// (RFC 3986 §5.2, dot segments removed).
std::optional<Url> resolve_reference(const Url& base, std::string_view reference, UrlError& kind,
                                     std::string& error);

/// RFC 3986 §5.2.4: "/a/b/../c/./d" becomes "/a/c/d".
std::string remove_dot_segments(std::string_view path);

}  // namespace nuri::client
