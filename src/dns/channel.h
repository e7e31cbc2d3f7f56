#pragma once
// Running a c-ares channel to completion on the calling thread, for every blocking lookup in
// nuri (`nuri resolve`, `nuri get`, and `nuri forward`'s target names, which are looked up on
// their own thread): one loop, so that all of them use poll (descriptors may be above
// FD_SETSIZE) and let c-ares see its timeouts the same way.
#include <ares.h>

#include <chrono>

namespace nuri::dns {

/// Runs `channel` until `done` is set (by a callback) or `deadline_ms` (milliseconds after
/// `start`; 0: no deadline) has passed; then cancels what is pending, which calls the callbacks
/// with ARES_ECANCELLED.
void run_channel(ares_channel channel, const bool& done, std::chrono::steady_clock::time_point start,
                 int deadline_ms = 0);

}  // namespace nuri::dns
