#pragma once
// Character classes of HTTP/1.1 and URIs (RFC 9110, RFC 9112, RFC 3986), one table lookup per
// byte. Shared by both parsers, the chunked decoder, cookies, the configuration's header names
// and libnuri's routes, so that all of them read "tchar" or "field-value byte" the same way.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nuri::http::chars {

/// Class bits; kClass[byte] holds the bits of every class the byte is in.
inline constexpr std::uint8_t kTchar = 1 << 0;    ///< tchar (RFC 9110 §5.6.2)
inline constexpr std::uint8_t kTarget = 1 << 1;   ///< request-target byte: VCHAR except '#'
                                                  ///< (a fragment is never sent)
inline constexpr std::uint8_t kValue = 1 << 2;    ///< field-value byte: VCHAR, obs-text, SP,
                                                  ///< HTAB (RFC 9110 §5.5)
inline constexpr std::uint8_t kRegName = 1 << 3;  ///< unreserved / sub-delims (RFC 3986
                                                  ///< §3.2.2); '%' is the caller's to handle
inline constexpr std::uint8_t kDigit = 1 << 4;    ///< DIGIT
inline constexpr std::uint8_t kHex = 1 << 5;      ///< HEXDIG, either case
inline constexpr std::uint8_t kAlpha = 1 << 6;    ///< ALPHA
inline constexpr std::uint8_t kScheme = 1 << 7;   ///< ALPHA / DIGIT / "+" / "-" / "."
                                                  ///< (RFC 3986 §3.1)

namespace detail {

/// Whether `c` is one of the bytes of the NUL-terminated `set`.
constexpr bool one_of(const char* set, int c) {
  for (; *set != '\0'; ++set) {
    if (*set == c) return true;
  }
  return false;
}

/// Builds kClass at compile time.
constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7e;
    int f = 0;
    if (alpha || digit || one_of("!#$%&'*+-.^_`|~", c)) f |= kTchar;
    if (vchar && c != '#') f |= kTarget;
    if (vchar || c >= 0x80 || c == ' ' || c == '\t') f |= kValue;
    if (alpha || digit || one_of("-._~!$&'()*+,;=", c)) f |= kRegName;
    if (digit) f |= kDigit;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= kHex;
    if (alpha) f |= kAlpha;
    if (alpha || digit || one_of("+-.", c)) f |= kScheme;
    t[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(f);
  }
  return t;
}

}  // namespace detail

/// The class bits of each of the 256 byte values, computed at compile time.
inline constexpr std::array<std::uint8_t, 256> kClass = detail::make_classes();

/// Whether byte `c` is in any of the classes whose bits are set in `cls`.
constexpr bool is(char c, std::uint8_t cls) {
  return (kClass[static_cast<unsigned char>(c)] & cls) != 0;
}

/// Whether `c` is an OWS byte, SP or HTAB (RFC 9110 §5.6.3).
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

/// The first byte in [p, end) outside `cls`, or end (unrolled: the parsers' inner loop).
inline const char* skip(const char* p, const char* end, std::uint8_t cls) {
  while (end - p >= 4) {
    if (!is(p[0], cls)) return p;
    if (!is(p[1], cls)) return p + 1;
    if (!is(p[2], cls)) return p + 2;
    if (!is(p[3], cls)) return p + 3;
    p += 4;
  }
  while (p < end && is(*p, cls)) ++p;
  return p;
}

/// Whether byte k (0-7) of an HTTP-version may be c: "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
/// One definition for the request and the response parser.
constexpr bool version_byte_ok(std::size_t k, char c) {
  if (k < 5) return c == "HTTP/"[k];
  if (k == 6) return c == '.';
  return is(c, kDigit);
}

/// token = 1*tchar (RFC 9110 §5.6.2): a method, a field name, a cookie name.
inline bool is_token(std::string_view s) {
  return !s.empty() && skip(s.data(), s.data() + s.size(), kTchar) == s.data() + s.size();
}

}  // namespace nuri::http::chars
