#include "net/cidr.h"

#include <gtest/gtest.h>

#include "net/address.h"

using nuri::net::AccessRule;
using nuri::net::Cidr;
using nuri::net::SocketAddress;

namespace {

// A client address for contains(): "1.2.3.4" or "::1" (port irrelevant).
SocketAddress client(const std::string& host) {
  auto a = SocketAddress::parse(host.find(':') != std::string::npos ? "[" + host + "]:1" : host + ":1");
  EXPECT_TRUE(a) << host;
  return a.value_or(SocketAddress{});
}

bool in(const char* range, const std::string& host) {
  auto c = Cidr::parse(range);
  EXPECT_TRUE(c) << range;
  return c && c->contains(client(host).get());
}

AccessRule rule(bool allow, const char* range) { return AccessRule{allow, *Cidr::parse(range)}; }

}  // namespace

TEST(Cidr, ParsesAndPrints) {
  const std::pair<const char*, const char*> cases[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"127.0.0.1", "127.0.0.1/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"192.168.1.128/25", "192.168.1.128/25"},
      {"255.255.255.255/32", "255.255.255.255/32"},
      {"::1", "::1/128"},
      {"::", "::/128"},
      {"::/0", "::/0"},
      {"2001:db8::/32", "2001:db8::/32"},
      {"2001:DB8:0:0::/64", "2001:db8::/64"},
      {"fe80::/10", "fe80::/10"},
      {"::ffff:1.2.3.4", "::ffff:1.2.3.4/128"},
      {"::ffff:0.0.0.0/96", "::ffff:0.0.0.0/96"},
      {"all", "all"},
  };
  for (const auto& [text, printed] : cases) {
    auto c = Cidr::parse(text);
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->to_string(), printed) << text;
    // What to_string prints parses back to the same range.
    auto again = Cidr::parse(c->to_string());
    ASSERT_TRUE(again) << printed;
    EXPECT_EQ(again->to_string(), printed);
  }
}

TEST(Cidr, RejectsGarbage) {
  const std::string bad[] = {
      "", "/", "/8", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/08", "1.2.3.4/8/8",
      "1.2.3.4/ 8", " 1.2.3.4", "1.2.3.4 ", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.0.0.0",
      "1.2.3.-4", "1..3.4", "1.2.3.4.", "0x1.2.3.4", "1.2.3.4a", "localhost", "ALL", "all/0", "any",
      "::1/129", "::1/", ":::1", "1::2::3", "12345::", "::g", "[::1]", "::1%lo", "fe80::1%eth0/64",
      "::ffff:01.2.3.4", "::ffff:1.2.3.256", "1.2.3.4::", "10.0.0.1/8", "10.1.0.0/8", "192.168.1.1/24",
      "::1/64", "2001:db8::1/32", "1.2.3.4/1000", std::string(200, '1'),
  };
  for (const std::string& text : bad) {
    std::string why;
    EXPECT_FALSE(Cidr::parse(text, why)) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
}

TEST(Cidr, ExplainsWhy) {
  std::string why;
  EXPECT_FALSE(Cidr::parse("10.0.0.1/8", why));
  EXPECT_EQ(why, "host bits set beyond /8 (the network is 10.0.0.0/8)");
  EXPECT_FALSE(Cidr::parse("1.2.3.4/33", why));
  EXPECT_EQ(why, "prefix /33 out of range 0..32");
  EXPECT_FALSE(Cidr::parse("::1/129", why));
  EXPECT_EQ(why, "prefix /129 out of range 0..128");
  EXPECT_FALSE(Cidr::parse("1.2.3.4/", why));
  EXPECT_EQ(why, "\"/\" is not a prefix length");
  // Too many digits for an int: refused for its length, never summed (UBSan, config_fuzz).
  EXPECT_FALSE(Cidr::parse("10.0.0.0/80000000000000000000", why));
  EXPECT_EQ(why, "\"/80000000000000000000\" is not a prefix length");
  EXPECT_FALSE(Cidr::parse("01.2.3.4", why));
  EXPECT_NE(why.find("leading zeros"), std::string::npos);
}

TEST(Cidr, ContainsIpv4) {
  EXPECT_TRUE(in("10.0.0.0/8", "10.1.2.3"));
  EXPECT_TRUE(in("10.0.0.0/8", "10.255.255.255"));
  EXPECT_FALSE(in("10.0.0.0/8", "11.0.0.0"));
  EXPECT_FALSE(in("10.0.0.0/8", "9.255.255.255"));
  EXPECT_TRUE(in("192.168.1.128/25", "192.168.1.200"));
  EXPECT_FALSE(in("192.168.1.128/25", "192.168.1.127"));
  EXPECT_TRUE(in("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(in("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(in("0.0.0.0/0", "203.0.113.9"));
  EXPECT_FALSE(in("0.0.0.0/0", "::1"));  // an IPv4 range never holds a native IPv6 address
  EXPECT_TRUE(in("172.16.0.0/12", "172.31.255.255"));
  EXPECT_FALSE(in("172.16.0.0/12", "172.32.0.0"));
}

TEST(Cidr, ContainsIpv6) {
  EXPECT_TRUE(in("::1", "::1"));
  EXPECT_FALSE(in("::1", "::2"));
  EXPECT_TRUE(in("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(in("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(in("fe80::/10", "febf::1"));
  EXPECT_FALSE(in("fe80::/10", "fec0::1"));
  EXPECT_TRUE(in("::/0", "2001:db8::1"));
  EXPECT_FALSE(in("::1", "127.0.0.1"));
}

TEST(Cidr, MappedClientsMatchIpv4Ranges) {
  EXPECT_TRUE(in("127.0.0.0/8", "::ffff:127.0.0.1"));
  EXPECT_TRUE(in("10.0.0.0/8", "::ffff:10.9.8.7"));
  EXPECT_FALSE(in("10.0.0.0/8", "::ffff:11.0.0.1"));
  EXPECT_TRUE(in("0.0.0.0/0", "::ffff:1.2.3.4"));
  // Not mapped: the same low 32 bits under another prefix.
  EXPECT_FALSE(in("10.0.0.0/8", "::10.9.8.7"));
  EXPECT_FALSE(in("10.0.0.0/8", "64:ff9b::10.9.8.7"));
  // And a mapped range holds the plain IPv4 client.
  EXPECT_TRUE(in("::ffff:10.0.0.0/104", "10.1.1.1"));
  EXPECT_TRUE(in("::ffff:0.0.0.0/96", "192.0.2.1"));
}

TEST(Cidr, Ipv6RangesDoNotHoldIpv4Clients) {
  // "::/0" and "::/1" mean IPv6 clients: as an allow they let in every IPv4 client too, as a
  // deny they shut them all out. Only a range written in mapped form holds IPv4 clients.
  EXPECT_FALSE(in("::/0", "10.1.1.1"));
  EXPECT_FALSE(in("::/1", "192.0.2.1"));
  EXPECT_FALSE(in("::/0", "::ffff:10.1.1.1"));
  EXPECT_FALSE(in("::/64", "0.0.0.1"));  // :: and ::1 share 64 bits with nothing of IPv4's
  EXPECT_FALSE(in("::/80", "10.1.1.1"));  // holds ::ffff:0:0/96, but is not written in mapped form
  EXPECT_TRUE(in("::/0", "::1"));
  EXPECT_TRUE(in("::ffff:0.0.0.0/96", "::ffff:10.1.1.1"));
}

TEST(Cidr, AllMatchesEverything) {
  EXPECT_TRUE(in("all", "1.2.3.4"));
  EXPECT_TRUE(in("all", "::1"));
  EXPECT_TRUE(in("all", "::ffff:1.2.3.4"));
  EXPECT_FALSE(Cidr::parse("all")->contains(nullptr));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/8")->contains(nullptr));
}

TEST(AccessAllowed, EmptyListAllowsEveryone) {
  EXPECT_TRUE(nuri::net::access_allowed({}, client("1.2.3.4").get()));
  EXPECT_TRUE(nuri::net::access_allowed({}, client("::1").get()));
}

TEST(AccessAllowed, FirstMatchDecides) {
  std::vector<AccessRule> rules = {rule(false, "10.1.0.0/16"), rule(true, "10.0.0.0/8"), rule(false, "all")};
  EXPECT_FALSE(nuri::net::access_allowed(rules, client("10.1.2.3").get()));
  EXPECT_TRUE(nuri::net::access_allowed(rules, client("10.2.0.1").get()));
  EXPECT_TRUE(nuri::net::access_allowed(rules, client("::ffff:10.2.0.1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(rules, client("192.0.2.1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(rules, client("::1").get()));
}

TEST(AccessAllowed, UnmatchedGetsTheOppositeOfTheLastRule) {
  std::vector<AccessRule> allow_only = {rule(true, "127.0.0.0/8"), rule(true, "::1")};
  EXPECT_TRUE(nuri::net::access_allowed(allow_only, client("127.0.0.5").get()));
  EXPECT_TRUE(nuri::net::access_allowed(allow_only, client("::1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(allow_only, client("192.0.2.1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(allow_only, client("::2").get()));

  std::vector<AccessRule> deny_only = {rule(false, "192.0.2.0/24")};
  EXPECT_FALSE(nuri::net::access_allowed(deny_only, client("192.0.2.77").get()));
  EXPECT_TRUE(nuri::net::access_allowed(deny_only, client("198.51.100.1").get()));
  EXPECT_TRUE(nuri::net::access_allowed(deny_only, client("::1").get()));

  // The last rule sets the fallback even if earlier rules are of the other kind.
  std::vector<AccessRule> mixed = {rule(false, "10.0.0.0/8"), rule(true, "192.0.2.0/24")};
  EXPECT_FALSE(nuri::net::access_allowed(mixed, client("10.0.0.1").get()));
  EXPECT_TRUE(nuri::net::access_allowed(mixed, client("192.0.2.1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(mixed, client("203.0.113.1").get()));
}

TEST(AccessAllowed, StatusPageDefault) {
  std::vector<AccessRule> rules = {rule(true, "127.0.0.0/8"), rule(true, "::1"), rule(false, "all")};
  EXPECT_TRUE(nuri::net::access_allowed(rules, client("127.0.0.1").get()));
  EXPECT_TRUE(nuri::net::access_allowed(rules, client("::ffff:127.0.0.1").get()));
  EXPECT_TRUE(nuri::net::access_allowed(rules, client("::1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(rules, client("10.0.0.1").get()));
  EXPECT_FALSE(nuri::net::access_allowed(rules, client("fe80::1").get()));
}
