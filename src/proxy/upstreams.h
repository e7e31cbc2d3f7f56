#pragma once
// The back ends of a proxying location, as every worker shares them: their addresses (names are
// resolved off the workers, by the Monitor), their health (passive: failures seen by requests;
// active: a GET every few seconds) and how many requests each has in flight, for balancing.
// Everything the workers touch here is an atomic: choosing an upstream takes no lock.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "net/address.h"

namespace nuri::proxy {

using Addresses = std::vector<net::SocketAddress>;

class Server {
 public:
  explicit Server(const config::Proxy::Upstream& config);

  const config::Proxy::Upstream& config() const { return config_; }
  /// "127.0.0.1:9000" or "app:9000": for logs and the status page.
  const std::string& name() const { return name_; }

  /// Where to connect: the numeric address, or what the name last resolved to (may be empty).
  std::shared_ptr<const Addresses> addresses() const { return addresses_.load(std::memory_order_acquire); }
  void set_addresses(std::shared_ptr<const Addresses> a) { addresses_.store(std::move(a), std::memory_order_release); }

  /// Whether requests should avoid it now (passive or active health said so).
  bool is_down(std::int64_t now_ms) const {
    return check_down.load(std::memory_order_relaxed) || down_until_ms.load(std::memory_order_relaxed) > now_ms;
  }

  std::atomic<std::uint32_t> fails{0};          ///< failures in a row
  std::atomic<std::int64_t> down_until_ms{0};   ///< skipped until then (passive health)
  std::atomic<bool> check_down{false};          ///< the last active check failed
  std::atomic<std::uint32_t> active{0};         ///< requests in flight, all workers
  std::atomic<std::uint64_t> requests{0};       ///< requests sent to it
  std::atomic<std::uint64_t> failures{0};       ///< failures counted against it

 private:
  const config::Proxy::Upstream& config_;
  std::string name_;
  std::atomic<std::shared_ptr<const Addresses>> addresses_;
};

/// The upstreams of one location.
class Group {
 public:
  /// `where`: the location it serves, for the status page ("example.com /api/").
  Group(const config::Proxy& config, std::string where);

  const config::Proxy& config() const { return config_; }
  const std::string& where() const { return where_; }
  std::size_t size() const { return servers_.size(); }
  Server& server(std::size_t i) const { return *servers_[i]; }

  /// The upstream for the next attempt of a request, skipping those in `tried` (bit i:
  /// upstream i) and those without an address; healthy ones first, and when every untried one
  /// is down, the one whose penalty ends first (a proxy with every upstream marked down still
  /// tries rather than refuses). npos when none is left.
  std::size_t pick(std::uint64_t tried, std::int64_t now_ms) const;

  /// What a request saw: failures in a row past max_fails mark the upstream down for
  /// fail_timeout; a success clears the count.
  void report_failure(std::size_t i, std::int64_t now_ms) const;
  void report_success(std::size_t i) const;

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  static constexpr std::size_t kMaxServers = 64;  ///< what the `tried` mask holds

 private:
  const config::Proxy& config_;
  std::string where_;
  std::vector<std::unique_ptr<Server>> servers_;
  mutable std::atomic<std::uint64_t> next_{0};  // round-robin position
};

/// The thread that keeps upstream names resolved (again when their TTL runs out) and runs the
/// active health checks. Workers never wait for either.
class Monitor {
 public:
  /// Resolves every name once before returning (so the first requests have addresses), then
  /// starts the thread if there is anything to watch.
  explicit Monitor(std::vector<Group*> groups);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

 private:
  struct Watched {
    Group* group;
    std::size_t index;
    std::int64_t resolve_due_ms = -1;  // -1: numeric, never
    std::int64_t check_due_ms = -1;    // -1: no active check
  };

  void run();
  void resolve(Watched& w, std::int64_t now_ms);
  void check(Watched& w, std::int64_t now_ms);

  std::vector<Watched> watched_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

/// One active health check: connect (bounded by `timeout_ms`), "GET path", read the status line.
/// True for 2xx and 3xx; otherwise `why` says what went wrong, and `local` whether that was this
/// machine's shortage (no socket: EMFILE and the like; no local port: EADDRNOTAVAIL), which says
/// nothing about the upstream.
bool check_upstream(const Addresses& addresses, const std::string& host_header, const std::string& path,
                    int timeout_ms, std::string& why, bool& local);

}  // namespace nuri::proxy
