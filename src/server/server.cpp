#include "server/server.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "forward/forward.h"
#include "net/socket.h"
#include "server/listeners.h"
#include "server/site.h"
#include "server/worker.h"

namespace nuri::server {

namespace {

// What a learner needs to know about a listening address: who can reach it.
void print_listener(std::string_view program, const net::SocketAddress& address) {
  std::string reach;
  if (address.is_loopback()) {
    reach = "this machine only";
  } else if (address.is_unspecified()) {
    reach = "every interface of this machine";
  } else {
    reach = "clients that can reach " + address.host();
  }
  fmt::print("{}: listening on {} ({})\n", program, address.url(), reach);
  if (address.is_unspecified()) {
    for (const std::string& a : net::interface_addresses(address.family())) fmt::print("    reachable at {}\n", a);
  }
}

}  // namespace

namespace {

// After binding (ports below 1024 need root), run as `user` from then on.
bool drop_privileges(std::string_view program, const std::string& user) {
  errno = 0;
  passwd* pw = ::getpwnam(user.c_str());
  if (!pw) {
    fmt::print(stderr, "{}: user {}: {}\n", program, user, errno ? std::strerror(errno) : "no such user");
    return false;
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    fmt::print(stderr, "{}: cannot become user {}: {}\n", program, user, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

namespace {

// Fills in what a configuration leaves out. Listeners are filled in by ListenerSet::prepare.
void complete(config::Config& config) {
  if (config.hosts.empty()) config.hosts.push_back({{}, {}, {config::Location{}}});
  if (config.workers == 0) config.workers = std::max(1u, std::thread::hardware_concurrency());
}

// Opens the access log `path` ("-": standard output); an invalid descriptor when there is none.
bool open_access_log(const std::string& path, net::FileDescriptor& out, std::string& error) {
  out.reset();
  if (path == "-") {
    out.reset(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
  } else if (!path.empty()) {
    out.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!out) {
      error = fmt::format("cannot open access log {}: {}", path, std::strerror(errno));
      return false;
    }
  }
  return true;
}

// The running server as the main thread sees it: what a reload replaces.
class Server {
 public:
  Server(ConfigLoader load, const Application* app, std::string_view program) : load_(std::move(load)), program_(program) {
    state_.app = app;
  }

  int run();

 private:
  bool start(config::Config config);
  void reload();
  void reopen_logs();
  void wait_for_workers(std::uint64_t generation);
  void update_client_limits(const config::Limits& limits);

  ConfigLoader load_;
  std::string program_;  // what its messages start with: "nuri serve", or an embedding program's name
  unsigned workers_count_ = 1;
  std::string user_;
  std::unique_ptr<ListenerSet> listeners_;
  std::shared_ptr<const Site> site_;
  std::unique_ptr<proxy::Monitor> monitor_;  // the site's upstream names and health checks
  net::FileDescriptor log_;
  ServerState state_;
  // Built when a configuration first asks for it; outlives the workers' connections.
  std::unique_ptr<ClientLimits> client_limits_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint64_t generation_ = 0;
  forward::Forwarding forwarding_;  // the [[forward]] tables, on threads of their own
  std::string running_forwards_;    // what they are (describe_forwards + log), to spot changes
};

bool Server::start(config::Config config) {
  complete(config);
  workers_count_ = config.workers;
  user_ = config.user;
  listeners_ = std::make_unique<ListenerSet>(workers_count_);
  std::string error;
  if (!listeners_->adopt_inherited(error) || !listeners_->prepare(config.listeners, error) ||
      !open_access_log(config.access_log, log_, error)) {
    fmt::print(stderr, "{}: {}\n", program_, error);
    return false;
  }
  running_forwards_ = config::describe_forwards(config.forwards) + config.forward_log;
  if (!config.forwards.empty()) {
    // Bound (and names resolved) before privileges are dropped, like the HTTP listeners.
    forward::Options options;
    options.rules = config.forwards;
    options.workers = config.workers;
    options.log = config.forward_log;
    options.grace_period = config.limits.grace_period;
    if (forwarding_.prepare(std::move(options), error) != 0) {
      fmt::print(stderr, "{}: [[forward]]: {}\n", program_, error);
      return false;
    }
  }
  site_ = std::make_shared<const Site>(std::move(config), error);
  if (!error.empty()) {
    fmt::print(stderr, "{}: {}\n", program_, error);
    return false;
  }
  monitor_ = std::make_unique<proxy::Monitor>(site_->upstream_groups());
  if (!user_.empty() && !drop_privileges(program_, user_)) return false;
  update_client_limits(site_->config().limits);
  state_.started = std::time(nullptr);
  state_.config_loaded.store(state_.started);
  for (unsigned w = 0; w < workers_count_; ++w) {
    workers_.push_back(std::make_unique<Worker>(site_, listeners_->sockets_for(w), log_.get(), state_, w));
    state_.workers.push_back(&workers_.back()->stats());
  }
  state_.connections_in_turn.store(listeners_->in_turn(), std::memory_order_relaxed);
  listeners_->commit();
  return true;
}

void Server::reload() {
  std::shared_ptr<const Site> previous = site_;  // keeps `old` alive to the end
  const config::Config& old = previous->config();
  std::vector<std::string> errors;
  std::optional<config::Config> next = load_(errors);
  if (!next) {
    for (const std::string& e : errors) base::log_error("{}", e);
    base::log_error("reload refused: {} has {} error(s); the running configuration stays", old.source, errors.size());
    return;
  }
  complete(*next);
  // What was fixed at start: the threads, and who the process runs as.
  if (next->workers != workers_count_) {
    base::log_warn("reload: workers = {} takes effect at the next start; {} keep running", next->workers, workers_count_);
    next->workers = workers_count_;
  }
  if (next->user != user_) base::log_warn("reload: user = \"{}\" takes effect at the next start", next->user);
  if (config::describe_forwards(next->forwards) + next->forward_log != running_forwards_) {
    base::log_warn("reload: [[forward]] changes take effect at the next start; the running rules stay");
  }

  std::string error;
  net::FileDescriptor log;
  if (!listeners_->prepare(next->listeners, error) || !open_access_log(next->access_log, log, error)) {
    listeners_->rollback();
    base::log_error("reload refused: {}; the running configuration stays", error);
    return;
  }
  auto site = std::make_shared<const Site>(std::move(*next), error);
  if (!error.empty()) {
    listeners_->rollback();
    base::log_error("reload refused: {}; the running configuration stays", error);
    return;
  }
  const config::Config& now = site->config();
  auto monitor = std::make_unique<proxy::Monitor>(site->upstream_groups());
  // Listeners keep their connections when their address stays.
  std::vector<std::size_t> map(old.listeners.size(), Worker::kGone);
  for (std::size_t i = 0; i < old.listeners.size(); ++i) {
    for (std::size_t j = 0; j < now.listeners.size(); ++j) {
      if (old.listeners[i].address.to_string() == now.listeners[j].address.to_string()) map[i] = j;
    }
  }
  ++generation_;
  for (unsigned w = 0; w < workers_count_; ++w) {
    Worker::Generation g;
    g.number = generation_;
    g.site = site;
    g.listeners = listeners_->sockets_for(w);
    g.listener_map = map;
    g.log_fd = log.get();
    workers_[w]->reload(std::move(g));
  }
  wait_for_workers(generation_);
  update_client_limits(now.limits);
  // Every worker has switched: what only the old configuration used can go.
  state_.connections_in_turn.store(listeners_->in_turn(), std::memory_order_relaxed);
  listeners_->commit();
  log_ = std::move(log);
  monitor_ = std::move(monitor);  // the old one stops; `previous` keeps its site alive meanwhile
  site_ = std::move(site);
  state_.reloads.fetch_add(1, std::memory_order_relaxed);
  state_.config_loaded.store(std::time(nullptr));
  for (const auto& l : now.listeners) {
    bool kept = false;
    for (const auto& o : old.listeners) kept = kept || o.address.to_string() == l.address.to_string();
    if (!kept) base::log_info("reload: now also listening on {}", l.address.url());
  }
  base::log_info("reloaded {}: {} listener(s), {} host(s); open connections kept",
                 now.source.empty() ? std::string("the configuration") : now.source, now.listeners.size(),
                 now.hosts.size());
}

void Server::update_client_limits(const config::Limits& limits) {
  if (client_limits_) {
    client_limits_->set_limits(limits);  // counts carry on; zeros stop limiting
    return;
  }
  if (limits.max_connections_per_client == 0 && limits.requests_per_second <= 0) return;
  // Connections accepted before this are not counted against their address: they hold no slot.
  client_limits_ = std::make_unique<ClientLimits>(limits, ClientLimits::capacity_for(limits, workers_count_));
  state_.client_limits.store(client_limits_.get(), std::memory_order_release);
}

void Server::wait_for_workers(std::uint64_t generation) {
  // A worker switches at its next loop iteration, which the reload's wake-up starts at once.
  for (auto& w : workers_) {
    while (w->generation() < generation) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Server::reopen_logs() {
  const std::string& path = site_->config().access_log;
  if (path.empty() || path == "-" || !log_) {
    base::log_info("SIGUSR1: no access log file to reopen");
    return;
  }
  net::FileDescriptor fresh;
  std::string error;
  if (!open_access_log(path, fresh, error)) {
    base::log_error("SIGUSR1: {}; still writing to the old file", error);
    return;
  }
  // dup3 swaps the file under the descriptor number the workers write to, in one step:
  // no line is lost or split between the rotated file and the new one.
  if (::dup3(fresh.get(), log_.get(), O_CLOEXEC) < 0) {
    base::log_error("SIGUSR1: cannot switch to the reopened {}: {}", path, std::strerror(errno));
    return;
  }
  base::log_info("SIGUSR1: reopened {}", path);
}

int Server::run() {
  // Signals are taken by this thread alone, with sigwait; the workers never see them. They are
  // blocked before any thread starts, so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> errors;
  std::optional<config::Config> config = load_(errors);
  if (!config) {
    for (const std::string& e : errors) fmt::print(stderr, "{}\n", e);
    fmt::print(stderr, "{}: the configuration has {} error(s); nothing was started\n", program_, errors.size());
    return 2;
  }
  const bool serves_files = std::any_of(config->hosts.begin(), config->hosts.end(),
                                        [](const config::VirtualHost& h) { return !h.root.empty(); });
  if (serves_files && !kernel_confines_lookups()) {
    fmt::print(stderr, "{}: this kernel has no openat2 (Linux 5.6 or later), which keeps every file lookup "
                       "inside its document root; nothing was started\n", program_);
    return 1;
  }
  if (!start(std::move(*config))) return 1;

  const config::Config& cfg = site_->config();
  for (const auto& listener : cfg.listeners) print_listener(program_, listener.address);
  if (std::size_t n = listeners_->inherited_count(); n > 0) fmt::print("{}: {} socket(s) from systemd\n", program_, n);
  forwarding_.announce(program_);
  // The last banner line says everything is ready, the [[forward]] workers included.
  forwarding_.start();
  const std::string& root = cfg.hosts[cfg.default_host].root;
  fmt::print("{}: {} worker(s), {}; stop with Ctrl-C, reload the configuration with SIGHUP\n", program_, workers_count_,
             root.empty() ? std::string(state_.app ? "serving the application's routes" : "serving the built-in welcome site")
                          : "serving " + root);
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (auto& w : workers_) threads.emplace_back([&w] { w->run(); });

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number == SIGHUP) {
      reload();
    } else if (signal_number == SIGUSR1) {
      reopen_logs();
    } else {
      break;
    }
  }
  base::log_info("{}: finishing requests in flight (up to {} s), then exiting", strsignal(signal_number),
                 site_->config().limits.grace_period);
  for (auto& w : workers_) w->stop();
  listeners_->close_all();  // the workers close their duplicates as they stop
  forwarding_.stop();       // meanwhile the HTTP workers drain too
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace

int serve(ConfigLoader load, const Application* app, std::string_view program) {
  return Server(std::move(load), app, program).run();
}

}  // namespace nuri::server
