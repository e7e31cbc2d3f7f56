// Tests of Cookie header parsing and Set-Cookie formatting (src/http/cookie.cpp).
#include "http/cookie.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nuri::http {
namespace {

using namespace std::string_literals;

std::vector<CookiePair> parse(std::string_view header) {
  std::vector<CookiePair> out;
  EXPECT_EQ(parse_cookie_header(header, out), Status::ok) << header;
  return out;
}

TEST(CookieHeader, Rfc6265Example) {
  // RFC 6265 §3.1 / §5.4: "Cookie: SID=31d4d96e407aad42; lang=en-US"
  EXPECT_EQ(parse("SID=31d4d96e407aad42; lang=en-US"),
            (std::vector<CookiePair>{{"SID", "31d4d96e407aad42"}, {"lang", "en-US"}}));
}

TEST(CookieHeader, EmptyAndSeparatorsOnly) {
  EXPECT_TRUE(parse("").empty());
  EXPECT_TRUE(parse(";;; ; ").empty());
}

TEST(CookieHeader, LenientAboutSpaces) {
  EXPECT_EQ(parse("  a = 1 ;b=2;\tc=3  ;"),
            (std::vector<CookiePair>{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  EXPECT_EQ(parse("a=x y, z"), (std::vector<CookiePair>{{"a", "x y, z"}}));
}

TEST(CookieHeader, ValueSplitsOnlyAtSemicolonAndNameAtFirstEquals) {
  EXPECT_EQ(parse("t=a=b==; u="), (std::vector<CookiePair>{{"t", "a=b=="}, {"u", ""}}));
}

TEST(CookieHeader, QuotedValuesLoseTheirQuotes) {
  EXPECT_EQ(parse("a=\"quoted\"; b=\"\""),
            (std::vector<CookiePair>{{"a", "quoted"}, {"b", ""}}));
}

TEST(CookieHeader, InvalidPairsAreSkippedNotMisread) {
  EXPECT_EQ(parse("novalue; =anon; a b=1; ok=1; q=\"open; bs=a\\b; r=x\"y\"; last=2"),
            (std::vector<CookiePair>{{"ok", "1"}, {"last", "2"}}));
  EXPECT_EQ(parse("(bad)=1; {x}=2; good=3"), (std::vector<CookiePair>{{"good", "3"}}));
}

TEST(CookieHeader, ControlBytesAndCrlfAreNeverAccepted) {
  EXPECT_EQ(parse("a=1\r\nSet-Cookie: evil=1; b=2"), (std::vector<CookiePair>{{"b", "2"}}));
  EXPECT_EQ(parse("a=\x00x; b=\x7f; c=\x01"s), std::vector<CookiePair>{});
}

TEST(CookieHeader, NonAsciiValueBytesAreKept) {
  EXPECT_EQ(parse("n=caf\xc3\xa9"), (std::vector<CookiePair>{{"n", "caf\xc3\xa9"}}));
}

TEST(CookieHeader, AppendsAcrossFieldsAndFindsFirst) {
  std::vector<CookiePair> out;
  ASSERT_EQ(parse_cookie_header("a=1; b=2", out), Status::ok);
  ASSERT_EQ(parse_cookie_header("a=3", out), Status::ok);
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(find_cookie(out, "a"), "1");
  EXPECT_EQ(find_cookie(out, "b"), "2");
  EXPECT_FALSE(find_cookie(out, "A").has_value());
}

TEST(CookieHeader, CountLimitExactlyAndOnePast) {
  std::vector<CookiePair> out;
  EXPECT_EQ(parse_cookie_header("a=1; b=2; c=3", out, 3), Status::ok);
  EXPECT_EQ(out.size(), 3u);
  out.clear();
  EXPECT_EQ(parse_cookie_header("a=1; b=2; c=3; d=4", out, 3), Status::header_fields_too_large);
  out.clear();
  EXPECT_EQ(parse_cookie_header("a=1; junk; b=2; ;; c=3", out, 3), Status::ok);
}

TEST(CookieHeader, HugeCount) {
  std::string header;
  for (int i = 0; i < 5000; ++i) header += "c" + std::to_string(i) + "=v; ";
  std::vector<CookiePair> out;
  EXPECT_EQ(parse_cookie_header(header, out), Status::header_fields_too_large);
  out.clear();
  EXPECT_EQ(parse_cookie_header(header, out, 10000), Status::ok);
  EXPECT_EQ(out.size(), 5000u);
}

// ---- Set-Cookie ----

SetCookie cookie(std::string name, std::string value) {
  SetCookie c;
  c.name = std::move(name);
  c.value = std::move(value);
  return c;
}

std::string format(const SetCookie& c) {
  std::string out;
  EXPECT_EQ(format_set_cookie(c, out), SetCookieError::ok);
  return out;
}

SetCookieError error_of(const SetCookie& c) {
  std::string out = "x";
  const SetCookieError e = format_set_cookie(c, out);
  if (e != SetCookieError::ok) {
    EXPECT_TRUE(out.empty());
  }
  return e;
}

TEST(SetCookie, Minimal) {
  EXPECT_EQ(format(cookie("SID", "31d4d96e407aad42")), "SID=31d4d96e407aad42");
  EXPECT_EQ(format(cookie("e", "")), "e=");
  EXPECT_EQ(format(cookie("q", "\"abc\"")), "q=\"abc\"");
}

TEST(SetCookie, AllAttributesInOrder) {
  SetCookie c = cookie("id", "a3fWa");
  c.path = "/docs";
  c.domain = "example.com";
  c.max_age = 2592000;
  c.expires = 784111777;
  c.secure = true;
  c.http_only = true;
  c.same_site = SameSite::strict;
  EXPECT_EQ(format(c),
            "id=a3fWa; Path=/docs; Domain=example.com; Max-Age=2592000; "
            "Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=Strict");
  c.same_site = SameSite::lax;
  EXPECT_TRUE(format(c).ends_with("; SameSite=Lax"));
  c.same_site = SameSite::none;
  EXPECT_TRUE(format(c).ends_with("; Secure; HttpOnly; SameSite=None"));
}

TEST(SetCookie, Deletion) {
  SetCookie c = cookie("a", "");
  c.max_age = 0;
  EXPECT_EQ(format(c), "a=; Max-Age=0");
  c.max_age = -5;
  EXPECT_EQ(format(c), "a=; Max-Age=0");
  c.max_age.reset();
  c.expires = 0;
  EXPECT_EQ(format(c), "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(SetCookie, RefusesBadNames) {
  for (const char* name : {"", "a b", "a=b", "a;b", "a\r\nX", "(x)", "caf\xc3\xa9"}) {
    EXPECT_EQ(error_of(cookie(name, "v")), SetCookieError::bad_name) << name;
  }
}

TEST(SetCookie, RefusesValuesThatCouldInject) {
  for (const std::string& value :
       {"a;b"s, "a b"s, "a,b"s, "a\\b"s, "a\"b"s, "\"ab"s, "v\r\nSet-Cookie: x=1"s, "v\n"s,
        "\0"s, "\x7f"s, "caf\xc3\xa9"s, "\""s}) {
    EXPECT_EQ(error_of(cookie("n", value)), SetCookieError::bad_value)
        << testing::PrintToString(value);
  }
}

TEST(SetCookie, SizeLimitExactlyAndOnePast) {
  EXPECT_EQ(error_of(cookie("n", std::string(4095, 'v'))), SetCookieError::ok);
  EXPECT_EQ(error_of(cookie("n", std::string(4096, 'v'))), SetCookieError::too_large);
}

TEST(SetCookie, RefusesBadPathAndDomain) {
  SetCookie c = cookie("n", "v");
  for (const char* path : {"/a; Domain=evil", "/a\r\nX: y", "/caf\xc3\xa9", "/\x7f"}) {
    c.path = path;
    EXPECT_EQ(error_of(c), SetCookieError::bad_path) << path;
  }
  c.path = "/a b,c";
  EXPECT_EQ(format(c), "n=v; Path=/a b,c");
  c.path.clear();
  for (const std::string& domain : {"a.com; Secure"s, "a_b.com"s, "a.com\r\n"s,
                                    std::string(254, 'a')}) {
    c.domain = domain;
    EXPECT_EQ(error_of(c), SetCookieError::bad_domain) << domain;
  }
  c.domain = std::string(253, 'a');
  EXPECT_EQ(error_of(c), SetCookieError::ok);
  c.domain = ".Example-1.com";
  EXPECT_EQ(format(c), "n=v; Domain=.Example-1.com");
}

TEST(SetCookie, SameSiteNoneNeedsSecure) {
  SetCookie c = cookie("n", "v");
  c.same_site = SameSite::none;
  EXPECT_EQ(error_of(c), SetCookieError::same_site_none_without_secure);
  c.secure = true;
  EXPECT_EQ(error_of(c), SetCookieError::ok);
}

TEST(SetCookie, Prefixes) {
  SetCookie s = cookie("__Secure-a", "v");
  EXPECT_EQ(error_of(s), SetCookieError::bad_prefix);
  s.secure = true;
  EXPECT_EQ(error_of(s), SetCookieError::ok);
  SetCookie h = cookie("__Host-a", "v");
  h.secure = true;
  EXPECT_EQ(error_of(h), SetCookieError::bad_prefix);  // no Path=/
  h.path = "/";
  h.domain = "a.com";
  EXPECT_EQ(error_of(h), SetCookieError::bad_prefix);  // a Domain
  h.domain.clear();
  EXPECT_EQ(error_of(h), SetCookieError::ok);
}

TEST(SetCookie, EveryErrorIsDescribed) {
  EXPECT_EQ(describe(SetCookieError::same_site_none_without_secure), "SameSite=None needs Secure");
  for (int e = 1; e <= static_cast<int>(SetCookieError::bad_prefix); ++e) {
    EXPECT_NE(describe(static_cast<SetCookieError>(e)), "unknown") << e;
  }
}

TEST(SetCookie, RoundTripsThroughTheCookieHeader) {
  SetCookie c = cookie("s", "\"x=1\"");
  c.path = "/";
  const std::string out = format(c);
  const std::string pair = out.substr(0, out.find(';'));
  EXPECT_EQ(parse(pair), (std::vector<CookiePair>{{"s", "x=1"}}));
}

}  // namespace
}  // namespace nuri::http
