#pragma once
// A worker: one thread, one epoll loop, its own listening sockets (SO_REUSEPORT), connections,
// buffers, file caches and log buffer. Workers share nothing but the read-only Site, which a
// reload replaces between two loop iterations.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/date.h"
#include "http/parser.h"
#include "net/event_loop.h"
#include "net/fd_reserve.h"
#include "net/waker.h"
#include "server/access_log.h"
#include "server/file_cache.h"
#include "server/listeners.h"
#include "server/deferred.h"
#include "server/site.h"
#include "server/stats.h"
#include "server/response.h"
#include "server/static_handler.h"
#include "server/timer_list.h"
#include "server/upstream.h"

namespace nuri::server {

class Connection;

class Worker {
 public:
  /// What a reload hands to each worker.
  struct Generation {
    std::uint64_t number = 0;
    std::shared_ptr<const Site> site;
    std::vector<ListenSocket> listeners;  ///< this worker's, indexed by the new config
    /// Old listener index → new one; npos: the listener is gone (its connections finish and close).
    std::vector<std::size_t> listener_map;
    int log_fd = -1;  ///< the access log (borrowed), or -1
  };
  static constexpr std::size_t kGone = static_cast<std::size_t>(-1);

  /// `log_fd`: the access log, or -1. `state`: what all workers share (counters, start time);
  /// `index`: this worker's place in state.workers.
  Worker(std::shared_ptr<const Site> site, std::vector<ListenSocket> listeners, int log_fd, ServerState& state,
         std::size_t index);
  ~Worker();

  /// The thread's body: runs until stop() and the drain are done.
  void run();

  /// From any thread: stop accepting, finish in-flight requests, then return from run().
  void stop();

  /// From any thread: switch to `next` at the next loop iteration. Requests already dispatched
  /// finish as they were; open connections stay and their next requests see the new site.
  void reload(Generation next);
  /// The number of the last generation this worker switched to.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // What connections use.
  const Site& site() const { return *site_; }
  const std::shared_ptr<const Site>& site_ptr() const { return site_; }
  UpstreamPool& upstreams() { return upstreams_; }
  /// Where a proxied request's head is written before the exchange takes it.
  std::string& proxy_scratch() { return proxy_scratch_; }
  const config::Limits& limits() const { return site_->config().limits; }
  net::EventLoop& loop() { return loop_; }
  std::int64_t now_ms() const { return now_ms_; }
  http::DateCache& dates() { return dates_; }
  AccessLog& access_log() { return access_log_; }
  StaticHandler& handler() { return *handler_; }
  http::Request& request() { return request_; }
  Response& response() { return response_; }
  bool draining() const { return draining_; }
  WorkerStats& stats() { return stats_; }
  const ServerState& state() const { return state_; }
  std::size_t index() const { return index_; }
  /// Where deferred responses of this worker's connections come back (from any thread).
  const std::shared_ptr<CompletionQueue>& completions() const { return completions_; }

  /// A new number for a request a back end answers (its id is "WORKER-NUMBER" in hex).
  std::uint64_t next_request_number() { return ++request_numbers_; }
  /// Someone looked at the status page lately: keep details about connections.
  bool watched() const { return state_.watched_until.load(std::memory_order_relaxed) >= now_seconds_; }
  void watch() { state_.watched_until.store(now_seconds_ + 60, std::memory_order_relaxed); }
  std::time_t now_seconds() const { return now_seconds_; }
  /// The live table of this worker's connections.
  std::vector<ConnectionInfo> describe_connections() const;

  TimerList header_timers;
  TimerList idle_timers;
  TimerList body_timers;
  TimerList send_timers;
  TimerList linger_timers;

  /// A read buffer of buffer_size() bytes; give it back with the size it had.
  char* take_buffer();
  void give_buffer(char* buffer, std::size_t size);
  std::size_t buffer_size() const { return buffer_size_; }

  /// Storage for a connection's response bytes, lent while it has something to send: an idle
  /// keep-alive connection holds none, and a busy one reuses warm memory instead of malloc.
  std::string take_output();
  void give_output(std::string&& output);

  /// A connection closed: it goes back to the pool after this loop iteration.
  void retire(Connection* connection);

  /// Sends a fixed 429 (`too_many`) or 503 on a fresh connection and shuts its write side; the
  /// caller closes it. For refusals before any request was read.
  void send_refusal(int fd, bool too_many);

  /// A proxied request answered 503 because this machine could not connect to its upstream (no
  /// socket: `error` says why; or no local port): logged with the others of the same cause in
  /// the last second, once.
  void count_upstream_shortage(UpstreamShortage kind, std::string_view error);

 private:
  class Acceptor;

  void accept_from(int listen_fd, std::size_t listener);
  void refuse(int fd, bool too_many);  // send_refusal, then close
  // accept4 failed with EMFILE/ENFILE: refuse the next waiting connection with the reserve fd.
  // False when the listen queue is empty or no descriptor could be freed: stop accepting.
  bool refuse_without_fds(int listen_fd);
  void log_refusals(std::uint64_t refused);            // a line when `refused` > 0
  void log_upstream_shortages(UpstreamShortage kind, std::uint64_t refused);  // the same, per cause
  void restore_reserve_fd();  // reopens a reserve lost to another thread, then drains the queues
  void expire_timers();
  void run_completions();  // deferred responses that came back or are due
  void begin_drain();
  void apply_reload();
  void add_listeners(std::vector<ListenSocket> listeners);
  void free_unused_generations();
  int next_timeout_ms() const;

  std::shared_ptr<const Site> site_;
  ServerState& state_;
  std::size_t index_;
  std::uint64_t request_numbers_ = 0;
  WorkerStats stats_;
  std::time_t now_seconds_ = 0;
  std::time_t published_second_ = 0;
  net::EventLoop loop_;
  std::vector<ListenSocket> listeners_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::unique_ptr<net::Waker> waker_;
  std::shared_ptr<CompletionQueue> completions_;  // after waker_: closed before it goes
  DelayedCompletions delayed_;
  std::unique_ptr<StaticHandler> handler_;
  // Handlers of earlier generations, with their sites, kept while responses send their files.
  std::vector<std::pair<std::shared_ptr<const Site>, std::unique_ptr<StaticHandler>>> retired_handlers_;
  AccessLog access_log_;
  http::DateCache dates_;
  http::Request request_;
  Response response_;
  std::int64_t now_ms_ = 0;

  UpstreamPool upstreams_{*this};
  std::string proxy_scratch_;

  std::vector<Connection*> connections_;
  std::vector<Connection*> retired_;
  std::vector<Connection*> spare_;
  std::vector<char*> buffers_;
  std::vector<std::string> outputs_;
  std::size_t buffer_size_;
  // Proxied requests refused for want of a socket or of a local port: a throttled line for each
  // cause, so that a burst of one never hides the other. The socket's last error names its line.
  base::LogThrottle socket_shortages_;
  base::LogThrottle port_shortages_;
  std::string socket_shortage_error_;
  net::FdReserve reserve_;  // given up to accept (and refuse) when out of descriptors

  std::mutex reload_mutex_;
  std::optional<Generation> pending_;  // guarded by reload_mutex_
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> reload_requested_{false};

  std::atomic<bool> stop_requested_{false};
  bool draining_ = false;
  std::int64_t drain_deadline_ms_ = 0;
  bool accepted_have_nodelay_ = false;  // set on every listener: accepted sockets inherit it
};

}  // namespace nuri::server
