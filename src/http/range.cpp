#include "http/range.h"

#include <algorithm>
#include <limits>

#include "http/field_values.h"

namespace nuri::http {
namespace {

using fields::trim_ows;

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool equals_ignore_case(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != lower[i]) return false;
  }
  return true;
}

/// A 1*DIGIT value. Values past 2^64-1 saturate; their digits are kept so that two of them can
/// still be compared exactly.
struct Number {
  std::uint64_t value = 0;
  bool overflow = false;
  std::string_view digits;
};

/// Reads 1*DIGIT at s[i]; false if there is no digit.
bool read_number(std::string_view s, std::size_t& i, Number& n) {
  const std::size_t start = i;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  n = Number{};
  while (i < s.size() && is_digit(s[i])) {
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (n.value > (kMax - d) / 10) {
      n.overflow = true;
      n.value = kMax;
    } else if (!n.overflow) {
      n.value = n.value * 10 + d;
    }
    ++i;
  }
  n.digits = s.substr(start, i - start);
  return i > start;
}

/// a > b, exactly, for numbers of any length.
bool greater(const Number& a, const Number& b) {
  if (!a.overflow && !b.overflow) return a.value > b.value;
  if (a.overflow != b.overflow) return a.overflow;
  std::string_view x = a.digits;
  std::string_view y = b.digits;
  while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
  while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
  if (x.size() != y.size()) return x.size() > y.size();
  return x > y;
}

enum class SpecResult : std::uint8_t { invalid, unsatisfiable, satisfiable };

/// One range-spec (RFC 9110 §14.1.2), without surrounding whitespace, resolved against `size`:
///   int-range    = first-pos "-" [ last-pos ]
///   suffix-range = "-" suffix-length
SpecResult parse_spec(std::string_view spec, std::uint64_t size, ByteRange& range) {
  std::size_t i = 0;
  if (spec[0] == '-') {
    Number suffix;
    ++i;
    if (!read_number(spec, i, suffix) || i != spec.size()) return SpecResult::invalid;
    // A suffix longer than the representation selects all of it; "-0" selects nothing.
    if (suffix.value == 0 || size == 0) return SpecResult::unsatisfiable;
    range.first = suffix.value >= size ? 0 : size - suffix.value;
    range.last = size - 1;
    return SpecResult::satisfiable;
  }
  Number first;
  if (!read_number(spec, i, first) || i == spec.size() || spec[i] != '-') {
    return SpecResult::invalid;
  }
  ++i;
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (i != spec.size()) {
    Number last_pos;
    if (!read_number(spec, i, last_pos) || i != spec.size()) return SpecResult::invalid;
    // §14.1.1: a byte-range-spec whose last-pos is less than its first-pos is invalid.
    if (greater(first, last_pos)) return SpecResult::invalid;
    last = last_pos.value;
  }
  // §14.1.2: a range starting at or past the end is unsatisfiable; a last-pos at or past the
  // end means "up to the end".
  if (first.value >= size) return SpecResult::unsatisfiable;
  range.first = first.value;
  range.last = last < size - 1 ? last : size - 1;
  return SpecResult::satisfiable;
}

/// Merges ranges that overlap or touch (§14.2 lets a server coalesce them; that also defuses
/// "many small overlapping ranges" requests), then puts the parts in the order they were asked
/// for (§14.6: SHOULD), a merged part where the first of its ranges was.
void merge_in_asked_order(RangeSet& set) {
  struct Part {
    ByteRange range;
    std::size_t asked;  // its position in the request; of the earliest, for a merged part
  };
  Part parts[kMaxRanges];
  for (std::size_t i = 0; i < set.count; ++i) parts[i] = {set.ranges[i], i};
  // Insertion sorts: at most kMaxRanges elements, and usually already in order.
  auto sort_by = [&parts](std::size_t count, auto key) {
    for (std::size_t i = 1; i < count; ++i) {
      const Part p = parts[i];
      std::size_t j = i;
      while (j > 0 && key(parts[j - 1]) > key(p)) {
        parts[j] = parts[j - 1];
        --j;
      }
      parts[j] = p;
    }
  };
  sort_by(set.count, [](const Part& p) { return p.range.first; });
  std::size_t n = 0;
  for (std::size_t i = 0; i < set.count; ++i) {
    const Part p = parts[i];
    // last < size ≤ 2^64-1, so last + 1 does not overflow.
    if (n > 0 && p.range.first <= parts[n - 1].range.last + 1) {
      parts[n - 1].range.last = std::max(parts[n - 1].range.last, p.range.last);
      parts[n - 1].asked = std::min(parts[n - 1].asked, p.asked);
    } else {
      parts[n++] = p;
    }
  }
  sort_by(n, [](const Part& p) { return p.asked; });
  for (std::size_t i = 0; i < n; ++i) set.ranges[i] = parts[i].range;
  set.count = n;
}

}  // namespace

RangeOutcome parse_range(std::string_view value, std::uint64_t size, RangeSet& out) {
  out.count = 0;
  // ranges-specifier = range-unit "=" range-set
  const std::size_t eq = value.find('=');
  if (eq == std::string_view::npos) return RangeOutcome::ignore;
  // §14.1: range units are compared case-insensitively; nuri knows only "bytes".
  if (!equals_ignore_case(value.substr(0, eq), "bytes")) return RangeOutcome::ignore;
  const std::string_view set = value.substr(eq + 1);

  // range-set = 1#range-spec; §5.6.1: empty list elements and OWS around commas are accepted.
  std::size_t listed = 0;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t comma = set.find(',', pos);
    const std::string_view spec =
        trim_ows(set.substr(pos, comma == std::string_view::npos ? std::string_view::npos
                                                                 : comma - pos));
    if (!spec.empty()) {
      if (++listed > kMaxRanges) {
        out.count = 0;
        return RangeOutcome::ignore;
      }
      ByteRange r;
      switch (parse_spec(spec, size, r)) {
        case SpecResult::invalid:
          out.count = 0;
          return RangeOutcome::ignore;
        case SpecResult::unsatisfiable:
          break;
        case SpecResult::satisfiable:
          out.ranges[out.count++] = r;  // count ≤ listed ≤ kMaxRanges
          break;
      }
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (listed == 0) return RangeOutcome::ignore;
  if (out.count == 0) return RangeOutcome::unsatisfiable;
  merge_in_asked_order(out);
  return RangeOutcome::satisfiable;
}

}  // namespace nuri::http
