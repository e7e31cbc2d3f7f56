#include "http/path.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace nuri::http {
namespace {

struct PathCase {
  std::string_view raw;
  std::string_view expected;  // empty: bad_request
};

std::ostream& operator<<(std::ostream& os, const PathCase& c) {
  return os << '"' << c.raw << '"';
}

class PathNormalize : public ::testing::TestWithParam<PathCase> {};

TEST_P(PathNormalize, Table) {
  const PathCase& c = GetParam();
  std::string out = "garbage";
  const Status s = normalize_path(c.raw, out);
  if (c.expected.empty()) {
    EXPECT_EQ(s, Status::bad_request) << "got " << out;
    EXPECT_TRUE(out.empty());
  } else {
    EXPECT_EQ(s, Status::ok);
    EXPECT_EQ(out, c.expected);
  }
}

// Plain paths, dot segments, slashes.
INSTANTIATE_TEST_SUITE_P(PathNormal, PathNormalize, ::testing::Values(
    PathCase{"/", "/"},
    PathCase{"/index.html", "/index.html"},
    PathCase{"/a/b/c", "/a/b/c"},
    PathCase{"/a/b/", "/a/b/"},
    PathCase{"//a///b", "/a/b"},
    PathCase{"//", "/"},
    PathCase{"///", "/"},
    PathCase{"/a//", "/a/"},
    PathCase{"/a/./b/../c/", "/a/c/"},
    PathCase{"/.", "/"},
    PathCase{"/./", "/"},
    PathCase{"/a/.", "/a/"},
    PathCase{"/a/..", "/"},
    PathCase{"/a/../", "/"},
    PathCase{"/a/b/..", "/a/"},
    PathCase{"/a/b/../..", "/"},
    PathCase{"/a/b/../../c", "/c"},
    PathCase{"/a/./././b", "/a/b"},
    PathCase{"/a/b/./", "/a/b/"},
    PathCase{"/a/.b", "/a/.b"},
    PathCase{"/a/..b", "/a/..b"},
    PathCase{"/a/b..", "/a/b.."},
    PathCase{"/a/...", "/a/..."},
    PathCase{"/.../x", "/.../x"},
    PathCase{"/.well-known/x", "/.well-known/x"},
    PathCase{"/a/b\\..\\..\\c", "/a/b\\..\\..\\c"},  // backslash is an ordinary byte on Linux
    PathCase{"/..\\x", "/..\\x"},
    PathCase{"/a?b#c", "/a?b#c"},                     // no query here: just bytes
    PathCase{"/caf\xc3\xa9", "/caf\xc3\xa9"}));       // UTF-8 is fine

// Percent-decoding.
INSTANTIATE_TEST_SUITE_P(PathDecode, PathNormalize, ::testing::Values(
    PathCase{"/a/%7Eb", "/a/~b"},
    PathCase{"/%41%42%43", "/ABC"},
    PathCase{"/%61%62", "/ab"},
    PathCase{"/%e2%82%AC", "/\xe2\x82\xac"},
    PathCase{"/a%20b", "/a b"},
    PathCase{"/a+b", "/a+b"},           // '+' is not a space in a path
    PathCase{"/%25", "/%"},
    PathCase{"/%2525", "/%25"},         // decoded once only
    PathCase{"/a%2Fb", "/a/b"},         // "%2F" is a separator after decoding
    PathCase{"/a%2fb%2f", "/a/b/"},
    PathCase{"/a%2F%2Fb", "/a/b"},
    PathCase{"/%2e", "/"},
    PathCase{"/a/%2e%2e", "/"},
    PathCase{"/a/%2E%2E/b", "/b"},
    PathCase{"/a/.%2e/b", "/b"},
    PathCase{"/a%2f..%2fb", "/b"},
    PathCase{"/%5c", "/\\"}));

// Traversal attempts and malformed input.
INSTANTIATE_TEST_SUITE_P(PathRejected, PathNormalize, ::testing::Values(
    PathCase{"", ""},
    PathCase{"a/b", ""},
    PathCase{"index.html", ""},
    PathCase{"*", ""},
    PathCase{"%2f", ""},                 // must start with a literal '/'
    PathCase{"\\a", ""},
    PathCase{"/..", ""},
    PathCase{"/../", ""},
    PathCase{"/../etc/passwd", ""},
    PathCase{"/a/../../etc/passwd", ""},
    PathCase{"/a/b/../../..", ""},
    PathCase{"/./..", ""},
    PathCase{"//..", ""},
    PathCase{"/%2e%2e/", ""},
    PathCase{"/%2e%2e", ""},
    PathCase{"/%2E%2E/etc/passwd", ""},
    PathCase{"/.%2e/", ""},
    PathCase{"/%2e./", ""},
    PathCase{"/a/%2e%2e/%2e%2e/b", ""},
    PathCase{"/%2f..%2f", ""},
    PathCase{"/..%2f", ""},
    PathCase{"/..%2fetc%2fpasswd", ""},
    PathCase{"/a%2f..%2f..%2fetc", ""},
    PathCase{"/%00", ""},
    PathCase{"/a%00.html", ""},
    PathCase{"/%0a", ""},
    PathCase{"/%0d%0aSet-Cookie:x", ""},
    PathCase{"/%1f", ""},
    PathCase{"/%7f", ""},
    PathCase{"/%09", ""},
    PathCase{std::string_view("/a\0b", 4), ""},  // raw control bytes too
    PathCase{"/a\nb", ""},
    PathCase{"/a\tb", ""},
    PathCase{"/\x7f", ""},
    PathCase{"/%", ""},
    PathCase{"/%4", ""},
    PathCase{"/%zz", ""},
    PathCase{"/%4g", ""},
    PathCase{"/%g4", ""},
    PathCase{"/a%", ""},
    PathCase{"/%%41", ""},
    PathCase{"/% 41", ""},
    PathCase{"/%+1", ""},
    PathCase{"/%-1", ""}));

TEST(PathNormalize, ReusesCapacityWithoutAllocating) {
  std::string out;
  out.reserve(256);
  const char* const data = out.data();
  const std::size_t capacity = out.capacity();
  for (std::string_view raw : {"/a/b/../c/%7Ed", "/x", "/%2e%2e", "/very/long/path/a/b/c/d/e/f"}) {
    (void)normalize_path(raw, out);
    EXPECT_EQ(out.data(), data);
    EXPECT_EQ(out.capacity(), capacity);
  }
}

TEST(PathNormalize, OutputIsIdempotent) {
  for (std::string_view raw : {"/a/./b/../c/", "//x//y", "/a/%2e%2e/b/.", "/q/"}) {
    std::string once;
    std::string twice;
    ASSERT_EQ(normalize_path(raw, once), Status::ok) << raw;
    ASSERT_EQ(normalize_path(once, twice), Status::ok) << once;
    EXPECT_EQ(once, twice);
  }
}

TEST(PathNormalize, LongPathOfManyDotDots) {
  std::string raw;
  for (int i = 0; i < 1000; ++i) raw += "/d";
  for (int i = 0; i < 1000; ++i) raw += "/..";
  std::string out;
  EXPECT_EQ(normalize_path(raw, out), Status::ok);
  EXPECT_EQ(out, "/");
  raw += "/..";
  EXPECT_EQ(normalize_path(raw, out), Status::bad_request);
}

struct DecodeCase {
  std::string_view in;
  bool ok;
  std::string_view out;
};

TEST(PathPercentDecode, Table) {
  const DecodeCase cases[] = {
      {"", true, ""},
      {"abc", true, "abc"},
      {"a%20b", true, "a b"},
      {"a+b", true, "a+b"},
      {"%2F", true, "/"},
      {"%2f%2F", true, "//"},
      {"%00", true, std::string_view("\0", 1)},  // percent_decode itself has no policy on bytes
      {"%ff%FF", true, "\xff\xff"},
      {"%41%", false, ""},
      {"%4", false, ""},
      {"%zz", false, ""},
      {"%x1", false, ""},
      {"100%", false, ""},
      {"%%", false, ""},
  };
  for (const DecodeCase& c : cases) {
    std::string out = "previous";
    EXPECT_EQ(percent_decode(c.in, out), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(out, c.out) << c.in;
    }
  }
}

TEST(PathPercentDecode, ReusesCapacity) {
  std::string out;
  out.reserve(64);
  const char* const data = out.data();
  EXPECT_TRUE(percent_decode("%41%42%43 and more text", out));
  EXPECT_EQ(out, "ABC and more text");
  EXPECT_EQ(out.data(), data);
}

}  // namespace
}  // namespace nuri::http
