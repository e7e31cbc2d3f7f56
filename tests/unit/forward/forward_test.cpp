#include <gtest/gtest.h>

#include <string>

#include "forward/end_reason.h"
#include "forward/proxy_header.h"
#include "forward/resolver.h"
#include "forward/target.h"

namespace nuri::forward {
namespace {

TEST(ForwardTarget, NumericAddresses) {
  std::string error;
  auto v4 = parse_target("192.168.17.17:80", error);
  ASSERT_TRUE(v4 && v4->address) << error;
  EXPECT_EQ(v4->address->to_string(), "192.168.17.17:80");
  EXPECT_TRUE(v4->host.empty());
  auto v6 = parse_target("[::1]:8080", error);
  ASSERT_TRUE(v6 && v6->address) << error;
  EXPECT_EQ(v6->address->to_string(), "[::1]:8080");
}

TEST(ForwardTarget, HostNamesAreLeftToTheResolver) {
  std::string error;
  auto named = parse_target("backend.lan:8080", error);
  ASSERT_TRUE(named) << error;
  EXPECT_FALSE(named->address);
  EXPECT_EQ(named->host, "backend.lan");
  EXPECT_EQ(named->port, 8080);
  EXPECT_EQ(named->text, "backend.lan:8080");
}

TEST(ForwardTarget, ErrorsAreOneLine) {
  for (const char* bad : {"192.168.17.17", ":80", "host:", "host:http", "host:65536", "[::1]80", "a:b:c:80",
                          "300.1.2.3:80", "1.2.3:80", "127.0.0.1:0", "host:0"}) {
    std::string error;
    EXPECT_FALSE(parse_target(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(ForwardResolver, LocalhostFromTheHostsFile) {
  Resolver resolver;
  ASSERT_EQ(resolver.error(), "");
  Resolution r = resolver.resolve("localhost", 80, false);
  ASSERT_EQ(r.error, "");
  ASSERT_FALSE(r.addresses.empty());
  for (const auto& a : r.addresses) {
    EXPECT_TRUE(a.is_loopback()) << a.to_string();
    EXPECT_EQ(a.port(), 80);
  }
}

TEST(ForwardResolver, BadServerIsAnError) {
  Resolver resolver("not an address");
  EXPECT_NE(resolver.error(), "");
}

TEST(ForwardLog, OneLinePerConnection) {
  std::string out;
  append_log_line(out, "2026-11-27T02:40:01Z",
                  {"10.0.0.2:51234", "0.0.0.0:65535", "192.168.17.17:80", 78, 1234567, 15, EndReason::fin});
  append_log_line(out, "2026-11-27T02:40:02Z",
                  {"10.0.0.3:1", "0.0.0.0:65535", "192.168.17.17:80", 0, 0, 10000, EndReason::connect_timeout});
  EXPECT_EQ(out,
            "2026-11-27T02:40:01Z client=10.0.0.2:51234 listen=0.0.0.0:65535 target=192.168.17.17:80 up=78 "
            "down=1234567 ms=15 end=fin\n"
            "2026-11-27T02:40:02Z client=10.0.0.3:1 listen=0.0.0.0:65535 target=192.168.17.17:80 up=0 down=0 "
            "ms=10000 end=connect-timeout\n");
}

TEST(ForwardLog, EveryReasonHasAName) {
  for (EndReason r : {EndReason::fin, EndReason::rst, EndReason::timeout, EndReason::connect_timeout,
                      EndReason::refused, EndReason::unreachable, EndReason::denied, EndReason::limit,
                      EndReason::shutdown, EndReason::error}) {
    std::string_view name = to_string(r);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name.find(' '), std::string_view::npos);
  }
  EXPECT_EQ(to_string(EndReason::refused), "refused");
}

}  // namespace
}  // namespace nuri::forward

namespace nuri::forward {
namespace {

std::string header(ProxyProtocol version, const char* client, const char* local) {
  auto c = net::SocketAddress::parse(client);
  auto l = net::SocketAddress::parse(local);
  char out[kProxyHeaderMax];
  std::size_t n = write_proxy_header(version, c->get(), l->get(), out);
  return std::string(out, n);
}

TEST(ProxyHeader, Version1) {
  EXPECT_EQ(header(ProxyProtocol::v1, "10.0.0.2:51234", "10.0.0.1:65535"),
            "PROXY TCP4 10.0.0.2 10.0.0.1 51234 65535\r\n");
  EXPECT_EQ(header(ProxyProtocol::v1, "[2001:db8::2]:1", "[::1]:80"), "PROXY TCP6 2001:db8::2 ::1 1 80\r\n");
  // Mixed families: both as IPv6; IPv4-mapped on both sides: both as IPv4.
  EXPECT_EQ(header(ProxyProtocol::v1, "10.0.0.2:1", "[::1]:80"), "PROXY TCP6 ::ffff:10.0.0.2 ::1 1 80\r\n");
  EXPECT_EQ(header(ProxyProtocol::v1, "[::ffff:10.0.0.2]:1", "[::ffff:10.0.0.1]:80"), "PROXY TCP4 10.0.0.2 10.0.0.1 1 80\r\n");
  EXPECT_EQ(header(ProxyProtocol::none, "10.0.0.2:1", "10.0.0.1:2"), "");
}

TEST(ProxyHeader, LongestVersion1FitsTheSpecLimit) {
  std::string h = header(ProxyProtocol::v1, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                         "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  EXPECT_EQ(h.size(), 104u);
  EXPECT_LE(h.size(), 107u);
}

TEST(ProxyHeader, Version2) {
  std::string v4 = header(ProxyProtocol::v2, "10.0.0.2:51234", "10.0.0.1:65535");
  const std::string expected_v4 =
      std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x11" + std::string("\x00\x0c", 2) + std::string("\x0a\x00\x00\x02", 4) +
      std::string("\x0a\x00\x00\x01", 4) + "\xc8\x22" + "\xff\xff";
  EXPECT_EQ(v4, expected_v4);
  std::string v6 = header(ProxyProtocol::v2, "[2001:db8::2]:1", "[::1]:80");
  ASSERT_EQ(v6.size(), 52u);
  EXPECT_EQ(v6.substr(12, 4), std::string("\x21\x21\x00\x24", 4));
  EXPECT_EQ(v6.substr(16, 4), "\x20\x01\x0d\xb8");
  EXPECT_EQ(v6.substr(48), std::string("\x00\x01\x00\x50", 4));
}

}  // namespace
}  // namespace nuri::forward
