// Tests of query-string and urlencoded-form parsing (src/http/query.cpp).
#include "http/query.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nuri::http {
namespace {

using namespace std::string_literals;
using Pair = QueryParams::Pair;

std::vector<Pair> parse_ok(std::string_view text, QueryLimits limits = {}) {
  QueryParams q;
  EXPECT_EQ(q.parse(text, limits), Status::ok) << text;
  return q.pairs();
}

TEST(Query, Empty) {
  EXPECT_TRUE(parse_ok("").empty());
  EXPECT_TRUE(parse_ok("&&&").empty());
}

TEST(Query, PairsInOrderWithRepeatedNames) {
  EXPECT_EQ(parse_ok("a=1&b=2&a=3"),
            (std::vector<Pair>{{"a", "1"}, {"b", "2"}, {"a", "3"}}));
}

TEST(Query, DecodesPlusAndEscapes) {
  // The HTML form encoding of "name=J. Doe & co/ü", "q=1+1=2".
  EXPECT_EQ(parse_ok("name=J.+Doe+%26+co%2F%C3%BC&q=1%2B1%3D2"),
            (std::vector<Pair>{{"name", "J. Doe & co/\xc3\xbc"}, {"q", "1+1=2"}}));
  EXPECT_EQ(parse_ok("a%20b+c=x"), (std::vector<Pair>{{"a b c", "x"}}));
}

TEST(Query, SplitsAtFirstEqualsOnly) {
  EXPECT_EQ(parse_ok("a==b=c"), (std::vector<Pair>{{"a", "=b=c"}}));
  EXPECT_EQ(parse_ok("=v"), (std::vector<Pair>{{"", "v"}}));
  EXPECT_EQ(parse_ok("flag&x="), (std::vector<Pair>{{"flag", ""}, {"x", ""}}));
}

TEST(Query, SemicolonAndOtherBytesAreData) {
  EXPECT_EQ(parse_ok("a=1;b=2"), (std::vector<Pair>{{"a", "1;b=2"}}));
  EXPECT_EQ(parse_ok("a=%00%0D%0A"), (std::vector<Pair>{{"a", "\0\r\n"s}}));
  EXPECT_EQ(parse_ok("&&a=1&&"), (std::vector<Pair>{{"a", "1"}}));
}

TEST(Query, BadEscapesAre400AndLeaveNothing) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "%=1", "a=1&b=%G0", "a=1&b%2=2", "x=100%"}) {
    QueryParams q;
    EXPECT_EQ(q.parse(bad), Status::bad_request) << bad;
    EXPECT_TRUE(q.empty()) << bad;
  }
}

TEST(Query, PairLimitExactlyAndOnePast) {
  const QueryLimits limits{3, 1000};
  EXPECT_EQ(parse_ok("a&b&c", limits).size(), 3u);
  EXPECT_EQ(parse_ok("a&&b&c&", limits).size(), 3u);  // empty segments are not pairs
  QueryParams q;
  EXPECT_EQ(q.parse("a&b&c&d", limits), Status::content_too_large);
  EXPECT_TRUE(q.empty());
}

TEST(Query, SizeLimitExactlyAndOnePast) {
  const QueryLimits limits{100, 5};
  EXPECT_EQ(parse_ok("a=123", limits), (std::vector<Pair>{{"a", "123"}}));
  QueryParams q;
  EXPECT_EQ(q.parse("a=1234", limits), Status::content_too_large);
  EXPECT_TRUE(q.empty());
}

TEST(Query, HugeCountsAreRefusedQuickly) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "a=1&";
  QueryParams q;
  EXPECT_EQ(q.parse(text, {1000, 1 << 20}), Status::content_too_large);
  EXPECT_EQ(q.parse(text, {100000, 1 << 20}), Status::ok);
  EXPECT_EQ(q.size(), 20000u);
  EXPECT_EQ(q.parse(text), Status::content_too_large);  // default limits
}

TEST(Query, ParseReplacesContents) {
  QueryParams q;
  ASSERT_EQ(q.parse("a=1"), Status::ok);
  ASSERT_EQ(q.parse("b=2"), Status::ok);
  EXPECT_EQ(q.pairs(), (std::vector<Pair>{{"b", "2"}}));
}

TEST(Query, Lookups) {
  QueryParams q;
  ASSERT_EQ(q.parse("tag=a&x=&tag=b&Tag=c&tag"), Status::ok);
  EXPECT_EQ(q.first("tag"), "a");
  EXPECT_EQ(q.first("x"), "");
  EXPECT_FALSE(q.first("y").has_value());
  EXPECT_TRUE(q.contains("Tag"));
  EXPECT_FALSE(q.contains("TAG"));
  EXPECT_EQ(q.all("tag"), (std::vector<std::string_view>{"a", "b", ""}));
  EXPECT_TRUE(q.all("nope").empty());
}

}  // namespace
}  // namespace nuri::http
