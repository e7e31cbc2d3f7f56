// Tests of the client's URL parsing and reference resolution (src/client/url.cpp).
#include "client/url.h"

#include <gtest/gtest.h>

namespace nuri::client {
namespace {

Url parse(std::string_view text) {
  UrlError kind;
  std::string error;
  auto u = parse_url(text, kind, error);
  EXPECT_TRUE(u) << text << ": " << error;
  return u.value_or(Url{});
}

UrlError fails(std::string_view text) {
  UrlError kind;
  std::string error;
  EXPECT_FALSE(parse_url(text, kind, error)) << text;
  EXPECT_FALSE(error.empty());
  return kind;
}

TEST(Url, Parts) {
  Url u = parse("HTTP://Example.TEST:8080/a/b?x=1#frag");
  EXPECT_EQ(u.host, "example.test");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.authority(), "example.test:8080");
  EXPECT_EQ(parse("localhost").target, "/");
  EXPECT_EQ(parse("localhost").port, 80);
  EXPECT_EQ(parse("http://h?q").target, "/?q");
  Url v6 = parse("http://[::1]:81/x");
  EXPECT_TRUE(v6.ipv6);
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.authority(), "[::1]:81");
}

TEST(Url, EncodesWhatARequestLineCannotCarry) {
  EXPECT_EQ(parse("http://h/a b\"<>\x01\xc3\xbc").target, "/a%20b%22%3C%3E%01%C3%BC");
}

TEST(Url, Refusals) {
  EXPECT_EQ(fails("https://h/"), UrlError::unsupported);
  EXPECT_EQ(fails("ftp://h/"), UrlError::unsupported);
  EXPECT_EQ(fails("http://u:p@h/"), UrlError::malformed);
  EXPECT_EQ(fails("http://h:0/"), UrlError::malformed);
  EXPECT_EQ(fails("http://h:65536/"), UrlError::malformed);
  EXPECT_EQ(fails("http://h:8x/"), UrlError::malformed);
  EXPECT_EQ(fails("http://[::1/"), UrlError::malformed);
  EXPECT_EQ(fails("http:///x"), UrlError::malformed);
  EXPECT_EQ(fails("http://h\r\nX: y/"), UrlError::malformed);
  EXPECT_EQ(fails("http://a b/"), UrlError::malformed);
}

TEST(Url, ResolvesReferencesAsRfc3986Section5_4) {
  Url base = parse("http://a/b/c/d;p?q");
  auto r = [&](std::string_view ref) {
    UrlError kind;
    std::string error;
    auto u = resolve_reference(base, ref, kind, error);
    EXPECT_TRUE(u) << ref << ": " << error;
    return u ? u->to_string() : std::string();
  };
  EXPECT_EQ(r("g"), "http://a/b/c/g");
  EXPECT_EQ(r("./g"), "http://a/b/c/g");
  EXPECT_EQ(r("g/"), "http://a/b/c/g/");
  EXPECT_EQ(r("/g"), "http://a/g");
  EXPECT_EQ(r("//g"), "http://g/");
  EXPECT_EQ(r("?y"), "http://a/b/c/d;p?y");
  EXPECT_EQ(r("g?y"), "http://a/b/c/g?y");
  EXPECT_EQ(r("#s"), "http://a/b/c/d;p?q");
  EXPECT_EQ(r(""), "http://a/b/c/d;p?q");
  EXPECT_EQ(r(".."), "http://a/b/");
  EXPECT_EQ(r("../g"), "http://a/b/g");
  EXPECT_EQ(r("../../../g"), "http://a/g");
  EXPECT_EQ(r("/./g"), "http://a/g");
  EXPECT_EQ(r("g;x=1/../y"), "http://a/b/c/y");
  EXPECT_EQ(r("http://other:81/z"), "http://other:81/z");
  UrlError kind;
  std::string error;
  EXPECT_FALSE(resolve_reference(base, "https://secure/", kind, error));
  EXPECT_EQ(kind, UrlError::unsupported);
  EXPECT_FALSE(resolve_reference(base, "mailto:x@y", kind, error));
}

}  // namespace
}  // namespace nuri::client
