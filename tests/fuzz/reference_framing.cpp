// The reference model of request framing; see reference_framing.h. Every function here checks
// one ABNF rule the plainest way: no tables, no word tricks, no state machine. Speed does not
// matter; being obviously right does.
#include "reference_framing.h"

#include <vector>

namespace nuri::fuzz {
namespace {

using Verdict = ReferenceVerdict;

// ---------------------------------------------------------------------------------------------
// Character classes (RFC 5234 Appendix B, RFC 9110 §5.6.2, RFC 3986 §2)

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hexdig(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_vchar(char c) { return c >= 0x21 && c <= 0x7e; }  // char is signed: 0x80+ are negative
bool is_obs_text(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool is_ows_char(char c) { return c == ' ' || c == '\t'; }

bool contains(std::string_view set, char c) { return set.find(c) != std::string_view::npos; }

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
//         "~" / DIGIT / ALPHA                                               (RFC 9110 §5.6.2)
bool is_tchar(char c) { return is_digit(c) || is_alpha(c) || contains("!#$%&'*+-.^_`|~", c); }

// token = 1*tchar
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || contains("-._~", c); }
bool is_sub_delim(char c) { return contains("!$&'()*+,;=", c); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string trim_ows(std::string_view s) {
  while (!s.empty() && is_ows_char(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows_char(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// "a, b,,c" → "a", "b", "", "c", each trimmed of OWS (RFC 9110 §5.6.1).
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::string current;
  for (char c : s) {
    if (c == ',') {
      out.push_back(trim_ows(current));
      current.clear();
    } else {
      current += c;
    }
  }
  out.push_back(trim_ows(current));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hosts (RFC 3986 §3.2.2-§3.2.3, RFC 9110 §4.2, §7.2)

// dec-octet "." dec-octet "." dec-octet "." dec-octet; dec-octet is 0-255 without leading zeros.
bool is_ipv4(std::string_view s) {
  std::vector<std::string> parts;
  std::string current;
  for (char c : s) {
    if (c == '.') {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  if (parts.size() != 4) return false;
  for (const std::string& p : parts) {
    if (p.empty() || p.size() > 3) return false;
    for (char c : p) {
      if (!is_digit(c)) return false;
    }
    if (p.size() > 1 && p[0] == '0') return false;
    if (std::stoi(p) > 255) return false;
  }
  return true;
}

bool is_h16(std::string_view s) {
  if (s.empty() || s.size() > 4) return false;
  for (char c : s) {
    if (!is_hexdig(c)) return false;
  }
  return true;
}

// Pieces of one side of an IPv6 address ("1:2:3" → 3; an IPv4 tail counts 2), or -1. An empty
// side has 0 pieces. The IPv4 tail is allowed only where `ipv4_tail_ok`.
int ipv6_pieces(std::string_view side, bool ipv4_tail_ok) {
  if (side.empty()) return 0;
  std::vector<std::string> parts;
  std::string current;
  for (char c : side) {
    if (c == ':') {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  int pieces = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (is_h16(parts[i])) {
      pieces += 1;
    } else if (ipv4_tail_ok && i + 1 == parts.size() && is_ipv4(parts[i])) {
      pieces += 2;
    } else {
      return -1;
    }
  }
  return pieces;
}

// IPv6address: eight pieces, or fewer with exactly one "::" standing for at least one zero piece.
bool is_ipv6(std::string_view s) {
  const std::size_t gap = s.find("::");
  if (gap == std::string_view::npos) return ipv6_pieces(s, true) == 8;
  const std::string_view left = s.substr(0, gap);
  const std::string_view right = s.substr(gap + 2);
  if (right.find("::") != std::string_view::npos) return false;
  const int l = ipv6_pieces(left, false);
  const int r = ipv6_pieces(right, true);
  return l >= 0 && r >= 0 && l + r <= 7;
}

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ); "v" is case-insensitive
// (RFC 5234 §2.3: quoted ABNF strings are).
bool is_ipvfuture(std::string_view s) {
  if (s.empty() || lower(s[0]) != 'v') return false;
  std::size_t i = 1;
  while (i < s.size() && is_hexdig(s[i])) ++i;
  if (i == 1 || i == s.size() || s[i] != '.') return false;
  ++i;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!is_unreserved(s[i]) && !is_sub_delim(s[i]) && s[i] != ':') return false;
  }
  return true;
}

// reg-name = *( unreserved / pct-encoded / sub-delims ). IPv4address is a subset of it.
bool is_reg_name(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_unreserved(s[i]) || is_sub_delim(s[i])) continue;
    if (s[i] == '%' && i + 2 < s.size() && is_hexdig(s[i + 1]) && is_hexdig(s[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

// uri-host [ ":" port ]. Stricter than RFC 3986 on purpose, as nuri is:
//  - an empty host is refused (RFC 9110 §4.2.1 forbids it in http URIs; nuri applies that to
//    Host fields too, though RFC 9112 §3.2 lets a client send an empty Host);
//  - a port, when its colon is there, is 1 to 5 digits and at most 65535 (RFC 3986 allows an
//    empty port and any number of digits).
bool is_host_port(std::string_view s, bool port_required) {
  std::string_view host = s;
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s[0] == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view literal = s.substr(1, close - 1);
    if (!is_ipv6(literal) && !is_ipvfuture(literal)) return false;
    host = s.substr(0, close + 1);
    const std::string_view after = s.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return false;
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = s.find(':');
    if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      has_port = true;
      port = s.substr(colon + 1);
    }
    if (host.empty() || !is_reg_name(host)) return false;
  }
  if (!has_port) return !port_required;
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!is_digit(c)) return false;
  }
  return std::stoi(std::string(port)) <= 65535;
}

// ---------------------------------------------------------------------------------------------
// Request line (RFC 9112 §3)

enum class Form { origin, absolute, authority, asterisk };

// Request-target bytes. RFC 3986 would refuse some VCHARs in a path or query ('"', '<', '>',
// '\', '^', '`', '{', '|', '}', and '%' without two hex digits); nuri deliberately lets any
// VCHAR but '#' through (as nginx does) and leaves the rest to path normalization, which does
// not change framing. The model follows nuri: only '#', controls, SP, DEL and 0x80+ are refused.
bool target_bytes_ok(std::string_view t) {
  for (char c : t) {
    if (!is_vchar(c) || c == '#') return false;
  }
  return true;
}

// Which form the target has for this method (RFC 9112 §3.2), or false for none.
bool classify_target(std::string_view method, std::string_view t, Form& form, std::string& why) {
  if (t.empty()) {
    why = "empty request-target";
    return false;
  }
  if (!target_bytes_ok(t)) {
    why = "request-target byte";
    return false;
  }
  // §3.2.3: authority-form is used only, and always, with CONNECT.
  if (method == "CONNECT") {
    form = Form::authority;
    if (!is_host_port(t, true)) {
      why = "CONNECT needs uri-host:port";
      return false;
    }
    return true;
  }
  // §3.2.1: origin-form = absolute-path [ "?" query ].
  if (t[0] == '/') {
    form = Form::origin;
    return true;
  }
  // §3.2.4: asterisk-form only with OPTIONS.
  if (t == "*") {
    form = Form::asterisk;
    if (method != "OPTIONS") {
      why = "'*' without OPTIONS";
      return false;
    }
    return true;
  }
  // §3.2.2: absolute-form = absolute-URI. nuri accepts only the authority-based ones,
  // scheme "://" authority path-abempty [ "?" query ]: an http(s) URI must have an authority
  // (RFC 9110 §4.2.1) and nuri serves or proxies no other scheme. Userinfo is refused (RFC 9110
  // §4.2.4 deprecates it; '@' is not a host byte either).
  form = Form::absolute;
  std::size_t i = 0;
  if (!is_alpha(t[0])) {
    why = "target is no known form";
    return false;
  }
  while (i < t.size() && (is_alpha(t[i]) || is_digit(t[i]) || contains("+-.", t[i]))) ++i;
  if (t.substr(i, 3) != "://") {
    why = "absolute-form without \"://\"";
    return false;
  }
  const std::string_view rest = t.substr(i + 3);
  const std::size_t authority_end = rest.find_first_of("/?");
  if (!is_host_port(rest.substr(0, authority_end), false)) {
    why = "absolute-form authority";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Field values that decide framing or that nuri refuses

// Content-Length = 1*DIGIT (RFC 9110 §8.6), or a list of one value repeated (RFC 9112 §6.3 item
// 5 lets a recipient take "42, 42" as 42). nuri's deliberate limits: an empty list element is
// refused ("42," is no valid list of valid values in the strict reading), more than 19 digits
// are refused even with leading zeros, and so is a value above 2^63-1.
bool content_length_value(std::string_view value, std::uint64_t& n) {
  bool first = true;
  for (const std::string& element : split_list(value)) {
    if (element.empty() || element.size() > 19) return false;
    for (char c : element) {
      if (!is_digit(c)) return false;
    }
    // 19 digits fit in 64 bits; compare against 2^63-1 as text to stay obviously right.
    if (element.size() == 19 && element > std::string("9223372036854775807")) return false;
    const std::uint64_t v = std::stoull(element);
    if (!first && v != n) return false;
    n = v;
    first = false;
  }
  return true;
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4), at the start of s:
// its length, or 0 if s does not start with one.
std::size_t quoted_string_length(std::string_view s) {
  if (s.empty() || s[0] != '"') return 0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      ++i;
      if (i == s.size()) return 0;
      const char q = s[i];
      if (!(q == '\t' || q == ' ' || is_vchar(q) || is_obs_text(q))) return 0;
      continue;
    }
    const bool qdtext = c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                        (c >= 0x5d && c <= 0x7e) || is_obs_text(c);
    if (!qdtext) return 0;
  }
  return 0;
}

// Transfer-Encoding = #transfer-coding; transfer-coding = token *( OWS ";" OWS
// transfer-parameter ); transfer-parameter = token BWS "=" BWS ( token / quoted-string )
// (RFC 9112 §6.1, §7). Appends the coding names; false on a syntax error. Written as a
// character walk because a quoted-string may hold ',' and ';'.
bool transfer_codings(std::string_view s, std::vector<std::string>& names) {
  std::size_t i = 0;
  auto skip_ows = [&] {
    while (i < s.size() && is_ows_char(s[i])) ++i;
  };
  auto token = [&] {
    std::string t;
    while (i < s.size() && is_tchar(s[i])) t += s[i++];
    return t;
  };
  while (true) {
    skip_ows();
    if (i == s.size()) return true;
    if (s[i] == ',') {  // an empty list element (RFC 9110 §5.6.1)
      ++i;
      continue;
    }
    const std::string name = token();
    if (name.empty()) return false;
    skip_ows();
    while (i < s.size() && s[i] == ';') {
      ++i;
      skip_ows();
      if (token().empty()) return false;
      skip_ows();
      if (i == s.size() || s[i] != '=') return false;
      ++i;
      skip_ows();
      const std::size_t q = quoted_string_length(s.substr(i));
      if (q > 0) {
        i += q;
      } else if (token().empty()) {
        return false;
      }
      skip_ows();
    }
    names.push_back(name);
    if (i == s.size()) return true;
    if (s[i] != ',') return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The head

struct Head {
  int minor = 1;
  std::size_t fields = 0;
  int hosts = 0;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  std::vector<std::string> codings;
};

Verdict reject(std::string why) {
  Verdict v;
  v.outcome = Verdict::Outcome::reject;
  v.why = std::move(why);
  return v;
}

// method SP request-target SP HTTP-version (RFC 9112 §3), exactly one SP each: nuri does not
// take the RFC's offer (§3) to split on any whitespace.
bool request_line(const std::string& line, const ReferenceLimits& limits, Head& head,
                  std::string& why) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string::npos) {
    why = "request-line without SP";
    return false;
  }
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) {
    why = "request-line with one SP";
    return false;
  }
  const std::string method = line.substr(0, sp1);
  const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string version = line.substr(sp2 + 1);
  // RFC 9110 §9.1: method = token. An unknown method is still framed like any other (nuri
  // answers it 501 after reading the head), so it is accepted here.
  if (!is_token(method)) {
    why = "method is no token";
    return false;
  }
  // nuri's limit: a request-target longer than max_target_bytes is 414.
  if (target.size() > limits.max_target_bytes) {
    why = "target too long";
    return false;
  }
  Form form;
  if (!classify_target(method, target, form, why)) return false;
  // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive); nuri speaks
  // HTTP/1.x only (505 for the others, RFC 9110 §15.6.6), a 1.x above 1.1 as HTTP/1.1 (§6.2).
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    why = "HTTP-version syntax";
    return false;
  }
  if (version[5] != '1') {
    why = "HTTP major version not 1";
    return false;
  }
  head.minor = version[7] == '0' ? 0 : 1;
  return true;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), then what the fields that
// matter for framing (and the ones nuri refuses on sight) say.
bool field_line(const std::string& line, const ReferenceLimits& limits, Head& head,
                std::string& why) {
  // RFC 9112 §5.2: obs-fold (a line starting with whitespace) is refused with 400, as is
  // whitespace before the first field line (§2.2); nuri takes the "reject" option of both.
  if (is_ows_char(line[0])) {
    why = "obs-fold or whitespace-prefixed line";
    return false;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos) {
    why = "field line without colon";
    return false;
  }
  const std::string name = line.substr(0, colon);
  // RFC 9112 §5.1: no whitespace between name and colon (400), and field-name = token.
  if (!is_token(name)) {
    why = "field-name is no token (or whitespace before colon)";
    return false;
  }
  // field-value = *field-content: VCHAR, obs-text, SP, HTAB. RFC 9110 §5.5 says CR, LF and NUL
  // must be refused (or replaced); nuri refuses every other control byte and DEL as well, which
  // the grammar allows a recipient to do (they are not field-vchar).
  const std::string raw_value = line.substr(colon + 1);
  for (char c : raw_value) {
    if (!(is_vchar(c) || is_obs_text(c) || c == ' ' || c == '\t')) {
      why = "field-value byte";
      return false;
    }
  }
  const std::string value = trim_ows(raw_value);

  // nuri's limit: more than max_header_count field lines is 431.
  if (++head.fields > limits.max_header_count) {
    why = "too many fields";
    return false;
  }

  if (same_ignoring_case(name, "host")) {
    // RFC 9112 §3.2: more than one Host, or an invalid one, is 400.
    if (++head.hosts > 1) {
      why = "second Host";
      return false;
    }
    if (!is_host_port(value, false)) {
      why = "invalid Host";
      return false;
    }
  } else if (same_ignoring_case(name, "content-length")) {
    // RFC 9112 §6.1/§6.3: a server may refuse CL with TE, and nuri does (smuggling);
    // RFC 9112 §6.3 item 5: an invalid or differing Content-Length is unrecoverable.
    if (head.has_transfer_encoding) {
      why = "Content-Length with Transfer-Encoding";
      return false;
    }
    std::uint64_t n = 0;
    if (!content_length_value(value, n)) {
      why = "invalid Content-Length";
      return false;
    }
    if (head.has_content_length && n != head.content_length) {
      why = "differing Content-Length";
      return false;
    }
    head.has_content_length = true;
    head.content_length = n;
  } else if (same_ignoring_case(name, "transfer-encoding")) {
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; nuri
    // refuses it. With Content-Length: see above.
    if (head.minor == 0) {
      why = "Transfer-Encoding in HTTP/1.0";
      return false;
    }
    if (head.has_content_length) {
      why = "Transfer-Encoding with Content-Length";
      return false;
    }
    head.has_transfer_encoding = true;
    if (!transfer_codings(value, head.codings)) {
      why = "Transfer-Encoding syntax";
      return false;
    }
    // RFC 9112 §6.1: chunked must not be applied twice, and must be last: a coding listed after
    // chunked (in this field or a later one) can never be valid, so it is refused at once.
    bool seen_chunked = false;
    for (const std::string& coding : head.codings) {
      if (seen_chunked) {
        why = "coding after chunked";
        return false;
      }
      if (same_ignoring_case(coding, "chunked")) seen_chunked = true;
    }
  } else if (same_ignoring_case(name, "connection")) {
    // RFC 9110 §7.6.1: Connection = #connection-option, connection-option = token. nuri
    // refuses a malformed one (400) rather than guess which fields are hop-by-hop.
    for (const std::string& option : split_list(value)) {
      if (!option.empty() && !is_token(option)) {
        why = "Connection option is no token";
        return false;
      }
    }
  } else if (same_ignoring_case(name, "expect")) {
    // RFC 9110 §10.1.1: a server may answer 417 to an expectation other than 100-continue;
    // nuri always does, whatever the version.
    for (const std::string& expectation : split_list(value)) {
      if (!expectation.empty() && !same_ignoring_case(expectation, "100-continue")) {
        why = "unknown expectation";
        return false;
      }
    }
  }
  return true;
}

// RFC 9112 §6.3: the body's length, once the whole head is known.
Verdict end_of_head(const Head& head, std::size_t length) {
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is 400.
  if (head.minor == 1 && head.hosts == 0) return reject("HTTP/1.1 without Host");
  Verdict v;
  v.outcome = Verdict::Outcome::accept;
  v.head_length = length;
  if (head.has_transfer_encoding) {
    // §6.3 item 4: in a request, Transfer-Encoding whose final coding is not chunked is 400;
    // a coding before chunked is one nuri does not implement (501, RFC 9112 §6.1). Both refuse.
    if (head.codings.empty() || !same_ignoring_case(head.codings.back(), "chunked")) {
      return reject("Transfer-Encoding not ending in chunked");
    }
    if (head.codings.size() > 1) return reject("coding before chunked (501)");
    v.framing = Verdict::Framing::chunked;
  } else if (head.has_content_length) {
    // §6.3 item 6 (a zero length is still framed by Content-Length).
    v.framing = Verdict::Framing::content_length;
    v.content_length = head.content_length;
  }
  // §6.3 item 7: otherwise a request has no body.
  return v;
}

}  // namespace

ReferenceVerdict reference_framing(std::string_view bytes, const ReferenceLimits& limits) {
  // nuri's limit: the head (leading empty lines included) must end within max_head_bytes; past
  // them nothing more is read (431). So only that window is judged.
  const std::string_view window = bytes.substr(0, limits.max_head_bytes);

  // RFC 9112 §2.2: lines end in CRLF, and a recipient may take a bare LF as the end too (nuri
  // does). A CR anywhere else is a bare CR, which nuri refuses (the RFC allows refusing it or
  // reading it as SP).
  std::vector<std::string> lines;  // complete lines, without their CRLF or LF
  std::vector<std::size_t> ends;   // offset just past each line's LF
  std::string current;
  for (std::size_t i = 0; i < window.size(); ++i) {
    if (window[i] == '\n') {
      if (!current.empty() && current.back() == '\r') current.pop_back();
      lines.push_back(current);
      ends.push_back(i + 1);
      current.clear();
    } else {
      current += window[i];
    }
  }

  Head head;
  bool have_request_line = false;
  int leading_empty = 0;
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const std::string& line = lines[k];
    if (line.find('\r') != std::string::npos) return reject("bare CR");
    if (!have_request_line) {
      if (line.empty()) {
        // §2.2: empty lines before the request line are skipped; nuri's limit is four.
        if (++leading_empty > 4) return reject("too many leading empty lines");
        continue;
      }
      std::string why;
      if (!request_line(line, limits, head, why)) return reject(why);
      have_request_line = true;
      continue;
    }
    if (line.empty()) return end_of_head(head, ends[k]);
    std::string why;
    if (!field_line(line, limits, head, why)) return reject(why);
  }
  if (bytes.size() > limits.max_head_bytes) return reject("head too large");
  return {};  // incomplete
}

}  // namespace nuri::fuzz
