#pragma once
// Range requests (RFC 9110 §14): parsing "Range: bytes=..." against a representation's size.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nuri::http {

/// One range, inclusive on both ends, already resolved against the representation's size.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};

inline constexpr std::size_t kMaxRanges = 16;

/// The ranges to send, after overlapping and adjacent ranges were merged (RFC 9110 §14.2 lets
/// a server coalesce), in the order they were asked for (§14.6).
struct RangeSet {
  ByteRange ranges[kMaxRanges];
  std::size_t count = 0;
};

enum class RangeOutcome : std::uint8_t {
  ignore,          ///< no usable Range: invalid syntax, another unit, too many ranges: send 200
  satisfiable,     ///< send 206 with `out`'s ranges
  unsatisfiable,   ///< send 416 with "Content-Range: bytes */size"
};

/// Parses the value of a Range field ("bytes=0-99,200-", "bytes=-500") for a representation of
/// `size` bytes. Ranges that start at or past `size` are dropped; if none is left the outcome
/// is unsatisfiable. More than kMaxRanges ranges in the field: ignore.
RangeOutcome parse_range(std::string_view value, std::uint64_t size, RangeSet& out);

}  // namespace nuri::http
