#pragma once
// The grammar of the field values both parsers decide framing by (Content-Length and
// Transfer-Encoding), in one place, so that requests and responses are read by the same rules.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "http/chars.h"

namespace nuri::http::fields {

/// `s` without leading and trailing SP/HTAB.
inline std::string_view trim_ows(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && chars::is_ows(s[b])) ++b;
  while (e > b && chars::is_ows(s[e - 1])) --e;
  return s.substr(b, e - b);
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6), as a list of identical values at most. False for
/// anything else, and for values past 2^63-1. Leading zeros are digits of the number, not of its
/// size: "000...05" is 5, however many zeros (the head's size limit bounds them).
inline bool parse_content_length(std::string_view value, std::uint64_t& out) {
  bool first = true;
  while (true) {
    const std::size_t comma = value.find(',');
    std::string_view element = trim_ows(value.substr(0, comma));
    while (element.size() > 1 && element[0] == '0') element.remove_prefix(1);
    if (element.empty() || element.size() > 19) return false;
    std::uint64_t n = 0;
    for (const char c : element) {
      if (!chars::is(c, chars::kDigit)) return false;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');  // 19 digits cannot wrap 2^64
    }
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    if (!first && n != out) return false;
    out = n;
    first = false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

/// quoted-string (RFC 9110 §5.6.4) at the start of s: its length, or 0 when s holds none.
inline std::size_t quoted_string_length(std::string_view s) {
  if (s.empty() || s[0] != '"') return 0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (++i == s.size() || !chars::is(s[i], chars::kValue)) return 0;
    } else if (!chars::is(c, chars::kValue)) {
      return 0;
    }
  }
  return 0;
}

/// Transfer-Encoding = #transfer-coding; transfer-coding = token *( OWS ";" OWS token BWS "="
/// BWS ( token / quoted-string ) ) (RFC 9112 §6.1, RFC 9110 §10.1.4). Calls f(coding name) for
/// each coding, parameters checked and dropped. False on a syntax error or when f returns false.
template <class F>
bool for_each_coding(std::string_view s, F&& f) {
  std::size_t i = 0;
  const auto skip_ows = [&] {
    while (i < s.size() && chars::is_ows(s[i])) ++i;
  };
  const auto token = [&] {
    const std::size_t b = i;
    while (i < s.size() && chars::is(s[i], chars::kTchar)) ++i;
    return s.substr(b, i - b);
  };
  while (true) {
    skip_ows();
    if (i == s.size()) return true;
    if (s[i] == ',') {
      ++i;
      continue;
    }
    const std::string_view name = token();
    if (name.empty()) return false;
    while (true) {
      skip_ows();
      if (i == s.size() || s[i] != ';') break;
      ++i;
      skip_ows();
      if (token().empty()) return false;
      skip_ows();
      if (i == s.size() || s[i] != '=') return false;
      ++i;
      skip_ows();
      if (const std::size_t q = quoted_string_length(s.substr(i)); q > 0) {
        i += q;
      } else if (token().empty()) {
        return false;
      }
    }
    if (!f(name)) return false;
    if (i < s.size() && s[i] != ',') return false;
  }
}

}  // namespace nuri::http::fields
