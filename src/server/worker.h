#pragma once
// A worker: one thread, one epoll loop, its own listening sockets (SO_REUSEPORT), connections,
// buffers, file caches and log buffer. Workers share nothing but the read-only Site.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/date.h"
#include "http/parser.h"
#include "net/event_loop.h"
#include "server/access_log.h"
#include "server/file_cache.h"
#include "server/site.h"
#include "server/stats.h"
#include "server/response.h"
#include "server/static_handler.h"
#include "server/timer_list.h"

namespace nuri::server {

class Connection;

class Worker {
 public:
  /// A listening socket of this worker and the index of the config listener it belongs to.
  struct ListenSocket {
    net::FileDescriptor fd;
    std::size_t listener = 0;
  };

  /// `log_fd`: the access log, or -1. `state`: what all workers share (counters, start time);
  /// `index`: this worker's place in state.workers.
  Worker(const Site& site, std::vector<ListenSocket> listeners, int log_fd, ServerState& state, std::size_t index);
  ~Worker();

  /// The thread's body: runs until stop() and the drain are done.
  void run();

  /// From any thread: stop accepting, finish in-flight requests, then return from run().
  void stop();

  // What connections use.
  const Site& site() const { return site_; }
  const config::Limits& limits() const { return site_.config().limits; }
  net::EventLoop& loop() { return loop_; }
  std::int64_t now_ms() const { return now_ms_; }
  http::DateCache& dates() { return dates_; }
  AccessLog& access_log() { return access_log_; }
  StaticHandler& handler() { return handler_; }
  http::Request& request() { return request_; }
  Response& response() { return response_; }
  bool draining() const { return draining_; }
  WorkerStats& stats() { return stats_; }
  const ServerState& state() const { return state_; }
  std::size_t index() const { return index_; }
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

  char* take_buffer();
  void give_buffer(char* buffer);
  std::size_t buffer_size() const { return buffer_size_; }

  /// A connection closed: it goes back to the pool after this loop iteration.
  void retire(Connection* connection);

 private:
  class Acceptor;
  class Waker;

  void accept_from(int listen_fd, std::size_t listener);
  void reject_busy(int fd);
  void expire_timers();
  void begin_drain();
  int next_timeout_ms() const;

  const Site& site_;
  ServerState& state_;
  std::size_t index_;
  WorkerStats stats_;
  std::time_t now_seconds_ = 0;
  std::time_t published_second_ = 0;
  net::EventLoop loop_;
  std::vector<ListenSocket> listeners_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::unique_ptr<Waker> waker_;
  StaticHandler handler_;
  AccessLog access_log_;
  http::DateCache dates_;
  http::Request request_;
  Response response_;
  std::int64_t now_ms_ = 0;

  std::vector<Connection*> connections_;
  std::vector<Connection*> retired_;
  std::vector<Connection*> spare_;
  std::vector<char*> buffers_;
  std::size_t buffer_size_;
  net::FileDescriptor reserve_fd_;  // given up to accept (and refuse) when out of descriptors

  std::atomic<bool> stop_requested_{false};
  bool draining_ = false;
  std::int64_t drain_deadline_ms_ = 0;
};

}  // namespace nuri::server
