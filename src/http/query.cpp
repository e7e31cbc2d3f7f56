#include "http/query.h"

#include "http/percent.h"

namespace nuri::http {

Status QueryParams::parse(std::string_view text, const QueryLimits& limits) {
  pairs_.clear();
  if (text.size() > limits.max_size) return Status::content_too_large;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('&', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view segment = text.substr(pos, end - pos);
    pos = end + 1;
    if (segment.empty()) continue;
    // Counted before decoding, so a flood of pairs costs no more than the limit's worth of work.
    if (pairs_.size() == limits.max_pairs) {
      pairs_.clear();
      return Status::content_too_large;
    }
    const std::size_t eq = segment.find('=');
    const std::string_view name = segment.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : segment.substr(eq + 1);
    Pair& p = pairs_.emplace_back();
    p.name.reserve(name.size());
    p.value.reserve(value.size());
    if (!percent_decode_append(name, p.name, true) ||
        !percent_decode_append(value, p.value, true)) {
      pairs_.clear();
      return Status::bad_request;
    }
  }
  return Status::ok;
}

std::optional<std::string_view> QueryParams::first(std::string_view name) const {
  for (const Pair& p : pairs_) {
    if (p.name == name) return std::string_view(p.value);
  }
  return std::nullopt;
}

std::vector<std::string_view> QueryParams::all(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const Pair& p : pairs_) {
    if (p.name == name) values.emplace_back(p.value);
  }
  return values;
}

}  // namespace nuri::http
