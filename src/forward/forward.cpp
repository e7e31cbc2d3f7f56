#include "forward/forward.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "forward/udp.h"
#include "forward/worker.h"
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

int run(Options options) {
  if (options.rules.empty()) {
    fmt::print(stderr, "nuri forward: nothing to forward\n");
    return 2;
  }
  if (options.workers == 0) options.workers = std::max(1u, std::thread::hardware_concurrency());
  raise_fd_limit();

  net::FileDescriptor log;
  if (options.log == "-") {
    log.reset(::dup(STDOUT_FILENO));
  } else if (!options.log.empty()) {
    log.reset(::open(options.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log) {
      fmt::print(stderr, "nuri forward: cannot open log {}: {}\n", options.log, std::strerror(errno));
      return 1;
    }
  }

  // One socket per worker per rule (SO_REUSEPORT): the kernel spreads connections over them.
  // The first fixes the port when the rule says port 0.
  std::vector<std::unique_ptr<RuleState>> rules;
  std::vector<std::vector<Worker::Listener>> sockets(options.workers);
  for (std::size_t i = 0; i < options.rules.size(); ++i) {
    Rule& rule = options.rules[i];
    std::string error;
    for (unsigned w = 0; w < options.workers; ++w) {
      net::FileDescriptor fd = rule.udp ? listen_udp(rule.listen, error) : net::listen_tcp(rule.listen, 4096, error);
      if (!fd) {
        fmt::print(stderr, "nuri forward: {}\n", error);
        return 1;
      }
      if (w == 0) rule.listen = net::local_address(fd.get());
      sockets[w].push_back({std::move(fd), i, rule.udp});
    }
    auto state = std::make_unique<RuleState>();
    state->rule = rule;
    state->listen_text = rule.listen.to_string() + (rule.udp ? "/udp" : "");
    for (const net::SocketAddress& t : rule.targets) state->target_texts.push_back(t.to_string());
    rules.push_back(std::move(state));
  }

  // Signals go to this thread alone (sigwait); splice to a reset socket must not kill us.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned w = 0; w < options.workers; ++w) {
    workers.push_back(std::make_unique<Worker>(rules, std::move(sockets[w]), log.get(), options.grace_period));
  }
  for (const auto& r : rules) {
    std::string targets = fmt::format("{}", fmt::join(r->target_texts, ", "));
    if (r->target_texts.size() > 1) {
      targets += r->rule.balance == Balance::round_robin ? " (round-robin)" : " (the first that is up)";
    }
    fmt::print("nuri forward: listening on {} ({}{}), forwarding to {}\n", r->rule.listen.to_string(),
               r->rule.udp ? "UDP, " : "", reach(r->rule.listen), targets);
  }
  fmt::print("nuri forward: {} worker(s); stop with Ctrl-C\n", options.workers);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  base::log_info("{}: no new connections; open ones have up to {} s to finish", strsignal(signal_number),
                 options.grace_period);
  for (auto& w : workers) w->stop();
  for (auto& t : threads) t.join();
  for (const auto& r : rules) {
    base::log_info("forward {} -> {}: {} connection(s) forwarded, {} denied, {} over --max-conns", r->listen_text,
                   fmt::join(r->target_texts, ","), r->accepted.load(), r->denied.load(), r->over_limit.load());
  }
  return 0;
}

}  // namespace nuri::forward
