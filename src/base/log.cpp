#include "base/log.h"

#include <unistd.h>

#include <ctime>
#include <string>

namespace nuri::base {

std::uint64_t LogThrottle::add(std::int64_t now_ms) {
  ++count_;
  return take_if_due(now_ms);
}

std::uint64_t LogThrottle::take_if_due(std::int64_t now_ms) {
  if (logged_ms_ >= 0 && now_ms - logged_ms_ < 1000) return 0;
  std::uint64_t count = count_;
  count_ = 0;
  logged_ms_ = now_ms;
  return count;
}

void log_line(LogLevel level, std::string_view message) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  const char* tag = level == LogLevel::error ? "error" : level == LogLevel::warn ? "warn" : "info";
  std::string line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z nuri[{}]: {}\n", tm.tm_year + 1900,
                                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tag, message);
  // One write per line; a short write to stderr is not worth retrying.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace nuri::base
