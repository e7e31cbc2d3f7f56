#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
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

int serve(ServeOptions options) {
  if (options.listen.empty()) options.listen.push_back(*net::SocketAddress::parse("127.0.0.1:8080"));
  if (options.workers == 0) options.workers = std::max(1u, std::thread::hardware_concurrency());

  net::FileDescriptor root;
  if (!options.root.empty()) {
    root.reset(::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
      fmt::print(stderr, "nuri serve: cannot use {} as the document root: {}\n", options.root, std::strerror(errno));
      return 1;
    }
  }
  net::FileDescriptor log;
  if (options.access_log == "-") {
    log.reset(::dup(STDOUT_FILENO));
  } else if (!options.access_log.empty()) {
    log.reset(::open(options.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log) {
      fmt::print(stderr, "nuri serve: cannot open access log {}: {}\n", options.access_log, std::strerror(errno));
      return 1;
    }
  }

  // Each worker gets its own socket per listener (SO_REUSEPORT): the kernel spreads new
  // connections over them and no lock is shared. The first socket fixes the port (for port 0).
  std::vector<std::vector<net::FileDescriptor>> sockets(options.workers);
  for (auto& address : options.listen) {
    std::string error;
    net::FileDescriptor first = net::listen_tcp(address, 4096, error);
    if (!first) {
      fmt::print(stderr, "nuri serve: {}\n", error);
      return 1;
    }
    address = net::local_address(first.get());
    sockets[0].push_back(std::move(first));
    for (unsigned w = 1; w < options.workers; ++w) {
      net::FileDescriptor fd = net::listen_tcp(address, 4096, error);
      if (!fd) {
        fmt::print(stderr, "nuri serve: {}\n", error);
        return 1;
      }
      sockets[w].push_back(std::move(fd));
    }
  }

  // Signals are taken by this thread alone, with sigwait; the workers never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned w = 0; w < options.workers; ++w) {
    workers.push_back(std::make_unique<Worker>(options, std::move(sockets[w]), root.get(), log.get()));
  }
  for (const auto& address : options.listen) print_listener(address);
  fmt::print("nuri serve: {} worker(s), {}; stop with Ctrl-C\n", options.workers,
             options.root.empty() ? std::string("serving the built-in welcome site") : "serving " + options.root);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  base::log_info("{}: finishing requests in flight (up to {} s), then exiting", strsignal(signal_number),
                 options.grace_period);
  for (auto& w : workers) w->stop();
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace nuri::server
