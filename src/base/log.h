#pragma once
// The error log: one line per event on stderr, with a UTC timestamp, written with a single
// write(2) so that lines from different workers never interleave.
#include <fmt/format.h>

#include <cstdint>
#include <string_view>

namespace nuri::base {

enum class LogLevel { info, warn, error };

/// Writes one line "2026-11-26T23:59:01Z nuri[error]: message" to stderr.
void log_line(LogLevel level, std::string_view message);

template <typename... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::error, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::warn, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::info, fmt::format(f, std::forward<Args>(args)...));
}

/// Counts events that would flood the log if each had its own line (refusals while out of
/// descriptors). add() returns how many came since the last line when a line is due (at the
/// first event, then at most one line a second), else 0.
class LogThrottle {
 public:
  std::uint64_t add(std::int64_t now_ms);
  /// The events held back, once their line is due (a second after the last one) and no new event
  /// came to carry them; else 0. Called now and then (each turn of a worker's loop), so that the
  /// end of a burst is logged within a second or two, not at the next event, hours later.
  std::uint64_t due(std::int64_t now_ms) { return count_ == 0 ? 0 : take_if_due(now_ms); }

 private:
  std::uint64_t take_if_due(std::int64_t now_ms);

  std::uint64_t count_ = 0;  // since the last line
  std::int64_t logged_ms_ = -1;
};

}  // namespace nuri::base
