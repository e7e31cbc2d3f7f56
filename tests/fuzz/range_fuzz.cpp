// libFuzzer target for http::parse_range.
// Input: "<size in decimal>\n<Range value>" (without a newline: size 1000, all of it the value).
// Invariants: satisfiable means 1..kMaxRanges ranges, each within [0, size), first <= last,
// sorted, neither overlapping nor adjacent; otherwise no range. The result does not depend on
// what `out` held before.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/range.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::uint64_t length = 1000;
  if (const std::size_t nl = input.find('\n'); nl != std::string_view::npos) {
    length = 0;
    for (const char c : input.substr(0, nl)) {
      if (c < '0' || c > '9') break;
      const auto d = static_cast<std::uint64_t>(c - '0');
      length = length > (UINT64_MAX - d) / 10 ? UINT64_MAX : length * 10 + d;
    }
    input.remove_prefix(nl + 1);
  }

  using nuri::http::RangeOutcome;
  nuri::http::RangeSet set;
  const RangeOutcome outcome = nuri::http::parse_range(input, length, set);
  if (outcome != RangeOutcome::satisfiable) {
    check(set.count == 0);
  } else {
    check(set.count >= 1 && set.count <= nuri::http::kMaxRanges);
    // In the order asked, so not sorted; but merged: no two parts overlap or touch.
    for (std::size_t i = 0; i < set.count; ++i) {
      const nuri::http::ByteRange& r = set.ranges[i];
      check(r.first <= r.last && r.last < length);
      for (std::size_t j = 0; j < i; ++j) {
        const nuri::http::ByteRange& o = set.ranges[j];
        check(r.first > o.last + 1 || o.first > r.last + 1);
      }
    }
  }

  nuri::http::RangeSet dirty;
  dirty.count = nuri::http::kMaxRanges;
  for (auto& r : dirty.ranges) r = {5, 3};
  check(nuri::http::parse_range(input, length, dirty) == outcome && dirty.count == set.count);
  for (std::size_t i = 0; i < set.count; ++i) {
    check(dirty.ranges[i].first == set.ranges[i].first && dirty.ranges[i].last == set.ranges[i].last);
  }
  return 0;
}
