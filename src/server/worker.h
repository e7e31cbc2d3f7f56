#pragma once
// A worker: one thread, one epoll loop, its own listening sockets (SO_REUSEPORT), connections,
// buffers, file cache and log buffer. Workers share nothing but the read-only options.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/date.h"
#include "http/parser.h"
#include "net/event_loop.h"
#include "server/access_log.h"
#include "server/file_cache.h"
#include "server/options.h"
#include "server/response.h"
#include "server/static_handler.h"
#include "server/timer_list.h"

namespace nuri::server {

class Connection;

class Worker {
 public:
  /// `root_fd`: the document root (O_PATH), or -1 for the default site. `log_fd`: access log or -1.
  Worker(const ServeOptions& options, std::vector<net::FileDescriptor> listeners, int root_fd, int log_fd);
  ~Worker();

  /// The thread's body: runs until stop() and the drain are done.
  void run();

  /// From any thread: stop accepting, finish in-flight requests, then return from run().
  void stop();

  // What connections use.
  const ServeOptions& options() const { return options_; }
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

  void accept_from(int listen_fd);
  void reject_busy(int fd);
  void expire_timers();
  void begin_drain();
  int next_timeout_ms() const;

  const ServeOptions& options_;
  net::EventLoop loop_;
  std::vector<net::FileDescriptor> listeners_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::unique_ptr<Waker> waker_;
  std::unique_ptr<FileCache> files_;
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
