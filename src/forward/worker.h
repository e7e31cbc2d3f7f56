#pragma once
// A forwarding worker: one thread, one edge-triggered epoll loop, its own SO_REUSEPORT listening
// socket per rule, its sessions, pipes, timers and log buffer. Workers share only the rules and
// their counters (relaxed atomics: the --max-conns limit holds across workers).
#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "forward/end_reason.h"
#include "forward/forward.h"
#include "net/event_loop.h"
#include "net/fd_reserve.h"
#include "net/waker.h"
#include "net/socket.h"
#include "server/timer_list.h"

namespace nuri::forward {

class Session;
class UdpRelay;

/// What a worker's timer lists hold (TimerNode::owner): a TCP session or a UDP table entry.
class Timed {
 public:
  virtual ~Timed() = default;
  virtual void on_timeout() = 0;
};

/// A rule and what all workers count for it.
struct RuleState {
  Rule rule;
  std::string listen_text;  ///< for log lines
  std::vector<std::string> target_texts;  ///< as given, for the banner

  // The addresses the targets resolve to. The main thread replaces them when DNS says so and
  // bumps the version; a worker compares the version (one relaxed load) per new connection and
  // copies the list under the lock only when it changed.
  std::mutex addresses_mutex;
  std::vector<net::SocketAddress> addresses;
  std::atomic<unsigned> addresses_version{0};
  std::atomic<unsigned> open{0};  ///< sessions open now, all workers together
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> denied{0};
  std::atomic<std::uint64_t> over_limit{0};
};

/// A pipe of the splice relay; `bytes` is how much waits in it.
struct Pipe {
  int read = -1;
  int write = -1;
  std::size_t bytes = 0;
  std::size_t capacity = 0;
};

class Worker {
 public:
  struct Listener {
    net::FileDescriptor fd;
    std::size_t rule = 0;
    bool udp = false;
  };

  /// `log_fd`: where log lines go, or -1; `log_json`: as JSON lines.
  Worker(std::vector<std::unique_ptr<RuleState>>& rules, std::vector<Listener> listeners, int log_fd,
         double grace_period, bool log_json = false);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// The thread's body: runs until stop() and the drain are done.
  void run();
  /// From any thread: stop accepting; open sessions get the grace period to finish.
  void stop();

  // What sessions use.
  net::EventLoop& loop() { return loop_; }
  std::int64_t now_ms() const { return now_ms_; }
  RuleState& rule(std::size_t i) { return *rules_[i]; }
  server::TimerList& connect_timers(std::size_t rule) { return local_[rule].connect; }
  server::TimerList& idle_timers(std::size_t rule) { return local_[rule].idle; }
  /// The target a new connection of `rule` tries first (round-robin or first, skipping targets
  /// that failed lately unless all did), as an index for target().
  std::size_t pick_target(std::size_t rule);
  std::size_t target_count(std::size_t rule) const { return local_[rule].targets.size(); }
  const net::SocketAddress& target(std::size_t rule, std::size_t i) const { return local_[rule].targets[i]; }
  /// Connecting to it failed: others go first for a while.
  void target_failed(std::size_t rule, std::size_t target);
  /// An empty pipe (from the pool, or a new one); false when out of descriptors.
  bool take_pipe(Pipe& pipe);
  /// Back to the pool if empty, else closed (what is in it is lost with the connection).
  void give_pipe(Pipe& pipe);
  void log(const ConnectionRecord& record);
  /// The log's target for a connection that ended before it chose one: with a single target,
  /// the one the client meant; else "-".
  std::string unchosen_target(std::size_t rule) const;
  /// A connection closed for want of a descriptor: counted, and logged at most once a second.
  void out_of_fds();
  void log_refusals(std::uint64_t closed);  // a line when `closed` > 0
  bool draining() const { return draining_; }
  /// Accepted sockets have TCP_NODELAY already (set on the listeners).
  bool clients_nodelay() const { return clients_nodelay_; }
  /// Scratch space for the small-message path of Session (used and emptied within one call).
  static constexpr std::size_t kCopyBufferSize = 16 * 1024;
  char* copy_buffer() { return copy_buffer_.get(); }
  /// A session ended: freed after this loop iteration (an event for it may still be queued).
  void retire(Session* session);

 private:
  class Acceptor;
  // What this worker keeps per rule.
  struct RuleLocal {
    server::TimerList connect;
    server::TimerList idle;
    std::size_t next_target = 0;              // round-robin position
    std::vector<std::int64_t> resting_until;  // per target: failed lately, avoid until then
    std::vector<net::SocketAddress> targets;  // this worker's copy of RuleState::addresses
    unsigned version = 0;
  };

  void accept_from(int listen_fd, std::size_t rule);
  void refuse(int fd, const sockaddr* peer, socklen_t length, std::size_t rule, EndReason why);
  void log_refused(const sockaddr* peer, socklen_t length, std::size_t rule, EndReason why);
  bool close_without_fds(int listen_fd, std::size_t rule);
  void restore_reserve_fd();  // remakes a reserve lost to another worker, then drains the queues
  void expire_timers();
  int next_timeout_ms() const;
  void begin_drain();
  void flush_log();
  /// The pool of empty pipes is for bursts; a worker that sat idle for a second holds none.
  void release_pipes();
  std::string_view timestamp();

  std::vector<std::unique_ptr<RuleState>>& rules_;
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<std::unique_ptr<UdpRelay>> udp_;
  std::unique_ptr<net::Waker> waker_;
  std::vector<RuleLocal> local_;
  net::EventLoop loop_;
  std::int64_t now_ms_ = 0;

  std::vector<Session*> sessions_;
  std::vector<Session*> retired_;
  std::vector<Pipe> pipes_;  // empty pipes for reuse
  std::unique_ptr<char[]> copy_buffer_ = std::make_unique<char[]>(kCopyBufferSize);
  net::FdReserve reserve_;  // given up to accept (and close) when out of descriptors

  int log_fd_;
  bool log_json_ = false;
  std::string log_buffer_;
  std::time_t stamp_second_ = -1;
  char stamp_[32] = {};

  std::atomic<bool> stop_requested_{false};
  bool draining_ = false;
  bool clients_nodelay_ = true;
  std::int64_t drain_deadline_ms_ = 0;
  std::int64_t grace_ms_;
};

}  // namespace nuri::forward
