#pragma once
// `nuri forward`: a TCP port forwarder, the lecture's NAT rule (router:65535 -> 192.168.17.17:80)
// as a program. Each worker thread has its own epoll loop and its own SO_REUSEPORT listening
// socket per rule, and relays bytes with splice(2) through a pipe per direction.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.h"
#include "net/proxy_protocol.h"
#include "forward/target.h"
#include "net/cidr.h"

namespace nuri::forward {

/// How a new connection picks among several targets. Either way, a target that refuses, cannot
/// be reached or does not answer in time is skipped for the next one (failover), and is avoided
/// for the next kTargetRestMs while another is available.
enum class Balance {
  round_robin,  ///< each new connection starts at the target after the previous one's
  first,        ///< always the first target that is up; the others are backups
};

/// One forwarding rule: what arrives on `listen` goes to one of `targets`.
struct Rule {
  net::SocketAddress listen;
  std::vector<TargetSpec> targets;  ///< as given; host names are resolved by run()
  Balance balance = Balance::round_robin;
  std::vector<net::AccessRule> access;  ///< checked right after accept, before connecting
  unsigned max_conns = 0;               ///< open connections of this rule at once; 0: no limit
  double connect_timeout = 10;          ///< seconds for the target to accept
  double idle_timeout = 600;            ///< seconds without a byte either way (nginx's proxy_timeout)
  net::ProxyProtocol proxy_protocol = net::ProxyProtocol::none;  ///< header sent to the target first
  bool udp = false;  ///< UDP sessions per client address instead of TCP connections
};

/// How long a target that failed is avoided while another one is available.
constexpr std::int64_t kTargetRestMs = 10'000;

struct Options {
  std::vector<Rule> rules;
  unsigned workers = 0;       ///< 0: one per core
  std::string log = "-";      ///< one line per connection when it ends: a file, "-" (stdout), "" (off)
  double grace_period = 10;   ///< seconds SIGTERM lets open connections finish
  std::string resolver;       ///< DNS server "ADDR:PORT" for target host names; empty: /etc/resolv.conf
  bool log_json = false;      ///< log lines as JSON objects (JSON lines) instead of key=value text
};

/// Forwarding rules at work: their listening sockets, worker threads and the thread that looks
/// target host names up again. `nuri forward` runs one; so does `nuri serve` for the [[forward]]
/// tables of its configuration, beside its HTTP workers.
class Forwarding {
 public:
  Forwarding();
  ~Forwarding();  ///< stop()s
  Forwarding(const Forwarding&) = delete;
  Forwarding& operator=(const Forwarding&) = delete;

  /// Opens the log, binds every rule's listener (one socket per worker) and resolves target host
  /// names; nothing runs yet, so privileges may be dropped after it. 0, or an exit code with a
  /// one-line `error`: 1 when a socket or the log cannot be opened, 2 when a name cannot be
  /// resolved, a rule would forward to its own listener (forwarding_loop) or there is nothing to
  /// forward.
  int prepare(Options options, std::string& error);
  /// Prints "PROGRAM: listening on LISTEN (who can reach it), forwarding to TARGETS", a line per rule.
  void announce(std::string_view program, std::FILE* out = stdout) const;
  /// Starts the workers (and the look-ups of host names when their TTL runs out).
  void start();
  /// Stops accepting; open connections get the grace period; joins the threads and logs each
  /// rule's totals. Safe to call more than once.
  void stop();

  unsigned workers() const;
  double grace_period() const;
  bool log_json() const;  ///< the log is JSON lines (Options::log_json)

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

/// `nuri forward`: prepares and starts a Forwarding, runs until SIGTERM or SIGINT, and returns 0
/// after the connections finished (or the grace period ran out). A start-up error is printed as
/// one line "nuri forward: ..." and returns prepare's code.
int run(Options options);

}  // namespace nuri::forward
