#include "forward/forward.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/clock.h"
#include "base/log.h"
#include "forward/resolver.h"
#include "forward/udp.h"
#include "forward/worker.h"
#include "net/reuseport_balance.h"
#include "net/socket.h"

namespace nuri::forward {

namespace {

// Each forwarded connection holds six descriptors (two sockets, two pipes): take all the
// descriptors the hard limit allows rather than fail at a thousand connections.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string reach(const net::SocketAddress& address) {
  if (address.is_loopback()) return "this machine only";
  if (address.is_unspecified()) return "every interface of this machine";
  return "clients that can reach " + address.host();
}

}  // namespace

// Named, not anonymous: Forwarding::Parts holds one, and a member of an internal type in a
// class with external linkage is an error under -Wsubobject-linkage once the file is part of a
// unity build (GCC only exempts the main file).
namespace forward_detail {

// Keeps the rules' target addresses current: host names are resolved at start, and again when
// the smallest TTL of their answer runs out (at least 1 s, at most an hour apart); a failed
// lookup keeps the previous addresses and is retried in 5 s.
class TargetRefresher {
 public:
  TargetRefresher(std::vector<std::unique_ptr<RuleState>>& rules, const std::string& server)
      : rules_(rules), server_(server) {
    for (std::size_t r = 0; r < rules_.size(); ++r) {
      const auto& specs = rules_[r]->rule.targets;
      for (std::size_t s = 0; s < specs.size(); ++s) {
        if (!specs[s].address) entries_.push_back({r, s, {}, 0});
      }
    }
  }

  /// At start: every name must resolve. Fills every rule's addresses.
  bool resolve_all(std::string& error) {
    if (!entries_.empty()) {
      resolver_ = std::make_unique<Resolver>(server_);
      if (!resolver_->error().empty()) {
        error = resolver_->error();
        return false;
      }
    }
    std::int64_t now = base::monotonic_ms();
    for (Entry& e : entries_) {
      const TargetSpec& spec = rules_[e.rule]->rule.targets[e.spec];
      Resolution found = resolver_->resolve(spec.host, spec.port, rules_[e.rule]->rule.udp);
      if (!found.error.empty()) {
        error = fmt::format("cannot resolve target host {}: {}", spec.host, found.error);
        return false;
      }
      e.addresses = std::move(found.addresses);
      e.due_ms = now + clamp_ttl(found.ttl_seconds);
    }
    for (std::size_t r = 0; r < rules_.size(); ++r) publish(r, false);
    return true;
  }

  /// When the next lookup is due (monotonic ms), or -1 when no target is a name.
  std::int64_t next_due_ms() const {
    std::int64_t next = -1;
    for (const Entry& e : entries_) next = next < 0 ? e.due_ms : std::min(next, e.due_ms);
    return next;
  }

  /// "127.0.0.1:80 [::1]:80": what the name of `spec` resolved to.
  std::string describe(const TargetSpec& spec) const {
    std::vector<std::string> out;
    for (const auto& a : addresses_of(spec)) out.push_back(a.to_string());
    return fmt::format("{}", fmt::join(out, " "));
  }

  /// Why a rule would forward its connections to itself (forwarding_loop), names taken as they
  /// resolved at start; empty when none does. What a name resolves to later is not checked.
  std::string find_loop() const {
    for (const auto& state : rules_) {
      for (const TargetSpec& spec : state->rule.targets) {
        for (const auto& address : addresses_of(spec)) {
          std::string loop = forwarding_loop(state->rule.listen, spec, address);
          if (!loop.empty()) return loop;
        }
      }
    }
    return {};
  }

  void refresh() {
    std::vector<bool> touched(rules_.size(), false);
    for (Entry& e : entries_) {
      std::int64_t now = base::monotonic_ms();
      if (e.due_ms > now) continue;
      const TargetSpec& spec = rules_[e.rule]->rule.targets[e.spec];
      Resolution found = resolver_->resolve(spec.host, spec.port, rules_[e.rule]->rule.udp);
      now = base::monotonic_ms();
      if (!found.error.empty()) {
        base::log_warn("target {}: {}; keeping {} address(es), trying again in 5 s", spec.text, found.error,
                       e.addresses.size());
        e.due_ms = now + 5000;
        continue;
      }
      e.addresses = std::move(found.addresses);
      e.due_ms = now + clamp_ttl(found.ttl_seconds);
      touched[e.rule] = true;
    }
    for (std::size_t r = 0; r < rules_.size(); ++r) {
      if (touched[r]) publish(r, true);
    }
  }

 private:
  struct Entry {
    std::size_t rule;
    std::size_t spec;
    std::vector<net::SocketAddress> addresses;
    std::int64_t due_ms;
  };

  // A numeric target's address, or what its name resolved to.
  std::vector<net::SocketAddress> addresses_of(const TargetSpec& spec) const {
    if (spec.address) return {*spec.address};
    std::vector<net::SocketAddress> out;
    for (const Entry& e : entries_) {
      if (&rules_[e.rule]->rule.targets[e.spec] == &spec) out.insert(out.end(), e.addresses.begin(), e.addresses.end());
    }
    return out;
  }

  static std::int64_t clamp_ttl(std::int64_t seconds) { return std::clamp<std::int64_t>(seconds, 1, 3600) * 1000; }

  // The rule's addresses in the order of its targets; the workers see a change by the version.
  void publish(std::size_t r, bool announce) {
    RuleState& rule = *rules_[r];
    std::vector<net::SocketAddress> all;
    for (std::size_t s = 0; s < rule.rule.targets.size(); ++s) {
      const TargetSpec& spec = rule.rule.targets[s];
      if (spec.address) {
        all.push_back(*spec.address);
        continue;
      }
      for (const Entry& e : entries_) {
        if (e.rule == r && e.spec == s) all.insert(all.end(), e.addresses.begin(), e.addresses.end());
      }
    }
    auto texts = [](const std::vector<net::SocketAddress>& list) {
      std::vector<std::string> out;
      for (const auto& a : list) out.push_back(a.to_string());
      return out;
    };
    std::lock_guard lock(rule.addresses_mutex);
    if (texts(all) == texts(rule.addresses)) return;
    if (announce) {
      base::log_info("forward {}: targets now {}", rule.listen_text, fmt::join(texts(all), ", "));
    }
    rule.addresses = std::move(all);
    rule.addresses_version.fetch_add(1, std::memory_order_release);
  }

  std::vector<std::unique_ptr<RuleState>>& rules_;
  std::string server_;
  std::unique_ptr<Resolver> resolver_;
  std::vector<Entry> entries_;
};

}  // namespace forward_detail

struct Forwarding::Parts {
  Options options;
  net::FileDescriptor log;
  std::vector<std::unique_ptr<RuleState>> rules;
  std::vector<std::vector<Worker::Listener>> sockets;  // per worker, until start() hands them over
  std::unique_ptr<forward_detail::TargetRefresher> refresher;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  // The refresher's thread sleeps until a name is due or stop() says so.
  std::thread refresh_thread;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
};

Forwarding::Forwarding() = default;
Forwarding::~Forwarding() { stop(); }

int Forwarding::prepare(Options options, std::string& error) {
  if (options.rules.empty()) {
    error = "nothing to forward";
    return 2;
  }
  if (options.workers == 0) options.workers = std::max(1u, std::thread::hardware_concurrency());
  raise_fd_limit();
  parts_ = std::make_unique<Parts>();
  Parts& p = *parts_;
  if (options.log == "-") {
    p.log.reset(::dup(STDOUT_FILENO));
  } else if (!options.log.empty()) {
    p.log.reset(::open(options.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!p.log) {
      error = fmt::format("cannot open log {}: {}", options.log, std::strerror(errno));
      return 1;
    }
  }

  // One socket per worker per rule (SO_REUSEPORT): the kernel spreads connections over them.
  // The first fixes the port when the rule says port 0.
  p.sockets.resize(options.workers);
  for (std::size_t i = 0; i < options.rules.size(); ++i) {
    Rule& rule = options.rules[i];
    for (unsigned w = 0; w < options.workers; ++w) {
      net::FileDescriptor fd = rule.udp ? listen_udp(rule.listen, error) : net::listen_tcp(rule.listen, 4096, error, w > 0);
      if (!fd) return 1;
      if (w == 0) rule.listen = net::local_address(fd.get());
      p.sockets[w].push_back({std::move(fd), i, rule.udp});
    }
    if (!rule.udp && options.workers > 1) {
      // In turn rather than by the hash of the client's address, as `serve` does; refused
      // without CAP_BPF, and then the hash stays. (A UDP client's datagrams must all reach the
      // worker that holds its session: there the hash is what keeps them together.)
      net::balance_listener(p.sockets[0].back().fd.get(), options.workers, rule.listen.to_string());
    }
    auto state = std::make_unique<RuleState>();
    state->rule = rule;
    state->listen_text = rule.listen.to_string() + (rule.udp ? "/udp" : "");
    for (const TargetSpec& t : rule.targets) state->target_texts.push_back(t.text);
    p.rules.push_back(std::move(state));
  }
  p.refresher = std::make_unique<forward_detail::TargetRefresher>(p.rules, options.resolver);
  if (!p.refresher->resolve_all(error)) return 2;
  // After the lookups, so that a name that resolves to the listener is caught as well.
  error = p.refresher->find_loop();
  if (!error.empty()) return 2;
  p.options = std::move(options);
  return 0;
}

void Forwarding::announce(std::string_view program, std::FILE* out) const {
  if (!parts_) return;
  for (const auto& r : parts_->rules) {
    std::vector<std::string> shown;
    for (const TargetSpec& t : r->rule.targets) {
      shown.push_back(t.text);
      if (!t.address) shown.back() += " = " + parts_->refresher->describe(t);  // a name: what it resolved to
    }
    std::string targets = fmt::format("{}", fmt::join(shown, ", "));
    if (r->target_texts.size() > 1) {
      targets += r->rule.balance == Balance::round_robin ? " (round-robin)" : " (the first that is up)";
    }
    fmt::print(out, "{}: listening on {} ({}{}), forwarding to {}\n", program, r->rule.listen.to_string(),
               r->rule.udp ? "UDP, " : "", reach(r->rule.listen), targets);
  }
}

void Forwarding::start() {
  if (!parts_) return;
  Parts& p = *parts_;
  for (unsigned w = 0; w < p.options.workers; ++w) {
    p.workers.push_back(std::make_unique<Worker>(p.rules, std::move(p.sockets[w]), p.log.get(), p.options.grace_period,
                                                   p.options.log_json));
  }
  p.sockets.clear();
  for (auto& w : p.workers) p.threads.emplace_back([&w] { w->run(); });
  if (p.refresher->next_due_ms() < 0) return;  // only addresses: nothing to look up again
  p.refresh_thread = std::thread([&p] {
    std::unique_lock lock(p.mutex);
    while (!p.stopping) {
      std::int64_t wait = std::max<std::int64_t>(p.refresher->next_due_ms() - base::monotonic_ms(), 0);
      if (p.wake.wait_for(lock, std::chrono::milliseconds(wait), [&p] { return p.stopping; })) break;
      lock.unlock();
      p.refresher->refresh();
      lock.lock();
    }
  });
}

void Forwarding::stop() {
  if (!parts_) return;
  Parts& p = *parts_;
  {
    std::lock_guard lock(p.mutex);
    p.stopping = true;
  }
  p.wake.notify_all();
  if (p.refresh_thread.joinable()) p.refresh_thread.join();
  for (auto& w : p.workers) w->stop();
  for (auto& t : p.threads) t.join();
  if (!p.workers.empty()) {
    for (const auto& r : p.rules) {
      base::log_info("forward {} -> {}: {} connection(s) forwarded, {} denied, {} over the connection limit",
                     r->listen_text, fmt::join(r->target_texts, ","), r->accepted.load(), r->denied.load(),
                     r->over_limit.load());
    }
  }
  parts_.reset();
}

double Forwarding::grace_period() const { return parts_ ? parts_->options.grace_period : 0; }
unsigned Forwarding::workers() const { return parts_ ? parts_->options.workers : 0; }
bool Forwarding::log_json() const { return parts_ && parts_->options.log_json; }

int run(Options options) {
  // Signals go to this thread alone (sigwait); splice to a reset socket must not kill us. Blocked
  // before any thread starts, so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Forwarding forwarding;
  std::string error;
  if (int code = forwarding.prepare(std::move(options), error); code != 0) {
    fmt::print(stderr, "nuri forward: {}\n", error);
    return code;
  }
  unsigned workers = forwarding.workers();
  // JSON lines on stdout stay parseable line by line: the banner goes to stderr then.
  std::FILE* banner = forwarding.log_json() ? stderr : stdout;
  forwarding.announce("nuri forward", banner);
  // The last banner line says the forwarder is ready: its workers (and their descriptors) exist.
  forwarding.start();
  fmt::print(banner, "nuri forward: {} worker(s); stop with Ctrl-C\n", workers);
  std::fflush(banner);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  base::log_info("{}: no new connections; open ones have up to {} s to finish", strsignal(signal_number),
                 forwarding.grace_period());
  forwarding.stop();
  return 0;
}

}  // namespace nuri::forward
