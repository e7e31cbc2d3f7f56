#include "forward/worker.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/clock.h"
#include "base/log.h"
#include "forward/session.h"
#include "forward/udp.h"

namespace nuri::forward {

namespace {

// 256 KiB pipes: a quarter of the syscalls of the default 64 KiB on bulk transfers. The kernel
// only holds pages for bytes actually in flight, so an idle connection costs no more.
constexpr int kPipeSize = 256 * 1024;

}  // namespace

class Worker::Acceptor final : public net::EventHandler {
 public:
  Acceptor(Worker& worker, int fd, std::size_t rule) : worker_(worker), fd_(fd), rule_(rule) {}
  void on_event(std::uint32_t) override { worker_.accept_from(fd_, rule_); }
  int fd() const { return fd_; }

 private:
  Worker& worker_;
  int fd_;
  std::size_t rule_;
};


Worker::Worker(std::vector<std::unique_ptr<RuleState>>& rules, std::vector<Listener> listeners, int log_fd,
               double grace_period, bool log_json)
    : rules_(rules),
      listeners_(std::move(listeners)),
      log_fd_(log_fd),
      log_json_(log_json),
      grace_ms_(base::timeout_ms(grace_period)) {
  now_ms_ = base::monotonic_ms();
  for (const auto& r : rules_) {
    std::lock_guard lock(r->addresses_mutex);
    local_.push_back({server::TimerList(base::timeout_ms(r->rule.connect_timeout)), server::TimerList(base::timeout_ms(r->rule.idle_timeout)), 0,
                      std::vector<std::int64_t>(r->addresses.size(), 0), r->addresses,
                      r->addresses_version.load()});
  }
  waker_ = std::make_unique<net::Waker>();
  waker_->add_to(loop_);
  reserve_.copy_from(waker_->fd());
  for (auto& l : listeners_) {
    if (l.udp) {
      udp_.push_back(std::make_unique<UdpRelay>(*this, l.rule, l.fd.get()));
      loop_.add(l.fd.get(), EPOLLIN, udp_.back().get());
    } else {
      // Accepted sockets inherit TCP_NODELAY from their listener: one call here instead of one
      // per connection (the relay must not hold back a small write waiting for an ACK).
      int one = 1;
      if (::setsockopt(l.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) clients_nodelay_ = false;
      acceptors_.push_back(std::make_unique<Acceptor>(*this, l.fd.get(), l.rule));
      loop_.add(l.fd.get(), EPOLLIN, acceptors_.back().get());
    }
  }
}

Worker::~Worker() {
  udp_.clear();  // their sessions log and use the timers: before the members go
  while (!sessions_.empty()) sessions_.back()->finish(EndReason::shutdown, false, false);
  for (Session* s : retired_) delete s;
  release_pipes();
}

void Worker::release_pipes() {
  for (Pipe& p : pipes_) {
    ::close(p.read);
    ::close(p.write);
  }
  pipes_.clear();
}

void Worker::stop() {
  stop_requested_.store(true);
  waker_->wake();
}

bool Worker::take_pipe(Pipe& pipe) {
  if (!pipes_.empty()) {
    pipe = pipes_.back();
    pipes_.pop_back();
    return true;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  int size = ::fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
  if (size < 0) size = ::fcntl(fds[1], F_GETPIPE_SZ);
  pipe = {fds[0], fds[1], 0, static_cast<std::size_t>(size > 0 ? size : 65536)};
  return true;
}

void Worker::give_pipe(Pipe& pipe) {
  if (pipe.read < 0) return;
  if (pipe.bytes == 0 && pipes_.size() < 256) {
    pipes_.push_back(pipe);
  } else {
    ::close(pipe.read);
    ::close(pipe.write);
  }
  pipe = {};
}

std::size_t Worker::pick_target(std::size_t rule) {
  RuleLocal& local = local_[rule];
  RuleState& shared = *rules_[rule];
  if (shared.addresses_version.load(std::memory_order_acquire) != local.version) {
    std::lock_guard lock(shared.addresses_mutex);
    local.targets = shared.addresses;
    local.version = shared.addresses_version.load(std::memory_order_relaxed);
    local.resting_until.assign(local.targets.size(), 0);
    local.next_target = 0;
  }
  const std::size_t n = local.resting_until.size();
  std::size_t start = 0;
  if (rules_[rule]->rule.balance == Balance::round_robin) {
    start = local.next_target;
    local.next_target = (start + 1) % n;
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t candidate = (start + i) % n;
    if (local.resting_until[candidate] <= now_ms_) return candidate;
  }
  return start;  // all failed lately: trying one beats refusing the client
}

void Worker::target_failed(std::size_t rule, std::size_t target) {
  RuleLocal& local = local_[rule];
  if (target < local.resting_until.size()) local.resting_until[target] = now_ms_ + kTargetRestMs;
}

void Worker::retire(Session* s) {
  std::size_t i = s->index_in_worker;
  sessions_[i] = sessions_.back();
  sessions_[i]->index_in_worker = i;
  sessions_.pop_back();
  retired_.push_back(s);
}

std::string_view Worker::timestamp() {
  std::time_t now = std::time(nullptr);
  if (now != stamp_second_) {
    stamp_second_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp_, sizeof stamp_, "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  return stamp_;
}

void Worker::log(const ConnectionRecord& record) {
  if (log_fd_ < 0) return;
  if (log_json_) {
    append_log_json(log_buffer_, timestamp(), record);
  } else {
    append_log_line(log_buffer_, timestamp(), record);
  }
}

void Worker::flush_log() {
  // Once per loop iteration: a burst of closing connections costs one write. Lines from
  // different workers do not interleave as long as one write holds whole lines.
  std::size_t done = 0;
  while (done < log_buffer_.size()) {
    ssize_t n = ::write(log_fd_, log_buffer_.data() + done, log_buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk or a closed stdout must not stop the forwarding
    done += static_cast<std::size_t>(n);
  }
  log_buffer_.clear();
}

void Worker::refuse(int fd, const sockaddr* peer, socklen_t length, std::size_t rule, EndReason why) {
  ::close(fd);
  log_refused(peer, length, rule, why);
}

void Worker::log_refused(const sockaddr* peer, socklen_t length, std::size_t rule, EndReason why) {
  if (log_fd_ < 0) return;
  RuleState& r = *rules_[rule];
  std::string client = net::SocketAddress::from(peer, length).to_string();
  log({client, r.listen_text, unchosen_target(rule), 0, 0, 0, why});
}

std::string Worker::unchosen_target(std::size_t rule) const {
  const RuleLocal& local = local_[rule];
  return local.targets.size() == 1 ? local.targets[0].to_string() : "-";
}

bool Worker::close_without_fds(int listen_fd, std::size_t rule) {
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  auto taken = reserve_.take_one(listen_fd, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC, {});
  if (taken != net::FdReserve::Taken::one) return taken == net::FdReserve::Taken::again;
  log_refused(reinterpret_cast<sockaddr*>(&peer), length, rule, EndReason::error);
  out_of_fds();
  return true;
}

void Worker::out_of_fds() { log_refusals(reserve_.count_refusal(now_ms_)); }

void Worker::log_refusals(std::uint64_t closed) {
  if (closed) base::log_error("out of file descriptors: closed {} new connection(s)", closed);
}

void Worker::restore_reserve_fd() {
  if (!reserve_.remake()) return;
  // Connections may have queued while there was no reserve: epoll will not report them again.
  for (auto& a : acceptors_) a->on_event(EPOLLIN);
}

void Worker::accept_from(int listen_fd, std::size_t rule) {
  RuleState& r = *rules_[rule];
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        if (close_without_fds(listen_fd, rule)) continue;
        return;
      }
      if (errno != EAGAIN) base::log_error("accept: {}", std::strerror(errno));
      return;
    }
    const sockaddr* client = reinterpret_cast<sockaddr*>(&peer);
    if (!r.rule.access.empty() && !net::access_allowed(r.rule.access, client)) {
      // The firewall's inbound rule: closed before a byte is read or the target is contacted.
      r.denied.fetch_add(1, std::memory_order_relaxed);
      refuse(fd, client, length, rule, EndReason::denied);
      continue;
    }
    unsigned open = r.open.fetch_add(1, std::memory_order_relaxed);
    if (r.rule.max_conns != 0 && open >= r.rule.max_conns) {
      r.open.fetch_sub(1, std::memory_order_relaxed);
      r.over_limit.fetch_add(1, std::memory_order_relaxed);
      refuse(fd, client, length, rule, EndReason::limit);
      continue;
    }
    r.accepted.fetch_add(1, std::memory_order_relaxed);
    auto* s = new Session(*this, rule, fd, client, length);
    s->index_in_worker = sessions_.size();
    sessions_.push_back(s);
    s->start();
  }
}

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_deadline_ms_ = now_ms_ + grace_ms_;
  for (auto& a : acceptors_) loop_.remove(a->fd());
  for (auto& u : udp_) {
    // UDP has nothing to finish: a datagram in flight is as good as lost either way.
    loop_.remove(u->fd());
    u->end_all(EndReason::shutdown);
  }
  listeners_.clear();  // closing them refuses new connections
}

void Worker::expire_timers() {
  for (RuleLocal& t : local_) {
    for (server::TimerList* list : {&t.connect, &t.idle}) {
      while (server::TimerNode* node = list->expired(now_ms_)) {
        static_cast<Timed*>(node->owner)->on_timeout();
        if (node->list == list && node->deadline_ms <= now_ms_) server::TimerList::unlink(*node);  // never loop forever
      }
    }
  }
}

int Worker::next_timeout_ms() const {
  std::int64_t next = now_ms_ + 1000;
  for (const RuleLocal& t : local_) {
    for (const server::TimerList* list : {&t.connect, &t.idle}) {
      std::int64_t d = list->next_deadline();
      if (d >= 0) next = std::min(next, d);
    }
  }
  return static_cast<int>(std::max<std::int64_t>(next - now_ms_, 0));
}

void Worker::run() {
  for (;;) {
    int ready = loop_.wait(next_timeout_ms());
    now_ms_ = base::monotonic_ms();
    loop_.dispatch(ready);
    // Between batches of events: no event can still reach a listener or session this closes.
    if (!draining_ && stop_requested_.load()) begin_drain();
    if (!reserve_.held() && !draining_) restore_reserve_fd();
    log_refusals(reserve_.refusals_due(now_ms_));  // the end of a burst, held back by the throttle
    expire_timers();
    if (!log_buffer_.empty()) flush_log();
    for (Session* s : retired_) delete s;
    retired_.clear();
    for (auto& u : udp_) u->collect();
    if (ready == 0 && sessions_.empty()) release_pipes();
    if (draining_) {
      if (sessions_.empty()) break;
      if (now_ms_ >= drain_deadline_ms_) {
        base::log_warn("grace period over: closing {} forwarded connection(s) still open", sessions_.size());
        while (!sessions_.empty()) sessions_.back()->finish(EndReason::shutdown, false, false);
        break;
      }
    }
  }
  if (!log_buffer_.empty()) flush_log();
  for (Session* s : retired_) delete s;
  retired_.clear();
}

}  // namespace nuri::forward
