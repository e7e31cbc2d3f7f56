#include "http/range.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nuri::http {
namespace {

using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

struct RangeCase {
  std::string_view value;
  std::uint64_t size;
  RangeOutcome outcome;
  Ranges ranges;  // only for satisfiable
};

std::ostream& operator<<(std::ostream& os, const RangeCase& c) {
  return os << '"' << c.value << "\" size " << c.size;
}

Ranges to_vector(const RangeSet& set) {
  Ranges v;
  for (std::size_t i = 0; i < set.count; ++i) v.emplace_back(set.ranges[i].first, set.ranges[i].last);
  return v;
}

class RangeParse : public ::testing::TestWithParam<RangeCase> {};

TEST_P(RangeParse, Table) {
  const RangeCase& c = GetParam();
  RangeSet set;
  set.count = 7;  // stale content must not survive
  const RangeOutcome outcome = parse_range(c.value, c.size, set);
  EXPECT_EQ(outcome, c.outcome);
  if (outcome == RangeOutcome::satisfiable) {
    EXPECT_EQ(to_vector(set), c.ranges);
  } else {
    EXPECT_EQ(set.count, 0u);
  }
}

constexpr auto kOk = RangeOutcome::satisfiable;
constexpr auto kIgnore = RangeOutcome::ignore;
constexpr auto kUnsat = RangeOutcome::unsatisfiable;
constexpr std::uint64_t kMax = UINT64_MAX;

INSTANTIATE_TEST_SUITE_P(RangeSingle, RangeParse, ::testing::Values(
    RangeCase{"bytes=0-99", 1000, kOk, {{0, 99}}},
    RangeCase{"bytes=0-0", 1000, kOk, {{0, 0}}},
    RangeCase{"bytes=999-999", 1000, kOk, {{999, 999}}},
    RangeCase{"bytes=100-", 1000, kOk, {{100, 999}}},       // open-ended
    RangeCase{"bytes=0-", 1000, kOk, {{0, 999}}},
    RangeCase{"bytes=999-", 1000, kOk, {{999, 999}}},
    RangeCase{"bytes=-500", 1000, kOk, {{500, 999}}},       // suffix
    RangeCase{"bytes=-1", 1000, kOk, {{999, 999}}},
    RangeCase{"bytes=-1000", 1000, kOk, {{0, 999}}},
    RangeCase{"bytes=-5000", 1000, kOk, {{0, 999}}},        // suffix larger than size: all
    RangeCase{"bytes=500-5000", 1000, kOk, {{500, 999}}},   // last clamps to size - 1
    RangeCase{"bytes=0-999", 1000, kOk, {{0, 999}}},
    RangeCase{"bytes=0-1000", 1000, kOk, {{0, 999}}},
    RangeCase{"bytes=0-99999999999999999999999", 1000, kOk, {{0, 999}}},
    RangeCase{"bytes=-99999999999999999999999", 1000, kOk, {{0, 999}}},
    RangeCase{"bytes=0007-0009", 1000, kOk, {{7, 9}}},
    RangeCase{"bytes=0-0", 1, kOk, {{0, 0}}},
    RangeCase{"bytes=-1", 1, kOk, {{0, 0}}},
    RangeCase{"bytes=0-", kMax, kOk, {{0, kMax - 1}}},
    RangeCase{"bytes=18446744073709551614-", kMax, kOk, {{kMax - 1, kMax - 1}}},
    RangeCase{"bytes=-18446744073709551615", kMax, kOk, {{0, kMax - 1}}}));

INSTANTIATE_TEST_SUITE_P(RangeUnitAndWhitespace, RangeParse, ::testing::Values(
    RangeCase{"BYTES=0-1", 10, kOk, {{0, 1}}},
    RangeCase{"Bytes=0-1", 10, kOk, {{0, 1}}},
    RangeCase{"bytes= 0-1", 10, kOk, {{0, 1}}},
    RangeCase{"bytes=0-1 ,2-3", 10, kOk, {{0, 3}}},
    RangeCase{"bytes=0-1 , \t 5-6", 10, kOk, {{0, 1}, {5, 6}}},
    RangeCase{"bytes=,0-1", 10, kOk, {{0, 1}}},              // empty elements are tolerated
    RangeCase{"bytes=0-1,", 10, kOk, {{0, 1}}},
    RangeCase{"bytes=, ,0-1,,, ,5-6,", 10, kOk, {{0, 1}, {5, 6}}},
    RangeCase{"items=0-1", 10, kIgnore, {}},
    RangeCase{"bytes", 10, kIgnore, {}},
    RangeCase{"byte=0-1", 10, kIgnore, {}},
    RangeCase{"bytess=0-1", 10, kIgnore, {}},
    RangeCase{" bytes=0-1", 10, kIgnore, {}},
    RangeCase{"bytes =0-1", 10, kIgnore, {}},
    RangeCase{"=0-1", 10, kIgnore, {}},
    RangeCase{"", 10, kIgnore, {}}));

INSTANTIATE_TEST_SUITE_P(RangeSyntax, RangeParse, ::testing::Values(
    RangeCase{"bytes=", 10, kIgnore, {}},
    RangeCase{"bytes=,", 10, kIgnore, {}},
    RangeCase{"bytes= , ", 10, kIgnore, {}},
    RangeCase{"bytes=-", 10, kIgnore, {}},
    RangeCase{"bytes=--1", 10, kIgnore, {}},
    RangeCase{"bytes=1", 10, kIgnore, {}},
    RangeCase{"bytes=1--2", 10, kIgnore, {}},
    RangeCase{"bytes=1-2-3", 10, kIgnore, {}},
    RangeCase{"bytes=a-b", 10, kIgnore, {}},
    RangeCase{"bytes=0x1-2", 10, kIgnore, {}},
    RangeCase{"bytes=+1-2", 10, kIgnore, {}},
    RangeCase{"bytes=1 -2", 10, kIgnore, {}},
    RangeCase{"bytes=1- 2", 10, kIgnore, {}},
    RangeCase{"bytes=- 1", 10, kIgnore, {}},
    RangeCase{"bytes=0-1;2-3", 10, kIgnore, {}},
    RangeCase{"bytes=0-1 2-3", 10, kIgnore, {}},
    RangeCase{"bytes=0-1,x", 10, kIgnore, {}},               // one bad element spoils the set
    RangeCase{"bytes=0-1,5-2", 10, kIgnore, {}},             // first > last is invalid
    RangeCase{"bytes=5-4", 10, kIgnore, {}},
    RangeCase{"bytes=50-40", 10, kIgnore, {}},               // invalid even when past the end
    RangeCase{"bytes=99999999999999999999999-99999999999999999999998", 10, kIgnore, {}},
    RangeCase{"bytes=99999999999999999999999-5", 10, kIgnore, {}},
    RangeCase{"bytes=0-1=2", 10, kIgnore, {}},
    RangeCase{"bytes=0-1\r\n", 10, kIgnore, {}}));

INSTANTIATE_TEST_SUITE_P(RangeUnsatisfiable, RangeParse, ::testing::Values(
    RangeCase{"bytes=1000-", 1000, kUnsat, {}},
    RangeCase{"bytes=1000-2000", 1000, kUnsat, {}},
    RangeCase{"bytes=5000-5000", 1000, kUnsat, {}},
    RangeCase{"bytes=-0", 1000, kUnsat, {}},
    RangeCase{"bytes=-0,1000-", 1000, kUnsat, {}},
    RangeCase{"bytes=99999999999999999999999-", 1000, kUnsat, {}},
    RangeCase{"bytes=99999999999999999999998-99999999999999999999999", 1000, kUnsat, {}},
    RangeCase{"bytes=0-0", 0, kUnsat, {}},                   // size 0: nothing is satisfiable
    RangeCase{"bytes=0-", 0, kUnsat, {}},
    RangeCase{"bytes=-1", 0, kUnsat, {}},
    RangeCase{"bytes=-0", 0, kUnsat, {}},
    RangeCase{"bytes=0-5,-3", 0, kUnsat, {}},
    RangeCase{"bytes=1-0", 0, kIgnore, {}},                  // still a syntax error first
    RangeCase{"bytes=-0,0-0", 1000, kOk, {{0, 0}}},          // unsatisfiable ones are dropped
    RangeCase{"bytes=2000-,0-9", 1000, kOk, {{0, 9}}}));

INSTANTIATE_TEST_SUITE_P(RangeMultiple, RangeParse, ::testing::Values(
    RangeCase{"bytes=0-99,200-299", 1000, kOk, {{0, 99}, {200, 299}}},
    RangeCase{"bytes=200-299,0-99", 1000, kOk, {{200, 299}, {0, 99}}},  // in the order asked
    RangeCase{"bytes=0-99,100-199", 1000, kOk, {{0, 199}}},             // adjacent: merged
    RangeCase{"bytes=0-99,101-199", 1000, kOk, {{0, 99}, {101, 199}}},  // a gap of one byte
    RangeCase{"bytes=0-99,50-149", 1000, kOk, {{0, 149}}},              // overlapping
    RangeCase{"bytes=0-499,100-199", 1000, kOk, {{0, 499}}},            // contained
    RangeCase{"bytes=100-199,0-499", 1000, kOk, {{0, 499}}},
    RangeCase{"bytes=0-0,0-0,0-0", 1000, kOk, {{0, 0}}},
    RangeCase{"bytes=500-,-100", 1000, kOk, {{500, 999}}},
    RangeCase{"bytes=0-9,-10", 1000, kOk, {{0, 9}, {990, 999}}},
    RangeCase{"bytes=-10,0-9", 1000, kOk, {{990, 999}, {0, 9}}},
    RangeCase{"bytes=0-1,4-5,2-3", 1000, kOk, {{0, 5}}},
    RangeCase{"bytes=8-9,6-7,4-5,2-3,0-1", 1000, kOk, {{0, 9}}},
    RangeCase{"bytes=10-19,30-39,20-29", 1000, kOk, {{10, 39}}},
    RangeCase{"bytes=30-39,10-19,50-", 1000, kOk, {{30, 39}, {10, 19}, {50, 999}}},
    // A merged part goes where the first of its ranges was asked.
    RangeCase{"bytes=500-509,30-39,0-31", 1000, kOk, {{500, 509}, {0, 39}}},
    RangeCase{"bytes=0-9,500-509,5-20,900-", 1000, kOk, {{0, 20}, {500, 509}, {900, 999}}},
    RangeCase{"bytes=0-5,3-", 10, kOk, {{0, 9}}},
    RangeCase{"bytes=0-,0-", 10, kOk, {{0, 9}}}));

INSTANTIATE_TEST_SUITE_P(RangeTooMany, RangeParse, ::testing::Values(
    // 16 ranges: allowed.
    RangeCase{"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,"
              "26-26,28-28,30-30",
              100, kOk,
              {{0, 0}, {2, 2}, {4, 4}, {6, 6}, {8, 8}, {10, 10}, {12, 12}, {14, 14},
               {16, 16}, {18, 18}, {20, 20}, {22, 22}, {24, 24}, {26, 26}, {28, 28}, {30, 30}}},
    // 17 listed: ignored, even though they would merge into one, and even if unsatisfiable.
    RangeCase{"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,"
              "15-15,16-16",
              100, kIgnore, {}},
    RangeCase{"bytes=-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0,-0", 100, kIgnore, {}},
    // Empty elements do not count.
    RangeCase{"bytes=,,,,,,,,,,,,,,,,,,,,,,,,0-1", 100, kOk, {{0, 1}}}));

TEST(RangeParse, ManyRangesOfAllKindsStayWithinBounds) {
  for (std::uint64_t size : {0ull, 1ull, 2ull, 7ull, 100ull}) {
    for (std::string_view v : {"bytes=0-,-1,5-5,3-4", "bytes=-3,-2,-1", "bytes=1-1,0-0,2-"}) {
      RangeSet set;
      const RangeOutcome o = parse_range(v, size, set);
      if (o != RangeOutcome::satisfiable) continue;
      for (std::size_t i = 0; i < set.count; ++i) {
        EXPECT_LE(set.ranges[i].first, set.ranges[i].last);
        EXPECT_LT(set.ranges[i].last, size);
        if (i > 0) {
          EXPECT_GT(set.ranges[i].first, set.ranges[i - 1].last + 1);
        }
      }
    }
  }
}

TEST(RangeParse, LengthOfARange) {
  RangeSet set;
  ASSERT_EQ(parse_range("bytes=10-19", 100, set), RangeOutcome::satisfiable);
  EXPECT_EQ(set.ranges[0].length(), 10u);
}

}  // namespace
}  // namespace nuri::http
