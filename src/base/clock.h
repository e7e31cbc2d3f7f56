#pragma once
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

}  // namespace nuri::base
