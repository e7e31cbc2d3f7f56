#pragma once
// Host names of targets, resolved with c-ares: at start-up, and again whenever the shortest TTL
// of the answer runs out, by the main thread (which otherwise only waits for signals), so that
// a worker never waits for DNS. Workers pick up a changed address list between connections.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/address.h"

namespace nuri::forward {

/// What one lookup found.
struct Resolution {
  std::vector<net::SocketAddress> addresses;  ///< with the port set
  std::int64_t ttl_seconds = 0;               ///< the smallest TTL of the answers
  std::string error;                          ///< empty on success
};

class Resolver {
 public:
  /// `server`: "ADDR:PORT" of the DNS server to ask, or empty for /etc/resolv.conf's.
  explicit Resolver(const std::string& server = {});
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// Empty when the channel works, else why not (a bad --resolver address...).
  const std::string& error() const { return error_; }

  /// Looks `host` up (A and AAAA, /etc/hosts first), waiting at most a few seconds.
  Resolution resolve(const std::string& host, std::uint16_t port, bool udp);

 private:
  void* channel_ = nullptr;  // ares_channel, kept out of this header
  std::string error_;
};

}  // namespace nuri::forward
