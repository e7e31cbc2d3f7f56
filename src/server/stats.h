#pragma once
// Counters a worker keeps about itself, and the snapshot of its connections it publishes for the
// status page. Each counter has one writer (its worker) and is read by whichever worker serves
// /server-status or /metrics: relaxed atomics, so the hot path pays a plain store.
#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "server/access_log.h"
#include "server/client_limits.h"

namespace nuri::server {

class Application;

/// What the status page shows about one open connection.
struct ConnectionInfo {
  std::string client;        ///< "127.0.0.1:51234"
  std::string local;         ///< "127.0.0.1:8080"
  std::string state;         ///< "reading request", "writing response", "keep-alive idle", ...
  std::string request_line;  ///< the current or last request, truncated
  std::uint64_t bytes_sent = 0;
  std::uint32_t requests = 0;
  double age_seconds = 0;
};

/// Upper bounds, in milliseconds, of the request-duration histogram's buckets (a last one, +Inf,
/// takes the rest). The clock is read once per loop turn, so 1 ms is the finest that means anything.
inline constexpr std::array<std::int64_t, 12> kDurationBoundsMs = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

class WorkerStats {
 public:
  /// Called by the owning worker for each response.
  void count_response(int status, std::uint64_t bytes, std::time_t now) {
    bump(requests_);
    bump(by_class_[std::min(std::max(status / 100, 1), 5) - 1]);
    add(bytes_, bytes);
    std::size_t slot = static_cast<std::size_t>(now % 60);
    if (second_of_slot_[slot].load(std::memory_order_relaxed) != now) {
      per_second_[slot].store(0, std::memory_order_relaxed);
      second_of_slot_[slot].store(now, std::memory_order_relaxed);
    }
    bump(per_second_[slot]);
  }
  /// A response's last byte was handed to the kernel `ms` after its request's first byte came.
  void observe_duration(std::int64_t ms) {
    std::size_t i = 0;
    while (i < kDurationBoundsMs.size() && ms > kDurationBoundsMs[i]) ++i;
    bump(duration_buckets_[i]);
    add(duration_ms_sum_, static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)));
  }
  /// Responses in bucket `i` (not cumulative; the last is +Inf), and the sum of their durations.
  std::uint64_t duration_bucket(std::size_t i) const { return duration_buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t duration_ms_sum() const { return duration_ms_sum_.load(std::memory_order_relaxed); }
  void count_accept() { bump(accepted_); }
  void set_open_connections(std::uint64_t n) { open_.store(n, std::memory_order_relaxed); }

  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  std::uint64_t by_class(int c) const { return by_class_[static_cast<std::size_t>(c - 1)].load(std::memory_order_relaxed); }
  std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }
  std::uint64_t open_connections() const { return open_.load(std::memory_order_relaxed); }
  /// Requests answered in the 60 whole seconds before `now`.
  std::uint64_t requests_last_minute(std::time_t now) const {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < 60; ++i) {
      std::time_t s = second_of_slot_[i].load(std::memory_order_relaxed);
      if (s < now && now - s <= 60) sum += per_second_[i].load(std::memory_order_relaxed);
    }
    return sum;
  }

  /// The worker publishes its connections here while someone watches the status page.
  void publish(std::vector<ConnectionInfo> connections) {
    std::lock_guard lock(mutex_);
    connections_ = std::move(connections);
  }
  std::vector<ConnectionInfo> connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  static void bump(std::atomic<std::uint64_t>& a) { a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  static void add(std::atomic<std::uint64_t>& a, std::uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> requests_{0};
  std::array<std::atomic<std::uint64_t>, 5> by_class_{};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> open_{0};
  std::array<std::atomic<std::uint64_t>, 60> per_second_{};
  std::array<std::atomic<std::uint64_t>, kDurationBoundsMs.size() + 1> duration_buckets_{};
  std::atomic<std::uint64_t> duration_ms_sum_{0};
  std::array<std::atomic<std::time_t>, 60> second_of_slot_{};
  mutable std::mutex mutex_;  // only for the published connection table, off the hot path
  std::vector<ConnectionInfo> connections_;
};

/// What all workers share, read-only but for the counters: set up before they start.
struct ServerState {
  std::time_t started = 0;
  std::vector<WorkerStats*> workers;
  /// Until when workers publish their connection tables (someone looked at the status page).
  std::atomic<std::time_t> watched_until{0};
  /// Successful reloads (SIGHUP) and when the configuration in use was read.
  std::atomic<std::uint64_t> reloads{0};
  std::atomic<std::time_t> config_loaded{0};
  /// The per-client limits, null while none was ever configured (then they cost nothing).
  /// Set once, before the workers start or by a reload; never changed after that.
  std::atomic<ClientLimits*> client_limits{nullptr};
  /// Every listener hands its new connections to the workers in turn (else: the kernel's hash).
  std::atomic<bool> connections_in_turn{false};
  /// Whether the access log can be written: its failures are reported once for all workers.
  AccessLogHealth access_log_health;
  /// libnuri's back end when the server is embedded; null for `nuri serve`. Set before start.
  const Application* app = nullptr;
};

}  // namespace nuri::server
