#include <gtest/gtest.h>

#include <string>

#include "forward/end_reason.h"
#include "forward/target.h"

namespace nuri::forward {
namespace {

TEST(ForwardTarget, NumericAddresses) {
  std::string error;
  auto v4 = resolve_target("192.168.17.17:80", error);
  ASSERT_TRUE(v4) << error;
  EXPECT_EQ(v4->to_string(), "192.168.17.17:80");
  auto v6 = resolve_target("[::1]:8080", error);
  ASSERT_TRUE(v6) << error;
  EXPECT_EQ(v6->to_string(), "[::1]:8080");
}

TEST(ForwardTarget, HostNameResolvedOnce) {
  std::string error;
  auto local = resolve_target("localhost:80", error);
  ASSERT_TRUE(local) << error;
  EXPECT_EQ(local->port(), 80);
  EXPECT_TRUE(local->is_loopback());
}

TEST(ForwardTarget, ErrorsAreOneLine) {
  for (const char* bad : {"192.168.17.17", ":80", "host:", "host:http", "host:65536", "[::1]80", "a:b:c:80",
                          "300.1.2.3:80", "1.2.3:80", "127.0.0.1:0", "host:0"}) {
    std::string error;
    EXPECT_FALSE(resolve_target(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  std::string error;
  EXPECT_FALSE(resolve_target("no-such-host.invalid:80", error));
  EXPECT_NE(error.find("cannot resolve target host no-such-host.invalid"), std::string::npos) << error;
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
