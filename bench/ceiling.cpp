// The ceiling: the least work an HTTP/1.1 server on epoll can do for the bench's requests, as a
// reference in the same run (bench/run.sh, docs/benchmarks.md "The ceiling"). It is not a
// server: it takes a request to be complete at the first empty line, looks at nothing but the
// target and "Connection: close", keeps /1k.bin in memory and /1m.bin open, and never logs,
// times out or checks anything. What it costs per request is what any server pays in the
// kernel here (accept, read, write, epoll, TCP on loopback); the distance from it to nginx is
// the most a real server can lead by on this machine.
//
//   ceiling PORT DOCROOT WORKERS    (127.0.0.1 only)
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "loopback.h"

namespace {

// Each answer twice: [0] keep-alive, [1] for a request that said "Connection: close" (wrk takes
// an HTTP/1.1 response without that field for a kept connection, and its close for an error).
struct Files {
  std::string small_response[2];  // head and the whole of 1k.bin
  std::string large_head[2];      // head for 1m.bin, whose body goes by sendfile
  std::string missing_response[2];
  int large_fd = -1;
  off_t large_size = 0;
};

using bench::die;

std::string head(int status, const char* reason, off_t length, const char* type, const std::string& date, int close) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nDate: " + date + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(length) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
}

Files load(const std::string& root) {
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  Files f;
  const int small = open((root + "/1k.bin").c_str(), O_RDONLY | O_CLOEXEC);
  if (small < 0) die("1k.bin");
  std::string body(1 << 16, '\0');
  const ssize_t n = read(small, body.data(), body.size());
  if (n < 0) die("read 1k.bin");
  body.resize(static_cast<std::size_t>(n));
  close(small);
  for (int close = 0; close < 2; ++close) f.small_response[close] = head(200, "OK", n, "application/octet-stream", date, close) + body;
  f.large_fd = open((root + "/1m.bin").c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st{};
  if (f.large_fd < 0 || fstat(f.large_fd, &st) != 0) die("1m.bin");
  f.large_size = st.st_size;
  for (int close = 0; close < 2; ++close) f.large_head[close] = head(200, "OK", st.st_size, "application/octet-stream", date, close);
  const std::string page = "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>\n";
  for (int close = 0; close < 2; ++close)
    f.missing_response[close] = head(404, "Not Found", static_cast<off_t>(page.size()), "text/html", date, close) + page;
  return f;
}

struct Conn {
  int fd = -1;
  std::string in;   // bytes of a request whose head has not ended yet
  std::string out;  // response bytes the socket did not take yet
  off_t file_offset = 0;
  off_t file_end = 0;  // file_offset < file_end: 1m.bin is being sent
  bool close_after = false;
};

class Worker {
 public:
  Worker(int port, const Files& files) : files_(files) {
    const bench::ListenLoop l = bench::listen_loopback(port, /*defer_accept=*/true);
    listener_ = l.listener;
    epoll_ = l.epoll;
  }

  void run() {
    epoll_event events[256];
    for (;;) {
      const int n = epoll_wait(epoll_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<Conn*>(events[i].data.ptr);
        if (c == nullptr) {
          accept_all();
        } else if (!serve(*c)) {
          close(c->fd);
          delete c;
        }
      }
    }
  }

 private:
  void accept_all() {
    for (;;) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      auto* c = new Conn;
      c->fd = fd;
      bench::watch(epoll_, fd, c);
      // Deferred accept: the request is usually here already.
      if (!serve(*c)) {
        close(fd);
        delete c;
      }
    }
  }

  // Reads what there is, answers every complete request, writes what the socket takes.
  // False: close the connection.
  bool serve(Conn& c) {
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n == 0) return false;
      if (n < 0) {
        if (errno == EAGAIN) break;
        return false;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < sizeof buf) break;
    }
    return answer(c) && flush(c);
  }

  bool answer(Conn& c) {
    std::size_t start = 0;
    // One file at a time: requests behind a 1m.bin wait until it is sent.
    while (c.file_offset == c.file_end && !c.close_after) {
      const std::size_t end = c.in.find("\r\n\r\n", start);
      if (end == std::string::npos) break;
      const std::string_view request(c.in.data() + start, end - start);
      start = end + 4;
      if (request.find("\r\nConnection: close") != std::string_view::npos) c.close_after = true;
      const int close = c.close_after ? 1 : 0;
      if (request.starts_with("GET /1k.bin ")) {
        c.out += files_.small_response[close];
      } else if (request.starts_with("GET /1m.bin ")) {
        c.out += files_.large_head[close];
        c.file_offset = 0;
        c.file_end = files_.large_size;
      } else {
        c.out += files_.missing_response[close];
      }
    }
    c.in.erase(0, start);
    return true;
  }

  bool flush(Conn& c) {
    for (;;) {
      while (!c.out.empty()) {
        const int more = c.file_offset < c.file_end ? MSG_MORE : 0;
        const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | more);
        if (n < 0) return errno == EAGAIN;
        c.out.erase(0, static_cast<std::size_t>(n));
      }
      while (c.file_offset < c.file_end) {
        const ssize_t n = sendfile(c.fd, files_.large_fd, &c.file_offset, static_cast<std::size_t>(c.file_end - c.file_offset));
        if (n < 0) return errno == EAGAIN;
        if (n == 0) return false;
      }
      if (c.close_after) {
        shutdown(c.fd, SHUT_WR);
        return false;
      }
      // A file finished: the requests that waited behind it.
      if (c.in.find("\r\n\r\n") == std::string::npos) return true;
      answer(c);
    }
  }

  const Files& files_;
  int listener_ = -1;
  int epoll_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: ceiling PORT DOCROOT WORKERS\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // sendfile to a client that left: EPIPE, not death
  const int port = std::atoi(argv[1]);
  const Files files = load(argv[2]);
  const int workers = std::atoi(argv[3]);
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) threads.emplace_back([&] { Worker(port, files).run(); });
  std::fprintf(stderr, "ceiling: 127.0.0.1:%d, %d workers\n", port, workers);
  for (auto& t : threads) t.join();
}
