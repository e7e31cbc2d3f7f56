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
