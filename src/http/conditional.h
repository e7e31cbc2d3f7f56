#pragma once
// Conditional requests (RFC 9110 §13): validators and the order preconditions are evaluated in.
#include <ctime>
#include <optional>
#include <string_view>

namespace nuri::http {

/// The precondition fields of a request; nullopt where the field is absent.
struct Preconditions {
  std::optional<std::string_view> if_match;
  std::optional<std::string_view> if_none_match;
  std::optional<std::string_view> if_modified_since;
  std::optional<std::string_view> if_unmodified_since;
};

enum class PreconditionOutcome : std::uint8_t {
  proceed,       ///< serve the request normally
  not_modified,  ///< 304 (GET/HEAD only)
  failed,        ///< 412
};

/// Evaluates preconditions in the order of RFC 9110 §13.2.2 against a representation with the
/// (strong) entity tag `etag` (with quotes, e.g. "\"5f3e-400\"") and modification time `mtime`.
/// `get_or_head`: whether the method is GET or HEAD (If-None-Match then means 304, else 412).
/// Dates that do not parse are ignored, as the RFC requires.
PreconditionOutcome evaluate_preconditions(const Preconditions& p, bool get_or_head,
                                           std::string_view etag, std::time_t mtime);

/// Whether a Range should be honoured given the If-Range value (RFC 9110 §13.1.5): true when it
/// is an entity tag that strongly matches `etag`, or an HTTP-date equal to `mtime` that is a
/// strong validator: `mtime` at least a second before `now`, the response's Date (§8.8.2.2).
bool if_range_matches(std::string_view if_range, std::string_view etag, std::time_t mtime, std::time_t now);

/// True if `list` (an If-Match / If-None-Match value: "*" or a comma-separated list of
/// entity tags) contains a tag matching `etag`; weak comparison when `weak` is true.
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak);

}  // namespace nuri::http
