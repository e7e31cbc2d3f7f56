#pragma once
// Checks for numeric options. CLI11's own ranges compare with < and >, so NaN passes them, and
// their messages print DBL_MAX in full; a NaN or 1e300 seconds then became a zero-length timeout
// (and undefined behaviour) when turned into milliseconds. These reject anything not finite and
// say the range in plain numbers.
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace nuri::cli {

/// The longest timeout or duration a seconds option takes: one week, as in the configuration file.
inline constexpr double kMaxSeconds = 604800;

/// A number of seconds from `min` to `max` (both included; `min` excluded when `above_min`).
inline CLI::Validator seconds(double min, double max = kMaxSeconds, bool above_min = false) {
  std::string range = above_min ? fmt::format("above {} and at most {}", min, max) : fmt::format("from {} to {}", min, max);
  return CLI::Validator(
      [min, max, above_min, range](std::string& text) -> std::string {
        char* end = nullptr;
        double value = std::strtod(text.c_str(), &end);
        bool in_range = !text.empty() && *end == '\0' && std::isfinite(value) && value <= max &&
                        (above_min ? value > min : value >= min);
        return in_range ? std::string() : fmt::format("{} is not a number of seconds {}", text, range);
      },
      fmt::format("SECONDS in {}{} - {}]", above_min ? "(" : "[", min, max));
}

/// Seconds above 0, at most a week: a timeout.
inline CLI::Validator positive_seconds() { return seconds(0, kMaxSeconds, true); }

/// A whole number from `min` to `max`.
inline CLI::Validator whole_number(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        long long value = std::strtoll(text.c_str(), &end, 10);
        bool in_range = !text.empty() && *end == '\0' && errno == 0 && value >= min && value <= max;
        return in_range ? std::string() : fmt::format("{} is not a whole number from {} to {}", text, min, max);
      },
      fmt::format("in [{} - {}]", min, max));
}

}  // namespace nuri::cli
