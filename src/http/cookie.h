#pragma once
// Cookies (RFC 6265): reading a Cookie request header and writing a Set-Cookie value.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/status.h"

namespace nuri::http {

/// One cookie of a Cookie header; views into the header's bytes.
struct CookiePair {
  std::string_view name;
  std::string_view value;  ///< without the DQUOTEs of a quoted value; never decoded
  bool operator==(const CookiePair&) const = default;
};

/// Appends the cookies of one Cookie header value (RFC 6265 §4.2: "a=1; b=2") to `out`; call
/// once per Cookie field. Lenient as browsers are: spaces and tabs around pairs, names and
/// values are ignored, and a pair that is not name=value with a token name and a value free
/// of control bytes, ';' and '"' (save a surrounding pair) and '\' is skipped, not an error.
/// Values are split only at ';', and names at the first '='. Returns Status::ok, or
/// header_fields_too_large (431) once `out` would hold more than `max_cookies`.
Status parse_cookie_header(std::string_view header, std::vector<CookiePair>& out,
                           std::size_t max_cookies = 200);

/// The value of the first cookie called `name` (RFC 6265 §5.4: the most specific path comes
/// first), or nullopt.
std::optional<std::string_view> find_cookie(const std::vector<CookiePair>& cookies,
                                            std::string_view name);

enum class SameSite : std::uint8_t { unset, strict, lax, none };

/// A cookie to set (RFC 6265 §4.1, SameSite from RFC 6265bis).
struct SetCookie {
  std::string name;
  std::string value;                   ///< cookie-octets, optionally in DQUOTEs; encode first
  std::string path;                    ///< empty: no Path attribute
  std::string domain;                  ///< empty: no Domain attribute (host-only cookie)
  std::optional<std::int64_t> max_age; ///< seconds; zero or less deletes the cookie (written 0)
  std::optional<std::time_t> expires;  ///< written as an IMF-fixdate
  bool secure = false;
  bool http_only = false;
  SameSite same_site = SameSite::unset;
};

enum class SetCookieError : std::uint8_t {
  ok,
  bad_name,         ///< empty or not a token
  bad_value,        ///< a byte outside cookie-octet (CR, LF, ';', ',', space, '"', '\', ...)
  too_large,        ///< name and value over 4096 bytes: browsers would drop it
  bad_path,         ///< a control byte, non-ASCII byte or ';'
  bad_domain,       ///< not letters, digits, '-' and '.'
  same_site_none_without_secure,  ///< browsers reject SameSite=None without Secure
  bad_prefix,       ///< "__Secure-" without Secure, or "__Host-" without Secure, Path=/ or
                    ///< with a Domain (RFC 6265bis §4.1.3)
};

/// What `e` means, for a log line or an exception message.
std::string_view describe(SetCookieError e);

/// Writes the value of a Set-Cookie field for `c` into `out` ("id=42; Path=/; Secure"), or
/// returns why it cannot: nothing a caller passes can inject a header or another attribute.
SetCookieError format_set_cookie(const SetCookie& c, std::string& out);

}  // namespace nuri::http
