#include "server/listeners.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "base/log.h"
#include "net/reuseport_balance.h"

namespace nuri::server {

namespace {

constexpr int kBacklog = 4096;
constexpr int kFirstInheritedFd = 3;  // SD_LISTEN_FDS_START

// The number of sockets systemd passed to this very process (sd_listen_fds(3)), 0 if none.
int inherited_fd_count() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds) return 0;
  char* end = nullptr;
  long owner = std::strtol(pid, &end, 10);
  if (*end != '\0' || owner != ::getpid()) return 0;
  long n = std::strtol(fds, &end, 10);
  if (*end != '\0' || n <= 0 || n > 1024) return 0;
  return static_cast<int>(n);
}

bool same_address(const net::SocketAddress& a, const net::SocketAddress& b) {
  return a.to_string() == b.to_string();
}

}  // namespace

bool ListenerSet::adopt_inherited(std::string& error) {
  int n = inherited_fd_count();
  // Children (there are none today) must not take them for their own.
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  for (int fd = kFirstInheritedFd; fd < kFirstInheritedFd + n; ++fd) {
    int type = 0, listening = 0;
    socklen_t length = sizeof type;
    bool ok = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM;
    length = sizeof listening;
    ok = ok && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening;
    net::SocketAddress address = net::local_address(fd);
    ok = ok && (address.family() == AF_INET || address.family() == AF_INET6);
    if (!ok) {
      error = fmt::format("socket activation: file descriptor {} is not a listening TCP socket", fd);
      return false;
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto entry = std::make_unique<Entry>();
    entry->requested = entry->bound = address;
    entry->fds.emplace_back(fd);
    entry->inherited = true;
    entries_.push_back(std::move(entry));
  }
  return true;
}

std::size_t ListenerSet::inherited_count() const {
  std::size_t n = 0;
  for (const auto& e : entries_) n += e->inherited;
  return n;
}

ListenerSet::Entry* ListenerSet::find(const net::SocketAddress& address) const {
  for (const auto& e : entries_) {
    bool claimed = false;  // two listeners on port 0 of one address are two sockets
    for (Entry* p : prepared_) claimed = claimed || p == e.get();
    if (!claimed && (same_address(e->requested, address) || same_address(e->bound, address))) return e.get();
  }
  return nullptr;
}

bool ListenerSet::prepare(std::vector<config::Listener>& listeners, std::string& error) {
  prepared_.clear();
  if (listeners.empty()) {
    for (const auto& e : entries_) {
      if (e->inherited) listeners.push_back({e->bound, {}, {}});
    }
    if (listeners.empty()) listeners.push_back({*net::SocketAddress::parse("127.0.0.1:8080"), {}, {}});
  }
  for (config::Listener& listener : listeners) {
    Entry* entry = find(listener.address);
    if (!entry) {
      auto fresh = std::make_unique<Entry>();
      fresh->requested = listener.address;
      // Another of our listeners on this port (127.0.0.1:80 beside 0.0.0.0:80) would fail the
      // probe that keeps other programs off the port: it is ours, so join instead.
      bool ours = false;
      for (const auto& e : entries_) {
        ours = ours || (listener.address.port() != 0 && e->bound.port() == listener.address.port() &&
                        e->bound.family() == listener.address.family());
      }
      // The first socket fixes the port (for port 0); the others join it with SO_REUSEPORT.
      for (unsigned w = 0; w < workers_; ++w) {
        net::FileDescriptor fd = net::listen_tcp(w == 0 ? listener.address : fresh->bound, kBacklog, error, w > 0 || ours);
        if (!fd) {
          keep_only(current_);  // closes what this call opened
          prepared_.clear();
          return false;
        }
        if (w == 0) fresh->bound = net::local_address(fd.get());
        fresh->fds.push_back(std::move(fd));
      }
      if (workers_ > 1 && !ours) {
        // Without it the kernel's hash of the client's address picks the worker. A refusal
        // leaves that; the status page says which one is in use. Not when joining (`ours`):
        // without the probe the group may hold another program's socket, whose picks this
        // must not take over.
        fresh->in_turn = net::balance_listener(fresh->fds[0].get(), workers_, fresh->bound.to_string());
      }
      entry = fresh.get();
      entries_.push_back(std::move(fresh));
    }
    listener.address = entry->bound;
    prepared_.push_back(entry);
  }
  for (const auto& e : entries_) {
    if (!e->inherited) continue;
    bool named = false;
    for (Entry* p : prepared_) named = named || p == e.get();
    if (!named) {
      base::log_warn("socket activation: {} is not among the configured listeners; serving it with the defaults",
                     e->bound.to_string());
      listeners.push_back({e->bound, {}, {}});
      prepared_.push_back(e.get());
    }
  }
  return true;
}

bool ListenerSet::in_turn() const {
  for (const Entry* e : prepared_) {
    if (!e->in_turn) return false;
  }
  return !prepared_.empty();
}

std::vector<ListenSocket> ListenerSet::sockets_for(unsigned w) const {
  std::vector<ListenSocket> out;
  for (std::size_t i = 0; i < prepared_.size(); ++i) {
    const Entry& e = *prepared_[i];
    int fd = ::fcntl(e.fds[e.inherited ? 0 : w].get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      base::log_error("cannot duplicate the socket of {}: {}", e.bound.to_string(), std::strerror(errno));
      continue;
    }
    out.push_back({net::FileDescriptor(fd), i});
  }
  return out;
}

void ListenerSet::keep_only(const std::vector<Entry*>& used) {
  std::erase_if(entries_, [&](const std::unique_ptr<Entry>& e) {
    for (Entry* u : used) {
      if (u == e.get()) return false;
    }
    return !e->inherited;  // systemd's sockets stay for the life of the process
  });
}

void ListenerSet::commit() {
  current_ = prepared_;
  keep_only(current_);
  prepared_.clear();
}

void ListenerSet::rollback() {
  keep_only(current_);
  prepared_.clear();
}

void ListenerSet::close_all() {
  current_.clear();
  prepared_.clear();
  entries_.clear();
}

}  // namespace nuri::server
