// The relay ceiling: the least work a TCP relay on epoll does, as a reference route in
// bench/forward.sh and bench/proxy.sh (docs/benchmarks.md, "The ceiling"). Each client gets its
// own connection to the back end, opened at accept; bytes go across with recv and send through a
// stack buffer, nothing is parsed, counted, timed or logged. For small messages every relay and
// every HTTP proxy pays at least this (a read and a write each way, epoll, TCP on loopback), so
// its ratio to a peer is the most a real one can reach on the machine. It is no ceiling for bulk
// data, where splice moves pages without the copy this does.
//
//   relay_ceiling LISTEN-PORT TARGET-PORT WORKERS    (127.0.0.1 only)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "loopback.h"

namespace {

using bench::loopback;

struct Pair;

// One socket of a pair. `pending`: bytes read from the peer that this socket did not take yet;
// while any wait, the peer is not read (back-pressure).
struct Side {
  int fd = -1;
  Side* peer = nullptr;
  Pair* pair = nullptr;
  std::string pending;
  bool eof_read = false;  // the far end of this socket sent its FIN
};

struct Pair {
  Side client, server;
  bool done = false;
};

class Worker {
 public:
  Worker(int port, int target) : target_(loopback(target)) {
    const bench::ListenLoop l = bench::listen_loopback(port, /*defer_accept=*/false);
    listener_ = l.listener;
    epoll_ = l.epoll;
  }

  void run() {
    epoll_event events[256];
    for (;;) {
      const int n = epoll_wait(epoll_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        auto* s = static_cast<Side*>(events[i].data.ptr);
        if (s == nullptr) {
          accept_all();
        } else if (!s->pair->done) {
          on_event(*s);
        }
      }
      for (Pair* p : dead_) delete p;  // after the batch: its events may still name them
      dead_.clear();
    }
  }

 private:
  void accept_all() {
    for (;;) {
      const int client = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;
      const int server = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      const int one = 1;
      setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(server, reinterpret_cast<const sockaddr*>(&target_), sizeof target_) != 0 && errno != EINPROGRESS) {
        close(client);
        close(server);
        continue;
      }
      auto* p = new Pair;
      p->client.fd = client;
      p->server.fd = server;
      p->client.peer = &p->server;
      p->server.peer = &p->client;
      p->client.pair = p->server.pair = p;
      bench::watch(epoll_, p->client.fd, &p->client);
      bench::watch(epoll_, p->server.fd, &p->server);
    }
  }

  // `s` is readable or writable: what waits for it first, then what it has for its peer.
  void on_event(Side& s) {
    const bool was_full = !s.pending.empty();
    while (!s.pending.empty()) {
      const ssize_t w = send(s.fd, s.pending.data(), s.pending.size(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN) return finish(*s.pair);
        break;
      }
      s.pending.erase(0, static_cast<std::size_t>(w));
    }
    if (was_full && s.pending.empty()) {
      if (s.peer->eof_read) {
        shutdown(s.fd, SHUT_WR);
      } else {
        pump(*s.peer);  // what the peer could not pass on while this side was full
      }
    }
    if (!s.pair->done) pump(s);
  }

  // Reads `from` into its peer until `from` is empty or the peer is full.
  void pump(Side& from) {
    Side& to = *from.peer;
    char buf[65536];
    while (!from.eof_read && to.pending.empty()) {
      const ssize_t n = recv(from.fd, buf, sizeof buf, 0);
      if (n > 0) {
        const ssize_t w = send(to.fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) return finish(*from.pair);
        const std::size_t sent = w > 0 ? static_cast<std::size_t>(w) : 0;
        if (sent < static_cast<std::size_t>(n)) to.pending.assign(buf + sent, static_cast<std::size_t>(n) - sent);
        continue;
      }
      if (n == 0) {
        from.eof_read = true;
        if (to.pending.empty()) shutdown(to.fd, SHUT_WR);
        break;
      }
      if (errno != EAGAIN) return finish(*from.pair);
      break;
    }
    if (from.eof_read && to.eof_read && from.pending.empty() && to.pending.empty()) finish(*from.pair);
  }

  void finish(Pair& p) {
    if (p.done) return;
    p.done = true;
    close(p.client.fd);
    close(p.server.fd);
    dead_.push_back(&p);
  }

  sockaddr_in target_;
  int listener_ = -1;
  int epoll_ = -1;
  std::vector<Pair*> dead_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: relay_ceiling LISTEN-PORT TARGET-PORT WORKERS\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const int port = std::atoi(argv[1]);
  const int target = std::atoi(argv[2]);
  const int workers = std::atoi(argv[3]);
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) threads.emplace_back([=] { Worker(port, target).run(); });
  for (auto& t : threads) t.join();
}
