#include "server/server.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "net/socket.h"
#include "server/worker.h"

namespace nuri::server {

namespace {

// What a learner needs to know about a listening address: who can reach it.
void print_listener(const net::SocketAddress& address) {
  std::string reach;
  if (address.is_loopback()) {
    reach = "this machine only";
  } else if (address.is_unspecified()) {
    reach = "every interface of this machine";
  } else {
    reach = "clients that can reach " + address.host();
  }
  fmt::print("nuri serve: listening on {} ({})\n", address.url(), reach);
  if (address.is_unspecified()) {
    for (const std::string& a : net::interface_addresses(address.family())) fmt::print("    reachable at {}\n", a);
  }
}

}  // namespace

namespace {

// After binding (ports below 1024 need root), run as `user` from then on.
bool drop_privileges(const std::string& user) {
  errno = 0;
  passwd* pw = ::getpwnam(user.c_str());
  if (!pw) {
    fmt::print(stderr, "nuri serve: user {}: {}\n", user, errno ? std::strerror(errno) : "no such user");
    return false;
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    fmt::print(stderr, "nuri serve: cannot become user {}: {}\n", user, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

int serve(config::Config config) {
  if (auto refused = config::unenforced_settings(config); !refused.empty()) {
    for (const std::string& line : refused) fmt::print(stderr, "nuri serve: {}\n", line);
    return 2;
  }
  if (config.listeners.empty()) config.listeners.push_back({*net::SocketAddress::parse("127.0.0.1:8080"), {}, {}});
  if (config.hosts.empty()) config.hosts.push_back({{}, {}, {config::Location{}}});
  if (config.workers == 0) config.workers = std::max(1u, std::thread::hardware_concurrency());
  const unsigned workers_count = config.workers;

  net::FileDescriptor log;
  if (config.access_log == "-") {
    log.reset(::dup(STDOUT_FILENO));
  } else if (!config.access_log.empty()) {
    log.reset(::open(config.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log) {
      fmt::print(stderr, "nuri serve: cannot open access log {}: {}\n", config.access_log, std::strerror(errno));
      return 1;
    }
  }

  // Each worker gets its own socket per listener (SO_REUSEPORT): the kernel spreads new
  // connections over them and no lock is shared. The first socket fixes the port (for port 0).
  std::vector<std::vector<Worker::ListenSocket>> sockets(workers_count);
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    net::SocketAddress& address = config.listeners[i].address;
    std::string error;
    net::FileDescriptor first = net::listen_tcp(address, 4096, error);
    if (!first) {
      fmt::print(stderr, "nuri serve: {}\n", error);
      return 1;
    }
    address = net::local_address(first.get());
    sockets[0].push_back({std::move(first), i});
    for (unsigned w = 1; w < workers_count; ++w) {
      net::FileDescriptor fd = net::listen_tcp(address, 4096, error);
      if (!fd) {
        fmt::print(stderr, "nuri serve: {}\n", error);
        return 1;
      }
      sockets[w].push_back({std::move(fd), i});
    }
  }

  std::string error;
  Site site(std::move(config), error);
  if (!error.empty()) {
    fmt::print(stderr, "nuri serve: {}\n", error);
    return 1;
  }
  const config::Config& cfg = site.config();
  if (!cfg.user.empty() && !drop_privileges(cfg.user)) return 1;

  // Signals are taken by this thread alone, with sigwait; the workers never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  ServerState state;
  state.started = std::time(nullptr);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned w = 0; w < workers_count; ++w) {
    workers.push_back(std::make_unique<Worker>(site, std::move(sockets[w]), log.get(), state, w));
    state.workers.push_back(&workers.back()->stats());
  }
  for (const auto& listener : cfg.listeners) print_listener(listener.address);
  const std::string& root = cfg.hosts[cfg.default_host].root;
  fmt::print("nuri serve: {} worker(s), {}; stop with Ctrl-C\n", workers_count,
             root.empty() ? std::string("serving the built-in welcome site") : "serving " + root);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  base::log_info("{}: finishing requests in flight (up to {} s), then exiting", strsignal(signal_number),
                 cfg.limits.grace_period);
  for (auto& w : workers) w->stop();
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace nuri::server
