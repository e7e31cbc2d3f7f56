// Tests of the shared percent-decoder (src/http/percent.cpp).
#include "http/percent.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace nuri::http {
namespace {

using namespace std::string_literals;

std::optional<std::string> decode(std::string_view in, bool plus) {
  std::string out = "prefix:";
  if (!percent_decode_append(in, out, plus)) return std::nullopt;
  return out.substr(7);
}

TEST(PercentDecode, PlainTextIsCopied) {
  EXPECT_EQ(decode("abc/def", false), "abc/def");
  EXPECT_EQ(decode("", false), "");
}

TEST(PercentDecode, AppendsToWhatIsThere) {
  std::string out = "x";
  ASSERT_TRUE(percent_decode_append("%41", out));
  EXPECT_EQ(out, "xA");
}

TEST(PercentDecode, EscapesEitherCase) {
  EXPECT_EQ(decode("%7e%7E%2f%00%ff", false), "~~/\0\xff"s);
  EXPECT_EQ(decode("%25%32%30", false), "%20");  // decoded once only
}

TEST(PercentDecode, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(decode("a+b%2B", false), "a+b+");
  EXPECT_EQ(decode("a+b%2B", true), "a b+");
}

TEST(PercentDecode, MalformedEscapesFail) {
  for (const char* bad : {"%", "%4", "a%", "%zz", "%4g", "%g4", "%%41", "% 41", "ok%2"}) {
    EXPECT_FALSE(decode(bad, false).has_value()) << bad;
    EXPECT_FALSE(decode(bad, true).has_value()) << bad;
  }
}

}  // namespace
}  // namespace nuri::http
