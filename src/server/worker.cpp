#include "server/worker.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "net/cidr.h"
#include "server/connection.h"

namespace nuri::server {

namespace {

// Sent, best effort, to a connection refused at accept: for lack of room (503) or because its
// address has all the connections it may have (429). It is never left hanging.
struct Refusal {
  std::string_view head;  // status line and "Date: "
  std::string_view rest;  // after the date
};
constexpr std::string_view kRefusalHeaders =
    "\r\nRetry-After: 1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Connection: close\r\n";
constexpr Refusal kBusy = {
    "HTTP/1.1 503 Service Unavailable\r\nDate: ",
    "Content-Length: 98\r\n\r\n"
    "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>busy</body></html>\n"};
constexpr Refusal kTooMany = {
    "HTTP/1.1 429 Too Many Requests\r\nDate: ",
    "Content-Length: 130\r\n\r\n"
    "<!DOCTYPE html>\n<html><head><title>429 Too Many Requests</title></head><body>too many connections from your "
    "address</body></html>\n"};
constexpr std::size_t body_length(std::string_view rest) { return rest.size() - rest.find("\r\n\r\n") - 4; }
static_assert(body_length(kBusy.rest) == 98 && body_length(kTooMany.rest) == 130);
constexpr std::size_t kRefusalMax = 512;
static_assert(kBusy.head.size() + http::kHttpDateLength + kRefusalHeaders.size() + kBusy.rest.size() <= kRefusalMax &&
              kTooMany.head.size() + http::kHttpDateLength + kRefusalHeaders.size() + kTooMany.rest.size() <= kRefusalMax);

}  // namespace

class Worker::Acceptor final : public net::EventHandler {
 public:
  Acceptor(Worker& worker, int fd, std::size_t listener) : worker_(worker), fd_(fd), listener_(listener) {}
  void on_event(std::uint32_t) override { worker_.accept_from(fd_, listener_); }
  int fd() const { return fd_; }

 private:
  Worker& worker_;
  int fd_;
  std::size_t listener_;
};


Worker::Worker(std::shared_ptr<const Site> site, std::vector<ListenSocket> listeners, int log_fd, ServerState& state,
               std::size_t index)
    : header_timers(base::timeout_ms(site->config().limits.header_timeout)),
      idle_timers(base::timeout_ms(site->config().limits.idle_timeout)),
      body_timers(base::timeout_ms(site->config().limits.body_timeout)),
      send_timers(base::timeout_ms(site->config().limits.send_timeout)),
      linger_timers(2000),
      site_(std::move(site)),
      state_(state),
      index_(index),
      handler_(std::make_unique<StaticHandler>(*site_)),
      access_log_(log_fd, site_->config().access_log_format, &state.access_log_health),
      buffer_size_(site_->config().limits.max_header_size + 4096) {
  now_ms_ = base::monotonic_ms();
  now_seconds_ = std::time(nullptr);
  waker_ = std::make_unique<net::Waker>();
  waker_->add_to(loop_);
  reserve_.copy_from(waker_->fd());
  completions_ = std::make_shared<CompletionQueue>(*waker_);
  add_listeners(std::move(listeners));
}

void Worker::add_listeners(std::vector<ListenSocket> listeners) {
  listeners_ = std::move(listeners);
  accepted_have_nodelay_ = true;
  for (auto& l : listeners_) {
    // Accepted sockets inherit TCP_NODELAY from their listener: one call here, not one per
    // connection (a response split over two writes must not wait for the client's ACK).
    int one = 1;
    if (::setsockopt(l.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) accepted_have_nodelay_ = false;
    // Set (or cleared, by a reload) on every start: systemd's sockets and kept ones too. One
    // second of silence, then the kernel hands the connection over anyway (its header timer
    // starts then). A failure only costs the optimistic first read.
    const config::Listener& listen_config = site_->config().listeners[l.listener];
    int defer_seconds = listen_config.defer_accept ? 1 : 0;
    ::setsockopt(l.fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds);
    // Inherited by accepted sockets like TCP_NODELAY; 0 puts back the system's default.
    int unsent_limit = static_cast<int>(listen_config.unsent_limit);
    ::setsockopt(l.fd.get(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent_limit, sizeof unsent_limit);
    acceptors_.push_back(std::make_unique<Acceptor>(*this, l.fd.get(), l.listener));
    loop_.add(l.fd.get(), EPOLLIN, acceptors_.back().get());
  }
}

Worker::~Worker() {
  completions_->close();  // a Deferred kept by someone else must not reach the gone waker
  while (!connections_.empty()) connections_.back()->close();
  retired_handlers_.clear();
  for (Connection* c : retired_) delete c;
  for (Connection* c : spare_) delete c;
  for (char* b : buffers_) delete[] b;
}

void Worker::stop() {
  stop_requested_.store(true);
  waker_->wake();
}

void Worker::reload(Generation next) {
  {
    std::lock_guard lock(reload_mutex_);
    pending_ = std::move(next);
  }
  reload_requested_.store(true, std::memory_order_release);
  waker_->wake();
}

void Worker::apply_reload() {
  std::optional<Generation> next;
  {
    std::lock_guard lock(reload_mutex_);
    next.swap(pending_);
  }
  if (!next) return;
  upstreams_.close_idle();  // they belong to the old site's upstreams
  // Lines already formatted go to the old log in the old format.
  if (access_log_.enabled()) access_log_.flush();
  access_log_.reset(next->log_fd, next->site->config().access_log_format);
  retired_handlers_.emplace_back(std::move(site_), std::move(handler_));
  site_ = std::move(next->site);
  handler_ = std::make_unique<StaticHandler>(*site_);

  const config::Limits& l = site_->config().limits;
  header_timers.set_duration(base::timeout_ms(l.header_timeout));
  idle_timers.set_duration(base::timeout_ms(l.idle_timeout));
  body_timers.set_duration(base::timeout_ms(l.body_timeout));
  send_timers.set_duration(base::timeout_ms(l.send_timeout));
  std::size_t size = l.max_header_size + 4096;
  if (size != buffer_size_) {
    // Connections holding a buffer keep it until their request is read; new ones get the new size.
    for (char* b : buffers_) delete[] b;
    buffers_.clear();
    buffer_size_ = size;
  }

  if (!draining_) {
    for (auto& a : acceptors_) loop_.remove(a->fd());
    acceptors_.clear();
    add_listeners(std::move(next->listeners));  // the old duplicates close; the sockets stay open
  }
  std::vector<Connection*> all = connections_;  // drain() may close (and retire) connections
  for (Connection* c : all) {
    std::size_t old = c->listener();
    std::size_t moved = old < next->listener_map.size() ? next->listener_map[old] : kGone;
    if (moved == kGone) {
      c->drain();  // its listener was removed: finish what it asked, then close
    } else {
      c->set_listener(moved);
    }
  }
  generation_.store(next->number, std::memory_order_release);
}

void Worker::free_unused_generations() {
  std::erase_if(retired_handlers_, [](const auto& entry) { return !entry.second->in_use(); });
}

char* Worker::take_buffer() {
  if (buffers_.empty()) return new char[buffer_size_];
  char* b = buffers_.back();
  buffers_.pop_back();
  return b;
}

std::string Worker::take_output() {
  if (outputs_.empty()) return {};
  std::string output = std::move(outputs_.back());
  outputs_.pop_back();
  return output;
}

void Worker::give_output(std::string&& output) {
  // Keep as many as read buffers, and none that a big response grew: that memory goes back.
  if (outputs_.size() < 256 && output.capacity() <= 64 * 1024) {
    output.clear();
    outputs_.push_back(std::move(output));
  }
  std::string().swap(output);
}

void Worker::give_buffer(char* buffer, std::size_t size) {
  // Keep a few for reuse; an idle connection holds none.
  if (size == buffer_size_ && buffers_.size() < 256) {
    buffers_.push_back(buffer);
  } else {
    delete[] buffer;
  }
}

void Worker::retire(Connection* c) {
  std::size_t i = c->index_in_worker;
  connections_[i] = connections_.back();
  connections_[i]->index_in_worker = i;
  connections_.pop_back();
  retired_.push_back(c);  // freed after this loop iteration: an event for it may still be queued
}

void Worker::refuse(int fd, bool too_many) {
  send_refusal(fd, too_many);
  ::close(fd);
}

void Worker::send_refusal(int fd, bool too_many) {
  // Accept is deferred until the request arrives, so it sits unread here: closing over unread
  // bytes would send a reset, which may overtake and destroy the 503 on its way. Reading what
  // came (a request head fits) lets the close be an orderly FIN after the response.
  char discard[16 * 1024];
  while (::recv(fd, discard, sizeof discard, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof discard)) {
  }
  const Refusal& r = too_many ? kTooMany : kBusy;
  char response[kRefusalMax];
  std::string_view date = dates_.now();
  std::size_t n = 0;
  for (std::string_view part : {r.head, date, kRefusalHeaders, r.rest}) {
    std::memcpy(response + n, part.data(), part.size());
    n += part.size();
  }
  [[maybe_unused]] auto sent = ::send(fd, response, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
}

bool Worker::refuse_without_fds(int listen_fd) {
  auto taken = reserve_.take_one(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC,
                                 [this](int fd) { send_refusal(fd, false); });
  if (taken != net::FdReserve::Taken::one) return taken == net::FdReserve::Taken::again;
  log_refusals(reserve_.count_refusal(now_ms_));
  return true;
}

void Worker::log_refusals(std::uint64_t refused) {
  if (refused) base::log_error("out of file descriptors: refused {} connection(s) with 503", refused);
}

void Worker::count_upstream_shortage(UpstreamShortage kind, std::string_view error) {
  if (kind == UpstreamShortage::ports) {
    log_upstream_shortages(kind, port_shortages_.add(now_ms_));
  } else {
    socket_shortage_error_.assign(error);
    log_upstream_shortages(kind, socket_shortages_.add(now_ms_));
  }
}

void Worker::log_upstream_shortages(UpstreamShortage kind, std::uint64_t refused) {
  if (refused == 0) return;
  if (kind == UpstreamShortage::ports) {
    base::log_error("no local port left to connect to an upstream (net.ipv4.ip_local_port_range): "
                    "answered {} proxied request(s) with 503", refused);
  } else {
    base::log_error("no socket for an upstream ({}): answered {} proxied request(s) with 503", socket_shortage_error_,
                    refused);
  }
}

void Worker::restore_reserve_fd() {
  if (!reserve_.remake()) return;
  // Connections may have queued while there was no reserve: epoll will not report them again.
  for (auto& a : acceptors_) a->on_event(EPOLLIN);
}

void Worker::accept_from(int listen_fd, std::size_t listener) {
  const config::Listener& rules = site_->config().listeners[listener];
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        if (refuse_without_fds(listen_fd)) continue;
        return;
      }
      if (errno != EAGAIN) base::log_error("accept: {}", std::strerror(errno));
      return;
    }
    if (!rules.access.empty() && !net::access_allowed(rules.access, reinterpret_cast<sockaddr*>(&peer))) {
      // The inbound rule of a firewall: a denied client is closed before any byte is read.
      ::close(fd);
      continue;
    }
    if (connections_.size() >= limits().max_connections) {
      refuse(fd, false);
      continue;
    }
    ClientLimits::Slot slot;
    ClientLimits* per_client = state_.client_limits.load(std::memory_order_acquire);
    // Behind a proxy the peer is the proxy: the client is counted once its header names it.
    if (per_client && !rules.proxy_protocol) {
      ClientLimits::Admit admit = per_client->try_open(reinterpret_cast<sockaddr*>(&peer), now_ms_, slot);
      if (admit != ClientLimits::Admit::ok) {
        refuse(fd, admit == ClientLimits::Admit::over_limit);
        continue;
      }
    }
    if (!accepted_have_nodelay_) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    Connection* c;
    if (spare_.empty()) {
      c = new Connection(*this);
    } else {
      c = spare_.back();
      spare_.pop_back();
    }
    c->index_in_worker = connections_.size();
    connections_.push_back(c);
    stats_.count_accept();
    c->limit_slot = slot;
    c->start(fd, reinterpret_cast<sockaddr*>(&peer), peer_length, listener);
  }
}

std::vector<ConnectionInfo> Worker::describe_connections() const {
  std::vector<ConnectionInfo> out;
  out.reserve(connections_.size());
  for (const Connection* c : connections_) out.push_back(c->describe());
  return out;
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_deadline_ms_ = now_ms_ + base::timeout_ms(limits().grace_period);
  for (auto& a : acceptors_) loop_.remove(a->fd());
  listeners_.clear();  // closing them refuses new connections
  upstreams_.close_idle();
  // drain() may close (and retire) connections: walk a copy.
  std::vector<Connection*> all = connections_;
  for (Connection* c : all) c->drain();
}

void Worker::expire_timers() {
  for (TimerList* list : {&header_timers, &idle_timers, &body_timers, &send_timers, &linger_timers}) {
    while (TimerNode* node = list->expired(now_ms_)) {
      Connection* c = static_cast<Connection*>(node->owner);
      c->on_timeout();
      if (node->list == list && node->deadline_ms <= now_ms_) TimerList::unlink(*node);  // never loop forever
    }
  }
}

void Worker::run_completions() {
  auto deliver = [](CompletionQueue::Item& item) {
    // The first completion of a response wins; a closed connection left null behind.
    Connection* c = item.target->connection;
    if (!c) return;
    switch (item.kind) {
      case CompletionQueue::Kind::fill:
        item.target->connection = nullptr;  // a streamed response takes it back
        c->finish_deferred(item.fill);
        break;
      case CompletionQueue::Kind::chunk:
        c->stream_write(item.chunk);
        break;
      case CompletionQueue::Kind::end:
        item.target->connection = nullptr;
        c->stream_end();
        break;
    }
  };
  for (CompletionQueue::Item& item : completions_->take()) {
    if (item.due_ms > now_ms_) {
      delayed_.add(std::move(item));
    } else {
      deliver(item);
    }
  }
  while (!delayed_.empty() && delayed_.next_due_ms() <= now_ms_) {
    CompletionQueue::Item item = delayed_.pop();
    deliver(item);
  }
}

int Worker::next_timeout_ms() const {
  std::int64_t next = now_ms_ + 1000;
  for (const TimerList* list : {&header_timers, &idle_timers, &body_timers, &send_timers, &linger_timers}) {
    std::int64_t d = list->next_deadline();
    if (d >= 0) next = std::min(next, d);
  }
  if (!delayed_.empty()) next = std::min(next, delayed_.next_due_ms());
  if (std::int64_t d = upstreams_.next_deadline(); d >= 0) next = std::min(next, d);
  return static_cast<int>(std::max<std::int64_t>(next - now_ms_, 0));
}

void Worker::run() {
  for (;;) {
    int ready = loop_.wait(next_timeout_ms());
    now_ms_ = base::monotonic_ms();  // before the handlers run: they schedule timers from it
    now_seconds_ = std::time(nullptr);
    loop_.dispatch(ready);
    upstreams_.run_scheduled();
    if (reload_requested_.exchange(false, std::memory_order_acquire)) apply_reload();
    if (!draining_ && stop_requested_.load(std::memory_order_relaxed)) begin_drain();
    expire_timers();
    upstreams_.expire(now_ms_);
    run_completions();
    upstreams_.run_scheduled();
    if (!reserve_.held() && !draining_) restore_reserve_fd();
    log_refusals(reserve_.refusals_due(now_ms_));  // the end of a burst, held back by the throttle
    log_upstream_shortages(UpstreamShortage::descriptors, socket_shortages_.due(now_ms_));
    log_upstream_shortages(UpstreamShortage::ports, port_shortages_.due(now_ms_));
    stats_.set_open_connections(connections_.size());
    if (watched() && published_second_ != now_seconds_) {
      published_second_ = now_seconds_;  // at most once a second, and only while watched
      stats_.publish(describe_connections());
    }
    if (access_log_.enabled()) access_log_.flush();
    for (Connection* c : retired_) spare_.push_back(c);
    retired_.clear();
    upstreams_.recycle();
    if (!retired_handlers_.empty()) free_unused_generations();
    if (spare_.size() > 1024) {
      for (std::size_t i = 1024; i < spare_.size(); ++i) delete spare_[i];
      spare_.resize(1024);
    }
    if (draining_) {
      if (connections_.empty()) break;
      if (now_ms_ >= drain_deadline_ms_) {
        base::log_warn("grace period over: closing {} connection(s) still open", connections_.size());
        while (!connections_.empty()) connections_.back()->close();
        break;
      }
    }
  }
  if (access_log_.enabled()) access_log_.flush();
}

}  // namespace nuri::server
