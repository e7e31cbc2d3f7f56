#pragma once
// Query strings and application/x-www-form-urlencoded bodies: "a=1&b=x+y&a=%2F" into ordered,
// decoded (name, value) pairs. Pure function on bytes; the caller picks the status to answer.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/status.h"

namespace nuri::http {

/// Limits of one query string or form body. Past either, parse() answers 413.
struct QueryLimits {
  std::size_t max_pairs = 1000;       ///< pairs kept (empty "&&" segments are not pairs)
  std::size_t max_size = 64 * 1024;   ///< bytes of encoded input
};

/// Decoded pairs in the order they came, repeated names included.
class QueryParams {
 public:
  struct Pair {
    std::string name;
    std::string value;
    bool operator==(const Pair&) const = default;
  };

  /// Replaces the contents with the pairs of `text` (without the leading '?'). Pairs are split
  /// on '&' (WHATWG URL §5.1; ';' is data), each at its first '='; a pair without '=' has an
  /// empty value; empty segments are skipped. '+' is a space and "%XX" a byte: names and
  /// values are bytes, not checked to be UTF-8. Returns Status::ok; bad_request for a
  /// malformed escape ("%", "%4", "%zz"); content_too_large past a limit. On an error the
  /// contents are empty: never a half-decoded set.
  Status parse(std::string_view text, const QueryLimits& limits = {});

  /// The first value of `name` (exact, case-sensitive match), or nullopt. Views returned by
  /// first() and all() are valid until the next parse().
  std::optional<std::string_view> first(std::string_view name) const;
  /// Every value of `name`, in order.
  std::vector<std::string_view> all(std::string_view name) const;
  bool contains(std::string_view name) const { return first(name).has_value(); }

  const std::vector<Pair>& pairs() const { return pairs_; }
  std::size_t size() const { return pairs_.size(); }
  bool empty() const { return pairs_.empty(); }

 private:
  std::vector<Pair> pairs_;
};

}  // namespace nuri::http
