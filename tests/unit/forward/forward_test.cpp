#include <gtest/gtest.h>

#include <string>

#include "forward/end_reason.h"
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

// forwarding_loop(LISTEN, TARGET) for a numeric TARGET.
std::string loop(const char* listen, const char* target) {
  std::string error;
  auto spec = parse_target(target, error);
  return forwarding_loop(*net::SocketAddress::parse(listen), *spec, *spec->address);
}

TEST(ForwardTarget, ATargetThatIsTheListenerLoops) {
  EXPECT_EQ(loop("127.0.0.1:8080", "127.0.0.1:8080"),
            "target 127.0.0.1:8080 is the listen address itself: connections would loop back to this rule until "
            "out of file descriptors");
  EXPECT_NE(loop("[::1]:8080", "[::1]:8080"), "");
  EXPECT_NE(loop("10.0.0.1:8080", "10.0.0.1:8080"), "");
  // A wildcard listener takes what is sent to any address of this machine on its port.
  EXPECT_EQ(loop("0.0.0.0:8080", "127.0.0.2:8080"),
            "target 127.0.0.2:8080 is on this machine, where 0.0.0.0:8080 listens on every address: connections "
            "would loop back to this rule until out of file descriptors");
  EXPECT_NE(loop("0.0.0.0:8080", "0.0.0.0:8080"), "");
  EXPECT_NE(loop("[::]:8080", "[::1]:8080"), "");
}

TEST(ForwardTarget, OtherPortsAddressesAndFamiliesDoNotLoop) {
  EXPECT_EQ(loop("127.0.0.1:8080", "127.0.0.1:8081"), "");
  EXPECT_EQ(loop("127.0.0.1:8080", "127.0.0.2:8080"), "");  // nothing listens on 127.0.0.2
  EXPECT_EQ(loop("0.0.0.0:8080", "203.0.113.7:8080"), "");  // another machine
  EXPECT_EQ(loop("[::]:8080", "127.0.0.1:8080"), "");       // [::] is IPv6 only (IPV6_V6ONLY)
  EXPECT_EQ(loop("0.0.0.0:0", "127.0.0.1:8080"), "");       // any free port
}

TEST(ForwardTarget, ALoopThroughANameSaysWhatItResolvedTo) {
  std::string error;
  auto spec = parse_target("localhost:8080", error);
  ASSERT_TRUE(spec) << error;
  auto listen = net::SocketAddress::parse("127.0.0.1:8080");
  EXPECT_EQ(forwarding_loop(*listen, *spec, *listen).rfind("target localhost:8080 (127.0.0.1:8080) is the listen", 0),
            0u);
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
