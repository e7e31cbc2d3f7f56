#pragma once
// Per-client-address limits ([limits] max_connections_per_client, requests_per_second, burst),
// shared by all workers: one instance, built before they start.
//
// Every worker asks on each accept and each request, so the table is split into stripes by a
// keyed hash, each with its own mutex, entry pool and open-addressing index: two workers
// contend only when their clients land in the same stripe, and a critical section is one probe.
// Everything is allocated up front; the hot path never allocates.
//
// A connection keeps the Slot its try_open() filled in. While it holds the slot, its entry is
// never reclaimed or moved, so take_request() and close() go straight to it (no hashing).
//
// Memory is bounded by the capacity. A client with no connection and a full bucket is forgotten
// (at its last close, or by a sweep when its stripe runs out of entries); past that, an idle
// client whose bucket is still refilling is evicted. Only when a stripe is full of clients with
// open connections is a newcomer refused (Admit::table_full): the limits fail closed.
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "config/config.h"

namespace nuri::server {

class ClientLimits {
 public:
  /// What a connection took in try_open(); empty when it took nothing (limits off, or a socket
  /// without an IP address). Give it back with close().
  /// A stale copy of a released slot gives back nothing: the generation no longer matches.
  struct Slot {
    static constexpr std::uint32_t kNone = UINT32_MAX;
    std::uint32_t stripe = kNone;
    std::uint32_t entry = 0;
    std::uint32_t generation = 0;  ///< of the entry when taken
    bool held() const { return stripe != kNone; }
  };

  enum class Admit : std::uint8_t {
    ok,          ///< admitted; the slot is held
    over_limit,  ///< this address has max_connections_per_client open: 429
    table_full,  ///< every entry of the client's stripe holds open connections: 503
  };

  /// A capacity for `workers` workers with these limits: room for every connection they can
  /// hold at once, twice over, and at least 64 Ki addresses. 0 when both limits are off.
  static std::size_t capacity_for(const config::Limits& limits, std::size_t workers);

  /// `capacity`: most client addresses tracked at once (rounded up to fill the stripes).
  /// Allocates nothing when both limits are off.
  ClientLimits(const config::Limits& limits, std::size_t capacity);
  ~ClientLimits();
  ClientLimits(const ClientLimits&) = delete;
  ClientLimits& operator=(const ClientLimits&) = delete;

  /// False when both limits were 0 at construction: then there is no table, and the server need
  /// not call anything here.
  bool enabled() const { return enabled_; }

  /// A reload's new values (from any thread). Counts and buckets carry on; limits set to 0 stop
  /// limiting. A table built disabled stays disabled: build a new one to switch limits on.
  void set_limits(const config::Limits& limits);

  /// On accept: counts a connection from `peer`'s address (IPv4, IPv6; an IPv4-mapped IPv6
  /// address counts as the IPv4 one; the port is ignored). On ok, `slot` is held (or left empty
  /// for an address family without an address, such as AF_UNIX). `now_ms`: the monotonic clock,
  /// for a new client's full bucket and for reclaiming idle entries.
  Admit try_open(const sockaddr* peer, std::int64_t now_ms, Slot& slot);

  /// When the connection closes: gives back what try_open took and empties `slot`. A no-op on an
  /// empty slot, so calling it twice is harmless.
  void close(Slot& slot) {
    if (slot.held()) release(slot);
  }

  /// At the start of each request: takes a token from the client's bucket. False when it is
  /// empty; then `retry_after_seconds` is the whole seconds until one is available (at least 1),
  /// for Retry-After. Always true with an empty slot or without a rate limit.
  bool take_request(const Slot& slot, std::int64_t now_ms, std::uint32_t& retry_after_seconds) {
    if (!slot.held() || !rate_enabled()) return true;
    return take(slot, now_ms, retry_after_seconds);
  }

  // Introspection (tests, status page); each locks every stripe in turn.

  /// Open connections counted for `peer`'s address.
  std::uint32_t connections(const sockaddr* peer) const;
  /// Addresses tracked now (holding connections, or with a bucket still refilling).
  std::size_t size() const;
  /// Addresses that can be tracked at once.
  std::size_t capacity() const { return stripes_count_ * per_stripe_; }
  /// Heap memory held; fixed once built.
  std::size_t memory_bytes() const;

 private:
  struct Key {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct Entry;
  struct Stripe;

  bool make_key(const sockaddr* peer, Key& key) const;
  std::uint64_t hash(const Key& key) const;
  Stripe& stripe_of(std::uint64_t h) const;
  void release(Slot& slot);
  bool take(const Slot& slot, std::int64_t now_ms, std::uint32_t& retry_after_seconds);
  double refilled(const Entry& e, std::int64_t now_ms) const;
  bool reclaimable(const Entry& e, std::int64_t now_ms) const;
  std::uint32_t find(const Stripe& s, const Key& key, std::uint64_t h) const;
  std::uint32_t insert(Stripe& s, const Key& key, std::uint64_t h, std::int64_t now_ms);
  void remove(Stripe& s, std::uint32_t entry);
  bool make_room(Stripe& s, std::int64_t now_ms);

  // Read without the stripe locks, since a reload may change them at any time: a request that
  // sees the old rate next to the new burst is harmless.
  std::uint32_t max_connections() const { return max_connections_.load(std::memory_order_relaxed); }
  double rate() const { return rate_.load(std::memory_order_relaxed); }
  double burst() const { return burst_.load(std::memory_order_relaxed); }
  bool rate_enabled() const { return rate_enabled_.load(std::memory_order_relaxed); }

  std::atomic<std::uint32_t> max_connections_{0};  // 0: unlimited
  std::atomic<double> rate_{0};                    // tokens per second; 0: no rate limit
  std::atomic<double> burst_{1};                   // bucket size, at least one token
  std::atomic<bool> rate_enabled_{false};
  bool enabled_;
  std::uint64_t seed_[2] = {};
  std::size_t stripes_count_ = 0;
  std::uint64_t stripe_mask_ = 0;  // stripe = (hash >> 58) & stripe_mask_
  std::size_t per_stripe_ = 0;     // entries per stripe
  std::unique_ptr<Stripe[]> stripes_;
};

}  // namespace nuri::server
