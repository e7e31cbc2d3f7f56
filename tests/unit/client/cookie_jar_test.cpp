// Tests of the client's cookie jar (src/client/cookie_jar.cpp): RFC 6265 §5 storage and
// retrieval, and the Netscape file format curl reads.
#include "client/cookie_jar.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace nuri::client {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

Url url(std::string_view text) {
  UrlError kind;
  std::string error;
  return *parse_url(text, kind, error);
}

TEST(CookieJar, HostOnlyDomainAndPath) {
  CookieJar jar;
  EXPECT_TRUE(jar.store("sid=1; Path=/", url("http://www.example.test/login"), kNow));
  EXPECT_TRUE(jar.store("wide=2; Domain=.example.test", url("http://www.example.test/a/b"), kNow));
  EXPECT_TRUE(jar.store("deep=3; Path=/a", url("http://www.example.test/"), kNow));
  EXPECT_EQ(jar.header_for(url("http://www.example.test/a/x"), kNow), "wide=2; deep=3; sid=1");  // both /a (wide by default path), older first
  EXPECT_EQ(jar.header_for(url("http://api.example.test/a/x"), kNow), "wide=2");  // sid is host-only
  EXPECT_EQ(jar.header_for(url("http://www.example.test/ab"), kNow), "sid=1");  // default path /a
  EXPECT_EQ(jar.header_for(url("http://other.test/"), kNow), "");
}

TEST(CookieJar, RefusesWhatABrowserRefuses) {
  CookieJar jar;
  Url u = url("http://www.example.test/");
  EXPECT_FALSE(jar.store("noequals", u, kNow));
  EXPECT_FALSE(jar.store("=v", u, kNow));
  EXPECT_FALSE(jar.store("a=b; Domain=other.test", u, kNow));
  EXPECT_FALSE(jar.store("a=b\x01", u, kNow));
  EXPECT_FALSE(jar.store("a=b\tc", u, kNow));
  EXPECT_TRUE(jar.cookies().empty());
  EXPECT_TRUE(jar.store("s=1; Secure", u, kNow));
  EXPECT_EQ(jar.header_for(u, kNow), "");  // Secure: https only, never sent by nuri get
}

TEST(CookieJar, ExpiryAndDeletion) {
  CookieJar jar;
  Url u = url("http://h.test/");
  jar.store("a=1; Max-Age=60", u, kNow);
  jar.store("b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT", u, kNow);  // in the past: not stored
  EXPECT_EQ(jar.header_for(u, kNow), "a=1");
  EXPECT_EQ(jar.header_for(u, kNow + 61), "");
  jar.store("a=1; Max-Age=0", u, kNow);
  EXPECT_TRUE(jar.cookies().empty());
  jar.store("c=3; Max-Age=10; Expires=Wed, 21 Oct 2015 07:28:00 GMT", u, kNow);  // Max-Age wins
  EXPECT_EQ(jar.header_for(u, kNow), "c=3");
}

TEST(CookieJar, MaxAgeTooLargeForSixtyFourBitsStaysPersistent) {
  // RFC 6265 §5.2.2: too large is the latest time nuri keeps (400 days), not a session cookie.
  StoredCookie c;
  bool expired = true;
  ASSERT_TRUE(parse_set_cookie("a=1; Max-Age=99999999999999999999", url("http://h.test/"), kNow, c, expired));
  EXPECT_FALSE(expired);
  EXPECT_EQ(c.expires, kNow + 400 * 86400);
  // Too negative is expired now, as -1 is.
  ASSERT_TRUE(parse_set_cookie("a=1; Max-Age=-99999999999999999999", url("http://h.test/"), kNow, c, expired));
  EXPECT_TRUE(expired);
  // Not a number: the attribute is ignored, whatever its size.
  ASSERT_TRUE(parse_set_cookie("a=1; Max-Age=99999999999999999999x", url("http://h.test/"), kNow, c, expired));
  EXPECT_EQ(c.expires, 0);
  ASSERT_TRUE(parse_set_cookie("a=1; Max-Age=-", url("http://h.test/"), kNow, c, expired));
  EXPECT_EQ(c.expires, 0);
}

TEST(CookieJar, NetscapeFileRoundTrip) {
  CookieJar jar;
  jar.store("sid=abc; Path=/; HttpOnly", url("http://127.0.0.1:8080/x"), kNow);
  jar.store("wide=1; Domain=example.test; Max-Age=100", url("http://www.example.test/"), kNow);
  std::string path = ::testing::TempDir() + "/jar.txt";
  std::string error;
  ASSERT_TRUE(jar.save(path, kNow, error)) << error;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find(".example.test\tTRUE\t/\tFALSE\t1700000100\twide\t1\n"), std::string::npos) << text.str();
  CookieJar back;
  ASSERT_TRUE(back.load(path, error));
  EXPECT_EQ(back.header_for(url("http://127.0.0.1:9/"), kNow), "sid=abc");
  EXPECT_EQ(back.header_for(url("http://x.example.test/"), kNow), "wide=1");
  std::remove(path.c_str());
  EXPECT_FALSE(back.load_line("too\tfew\tfields"));
  EXPECT_FALSE(back.load_line("# a comment"));
  EXPECT_FALSE(back.load_line("h\tFALSE\t/\tFALSE\tnot-a-number\tn\tv"));
}

}  // namespace
}  // namespace nuri::client

namespace nuri::client {
namespace {

// Found by cookie_jar_fuzz: an eighth field made the value hold a tab.
TEST(CookieJar, LineWithATabInTheValueIsRefused) {
  CookieJar jar;
  EXPECT_FALSE(jar.load_line("h.test\tFALSE\t/\tFALSE\t0\tname\tva\tlue"));
  EXPECT_TRUE(jar.cookies().empty());
}

// Found by cookie_jar_fuzz: a Path with a tab broke the cookie file's fields.
TEST(CookieJar, PathWithAControlByteFallsBackToTheDefault) {
  CookieJar jar;
  ASSERT_TRUE(jar.store("a=1; Path=/x\t/y", url("http://h.test/dir/page"), kNow));
  EXPECT_EQ(jar.cookies()[0].path, "/dir");
}

// Found by cookie_jar_fuzz: a domain ".#HttpOnly_x" was written back as "#HttpOnly_x", which
// reads as a comment prefix, so the file lost or changed the cookie.
TEST(CookieJar, DomainThatIsNotAHostNameIsRefused) {
  CookieJar jar;
  EXPECT_FALSE(jar.load_line(".#HttpOnly_est\tFALSE\t/a\tFALSE\t1799999999\tt\td"));
  EXPECT_FALSE(jar.load_line("h test\tFALSE\t/\tFALSE\t0\tname\tvalue"));
  EXPECT_TRUE(jar.cookies().empty());
  EXPECT_TRUE(jar.load_line(".example.test\tTRUE\t/\tFALSE\t0\tname\tvalue"));
  EXPECT_TRUE(jar.load_line("[::1]\tFALSE\t/\tFALSE\t0\tname\tvalue"));
}

}  // namespace
}  // namespace nuri::client
