#include "server/access_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

using nuri::server::AccessLog;
using nuri::server::AccessRecord;
using nuri::server::append_log_escaped;

namespace {

std::string logged_as(const AccessRecord& record, nuri::config::LogFormat format) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  {
    AccessLog log(fds[1], format);
    log.add(record);
    log.flush();
  }
  ::close(fds[1]);
  std::string out(4096, '\0');
  auto n = ::read(fds[0], out.data(), out.size());
  ::close(fds[0]);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::string logged(const AccessRecord& record) { return logged_as(record, nuri::config::LogFormat::combined); }

}  // namespace

TEST(AccessLog, CombinedLogFormat) {
  AccessRecord r{"127.0.0.1", "GET /a.txt HTTP/1.1", 200, 5, "http://ref/", "curl/7.88.1", ""};
  std::string line = logged(r);
  // 127.0.0.1 - - [26/Nov/2026:23:59:01 +0000] "GET /a.txt HTTP/1.1" 200 5 "http://ref/" "curl/7.88.1"
  ASSERT_EQ(line.rfind("127.0.0.1 - - [", 0), 0u) << line;
  std::string time = line.substr(15, 26);  // 26/Nov/2026:23:59:01 +0000
  ASSERT_EQ(time.size(), 26u) << line;
  for (std::size_t i : {0u, 1u, 7u, 8u, 9u, 10u, 12u, 13u, 15u, 16u, 18u, 19u, 22u, 23u, 24u, 25u}) {
    EXPECT_TRUE(time[i] >= '0' && time[i] <= '9') << time;
  }
  EXPECT_EQ(time[2], '/');
  EXPECT_EQ(time[6], '/');
  EXPECT_EQ(time[11], ':');
  EXPECT_EQ(time[20], ' ');
  EXPECT_TRUE(time[21] == '+' || time[21] == '-') << time;
  EXPECT_EQ(line.substr(41), "] \"GET /a.txt HTTP/1.1\" 200 5 \"http://ref/\" \"curl/7.88.1\"\n") << line;
}

TEST(AccessLog, DashesForWhatIsMissing) {
  AccessRecord r{"::1", "", 400, 0, "", "", ""};
  std::string line = logged(r);
  EXPECT_NE(line.find("\"-\" 400 - \"-\" \"-\"\n"), std::string::npos) << line;
}

TEST(AccessLog, EscapesWhatCouldForgeALine) {
  std::string out;
  append_log_escaped(out, std::string_view("a\"b\\c\nd\re\x01\x7f\xff", 12));
  EXPECT_EQ(out, "a\\\"b\\\\c\\x0ad\\x0de\\x01\\x7f\\xff");
  AccessRecord r{"127.0.0.1", "GET /\n127.0.0.1 - - fake HTTP/1.1", 400, 0, "", "evil\"agent", ""};
  std::string line = logged(r);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line only";
  EXPECT_NE(line.find("\"evil\\\"agent\""), std::string::npos) << line;
}

TEST(AccessLog, CommonLogFormatEndsAfterTheBytes) {
  AccessRecord r{"127.0.0.1", "GET / HTTP/1.1", 404, 144, "http://ref/", "curl", ""};
  std::string line = logged_as(r, nuri::config::LogFormat::common);
  EXPECT_NE(line.find("] \"GET / HTTP/1.1\" 404 144\n"), std::string::npos) << line;
  EXPECT_EQ(line.find("curl"), std::string::npos) << line;
}

TEST(AccessLog, JsonLinesEscapeEverything) {
  AccessRecord r{"::1", std::string_view("GET /\"\x01\xff HTTP/1.1", 17), 200, 5, "", "a\\b", ""};
  std::string line = logged_as(r, nuri::config::LogFormat::json);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;
  EXPECT_NE(line.find("\"client\":\"::1\",\"request\":\"GET /\\\"\\u0001\\ufffd HTTP/1.1\",\"status\":200,\"bytes\":5,"
                      "\"referer\":\"\",\"user_agent\":\"a\\\\b\",\"user\":\"\"}\n"),
            std::string::npos)
      << line;
}

TEST(AccessLog, TheAuthenticatedUserIsTheThirdField) {
  // NCSA/Apache's %u: "-" without Basic authentication, the user's name (escaped) with it.
  AccessRecord r{"127.0.0.1", "GET /p HTTP/1.1", 200, 2, "", "", "al\"ice"};
  EXPECT_EQ(logged_as(r, nuri::config::LogFormat::common).rfind("127.0.0.1 - al\\\"ice [", 0), 0u)
      << logged_as(r, nuri::config::LogFormat::common);
  EXPECT_NE(logged_as(r, nuri::config::LogFormat::json).find("\"user_agent\":\"\",\"user\":\"al\\\"ice\"}"),
            std::string::npos);
}

TEST(AccessLog, JsonKeepsValidUtf8AndReplacesInvalidBytes) {
  // "café" in UTF-8, then a lone continuation byte and a truncated sequence.
  AccessRecord r{"::1", "GET /caf\xc3\xa9 HTTP/1.1", 200, 5, "", "x\x80y\xe2\x82", ""};
  std::string line = logged_as(r, nuri::config::LogFormat::json);
  EXPECT_NE(line.find("\"request\":\"GET /caf\xc3\xa9 HTTP/1.1\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"user_agent\":\"x\\ufffdy\\ufffd\\ufffd\""), std::string::npos) << line;
}

// A full disk, played by a non-blocking pipe nobody reads: lines are dropped and counted, the
// first one cut short is ended with a newline once writing works again, and the shared state
// says when the log fails and when it recovers (what the error log reports once each).
TEST(AccessLog, FullLogDropsLinesAndRecovers) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK), 0);
  int capacity = ::fcntl(fds[1], F_GETPIPE_SZ);
  ASSERT_GT(capacity, 0);
  nuri::server::AccessLogHealth health;
  AccessLog log(fds[1], nuri::config::LogFormat::common, &health);
  AccessRecord r{"127.0.0.1", "GET /a.txt HTTP/1.1", 200, 5, "", "", ""};
  std::size_t line_size = 0;
  {
    std::string one = logged_as(r, nuri::config::LogFormat::common);
    line_size = one.size();
  }
  // Enough lines to overflow the pipe in one flush, with a partial line at the end.
  std::size_t lines = static_cast<std::size_t>(capacity) / line_size + 3;
  for (std::size_t i = 0; i < lines; ++i) log.add(r);
  log.flush();
  EXPECT_TRUE(health.failing.load());
  EXPECT_GE(health.dropped.load(), 3u);
  bool torn = static_cast<std::size_t>(capacity) % line_size != 0;
  EXPECT_EQ(health.torn.load(), torn);
  log.add(r);
  log.flush();  // still full: dropped too, still failing
  EXPECT_TRUE(health.failing.load());

  std::string drained(static_cast<std::size_t>(capacity), '\0');
  ASSERT_EQ(::read(fds[0], drained.data(), drained.size()), capacity);
  log.add(r);
  log.flush();
  EXPECT_FALSE(health.failing.load());
  EXPECT_EQ(health.dropped.load(), 0u);  // reported and reset
  std::string after(4096, '\0');
  auto n = ::read(fds[0], after.data(), after.size());
  ASSERT_GT(n, 0);
  after.resize(static_cast<std::size_t>(n));
  // One newline to end the torn line, then the new line whole.
  EXPECT_EQ(after.size(), line_size + (torn ? 1 : 0)) << after;
  EXPECT_EQ(after.back(), '\n');
  ::close(fds[0]);
  ::close(fds[1]);
}
