// The request-head parser (RFC 9112 §2-§7, RFC 9110). One pass over the bytes: sixteen bytes
// per step (SSE2, http/scan.h) in methods, field names, field values and targets, a table lookup
// per byte elsewhere; no allocation. A call stops where the bytes run out and the next call
// resumes there; the state that needs (Progress) is a cache of what the bytes before `scanned_`
// said, so results depend on the bytes alone.
#include "http/parser.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "http/chars.h"
#include "http/field_values.h"
#include "http/scan.h"

namespace nuri::http {
namespace {

// Empty lines tolerated before the request line (RFC 9112 §2.2 asks for at least one).
constexpr std::uint8_t kMaxLeadingEmptyLines = 4;

using chars::is;
using chars::is_ows;
using fields::parse_content_length;
using fields::trim_ows;
using chars::kAlpha;
using chars::kDigit;
using chars::kHex;
using chars::kRegName;
using chars::kScheme;
using chars::kTarget;
using chars::kTchar;
using chars::version_byte_ok;
using chars::is_token;

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Calls f(element) for each non-empty element of a comma list (RFC 9110 §5.6.1: empty elements
// are tolerated), elements trimmed of OWS. Stops at, and returns, the first status f returns.
template <class F>
Status for_each_element(std::string_view list, F&& f) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) {
      if (const Status s = f(element); s != Status::none) return s;
    }
    if (comma == std::string_view::npos) return Status::none;
    list.remove_prefix(comma + 1);
  }
}

// dec-octet "." dec-octet "." dec-octet "." dec-octet, without leading zeros (RFC 3986 §3.2.2).
bool valid_ipv4(std::string_view s) {
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (s.empty() || s[0] != '.') return false;
      s.remove_prefix(1);
    }
    std::size_t n = 0;
    int value = 0;
    while (n < s.size() && n < 4 && is(s[n], kDigit)) value = value * 10 + (s[n++] - '0');
    if (n == 0 || n > 3 || value > 255 || (n > 1 && s[0] == '0')) return false;
    s.remove_prefix(n);
  }
  return s.empty();
}

// IPv6address (RFC 3986 §3.2.2): eight 16-bit pieces of 1-4 HEXDIG, one "::" standing for a run
// of zero pieces, the last 32 bits optionally as an IPv4 address.
bool valid_ipv6(std::string_view s) {
  int pieces = 0;
  bool elided = false;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    elided = true;
    i = 2;
    if (i == s.size()) return true;
  }
  while (true) {
    std::size_t j = i;
    while (j < s.size() && is(s[j], kHex)) ++j;
    if (j < s.size() && s[j] == '.') {
      if (!valid_ipv4(s.substr(i))) return false;
      pieces += 2;
      break;
    }
    if (j == i || j - i > 4) return false;
    ++pieces;
    if (j == s.size()) break;
    if (s[j] != ':') return false;
    i = j + 1;
    if (i < s.size() && s[i] == ':') {
      if (elided) return false;
      elided = true;
      if (++i == s.size()) break;
    } else if (i == s.size()) {
      return false;
    }
  }
  return elided ? pieces <= 7 : pieces == 8;
}

// IP-literal without its brackets: IPv6address / IPvFuture (RFC 3986 §3.2.2). No zone id.
bool valid_ip_literal(std::string_view s) {
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) {
    std::size_t i = 1;
    while (i < s.size() && is(s[i], kHex)) ++i;
    if (i == 1 || i == s.size() || s[i] != '.' || ++i == s.size()) return false;
    for (; i < s.size(); ++i) {
      if (!is(s[i], kRegName) && s[i] != ':') return false;
    }
    return true;
  }
  return valid_ipv6(s);
}

// uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2-§3.2.3), strictly: the host must not be
// empty (RFC 9110 §4.2.1) and a port, when its colon is there, is 1 to 5 digits up to 65535.
// IPv4 addresses are a subset of reg-name, so reg-name's rule covers them.
bool valid_host_port(std::string_view a, bool port_required) {
  std::size_t i = 0;
  if (!a.empty() && a[0] == '[') {
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos || !valid_ip_literal(a.substr(1, close - 1))) return false;
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      if (is(a[i], kRegName)) {
        ++i;
      } else if (a[i] == '%' && i + 2 < a.size() && is(a[i + 1], kHex) && is(a[i + 2], kHex)) {
        i += 3;
      } else {
        return false;
      }
    }
    if (i == 0) return false;
  }
  if (i == a.size()) return !port_required;
  if (a[i] != ':') return false;
  const std::string_view port = a.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  std::uint32_t value = 0;
  for (const char c : port) {
    if (!is(c, kDigit)) return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return value <= 65535;
}

struct TargetParts {
  TargetForm form = TargetForm::origin;
  std::string_view path;
  std::string_view query;
  std::string_view authority;
};

// Splits origin-form or the path-and-query of absolute-form at the first '?'.
void split_query(std::string_view s, TargetParts& parts) {
  const std::size_t q = s.find('?');
  parts.path = s.substr(0, q);
  if (q != std::string_view::npos) parts.query = s.substr(q + 1);
}

// Which form the request-target has and its parts (RFC 9112 §3.2); 400 if none fits the method.
// The bytes are already known to be VCHAR without '#'.
Status classify_target(Method method, std::string_view t, TargetParts& parts) {
  // §3.2.3: authority-form only, and always, with CONNECT.
  if (method == Method::connect) {
    if (!valid_host_port(t, true)) return Status::bad_request;
    parts.form = TargetForm::authority;
    return Status::none;
  }
  if (t[0] == '/') {
    parts.form = TargetForm::origin;
    split_query(t, parts);
    return Status::none;
  }
  // §3.2.4: asterisk-form only with OPTIONS.
  if (t == "*") {
    if (method != Method::options) return Status::bad_request;
    parts.form = TargetForm::asterisk;
    parts.path = t;
    return Status::none;
  }
  // §3.2.2: absolute-form, here scheme "://" authority [ path-abempty ] [ "?" query ].
  if (!is(t[0], kAlpha)) return Status::bad_request;
  std::size_t i = 1;
  while (i < t.size() && is(t[i], kScheme)) ++i;
  if (t.substr(i, 3) != "://") return Status::bad_request;
  const std::size_t authority_start = i + 3;
  const std::size_t authority_end = std::min(t.find_first_of("/?", authority_start), t.size());
  const std::string_view authority = t.substr(authority_start, authority_end - authority_start);
  // RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs; '@' is not a reg-name byte either.
  if (!valid_host_port(authority, false)) return Status::bad_request;
  parts.form = TargetForm::absolute;
  parts.authority = authority;
  if (authority_end < t.size() && t[authority_end] == '/') {
    split_query(t.substr(authority_end), parts);
  } else {
    parts.path = t.substr(i + 2, 1);  // an empty path means "/": borrow the one in "://"
    if (authority_end < t.size()) parts.query = t.substr(authority_end + 1);
  }
  return Status::none;
}

inline ParseResult error(Status s) { return {ParseState::error, 0, s}; }

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

Method method_from_name(std::string_view name) {
  switch (name.size()) {
    case 3:
      if (name == "GET") return Method::get;
      if (name == "PUT") return Method::put;
      break;
    case 4:
      if (name == "HEAD") return Method::head;
      if (name == "POST") return Method::post;
      break;
    case 5:
      if (name == "TRACE") return Method::trace;
      if (name == "PATCH") return Method::patch;
      break;
    case 6:
      if (name == "DELETE") return Method::delete_;
      break;
    case 7:
      if (name == "OPTIONS") return Method::options;
      if (name == "CONNECT") return Method::connect;
      break;
    default:
      break;
  }
  return Method::unknown;
}

std::optional<std::string_view> Request::find(std::string_view name) const {
  for (std::size_t i = 0; i < header_count; ++i) {
    if (iequals(headers[i].name, name)) return headers[i].value;
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::find_list(std::string_view name, std::string& storage) const {
  std::optional<std::string_view> first;
  bool joined = false;
  for (std::size_t i = 0; i < header_count; ++i) {
    if (!iequals(headers[i].name, name)) continue;
    if (!first) {
      first = headers[i].value;
      continue;
    }
    if (!joined) {
      storage.assign(*first);
      joined = true;
    }
    storage += ", ";
    storage += headers[i].value;
  }
  if (joined) return std::string_view(storage);
  return first;
}

// Stores a field line and hands the few names whose values the parser reads to
// end_special_field(). Called for every field line, so it filters cheaply first: a name can only
// be one of those if its length and first letter are those of one of them.
inline Status RequestParser::end_field(std::string_view name, std::string_view value, Request& out) {
  Progress& g = progress_;
  if (g.field_count >= std::min(limits_.max_header_count, kMaxHeaderCount)) {
    return Status::header_fields_too_large;
  }
  out.headers[g.field_count++] = {name, value};
  // Indexed by length: the first letter, lower-cased, of Host (4), Expect (6), Connection (10),
  // Content-Length (14), Transfer-Encoding (17); 0 (no tchar) for lengths none of them has.
  static constexpr char kSpecialFirst[18] = {0, 0, 0, 0, 'h', 0, 'e', 0, 0, 0, 'c', 0, 0, 0, 'c', 0, 0, 't'};
  if (name.size() < sizeof kSpecialFirst && kSpecialFirst[name.size()] == (name[0] | 0x20)) {
    return end_special_field(name, value, out);
  }
  return Status::none;
}

ParseResult RequestParser::parse(std::string_view buffer, Request& out) {
  if (scanned_ > buffer.size()) scanned_ = 0;  // not the bytes of last time: start afresh
  const bool resumed = scanned_ != 0;
  if (!resumed) progress_ = Progress{};
  ParseResult r = resume(buffer, out);
  if (r.state == ParseState::complete && resumed) {
    // Views stored by earlier calls may point into an older copy of the bytes, or into another
    // Request: fill `out` again from the start. Once per request, so O(n) still holds.
    progress_ = Progress{};
    scanned_ = 0;
    r = resume(buffer, out);
  }
  if (r.state != ParseState::incomplete) scanned_ = 0;
  return r;
}

// Scans from scanned_ to the end of the head, the end of the bytes, or max_head_bytes.
ParseResult RequestParser::resume(std::string_view buffer, Request& out) {
  Progress& g = progress_;
  const char* const base = buffer.data();
  const char* const end = base + std::min(buffer.size(), limits_.max_head_bytes);
  const char* p = base + scanned_;
  const auto at = [base](const char* q) { return static_cast<std::size_t>(q - base); };
  if (p == base) {
    out.header_count = 0;
    out.host = {};
    out.query = {};
    if (const char* const fields = whole_request_line(base, end, out)) {
      p = fields;
      g.step = Step::field_start;
    }
  }

  while (p < end) {
    switch (g.step) {
      case Step::leading:  // RFC 9112 §2.2: skip empty lines before the request line
        if (*p == '\r') {
          g.step = Step::leading_cr;
          ++p;
        } else if (*p == '\n') {
          if (++g.empty_lines > kMaxLeadingEmptyLines) return error(Status::bad_request);
          ++p;
        } else {
          g.start = at(p);
          g.step = Step::method;
        }
        break;

      case Step::leading_cr:
        if (*p != '\n') return error(Status::bad_request);  // RFC 9112 §2.2: bare CR
        if (++g.empty_lines > kMaxLeadingEmptyLines) return error(Status::bad_request);
        ++p;
        g.step = Step::leading;
        break;

      case Step::method: {  // RFC 9112 §3: method SP request-target SP HTTP-version
        p = scan::skip_tchar(p, end, base);
        if (p == end) break;
        if (*p != ' ' || at(p) == g.start) return error(Status::bad_request);
        const std::string_view name(base + g.start, at(p) - g.start);
        g.method = method_from_name(name);
        out.method = g.method;
        out.method_name = name;
        g.mark = at(++p);
        g.step = Step::target;
        break;
      }

      case Step::target: {
        // RFC 9112 §3: 414 as soon as one byte more than the limit has arrived.
        const std::size_t room = limits_.max_target_bytes - (at(p) - g.mark);
        const char* const stop = static_cast<std::size_t>(end - p) > room ? p + room : end;
        p = scan::skip_target(p, stop, base);
        if (p == end) break;
        if (*p != ' ') {
          return error(is(*p, kTarget) ? Status::uri_too_long : Status::bad_request);
        }
        if (at(p) == g.mark) return error(Status::bad_request);  // two spaces
        const std::string_view target(base + g.mark, at(p) - g.mark);
        TargetParts parts;
        if (const Status s = classify_target(g.method, target, parts); s != Status::none) {
          return error(s);
        }
        g.form = parts.form;
        out.target = target;
        out.form = parts.form;
        out.path = parts.path;
        out.query = parts.query;
        out.host = parts.authority;  // RFC 9112 §3.2.2: it overrides Host
        g.mark = at(++p);
        g.step = Step::version;
        break;
      }

      case Step::version:  // RFC 9112 §2.3: "HTTP/" DIGIT "." DIGIT, checked as it arrives
        for (; p < end; ++p) {
          const std::size_t k = at(p) - g.mark;
          if (k < 8) {
            if (!version_byte_ok(k, *p)) return error(Status::bad_request);
            continue;
          }
          if (*p == '\r') {
            g.step = Step::request_line_cr;
          } else if (*p == '\n') {
            if (const Status s = end_request_line(base + g.mark, out); s != Status::none) {
              return error(s);
            }
            g.step = Step::field_start;
          } else {
            return error(Status::bad_request);
          }
          ++p;
          break;
        }
        break;

      case Step::request_line_cr:
        if (*p != '\n') return error(Status::bad_request);
        if (const Status s = end_request_line(base + g.mark, out); s != Status::none) {
          return error(s);
        }
        ++p;
        g.step = Step::field_start;
        break;

      case Step::field_start:
        // Whole field lines, one after the other, without a trip through the switch per step:
        // the indirect jump there mispredicts each time the step changes, which cost a third of
        // the time on browser heads. A line not complete yet (or one with an error, reported
        // by the steps below) is left to the step-by-step path from its first byte.
        while (!is_ows(*p) && *p != '\r' && *p != '\n') {
          const char* const colon = scan::skip_tchar(p, end, base);
          if (colon == end || colon == p || *colon != ':') break;
          const char* const stop = scan::skip_value(colon + 1, end, base);
          if (stop == end || (*stop == '\r' && stop + 1 == end)) break;
          const char* const newline = *stop == '\r' ? stop + 1 : stop;
          if (*newline != '\n') return error(Status::bad_request);  // a control byte, a bare CR
          const std::string_view name(p, static_cast<std::size_t>(colon - p));
          const std::string_view value = trim_ows(std::string_view(colon + 1, static_cast<std::size_t>(stop - colon - 1)));
          if (const Status s = end_field(name, value, out); s != Status::none) return error(s);
          p = newline + 1;
          if (p == end) break;
        }
        if (p == end) break;
        if (*p == '\r') {
          g.step = Step::final_cr;
          ++p;
        } else if (*p == '\n') {
          return end_head(at(p) + 1, out);
        } else if (is_ows(*p)) {
          // RFC 9112 §5.2: obs-fold; §2.2: whitespace before the first field line.
          return error(Status::bad_request);
        } else {
          g.start = at(p);
          g.step = Step::field_name;
        }
        break;

      case Step::field_name:
        p = scan::skip_tchar(p, end, base);
        if (p == end) break;
        // RFC 9112 §5.1: no whitespace between name and colon; a line without colon is invalid.
        if (*p != ':' || at(p) == g.start) return error(Status::bad_request);
        g.mark = at(p);
        ++p;
        g.step = Step::field_value;
        break;

      case Step::field_value:
        p = scan::skip_value(p, end, base);
        if (p == end) break;
        if (*p == '\r') {
          g.step = Step::field_cr;
          ++p;
          break;
        }
        if (*p != '\n') return error(Status::bad_request);  // NUL, DEL and other controls
        [[fallthrough]];

      case Step::field_cr: {
        if (*p != '\n') return error(Status::bad_request);
        const std::size_t value_end = g.step == Step::field_cr ? at(p) - 1 : at(p);
        const std::string_view name(base + g.start, g.mark - g.start);
        const std::string_view value =
            trim_ows(std::string_view(base + g.mark + 1, value_end - g.mark - 1));
        if (const Status s = end_field(name, value, out); s != Status::none) return error(s);
        ++p;
        g.step = Step::field_start;
        break;
      }

      case Step::final_cr:
        if (*p != '\n') return error(Status::bad_request);
        return end_head(at(p) + 1, out);
    }
  }
  if (buffer.size() > limits_.max_head_bytes) return error(Status::header_fields_too_large);
  scanned_ = at(p);
  return {};
}

// The request line as nearly every request sends it: first in the bytes, complete, CRLF-ended,
// HTTP/1.1 or HTTP/1.0, a target under the limit, no error. Parsed in one straight pass instead
// of five trips through resume()'s switch, whose indirect jump mispredicts at each step change.
// Returns where the field lines start, with `out` and progress_ as the steps would leave them;
// for any other line, nullptr before progress_ changes, and the steps parse it from its first
// byte (so every error, and its status, comes from them as before).
const char* RequestParser::whole_request_line(const char* base, const char* end, Request& out) {
  const char* p = base;
  Method method = Method::get;
  if (end - p >= 4 && std::memcmp(p, "GET ", 4) == 0) {
    p += 3;
  } else {
    p = scan::skip_tchar(p, end, base);
    if (p == end || p == base || *p != ' ') return nullptr;
    method = method_from_name(std::string_view(base, static_cast<std::size_t>(p - base)));
  }
  const char* const target = p + 1;
  const std::size_t room = limits_.max_target_bytes;
  const char* const stop = static_cast<std::size_t>(end - target) > room ? target + room : end;
  const char* const target_end = scan::skip_target(target, stop, base);
  if (target_end == stop || target_end == target || *target_end != ' ') return nullptr;
  const char* const version = target_end + 1;
  if (end - version < 10 || version[8] != '\r' || version[9] != '\n') return nullptr;
  if (std::memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '1' && version[7] != '0')) return nullptr;
  const std::string_view t(target, static_cast<std::size_t>(target_end - target));
  TargetParts parts;
  if (classify_target(method, t, parts) != Status::none) return nullptr;

  progress_.method = method;
  progress_.form = parts.form;
  progress_.version_minor = static_cast<std::uint8_t>(version[7] - '0');
  out.method = method;
  out.method_name = std::string_view(base, static_cast<std::size_t>(p - base));
  out.target = t;
  out.form = parts.form;
  out.path = parts.path;
  out.query = parts.query;
  out.host = parts.authority;
  out.version_minor = progress_.version_minor;
  return version + 10;
}

Status RequestParser::end_request_line(const char* version, Request& out) {
  // RFC 9112 §2.3, RFC 9110 §6.2: major version 1 only (505 for the others). A later minor
  // version (HTTP/1.2) is processed as HTTP/1.1, the highest 1.x nuri conforms to, as §6.2 asks
  // of a recipient, and answered in HTTP/1.1; nginx does the same.
  if (version[5] != '1') return Status::http_version_not_supported;
  progress_.version_minor = version[7] == '0' ? 0 : 1;
  out.version_minor = progress_.version_minor;
  return Status::none;
}

Status RequestParser::end_special_field(std::string_view name, std::string_view value, Request& out) {
  Progress& g = progress_;
  switch (name.size()) {
    case 4:
      if (iequals(name, "host")) {  // RFC 9112 §3.2: exactly one, a valid uri-host [":" port]
        if (++g.host_fields > 1 || !valid_host_port(value, false)) return Status::bad_request;
        if (g.form != TargetForm::absolute) out.host = value;
      }
      break;
    case 6:
      if (iequals(name, "expect")) {  // RFC 9110 §10.1.1; an empty list expects nothing
        return for_each_element(value, [&](std::string_view e) {
          if (!iequals(e, "100-continue")) return Status::expectation_failed;
          g.expect_continue = true;
          return Status::none;
        });
      }
      break;
    case 10:
      if (iequals(name, "connection")) {  // RFC 9110 §7.6.1: a list of tokens, else 400
        return for_each_element(value, [&](std::string_view e) {
          if (!is_token(e)) return Status::bad_request;
          if (iequals(e, "close")) g.close = true;
          if (iequals(e, "keep-alive")) g.keep_alive = true;
          return Status::none;
        });
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        // RFC 9112 §6.3: CL with TE, and differing lengths, are errors for a server.
        std::uint64_t n = g.content_length;
        if (g.has_transfer_encoding || !parse_content_length(value, n) ||
            (g.has_content_length && n != g.content_length)) {
          return Status::bad_request;
        }
        g.has_content_length = true;
        g.content_length = n;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        // RFC 9112 §6.1: not in HTTP/1.0; §6.3: never with Content-Length.
        if (g.version_minor == 0 || g.has_content_length) return Status::bad_request;
        g.has_transfer_encoding = true;
        const bool ok = fields::for_each_coding(value, [&](std::string_view coding) {
          // RFC 9112 §6.3: chunked must be the final coding, once. Anything after a chunked is
          // an error whatever follows, so it can be reported now.
          if (g.chunked) return false;
          if (iequals(coding, "chunked")) {
            g.chunked = true;
          } else {
            g.other_coding = true;
          }
          return true;
        });
        return ok ? Status::none : Status::bad_request;
      }
      break;
    default:
      break;
  }
  return Status::none;
}

ParseResult RequestParser::end_head(std::size_t consumed, Request& out) const {
  const Progress& g = progress_;
  if (g.version_minor == 1 && g.host_fields == 0) return error(Status::bad_request);  // §3.2
  out.framing = BodyFraming::none;
  out.content_length = 0;
  if (g.has_transfer_encoding) {
    // RFC 9112 §6.3: a final coding other than chunked (or none at all) leaves the length
    // unknowable: 400. A coding before chunked is one we do not implement: 501.
    if (!g.chunked) return error(Status::bad_request);
    if (g.other_coding) return error(Status::not_implemented);
    out.framing = BodyFraming::chunked;
  } else if (g.has_content_length) {
    out.framing = BodyFraming::content_length;
    out.content_length = g.content_length;
  }
  out.header_count = g.field_count;
  // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
  out.keep_alive = !g.close && (g.version_minor == 1 || g.keep_alive);
  // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
  out.expect_continue = g.expect_continue && g.version_minor == 1;
  return {ParseState::complete, consumed, Status::none};
}

}  // namespace nuri::http
