#include "http/conditional.h"

#include "http/chars.h"
#include "http/date.h"
#include "http/field_values.h"

namespace nuri::http {
namespace {

using chars::is_ows;
using fields::trim_ows;

/// etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3)
constexpr bool is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7F); }

struct EntityTag {
  bool weak = false;
  std::string_view opaque;  // with its quotes
};

/// Reads entity-tag = [ weak ] opaque-tag at s[i]; weak = %s"W/", opaque-tag = DQUOTE *etagc DQUOTE.
bool read_entity_tag(std::string_view s, std::size_t& i, EntityTag& tag) {
  tag = EntityTag{};
  std::size_t j = i;
  if (s.substr(j, 2) == "W/") {  // case-sensitive: "w/" is not a weak prefix
    tag.weak = true;
    j += 2;
  }
  if (j >= s.size() || s[j] != '"') return false;
  const std::size_t open = j++;
  while (j < s.size() && is_etagc(static_cast<unsigned char>(s[j]))) ++j;
  if (j >= s.size() || s[j] != '"') return false;
  ++j;
  tag.opaque = s.substr(open, j - open);
  i = j;
  return true;
}

/// `text` as exactly one entity-tag.
bool parse_single_tag(std::string_view text, EntityTag& tag) {
  std::size_t i = 0;
  return read_entity_tag(text, i, tag) && i == text.size();
}

/// RFC 9110 §8.8.3.2: strong comparison needs both tags strong and equal; weak comparison
/// only the opaque tags equal.
bool tags_match(const EntityTag& a, const EntityTag& b, bool weak) {
  if (!weak && (a.weak || b.weak)) return false;
  return a.opaque == b.opaque;
}

}  // namespace

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) {
  list = trim_ows(list);
  // "*" matches any current representation, and the caller has one.
  if (list == "*") return true;
  EntityTag ours;
  const bool have_tag = parse_single_tag(trim_ows(etag), ours);

  // #entity-tag (§5.6.1): elements separated by commas with OWS, empty elements allowed. The
  // whole list is read before answering: a malformed list matches nothing.
  bool matched = false;
  std::size_t i = 0;
  for (;;) {
    while (i < list.size() && (is_ows(list[i]) || list[i] == ',')) ++i;
    if (i == list.size()) break;
    EntityTag theirs;
    if (!read_entity_tag(list, i, theirs)) return false;
    if (have_tag && tags_match(theirs, ours, weak)) matched = true;
    while (i < list.size() && is_ows(list[i])) ++i;
    if (i < list.size() && list[i] != ',') return false;  // two tags without a comma, junk
  }
  return matched;
}

PreconditionOutcome evaluate_preconditions(const Preconditions& p, bool get_or_head,
                                           std::string_view etag, std::time_t mtime) {
  // RFC 9110 §13.2.2, steps 1-4 (step 5, If-Range, belongs to the range logic).
  if (p.if_match) {
    // Step 1: If-Match uses the strong comparison (§13.1.1).
    if (!etag_list_matches(*p.if_match, etag, false)) return PreconditionOutcome::failed;
  } else if (p.if_unmodified_since) {
    // Step 2: only without If-Match; a value that is not a valid HTTP-date is ignored (§13.1.4).
    const auto since = parse_http_date(trim_ows(*p.if_unmodified_since));
    if (since && mtime > *since) return PreconditionOutcome::failed;
  }
  if (p.if_none_match) {
    // Step 3: If-None-Match uses the weak comparison (§13.1.2).
    if (etag_list_matches(*p.if_none_match, etag, true)) {
      return get_or_head ? PreconditionOutcome::not_modified : PreconditionOutcome::failed;
    }
  } else if (get_or_head && p.if_modified_since) {
    // Step 4: only without If-None-Match and only for GET/HEAD; an invalid date (including a
    // list of several) is ignored (§13.1.3).
    const auto since = parse_http_date(trim_ows(*p.if_modified_since));
    if (since && mtime <= *since) return PreconditionOutcome::not_modified;
  }
  return PreconditionOutcome::proceed;
}

bool if_range_matches(std::string_view if_range, std::string_view etag, std::time_t mtime, std::time_t now) {
  if_range = trim_ows(if_range);
  // §13.1.5: If-Range = entity-tag / HTTP-date; a tag starts with DQUOTE or "W/".
  if (!if_range.empty() && (if_range.front() == '"' || if_range.substr(0, 2) == "W/")) {
    EntityTag theirs;
    EntityTag ours;
    // A weak tag never matches: the strong comparison is required.
    return parse_single_tag(if_range, theirs) && parse_single_tag(trim_ows(etag), ours) &&
           tags_match(theirs, ours, false);
  }
  // A file changed twice within the second of its Last-Modified has one date for two contents:
  // until that second is over, the date is weak and a weak If-Range is false. The client then
  // gets the whole new file instead of a range of it spliced onto the old one.
  const auto date = parse_http_date(if_range);
  return date && *date == mtime && now - mtime >= 1;
}

}  // namespace nuri::http
