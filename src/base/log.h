#pragma once
// The error log: one line per event on stderr, with a UTC timestamp, written with a single
// write(2) so that lines from different workers never interleave.
#include <fmt/format.h>

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

}  // namespace nuri::base
