#pragma once
#include <cmath>
#include <cstdint>
#include <ctime>

namespace nuri::base {

/// Milliseconds of CLOCK_MONOTONIC_COARSE: cheap (vDSO, no syscall) and precise to a few ms,
/// which is all that timeouts measured in seconds need.
inline std::int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

/// A timeout in seconds as milliseconds, rounded up: 0.0001 s is a short timeout, not none (a
/// timer of 0 ms fires at once). The seconds are finite and at most a week (checked on input).
inline std::int64_t timeout_ms(double seconds) { return static_cast<std::int64_t>(std::ceil(seconds * 1000.0)); }

}  // namespace nuri::base
