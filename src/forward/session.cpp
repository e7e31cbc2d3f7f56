#include "forward/session.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "net/proxy_protocol.h"

namespace nuri::forward {

namespace {

constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

int socket_error(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

// Closing with SO_LINGER 0 sends a RST instead of a FIN: how a reset is passed on.
void close_side(int fd, bool rst) {
  if (fd < 0) return;
  if (rst) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

Session::Session(Worker& worker, std::size_t rule, int client_fd, const sockaddr* peer, socklen_t peer_length)
    : worker_(worker),
      rule_(rule),
      up_{&client_, &target_, {}},
      down_{&target_, &client_, {}},
      peer_(net::SocketAddress::from(peer, peer_length)),
      started_ms_(worker.now_ms()) {
  timer.owner = static_cast<Timed*>(this);
  client_.session = this;
  client_.fd = client_fd;
  target_.session = this;
}

void Session::start() {
  if (!worker_.clients_nodelay()) set_nodelay(client_.fd);
  worker_.loop().add(client_.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &client_);
  state_ = State::connecting;
  if (!worker_.take_pipe(up_.pipe) || !worker_.take_pipe(down_.pipe)) {
    error_ = errno;
    return finish(EndReason::error, true, false);
  }
  target_index_ = worker_.pick_target(rule_);
  connect_target();
}

void Session::connect_target() {
  target_address_ = worker_.target(rule_, target_index_);
  const net::SocketAddress& target = target_address_;
  ++attempts_;
  target_.readable = target_.writable = target_.hangup = false;
  target_.fd = ::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (target_.fd < 0) {
    error_ = errno;
    return finish(EndReason::error, true, false);
  }
  set_nodelay(target_.fd);
  int rc = ::connect(target_.fd, target.get(), target.length());
  if (rc != 0 && errno != EINPROGRESS) return connect_failed(errno);
  worker_.loop().add(target_.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, &target_);
  if (rc == 0) return connected();
  worker_.connect_timers(rule_).schedule(timer, worker_.now_ms());
}

void Session::on_event(Side& side, std::uint32_t events) {
  if (state_ == State::closed) return;  // closed earlier in this batch of events
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) side.readable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) side.hangup = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) side.writable = true;
  if (state_ == State::connecting) {
    // Whatever the client sends meanwhile waits in its socket (readable stays set), and so does
    // its FIN: a half-closed client still wants the answer. A client that reset is gone, though:
    // ending now frees the pending connection rather than holding it until the connect timeout.
    if (&side == &target_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) check_connect(events);
    if (&side == &client_ && (events & (EPOLLERR | EPOLLHUP))) pass_on_error(client_);
    return;
  }
  relay();
  if (state_ != State::closed && (events & EPOLLERR)) pass_on_error(side);
}

void Session::pass_on_error(Side& side) {
  int error = socket_error(side.fd);
  if (error == ECONNRESET || error == EPIPE) {
    reset_by(side);
  } else if (error != 0) {
    error_ = error;
    finish(EndReason::error, true, true);
  }
}

void Session::check_connect(std::uint32_t events) {
  // A failed connect reports EPOLLERR (and EPOLLHUP); EPOLLOUT alone is an established connection,
  // and asking SO_ERROR would be one more call per connection for nothing.
  if (!(events & (EPOLLERR | EPOLLHUP))) return connected();
  int error = socket_error(target_.fd);
  if (error == 0) return connected();
  connect_failed(error);
}

void Session::connect_failed(int error) {
  EndReason reason = EndReason::error;
  switch (error) {
    case ECONNREFUSED: reason = EndReason::refused; break;
    case ETIMEDOUT: reason = EndReason::connect_timeout; break;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN: reason = EndReason::unreachable; break;
    default: error_ = error; break;
  }
  worker_.target_failed(rule_, target_index_);
  const std::size_t targets = worker_.target_count(rule_);
  if (attempts_ < targets && !worker_.draining()) {
    // Failover: the client waits a little longer and never learns that one target was down.
    server::TimerList::unlink(timer);
    ::close(target_.fd);  // also leaves the epoll set
    target_.fd = -1;
    target_index_ = (target_index_ + 1) % targets;
    return connect_target();
  }
  // The client's connection was accepted before we knew: a reset tells it what a direct
  // connection would have (refused), where a FIN would look like an empty answer.
  finish(reason, true, false);
}

void Session::connected() {
  const Rule& rule = worker_.rule(rule_).rule;
  if (rule.proxy_protocol != net::ProxyProtocol::none) {
    // First thing on a fresh connection: its empty send buffer takes the whole header.
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    ::getsockname(client_.fd, reinterpret_cast<sockaddr*>(&local), &length);
    char header[net::kProxyHeaderMax];
    std::size_t n = net::write_proxy_header(rule.proxy_protocol, peer_.get(), reinterpret_cast<sockaddr*>(&local), header);
    ssize_t sent = ::send(target_.fd, header, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent != static_cast<ssize_t>(n)) {
      if (sent < 0 && (errno == ECONNRESET || errno == EPIPE)) return reset_by(target_);
      error_ = sent < 0 ? errno : EAGAIN;
      return finish(EndReason::error, true, true);
    }
  }
  state_ = State::relaying;
  target_.writable = true;
  worker_.idle_timers(rule_).schedule(timer, worker_.now_ms());
  relay();
}

void Session::relay() {
  bool progress = false;
  for (Direction* d : {&up_, &down_}) {
    switch (pump(*d, progress)) {
      case Pump::ok: break;
      case Pump::reset_from: return reset_by(*d->from);
      case Pump::reset_to: return reset_by(*d->to);
      case Pump::error: return finish(EndReason::error, true, true);
    }
  }
  if (up_.shut && down_.shut) return finish(EndReason::fin, false, false);
  if (progress) worker_.idle_timers(rule_).schedule(timer, worker_.now_ms());
}

Session::Pump Session::pump(Direction& d, bool& progress) {
  for (;;) {
    bool moved = false;
    if (d.pipe.bytes > 0 && d.to->writable) {
      ssize_t n = ::splice(d.pipe.read, nullptr, d.to->fd, nullptr, d.pipe.bytes, kSpliceFlags);
      if (n > 0) {
        d.pipe.bytes -= static_cast<std::size_t>(n);
        d.bytes += static_cast<std::uint64_t>(n);
        moved = true;
      } else if (n < 0) {
        if (errno == EAGAIN) {
          d.to->writable = false;  // its send buffer is full: wait for EPOLLOUT
        } else if (errno == EPIPE || errno == ECONNRESET) {
          return Pump::reset_to;
        } else if (errno != EINTR) {
          error_ = errno;
          return Pump::error;
        }
      }
    }
    if (!d.eof && d.from->readable && d.pipe.bytes == 0 && !d.bulk) {
      Pump p = copy(d, moved);
      if (p != Pump::ok) return p;
    } else if (!d.eof && d.from->readable && d.pipe.bytes < d.pipe.capacity) {
      ssize_t n = ::splice(d.from->fd, nullptr, d.pipe.write, nullptr, d.pipe.capacity - d.pipe.bytes, kSpliceFlags);
      if (n > 0) {
        // The burst has thinned out to what the copy buffer would have held: the next bytes
        // take the copy path (the last bytes of a response, say, and then the next request).
        if (d.pipe.bytes == 0 && static_cast<std::size_t>(n) < Worker::kCopyBufferSize) d.bulk = false;
        d.pipe.bytes += static_cast<std::size_t>(n);
        moved = true;
      } else if (n == 0) {
        d.eof = true;
        moved = true;
      } else if (errno == EAGAIN) {
        // With an empty pipe this means the socket is drained. With bytes in the pipe it may
        // be the pipe that is full (it counts buffers, not bytes): read again once it emptied.
        if (d.pipe.bytes == 0) d.from->readable = false;
      } else if (errno == ECONNRESET) {
        return Pump::reset_from;
      } else if (errno != EINTR) {
        error_ = errno;
        return Pump::error;
      }
    }
    if (!moved) break;
    progress = true;
  }
  if (d.eof && d.pipe.bytes == 0 && !d.shut) {
    // Half-close passed on: the other direction keeps flowing. When it has ended already, the
    // session ends now, and close() sends the FIN (nothing is left unread, so not a RST).
    const Direction& other = &d == &up_ ? down_ : up_;
    if (!other.shut) ::shutdown(d.to->fd, SHUT_WR);
    d.shut = true;
    progress = true;
  }
  return Pump::ok;
}

Session::Pump Session::copy(Direction& d, bool& moved) {
  char* buffer = worker_.copy_buffer();
  // No more than the pipe holds, so that what the destination cannot take always fits in it
  // (a pipe can be as small as two pages once the user's pipe-user-pages-soft is used up).
  const std::size_t size = std::min(Worker::kCopyBufferSize, d.pipe.capacity);
  ssize_t n = ::recv(d.from->fd, buffer, size, MSG_DONTWAIT);
  if (n == 0) {
    d.eof = true;
    moved = true;
    return Pump::ok;
  }
  if (n < 0) {
    switch (errno) {
      case EAGAIN: d.from->readable = false; return Pump::ok;
      case EINTR: moved = true; return Pump::ok;  // try again
      case ECONNRESET: return Pump::reset_from;
      default: error_ = errno; return Pump::error;
    }
  }
  moved = true;
  const auto length = static_cast<std::size_t>(n);
  if (length == size) {
    d.bulk = true;
  } else if (!d.from->hangup) {
    // A short read from a stream socket took all it had; bytes that arrive later bring a new
    // edge. Not so for a FIN that came with the data and was already reported (EPOLLRDHUP):
    // then read on until recv() says 0 (nginx's rule in ngx_unix_recv).
    d.from->readable = false;
  }
  std::size_t sent = 0;
  if (d.to->writable) {
    ssize_t s = ::send(d.to->fd, buffer, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (s >= 0) {
      sent = static_cast<std::size_t>(s);
    } else if (errno == EAGAIN) {
      d.to->writable = false;
    } else if (errno == EPIPE || errno == ECONNRESET) {
      return Pump::reset_to;
    } else if (errno != EINTR) {
      error_ = errno;
      return Pump::error;
    }
  }
  d.bytes += sent;
  if (sent < length) {
    // What the destination could not take waits in the pipe, which is empty here: from now on
    // it is flushed like spliced bytes, with the same backpressure.
    ssize_t w = ::write(d.pipe.write, buffer + sent, length - sent);
    if (w != static_cast<ssize_t>(length - sent)) {
      error_ = w < 0 ? errno : EAGAIN;
      return Pump::error;
    }
    d.pipe.bytes += length - sent;
  }
  return Pump::ok;
}

void Session::reset_by(Side& broken) {
  Side& other = &broken == &client_ ? target_ : client_;
  // What the broken side sent before its reset is still owed to the other side: one try.
  Direction& toward_other = &broken == &client_ ? up_ : down_;
  if (toward_other.pipe.bytes > 0 && !toward_other.shut) {
    ssize_t n = ::splice(toward_other.pipe.read, nullptr, other.fd, nullptr, toward_other.pipe.bytes, kSpliceFlags);
    if (n > 0) {
      toward_other.pipe.bytes -= static_cast<std::size_t>(n);
      toward_other.bytes += static_cast<std::uint64_t>(n);
    }
  }
  finish(EndReason::rst, &other == &client_, &other == &target_);
}

void Session::on_timeout() {
  if (state_ == State::connecting) return connect_failed(ETIMEDOUT);
  finish(EndReason::timeout, false, false);
}

void Session::finish(EndReason reason, bool rst_client, bool rst_target) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  server::TimerList::unlink(timer);
  close_side(client_.fd, rst_client);
  close_side(target_.fd, rst_target);
  client_.fd = target_.fd = -1;
  worker_.give_pipe(up_.pipe);
  worker_.give_pipe(down_.pipe);
  RuleState& rule = worker_.rule(rule_);
  rule.open.fetch_sub(1, std::memory_order_relaxed);
  std::string client = peer_.to_string();
  std::string target = target_address_.length() ? target_address_.to_string() : worker_.unchosen_target(rule_);
  if (reason == EndReason::error && (error_ == EMFILE || error_ == ENFILE)) {
    worker_.out_of_fds();  // no pipe or no socket to the target: one summary, not a line each
  } else if (reason == EndReason::error && error_ != 0) {
    base::log_error("forward {} -> {}: {}", client, target, std::strerror(error_));
  }
  worker_.log({client, rule.listen_text, target, up_.bytes, down_.bytes, worker_.now_ms() - started_ms_, reason});
  worker_.retire(this);
}

}  // namespace nuri::forward
