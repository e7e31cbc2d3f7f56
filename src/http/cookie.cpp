#include "http/cookie.h"

#include <fmt/format.h>

#include "http/chars.h"
#include "http/date.h"
#include "http/field_values.h"

namespace nuri::http {
namespace {

/// cookie-octet (RFC 6265 §4.1.1): US-ASCII except CTLs, whitespace, DQUOTE, ',', ';' and '\'.
constexpr bool is_cookie_octet(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/// A byte a lenient reader takes inside a received value: what browsers actually store, which
/// includes spaces and commas, but nothing that could end a field or confuse a quoted string.
constexpr bool is_received_value_byte(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return (c >= 0x20 && c != 0x7F && c != '"' && c != ';' && c != '\\');
}

using fields::trim_ows;

using chars::is_token;

/// cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )
bool is_cookie_value(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  for (const char c : v) {
    if (!is_cookie_octet(c)) return false;
  }
  return true;
}

}  // namespace

Status parse_cookie_header(std::string_view header, std::vector<CookiePair>& out,
                           std::size_t max_cookies) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view pair = header.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = trim_ows(pair.substr(0, eq));
    std::string_view value = trim_ows(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (!is_token(name)) continue;
    bool ok = true;
    for (const char c : value) ok = ok && is_received_value_byte(c);
    if (!ok) continue;
    if (out.size() >= max_cookies) return Status::header_fields_too_large;
    out.push_back({name, value});
  }
  return Status::ok;
}

std::optional<std::string_view> find_cookie(const std::vector<CookiePair>& cookies,
                                            std::string_view name) {
  for (const CookiePair& c : cookies) {
    if (c.name == name) return c.value;
  }
  return std::nullopt;
}

std::string_view describe(SetCookieError e) {
  switch (e) {
    case SetCookieError::ok: return "ok";
    case SetCookieError::bad_name: return "cookie name is empty or not a token";
    case SetCookieError::bad_value: return "cookie value has a byte outside cookie-octet";
    case SetCookieError::too_large: return "cookie name and value exceed 4096 bytes";
    case SetCookieError::bad_path: return "cookie Path has a control byte or ';'";
    case SetCookieError::bad_domain: return "cookie Domain is not a host name";
    case SetCookieError::same_site_none_without_secure: return "SameSite=None needs Secure";
    case SetCookieError::bad_prefix: return "__Secure-/__Host- cookie without its requirements";
  }
  return "unknown";
}

SetCookieError format_set_cookie(const SetCookie& c, std::string& out) {
  out.clear();
  if (!is_token(c.name)) return SetCookieError::bad_name;
  if (!is_cookie_value(c.value)) return SetCookieError::bad_value;
  // RFC 6265bis §5.6: user agents ignore a cookie whose name and value exceed 4096 bytes.
  if (c.name.size() + c.value.size() > 4096) return SetCookieError::too_large;
  for (const char ch : c.path) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7F || ch == ';') return SetCookieError::bad_path;  // CHAR only
  }
  if (c.domain.size() > 253) return SetCookieError::bad_domain;
  for (const char ch : c.domain) {
    if (!chars::is(ch, chars::kAlpha | chars::kDigit) && ch != '-' && ch != '.') {
      return SetCookieError::bad_domain;
    }
  }
  if (c.same_site == SameSite::none && !c.secure) {
    return SetCookieError::same_site_none_without_secure;
  }
  // Cookie prefixes: browsers drop these cookies when the requirements are not met.
  if (c.name.starts_with("__Secure-") && !c.secure) return SetCookieError::bad_prefix;
  if (c.name.starts_with("__Host-") && (!c.secure || c.path != "/" || !c.domain.empty())) {
    return SetCookieError::bad_prefix;
  }

  out.reserve(c.name.size() + c.value.size() + c.path.size() + c.domain.size() + 96);
  out += c.name;
  out += '=';
  out += c.value;
  if (!c.path.empty()) {
    out += "; Path=";
    out += c.path;
  }
  if (!c.domain.empty()) {
    out += "; Domain=";
    out += c.domain;
  }
  if (c.max_age) {
    // Max-Age=0 is what RFC 6265 allows for "delete now"; a negative count means the same.
    out += fmt::format("; Max-Age={}", *c.max_age > 0 ? *c.max_age : 0);
  }
  if (c.expires) {
    out += "; Expires=";
    out += format_http_date(*c.expires);
  }
  if (c.secure) out += "; Secure";
  if (c.http_only) out += "; HttpOnly";
  switch (c.same_site) {
    case SameSite::unset: break;
    case SameSite::strict: out += "; SameSite=Strict"; break;
    case SameSite::lax: out += "; SameSite=Lax"; break;
    case SameSite::none: out += "; SameSite=None"; break;
  }
  return SetCookieError::ok;
}

}  // namespace nuri::http
