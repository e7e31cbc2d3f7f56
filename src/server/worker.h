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

  /// `log_fd`: the access log, or -1.
  Worker(const Site& site, std::vector<ListenSocket> listeners, int log_fd);
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
