#include "net/address.h"

#include <gtest/gtest.h>

using nuri::net::SocketAddress;

TEST(SocketAddress, ParsesIpv4AndIpv6) {
  auto a = SocketAddress::parse("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(a->url(), "http://127.0.0.1:8080/");
  EXPECT_TRUE(a->is_loopback());
  EXPECT_FALSE(a->is_unspecified());

  auto b = SocketAddress::parse("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->family(), AF_INET6);
  EXPECT_EQ(b->to_string(), "[::1]:0");
  EXPECT_TRUE(b->is_loopback());

  auto any4 = SocketAddress::parse("0.0.0.0:80");
  ASSERT_TRUE(any4);
  EXPECT_TRUE(any4->is_unspecified());
  auto any6 = SocketAddress::parse("[::]:80");
  ASSERT_TRUE(any6);
  EXPECT_TRUE(any6->is_unspecified());
  EXPECT_FALSE(any6->is_loopback());
}

TEST(SocketAddress, LoopbackIsTheWhole127Network) {
  EXPECT_TRUE(SocketAddress::parse("127.1.2.3:1")->is_loopback());
  EXPECT_FALSE(SocketAddress::parse("10.0.0.1:1")->is_loopback());
}

TEST(SocketAddress, RejectsMalformed) {
  for (const char* text : {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8o",
                           "localhost:80", "::1:80", "[::1]80", "[::1", "[127.0.0.1]:80", "1.2.3.4.5:80",
                           "127.0.0.1:80 ", " 127.0.0.1:80", "[::1]:"}) {
    EXPECT_FALSE(SocketAddress::parse(text)) << text;
  }
}
