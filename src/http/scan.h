#pragma once
// Sixteen bytes at a time over the request parser's long runs: field names, field values and the
// request-target. Each scan returns exactly what chars::skip() with the same class returns (the
// first byte outside the class, or end), so the parser's decisions, and with them every error and
// its status, do not depend on which path found the byte. SSE2 only: it is the x86-64 baseline,
// so the binary still runs on any x86-64; elsewhere the scans fall back to eight bytes per step
// (a word test) and then to one table lookup per byte.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "http/chars.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nuri::http::scan {

#if defined(__SSE2__)
namespace detail {

inline __m128i splat(char c) { return _mm_set1_epi8(c); }

// Bytes whose unsigned value is in [lo, hi], as 0xff lanes.
inline __m128i in_range(__m128i b, char lo, char hi) {
  const __m128i offset = _mm_sub_epi8(b, splat(lo));
  return _mm_cmpeq_epi8(_mm_subs_epu8(offset, splat(static_cast<char>(hi - lo))), _mm_setzero_si128());
}

// Bytes below 0x21 or at 0x80 and above (a signed compare): CTL but DEL, SP, obs-text.
inline __m128i below_21_or_high(__m128i b) { return _mm_cmplt_epi8(b, splat(0x21)); }

inline __m128i equal(__m128i b, char c) { return _mm_cmpeq_epi8(b, splat(c)); }

inline unsigned mask(__m128i lanes) { return static_cast<unsigned>(_mm_movemask_epi8(lanes)); }

// Bit i set when byte i is not a field-value byte (chars::kValue): CTL except HTAB, and DEL.
inline unsigned value_stops(__m128i b) {
  const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(b, splat(0x1f)), b);  // b <= 0x1f
  return mask(_mm_or_si128(_mm_andnot_si128(equal(b, '\t'), ctl), equal(b, 0x7f)));
}

// Bit i set when byte i is not a request-target byte (chars::kTarget: VCHAR except '#').
inline unsigned target_stops(__m128i b) {
  return mask(_mm_or_si128(_mm_or_si128(below_21_or_high(b), equal(b, 0x7f)), equal(b, '#')));
}

// Bit i set when byte i is not a tchar (chars::kTchar, RFC 9110 §5.6.2): CTL, SP, DEL, obs-text
// and the delimiters DQUOTE and "(),/:;<=>?@[\]{}".
inline unsigned tchar_stops(__m128i b) {
  __m128i m = _mm_or_si128(below_21_or_high(b), equal(b, 0x7f));
  m = _mm_or_si128(m, _mm_or_si128(equal(b, '"'), in_range(b, '(', ')')));
  m = _mm_or_si128(m, _mm_or_si128(equal(b, ','), equal(b, '/')));
  m = _mm_or_si128(m, _mm_or_si128(in_range(b, ':', '@'), in_range(b, '[', ']')));
  m = _mm_or_si128(m, _mm_or_si128(equal(b, '{'), equal(b, '}')));
  return mask(m);
}

inline __m128i load(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// The first byte in [p, end) whose bit `stops` sets, or end. Whole blocks while 16 bytes remain;
// a shorter tail is read as the 16 bytes that end at `end` (never before `floor`, the first byte
// the caller may read, never past `end`), its bits below p shifted out. Without 16 readable bytes
// the table does it.
template <unsigned (*stops)(__m128i)>
inline const char* skip16(const char* p, const char* end, const char* floor, std::uint8_t cls) {
  for (; end - p >= 16; p += 16) {
    if (const unsigned m = stops(load(p)); m != 0) return p + __builtin_ctz(m);
  }
  if (p == end) return p;
  if (end - floor >= 16) {
    const char* const block = end - 16;
    const unsigned m = stops(load(block)) >> (p - block);
    return m != 0 ? p + __builtin_ctz(m) : end;
  }
  return chars::skip(p, end, cls);
}

}  // namespace detail

/// The first byte in [p, end) that is not a tchar, or end. [floor, p) must be readable too.
inline const char* skip_tchar(const char* p, const char* end, const char* floor) {
  return detail::skip16<detail::tchar_stops>(p, end, floor, chars::kTchar);
}

/// The first byte in [p, end) that is not a field-value byte (chars::kValue), or end.
inline const char* skip_value(const char* p, const char* end, const char* floor) {
  return detail::skip16<detail::value_stops>(p, end, floor, chars::kValue);
}

/// The first byte in [p, end) that is not a request-target byte (chars::kTarget), or end.
inline const char* skip_target(const char* p, const char* end, const char* floor) {
  return detail::skip16<detail::target_stops>(p, end, floor, chars::kTarget);
}

#else  // !__SSE2__

namespace detail {

// Eight bytes at a time: word tests from "Bit Twiddling Hacks", exact as to whether any byte of
// the word matches.
constexpr std::uint64_t kOnes = 0x0101010101010101u;
constexpr std::uint64_t kHighs = 0x8080808080808080u;

constexpr std::uint64_t any_below(std::uint64_t x, std::uint8_t n) {  // n <= 128
  return (x - kOnes * n) & ~x & kHighs;
}
constexpr std::uint64_t any_equal(std::uint64_t x, std::uint8_t n) {
  return any_below(x ^ (kOnes * n), 1);
}

// Words of field-value bytes without HTAB (which the byte loop handles): no control, no DEL.
inline bool value_word(std::uint64_t x) { return (any_below(x, 0x20) | any_equal(x, 0x7f)) == 0; }

// Words of request-target bytes: VCHAR except '#'.
inline bool target_word(std::uint64_t x) {
  return (any_below(x, 0x21) | any_equal(x, 0x7f) | any_equal(x, '#') | (x & kHighs)) == 0;
}

// chars::skip() with a word test that accepts a word only if all its bytes are in `cls`.
template <bool (*word_ok)(std::uint64_t)>
const char* skip_long(const char* p, const char* end, std::uint8_t cls) {
  while (true) {
    for (std::uint64_t x; end - p >= 8; p += 8) {
      std::memcpy(&x, p, 8);
      if (!word_ok(x)) break;
    }
    const char* const stop = end - p > 8 ? p + 8 : end;
    for (; p < stop; ++p) {
      if (!chars::is(*p, cls)) return p;
    }
    if (p == end) return p;
  }
}

}  // namespace detail

inline const char* skip_tchar(const char* p, const char* end, const char*) {
  return chars::skip(p, end, chars::kTchar);
}
inline const char* skip_value(const char* p, const char* end, const char*) {
  return detail::skip_long<detail::value_word>(p, end, chars::kValue);
}
inline const char* skip_target(const char* p, const char* end, const char*) {
  return detail::skip_long<detail::target_word>(p, end, chars::kTarget);
}

#endif

}  // namespace nuri::http::scan
