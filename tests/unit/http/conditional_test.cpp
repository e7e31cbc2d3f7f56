#include "http/conditional.h"

#include <gtest/gtest.h>

#include <optional>
#include <string_view>

namespace nuri::http {
namespace {

constexpr std::string_view kEtag = "\"abc\"";
constexpr std::time_t kMtime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr std::time_t kNow = kMtime + 3600;  // the response's Date: an hour after the change
constexpr std::string_view kBefore = "Sun, 06 Nov 1994 08:49:36 GMT";  // mtime > date
constexpr std::string_view kAt = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr std::string_view kAfter = "Sun, 06 Nov 1994 08:49:38 GMT";
constexpr std::string_view kBadDate = "yesterday";

using O = PreconditionOutcome;
using Opt = std::optional<std::string_view>;
constexpr Opt kNone = std::nullopt;

struct PreconditionCase {
  const char* name;
  Opt if_match;
  Opt if_none_match;
  Opt if_modified_since;
  Opt if_unmodified_since;
  O get;    // outcome for GET/HEAD
  O other;  // outcome for other methods (PUT, POST, DELETE...)
};

std::ostream& operator<<(std::ostream& os, const PreconditionCase& c) { return os << c.name; }

class ConditionalOrder : public ::testing::TestWithParam<PreconditionCase> {};

TEST_P(ConditionalOrder, Table) {
  const PreconditionCase& c = GetParam();
  const Preconditions p{c.if_match, c.if_none_match, c.if_modified_since, c.if_unmodified_since};
  EXPECT_EQ(evaluate_preconditions(p, true, kEtag, kMtime), c.get) << "GET";
  EXPECT_EQ(evaluate_preconditions(p, false, kEtag, kMtime), c.other) << "PUT";
}

constexpr auto kProceed = O::proceed;
constexpr auto k304 = O::not_modified;
constexpr auto k412 = O::failed;

INSTANTIATE_TEST_SUITE_P(ConditionalRfc9110, ConditionalOrder, ::testing::Values(
    PreconditionCase{"none", kNone, kNone, kNone, kNone, kProceed, kProceed},
    // Step 1: If-Match, strong comparison.
    PreconditionCase{"im_match", "\"abc\"", kNone, kNone, kNone, kProceed, kProceed},
    PreconditionCase{"im_in_list", "\"x\", \"abc\"", kNone, kNone, kNone, kProceed, kProceed},
    PreconditionCase{"im_star", "*", kNone, kNone, kNone, kProceed, kProceed},
    PreconditionCase{"im_mismatch", "\"xyz\"", kNone, kNone, kNone, k412, k412},
    PreconditionCase{"im_weak_never", "W/\"abc\"", kNone, kNone, kNone, k412, k412},
    PreconditionCase{"im_malformed", "abc", kNone, kNone, kNone, k412, k412},
    PreconditionCase{"im_empty", "", kNone, kNone, kNone, k412, k412},
    // Step 2: If-Unmodified-Since only without If-Match.
    PreconditionCase{"ius_before", kNone, kNone, kNone, kBefore, k412, k412},
    PreconditionCase{"ius_at", kNone, kNone, kNone, kAt, kProceed, kProceed},
    PreconditionCase{"ius_after", kNone, kNone, kNone, kAfter, kProceed, kProceed},
    PreconditionCase{"ius_invalid_ignored", kNone, kNone, kNone, kBadDate, kProceed, kProceed},
    PreconditionCase{"ius_list_ignored", kNone, kNone, kNone,
                     "Sun, 06 Nov 1994 08:49:36 GMT, Sun, 06 Nov 1994 08:49:36 GMT",
                     kProceed, kProceed},
    PreconditionCase{"im_match_overrides_ius", "\"abc\"", kNone, kNone, kBefore, kProceed,
                     kProceed},
    PreconditionCase{"im_fail_with_good_ius", "\"x\"", kNone, kNone, kAfter, k412, k412},
    // Step 3: If-None-Match, weak comparison.
    PreconditionCase{"inm_match", kNone, "\"abc\"", kNone, kNone, k304, k412},
    PreconditionCase{"inm_weak_match", kNone, "W/\"abc\"", kNone, kNone, k304, k412},
    PreconditionCase{"inm_in_list", kNone, "\"a\", W/\"abc\"", kNone, kNone, k304, k412},
    PreconditionCase{"inm_star", kNone, "*", kNone, kNone, k304, k412},
    PreconditionCase{"inm_mismatch", kNone, "\"xyz\"", kNone, kNone, kProceed, kProceed},
    PreconditionCase{"inm_malformed", kNone, "abc", kNone, kNone, kProceed, kProceed},
    PreconditionCase{"inm_half_malformed", kNone, "\"abc\", x", kNone, kNone, kProceed,
                     kProceed},
    PreconditionCase{"inm_empty", kNone, "", kNone, kNone, kProceed, kProceed},
    // Step 4: If-Modified-Since only without If-None-Match and only for GET/HEAD.
    PreconditionCase{"ims_at", kNone, kNone, kAt, kNone, k304, kProceed},
    PreconditionCase{"ims_after", kNone, kNone, kAfter, kNone, k304, kProceed},
    PreconditionCase{"ims_before", kNone, kNone, kBefore, kNone, kProceed, kProceed},
    PreconditionCase{"ims_invalid_ignored", kNone, kNone, kBadDate, kNone, kProceed, kProceed},
    PreconditionCase{"ims_asctime", kNone, kNone, "Sun Nov  6 08:49:37 1994", kNone, k304,
                     kProceed},
    PreconditionCase{"ims_with_ows", kNone, kNone, " Sun, 06 Nov 1994 08:49:37 GMT ", kNone,
                     k304, kProceed},
    PreconditionCase{"ims_list_ignored", kNone, kNone,
                     "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", kNone,
                     kProceed, kProceed},
    PreconditionCase{"inm_mismatch_overrides_ims", kNone, "\"xyz\"", kAt, kNone, kProceed,
                     kProceed},
    PreconditionCase{"inm_malformed_overrides_ims", kNone, "bad", kAt, kNone, kProceed,
                     kProceed},
    PreconditionCase{"inm_match_with_stale_ims", kNone, "\"abc\"", kBefore, kNone, k304, k412},
    // Combinations across the steps.
    PreconditionCase{"im_fail_beats_inm_match", "\"x\"", "\"abc\"", kNone, kNone, k412, k412},
    PreconditionCase{"im_fail_beats_ims", "\"x\"", kNone, kAt, kNone, k412, k412},
    PreconditionCase{"im_ok_then_inm_match", "\"abc\"", "\"abc\"", kNone, kNone, k304, k412},
    PreconditionCase{"im_ok_then_inm_mismatch", "\"abc\"", "\"x\"", kNone, kNone, kProceed,
                     kProceed},
    PreconditionCase{"im_ok_then_ims", "\"abc\"", kNone, kAt, kNone, k304, kProceed},
    PreconditionCase{"im_star_inm_star", "*", "*", kNone, kNone, k304, k412},
    PreconditionCase{"ius_fail_beats_inm_match", kNone, "\"abc\"", kNone, kBefore, k412, k412},
    PreconditionCase{"ius_fail_beats_ims", kNone, kNone, kAt, kBefore, k412, k412},
    PreconditionCase{"ius_ok_then_ims", kNone, kNone, kAt, kAfter, k304, kProceed},
    PreconditionCase{"ius_ok_then_inm", kNone, "\"abc\"", kNone, kAt, k304, k412},
    PreconditionCase{"ius_invalid_then_ims", kNone, kNone, kAt, kBadDate, k304, kProceed},
    PreconditionCase{"all_pass", "\"abc\"", "\"x\"", kBefore, kAt, kProceed, kProceed},
    PreconditionCase{"all_four_304", "\"abc\"", "\"abc\"", kBefore, kBefore, k304, k412},
    PreconditionCase{"all_four_412", "\"x\"", "\"abc\"", kAt, kAfter, k412, k412}));

TEST(ConditionalOrder, WeakRepresentationTag) {
  // A representation with only a weak validator never satisfies If-Match.
  const std::string_view weak = "W/\"abc\"";
  Preconditions p;
  p.if_match = "W/\"abc\"";
  EXPECT_EQ(evaluate_preconditions(p, true, weak, kMtime), O::failed);
  p.if_match = "*";
  EXPECT_EQ(evaluate_preconditions(p, true, weak, kMtime), O::proceed);
  p = {};
  p.if_none_match = "\"abc\"";
  EXPECT_EQ(evaluate_preconditions(p, true, weak, kMtime), O::not_modified);
}

TEST(ConditionalOrder, NoEntityTag) {
  // A representation without an entity tag (empty): only "*" matches.
  Preconditions p;
  p.if_match = "\"abc\"";
  EXPECT_EQ(evaluate_preconditions(p, true, "", kMtime), O::failed);
  p.if_match = "*";
  EXPECT_EQ(evaluate_preconditions(p, true, "", kMtime), O::proceed);
  p = {};
  p.if_none_match = "\"\"";
  EXPECT_EQ(evaluate_preconditions(p, true, "", kMtime), O::proceed);
  p.if_none_match = "*";
  EXPECT_EQ(evaluate_preconditions(p, true, "", kMtime), O::not_modified);
}

struct ListCase {
  std::string_view list;
  std::string_view etag;
  bool strong;
  bool weak;
};

TEST(ConditionalEtagList, Table) {
  const ListCase cases[] = {
      {"*", "\"a\"", true, true},
      {" * ", "\"a\"", true, true},
      {"*", "", true, true},
      {"\"a\"", "\"a\"", true, true},
      {"\"a\"", "\"b\"", false, false},
      {"\"a\"", "\"A\"", false, false},          // opaque tags are case-sensitive
      {"W/\"a\"", "\"a\"", false, true},
      {"\"a\"", "W/\"a\"", false, true},
      {"W/\"a\"", "W/\"a\"", false, true},
      {"\"b\", \"a\"", "\"a\"", true, true},
      {"\"b\",\"a\"", "\"a\"", true, true},
      {"\"b\" ,\t\"a\"", "\"a\"", true, true},
      {", ,\"a\",,", "\"a\"", true, true},       // empty elements are allowed
      {"W/\"b\", W/\"a\"", "\"a\"", false, true},
      {"\"\"", "\"\"", true, true},              // the empty opaque tag
      {"\"a,b\"", "\"a,b\"", true, true},        // a comma inside the quotes
      {"\"\x80\xff\"", "\"\x80\xff\"", true, true},  // obs-text
      {"\"a/b=c!#\"", "\"a/b=c!#\"", true, true},
      // Malformed lists match nothing, even where a valid tag matches.
      {"a", "\"a\"", false, false},
      {"\"a", "\"a\"", false, false},
      {"a\"", "\"a\"", false, false},
      {"\"a\" \"b\"", "\"a\"", false, false},
      {"\"a\"\"b\"", "\"a\"", false, false},
      {"\"a\"x", "\"a\"", false, false},
      {"\"a\", x", "\"a\"", false, false},
      {"x, \"a\"", "\"a\"", false, false},
      {"\"a\", *", "\"a\"", false, false},
      {"*, \"a\"", "\"a\"", false, false},
      {"w/\"a\"", "\"a\"", false, false},        // "W/" is case-sensitive
      {"W/ \"a\"", "\"a\"", false, false},
      {"W\"a\"", "\"a\"", false, false},
      {"\"a b\"", "\"a b\"", false, false},      // SP is not an etagc
      {"\"a\x7f\"", "\"a\x7f\"", false, false},
      {"\"a\tb\"", "\"a\tb\"", false, false},
      {"\"a\";\"b\"", "\"a\"", false, false},
      // An empty list matches nothing.
      {"", "\"a\"", false, false},
      {" , ", "\"a\"", false, false},
      // A malformed or missing representation tag matches only "*".
      {"\"a\"", "", false, false},
      {"\"a\"", "a", false, false},
  };
  for (const ListCase& c : cases) {
    EXPECT_EQ(etag_list_matches(c.list, c.etag, false), c.strong)
        << "strong: [" << c.list << "] vs [" << c.etag << "]";
    EXPECT_EQ(etag_list_matches(c.list, c.etag, true), c.weak)
        << "weak: [" << c.list << "] vs [" << c.etag << "]";
  }
}

TEST(ConditionalIfRange, EntityTags) {
  EXPECT_TRUE(if_range_matches("\"abc\"", kEtag, kMtime, kNow));
  EXPECT_TRUE(if_range_matches(" \"abc\" ", kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches("\"xyz\"", kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches("W/\"abc\"", kEtag, kMtime, kNow));  // a weak tag never matches
  EXPECT_FALSE(if_range_matches("\"abc\"", "W/\"abc\"", kMtime, kNow));
  EXPECT_FALSE(if_range_matches("\"abc\", \"abc\"", kEtag, kMtime, kNow));  // one tag, not a list
  EXPECT_FALSE(if_range_matches("\"abc", kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches("*", kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches("", kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches("\"\"", "", kMtime, kNow));
}

TEST(ConditionalIfRange, ADateIsWeakWithinItsOwnSecond) {
  // Last-Modified equal to the response's Date: the file may change again within that second.
  EXPECT_FALSE(if_range_matches(kAt, kEtag, kMtime, kMtime));
  EXPECT_TRUE(if_range_matches(kAt, kEtag, kMtime, kMtime + 1));
  EXPECT_TRUE(if_range_matches("\"abc\"", kEtag, kMtime, kMtime));  // a tag is not a date
}

TEST(ConditionalIfRange, Dates) {
  EXPECT_TRUE(if_range_matches(kAt, kEtag, kMtime, kNow));
  EXPECT_TRUE(if_range_matches("Sun Nov  6 08:49:37 1994", kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches(kBefore, kEtag, kMtime, kNow));  // must be exactly equal
  EXPECT_FALSE(if_range_matches(kAfter, kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches(kBadDate, kEtag, kMtime, kNow));
  EXPECT_FALSE(if_range_matches("Mon, 06 Nov 1994 08:49:37 GMT", kEtag, kMtime, kNow));
  EXPECT_TRUE(if_range_matches("Tue, 19 Jan 2038 03:14:08 GMT", kEtag, 2147483648, 2147483648 + 1));
}

}  // namespace
}  // namespace nuri::http
