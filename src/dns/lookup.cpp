#include "dns/lookup.h"
#include "dns/channel.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>

namespace nuri::dns {

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

bool library_ready(std::string& error) {
  static const int init = ares_library_init(ARES_LIB_INIT_ALL);
  if (init != ARES_SUCCESS) error = ares_strerror(init);
  return init == ARES_SUCCESS;
}

// "IP", "IP:PORT", "[IP6]:PORT" or "IP6" into "ADDR:PORT" as c-ares' csv wants it. Port 0 is
// no server's port: c-ares would fail on it only when sending.
std::optional<std::string> server_text(const std::string& text) {
  if (auto a = net::SocketAddress::parse(text)) {
    if (a->port() == 0) return std::nullopt;
    return a->to_string();
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return text + ":53";
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return "[" + text + "]:53";
  return std::nullopt;
}

}  // namespace

// One query sent once (one try) and what came of it. c-ares' callback gives the reply or a
// status; the socket functions below see the bytes first, because c-ares 1.18 drops a datagram
// that cannot be the reply (too short, another question) without a word, so that the try would
// end as a timeout, and reports a TCP connection the server closed as ECONNREFUSED.
struct Attempt {
  bool done = false;
  int status = ARES_SUCCESS;
  std::string reply;
  std::string query;        // as c-ares sent it over UDP: the ID and question to match
  std::string not_a_reply;  // why a datagram from the server cannot be the reply
  bool tcp_closed = false;  // the server closed or reset the TCP connection (after a truncated reply)
};

namespace {

void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* a = static_cast<Attempt*>(arg);
  a->done = true;
  a->status = status;
  if (status == ARES_SUCCESS && abuf && alen > 0) a->reply.assign(reinterpret_cast<char*>(abuf), static_cast<std::size_t>(alen));
}

bool is_datagram_socket(ares_socket_t s) {
  int type = 0;
  socklen_t length = sizeof type;
  return getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_DGRAM;
}

// The socket functions c-ares calls instead of its own (ares_set_socket_functions): each does
// what c-ares would, and tells the Attempt in `arg` what went over the wire. c-ares then sets no
// socket option: non-blocking and close-on-exec are set here, as c-ares sets them.
ares_socket_t open_socket(int family, int type, int protocol, void* /*arg*/) {
  return ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
}

int close_socket(ares_socket_t s, void* /*arg*/) { return ::close(s); }

int connect_socket(ares_socket_t s, const sockaddr* address, ares_socklen_t length, void* /*arg*/) {
  return ::connect(s, address, length);
}

// Whether a TCP read or write that returned `n` means the server closed or reset a connection
// that was up: c-ares then says ECONNREFUSED, as when nothing listens on the port.
bool closed_by_server(ares_ssize_t n, int error) {
  return n == 0 || (n < 0 && error != EAGAIN && error != EWOULDBLOCK && error != EINTR && error != ECONNREFUSED);
}

ares_ssize_t send_vector(ares_socket_t s, const iovec* parts, int count, void* arg) {
  auto* a = static_cast<Attempt*>(arg);
  const bool datagram = is_datagram_socket(s);
  if (datagram && count == 1) a->query.assign(static_cast<const char*>(parts[0].iov_base), parts[0].iov_len);
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(parts);
  message.msg_iovlen = static_cast<std::size_t>(count);
  ares_ssize_t n = ::sendmsg(s, &message, MSG_NOSIGNAL);  // a closed TCP connection: EPIPE, no signal
  if (!datagram && n < 0 && closed_by_server(n, errno)) a->tcp_closed = true;
  return n;
}

ares_ssize_t receive(ares_socket_t s, void* buffer, std::size_t size, int flags, sockaddr* from,
                     ares_socklen_t* from_length, void* arg) {
  auto* a = static_cast<Attempt*>(arg);
  const bool datagram = is_datagram_socket(s);
  ares_ssize_t n = ::recvfrom(s, buffer, size, flags, from, from_length);
  if (!datagram && closed_by_server(n, errno)) a->tcp_closed = true;
  // The UDP socket is connected to the server: whatever comes in is from it.
  if (datagram && n > 0 && a->not_a_reply.empty()) {
    a->not_a_reply = reply_mismatch(a->query, {static_cast<const char*>(buffer), static_cast<std::size_t>(n)});
    if (!a->not_a_reply.empty()) a->done = true;
  }
  return n;
}

constexpr ares_socket_functions kWatchedSockets = {open_socket, close_socket, connect_socket, receive, send_vector};

bool timed_out(int status) { return status == ARES_ETIMEOUT || status == ARES_ECANCELLED; }

Failure failure_of(int status) {
  switch (status) {
    case ARES_ETIMEOUT: case ARES_ECANCELLED: return Failure::timeout;
    case ARES_ECONNREFUSED: case ARES_ESERVFAIL: return Failure::unreachable;
    case ARES_EBADRESP: return Failure::bad_reply;
    default: return Failure::other;
  }
}

}  // namespace

void run_channel(ares_channel channel, const bool& done, std::chrono::steady_clock::time_point start,
                 int deadline_ms) {
  // poll rather than select: descriptors may be above FD_SETSIZE.
  while (!done) {
    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, sockets, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[n++] = {sockets[i], events, 0};
    }
    timeval tv{};
    timeval* wait = ares_timeout(channel, nullptr, &tv);
    int timeout_ms = wait ? static_cast<int>(wait->tv_sec * 1000 + wait->tv_usec / 1000) : 1000;
    if (deadline_ms > 0) {
      int left = deadline_ms - static_cast<int>(ms_since(start));
      if (left <= 0) {
        ares_cancel(channel);
        return;
      }
      timeout_ms = std::min(timeout_ms, left);
    }
    int ready = ::poll(fds, n, timeout_ms);
    if (ready <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // lets c-ares see its timeouts
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      ares_socket_t r = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel, r, w);
    }
  }
}


Client::Client(const std::optional<std::string>& server, int timeout_ms, int tries)
    : attempt_(std::make_unique<Attempt>()), timeout_ms_(timeout_ms), tries_(tries) {
  if (!library_ready(error_)) return;
  ares_options options{};
  options.timeout = timeout_ms;
  // c-ares 1.18 doubles the timeout on each of its own tries (timeout << try): --tries 3 would
  // wait 7 timeouts. So it sends each query once, and ask() repeats it.
  options.tries = 1;
  // NOCHECKRESP: SERVFAIL, REFUSED and NOTIMP replies come to us instead of being retried and
  // turned into a bare error code, so the user sees which server said what.
  options.flags = ARES_FLAG_NOCHECKRESP;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) {
    error_ = ares_strerror(rc);
    return;
  }
  channel_ = channel;
  ares_set_socket_functions(channel, &kWatchedSockets, attempt_.get());
  if (server) {
    auto text = server_text(*server);
    if (!text) {
      error_ = fmt::format("bad --server '{}': expected IP or IP:PORT, a port from 1 to 65535 (127.0.0.1:5353, [::1]:53)",
                           *server);
      return;
    }
    servers_.push_back(*text);
    return;
  }
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel, &list) == ARES_SUCCESS) {
    for (ares_addr_port_node* n = list; n; n = n->next) {
      char host[INET6_ADDRSTRLEN] = {};
      inet_ntop(n->family, &n->addr, host, sizeof host);
      int port = n->udp_port ? n->udp_port : 53;
      servers_.push_back(n->family == AF_INET6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port));
    }
    ares_free_data(list);
  }
  if (servers_.empty()) error_ = "no DNS server in /etc/resolv.conf; give one with --server";
}

Client::~Client() {
  if (channel_) ares_destroy(static_cast<ares_channel>(channel_));
}

Exchange Client::query(const std::string& name, std::uint16_t type) {
  Exchange ex;
  if (!error_.empty() || !channel_) {
    ex.failure = Failure::other;
    ex.error = error_;
    return ex;
  }
  std::string packet;
  std::random_device random;
  if (!build_query(name, type, static_cast<std::uint16_t>(random()), packet, ex.error)) {
    ex.failure = Failure::other;
    return ex;
  }
  // One server at a time, so that the answer can be attributed to the server that gave it.
  for (const std::string& server : servers_) {
    ex.server = server;
    int rc = ares_set_servers_ports_csv(static_cast<ares_channel>(channel_), server.c_str());
    if (rc != ARES_SUCCESS) {
      ex.failure = Failure::other;
      ex.error = fmt::format("server {}: {}", server, ares_strerror(rc));
      continue;
    }
    ask(packet, ex);
    if (!ex.reply) continue;
    ex.failure = Failure::none;
    ex.error.clear();
    return ex;
  }
  return ex;
}

// Sends `packet` to the channel's server until a try ends otherwise than by a timeout, at most
// tries_ times, and fills `ex` with what the last try gave.
void Client::ask(const std::string& packet, Exchange& ex) {
  const Attempt& a = *attempt_;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < tries_; ++i) {
    send_once(packet);
    if (!timed_out(a.status) || !a.not_a_reply.empty()) break;
  }
  ex.ms = ms_since(start);
  std::string why;
  if (a.status == ARES_SUCCESS) {
    ex.reply = decode(a.reply, why);
  } else if (!a.not_a_reply.empty()) {
    why = a.not_a_reply;
  } else if (a.status == ARES_ECONNREFUSED && a.tcp_closed) {
    why = "the server closed the TCP connection before its whole reply (asked over TCP after a truncated UDP reply)";
  } else {
    ex.failure = failure_of(a.status);
    ex.error = a.status == ARES_ECONNREFUSED ? "connection refused (nothing listens on that port)" : ares_strerror(a.status);
    return;
  }
  if (!ex.reply) {
    ex.failure = Failure::bad_reply;
    ex.error = "malformed reply: " + why;
  }
}

// Sends `packet` once and runs the channel until its reply, a failure, a datagram that cannot
// be the reply, or timeout_ms_ (which also bounds the TCP query after a truncated reply).
void Client::send_once(const std::string& packet) {
  auto channel = static_cast<ares_channel>(channel_);
  *attempt_ = Attempt{};
  ares_send(channel, reinterpret_cast<const unsigned char*>(packet.data()), static_cast<int>(packet.size()),
            on_reply, attempt_.get());
  run_channel(channel, attempt_->done, std::chrono::steady_clock::now(), timeout_ms_);
  ares_cancel(channel);  // c-ares still waits when a datagram that cannot be the reply ended the run
}

std::vector<std::string> hosts_addresses(const std::string& name, int family) {
  std::vector<std::string> out;
  std::string error;
  if (!library_ready(error)) return out;
  ares_channel channel = nullptr;
  ares_options options{};
  if (ares_init_options(&channel, &options, 0) != ARES_SUCCESS) return out;
  hostent* host = nullptr;
  if (ares_gethostbyname_file(channel, name.c_str(), family, &host) == ARES_SUCCESS && host) {
    for (char** a = host->h_addr_list; *a; ++a) {
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(host->h_addrtype, *a, text, sizeof text);
      if (host->h_addrtype == family) out.emplace_back(text);
    }
    ares_free_hostent(host);
  }
  ares_destroy(channel);
  return out;
}

std::optional<std::string> hosts_name(const std::string& address) {
  std::string error;
  if (!library_ready(error)) return std::nullopt;
  unsigned char buf[16];
  int family = AF_INET;
  int len = 4;
  if (inet_pton(AF_INET, address.c_str(), buf) != 1) {
    if (inet_pton(AF_INET6, address.c_str(), buf) != 1) return std::nullopt;
    family = AF_INET6;
    len = 16;
  }
  ares_options options{};
  char lookups[] = "f";  // the hosts file only; c-ares answers it without any I/O wait
  options.lookups = lookups;
  ares_channel channel = nullptr;
  if (ares_init_options(&channel, &options, ARES_OPT_LOOKUPS) != ARES_SUCCESS) return std::nullopt;
  struct Result {
    bool done = false;
    std::optional<std::string> name;
  } result;
  ares_gethostbyaddr(channel, buf, len, family, [](void* arg, int status, int, hostent* h) {
    auto* r = static_cast<Result*>(arg);
    r->done = true;
    if (status == ARES_SUCCESS && h && h->h_name) r->name = std::string(h->h_name);
  }, &result);
  run_channel(channel, result.done, std::chrono::steady_clock::now(), 1000);
  ares_destroy(channel);
  return result.name;
}

HostLookup lookup_host(const std::string& host, std::uint16_t port, int timeout_ms) {
  HostLookup out;
  auto start = std::chrono::steady_clock::now();
  auto add = [&](const std::string& text) {
    std::string literal = text.find(':') != std::string::npos ? "[" + text + "]" : text;
    if (auto a = net::SocketAddress::parse(fmt::format("{}:{}", literal, port))) out.addresses.push_back(*a);
  };
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    out.source = HostLookup::Source::numeric;
    add(host);
    out.ms = ms_since(start);
    return out;
  }
  for (int family : {AF_INET, AF_INET6}) {
    for (const std::string& a : hosts_addresses(host, family)) add(a);
  }
  if (!out.addresses.empty()) {
    out.source = HostLookup::Source::hosts_file;
    out.ms = ms_since(start);
    return out;
  }
  out.source = HostLookup::Source::dns;
  if (!library_ready(out.error)) {
    out.failure = Failure::other;
    return out;
  }
  ares_options options{};
  options.timeout = std::max(timeout_ms / 2, 1);
  options.tries = 2;
  char lookups[] = "b";  // DNS only: the hosts file was read above
  options.lookups = lookups;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
  if (rc != ARES_SUCCESS) {
    out.failure = Failure::other;
    out.error = ares_strerror(rc);
    return out;
  }
  struct State {
    bool done = false;
    int status = ARES_SUCCESS;
    std::vector<net::SocketAddress> v4, v6;
    std::uint16_t port = 0;
  } state;
  state.port = port;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  ares_getaddrinfo(channel, host.c_str(), nullptr, &hints, [](void* arg, int status, int, ares_addrinfo* result) {
    auto* s = static_cast<State*>(arg);
    s->done = true;
    s->status = status;
    if (!result) return;
    for (ares_addrinfo_node* n = result->nodes; n; n = n->ai_next) {
      if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
      auto a = net::SocketAddress::from(n->ai_addr, static_cast<socklen_t>(n->ai_addrlen));
      a.set_port(s->port);
      auto& list = n->ai_family == AF_INET ? s->v4 : s->v6;
      if (std::none_of(list.begin(), list.end(), [&](const auto& b) { return b.to_string() == a.to_string(); })) {
        list.push_back(a);
      }
    }
    ares_freeaddrinfo(result);
  }, &state);
  run_channel(channel, state.done, start, timeout_ms);
  ares_destroy(channel);
  out.ms = ms_since(start);
  out.addresses = state.v4;
  out.addresses.insert(out.addresses.end(), state.v6.begin(), state.v6.end());
  if (out.addresses.empty()) {
    out.failure = failure_of(state.status);
    if (state.status == ARES_SUCCESS || state.status == ARES_ENOTFOUND || state.status == ARES_ENODATA) {
      out.failure = Failure::other;
      out.error = "no such host";
    } else {
      out.error = ares_strerror(state.status);
    }
  }
  return out;
}

}  // namespace nuri::dns
