// Tests of the checks a JSON body passes before nlohmann parses it (src/app/json_depth.cpp).
#include "app/json_depth.h"

#include <gtest/gtest.h>

#include <string>

namespace nuri::app {
namespace {

using namespace std::string_literals;

TEST(JsonDepth, CountsArraysAndObjectsOutsideStrings) {
  EXPECT_EQ(json_depth("1"), 0u);
  EXPECT_EQ(json_depth(R"({"a":[1,{"b":[]}]})"), 4u);
  EXPECT_EQ(json_depth(R"(["[[[", "\"{{"])"), 1u);
  EXPECT_EQ(json_depth(std::string(64, '[') + std::string(64, ']')), 64u);
}

TEST(JsonDepth, RefusesDeeperThanTheLimit) {
  EXPECT_FALSE(json_refused_unparsed(std::string(64, '[') + std::string(64, ']')));
  EXPECT_TRUE(json_refused_unparsed(std::string(65, '[') + std::string(65, ']')));
}

// Found by json_depth_fuzz: nlohmann reads a NUL as the end of the text, so a body of a valid
// document, a NUL and anything at all was taken as that document.
TEST(JsonDepth, RefusesNulBytes) {
  EXPECT_TRUE(json_refused_unparsed("{\"a\":1}\0{\"b\":"s));
  EXPECT_TRUE(json_refused_unparsed("1\0\0{"s));
  EXPECT_FALSE(json_refused_unparsed(R"({"a":"\u0000"})"));  // an escaped NUL is fine
}

}  // namespace
}  // namespace nuri::app
