#include "server/connection.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include <fmt/format.h>

#include "base/log.h"
#include "net/address.h"
#include "net/proxy_protocol.h"
#include "server/application.h"
#include "server/decision.h"
#include "server/response.h"
#include "server/static_handler.h"
#include "server/status_page.h"
#include "server/upstream.h"
#include "server/worker.h"

namespace nuri::server {

using http::ParseState;
using http::Status;

namespace {

// Parsing of pipelined requests pauses while this much response data waits to be sent.
constexpr std::size_t kOutputHighWater = 256 * 1024;
// How far a streamed response may run ahead of what the client took before it is cut off.
constexpr std::uint64_t kStreamBacklogMax = 16u << 20;

// RFC 9110 §6.4.1, §8.6: 1xx, 204 and 304 have no body and no Content-Length.
constexpr bool is_bodiless(int status) { return status < 200 || status == 204 || status == 304; }

// The first line of what a client sent, for the log of a request that could not be parsed and
// to tell whether it was a HEAD. The empty lines RFC 9112 §2.2 lets a client send before the
// request line are skipped.
std::string_view first_line(std::string_view bytes) {
  bytes.remove_prefix(std::min(bytes.find_first_not_of("\r\n"), bytes.size()));
  auto end = bytes.find('\n');
  std::string_view line = bytes.substr(0, std::min<std::size_t>(end, 1024));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

Connection::Connection(Worker& worker)
    : worker_(worker), parser_(parser_limits(worker.limits())), chunked_(worker.limits().max_body_size) {
  timer.owner = this;
}

Connection::~Connection() { close(); }

void Connection::start(int fd, const sockaddr* peer, socklen_t peer_length, std::size_t listener) {
  fd_ = fd;
  listener_ = listener;
  std::memset(&peer_, 0, sizeof peer_);
  std::memcpy(&peer_, peer, std::min<std::size_t>(peer_length, sizeof peer_));
  state_ = worker_.site().config().listeners[listener].proxy_protocol ? State::proxy_header : State::head;
  parser_.reset();
  start_ = end_ = head_length_ = body_pos_ = 0;
  body_left_ = 0;
  body_chunked_ = false;
  out_.clear();
  queue_.clear();
  queue_head_ = 0;
  write_blocked_ = close_after_output_ = peer_eof_ = draining_ = linger_needed_ = no_linger_ = false;
  socket_drained_ = peer_fin_pending_ = false;
  requests_ = 0;
  timer_request_ = 0;
  timings_.clear();
  timings_head_ = 0;
  queued_total_ = sent_total_ = 0;
  request_started_ms_ = worker_.now_ms();
  client_length_ = net::format_host(peer, client_, sizeof client_);
  started_ms_ = worker_.now_ms();
  bytes_sent_ = 0;
  last_request_.clear();
  worker_.header_timers.schedule(timer, worker_.now_ms());
  // With TCP_DEFER_ACCEPT (the listener's default) the request has arrived before accept4
  // returns: read it now. A connection answered and closed in this first pass never enters the
  // epoll set; one that waits is added after, and adding reports what is already ready.
  run();
  if (fd_ >= 0 && !worker_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this)) close();
}

bool Connection::is_idle() const {
  return (state_ == State::head || state_ == State::proxy_header) && start_ == end_ && queue_head_ == queue_.size();
}

void Connection::drain() {
  draining_ = true;
  if (is_idle()) close();
}

void Connection::on_event(std::uint32_t events) {
  if (fd_ < 0) return;
  if (events & EPOLLOUT) write_blocked_ = false;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) socket_drained_ = false;
  if (events & (EPOLLRDHUP | EPOLLHUP)) peer_fin_pending_ = true;  // read on until EOF
  if (state_ == State::linger) {
    linger_read();
    return;
  }
  if ((events & EPOLLERR) && !(events & EPOLLIN)) {
    close();
    return;
  }
  run();
}

void Connection::run() {
  for (;;) {
    bool stalled = process();
    if (fd_ < 0) return;
    flush();
    if (fd_ < 0 || state_ == State::linger) return;
    if (write_blocked_ || close_after_output_) break;  // EPOLLOUT brings us back
    if (stalled) continue;  // the output drained: answer the requests still buffered
    if (state_ == State::waiting || state_ == State::streaming || state_ == State::proxying) {
      break;  // the rest waits in the socket
    }
    if (peer_eof_ && state_ == State::tunnel && proxy_) {
      proxy_->client_eof();  // a half-close passes on; the upstream's end closes us
      break;
    }
    if (peer_eof_) {
      // The client will send nothing more; whatever it had asked is answered (RFC 9112 §9.6).
      close();
      return;
    }
    ensure_buffer();
    std::size_t capacity = buffer_capacity_;
    if (end_ == capacity && state_ == State::head && start_ > 0) {
      std::memmove(buffer_, buffer_ + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    if (end_ == capacity) break;  // full until responses drain
    // A short read emptied the socket: with edge-triggered epoll, bytes arriving later raise a
    // new event, so reading again now would only return EAGAIN (a third of all reads).
    if (socket_drained_) break;
    bool new_request = state_ == State::head && start_ == end_;
    ssize_t n = ::read(fd_, buffer_ + end_, capacity - end_);
    if (n > 0) {
      if (new_request) request_started_ms_ = worker_.now_ms();
      socket_drained_ = !peer_fin_pending_ && static_cast<std::size_t>(n) < capacity - end_;
      end_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) {
      peer_eof_ = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) break;
    close();  // ECONNRESET and friends
    return;
  }
  if ((state_ == State::head || state_ == State::proxy_header) && start_ == end_) release_buffer();
  if (is_idle()) release_output();
  if (draining_ && is_idle()) {
    close();  // shutting down: the request in hand was answered
    return;
  }
  update_timer();
}

bool Connection::process() {
  while (fd_ >= 0 && !close_after_output_ && state_ != State::linger && state_ != State::waiting &&
         state_ != State::streaming && state_ != State::proxying) {
    if (state_ == State::tunnel) {
      forward_tunnel();
      return false;
    }
    if (write_blocked_ || out_.size() >= kOutputHighWater) return true;
    if (state_ == State::proxy_header) {
      if (!take_proxy_header()) return false;
    } else if (state_ == State::head) {
      if (start_ == end_) return false;
      std::string_view bytes(buffer_ + start_, end_ - start_);
      http::ParseResult r = parser_.parse(bytes, worker_.request());
      if (r.state == ParseState::incomplete) return false;
      if (r.state == ParseState::error) {
        respond_error(r.status, first_line(bytes));
        return false;
      }
      if (!within_rate(bytes)) return false;
      if (!head_complete(r.consumed)) return false;
    } else if (!read_body()) {
      return false;
    }
  }
  return false;
}

bool Connection::take_proxy_header() {
  net::ProxyHeader header = net::read_proxy_header({buffer_ + start_, end_ - start_});
  if (header.status == net::ProxyHeader::Status::incomplete) return false;
  if (header.status == net::ProxyHeader::Status::invalid) {
    // A listener behind a proxy trusts only what the proxy says; whatever else arrived cannot be
    // told apart from a forged header, so it gets no answer at all.
    base::log_error("{}: no valid PROXY protocol header on a listener that requires one: closed",
                    std::string_view(client_, client_length_));
    close();
    return false;
  }
  start_ += header.length;
  if (start_ == end_) start_ = end_ = 0;
  if (header.has_addresses) {
    std::memcpy(&peer_, &header.source,
                header.source.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    client_length_ = net::format_host(reinterpret_cast<const sockaddr*>(&peer_), client_, sizeof client_);
  }
  state_ = State::head;
  request_started_ms_ = worker_.now_ms();
  if (ClientLimits* per_client = worker_.state().client_limits.load(std::memory_order_acquire)) {
    auto admit = per_client->try_open(reinterpret_cast<const sockaddr*>(&peer_), worker_.now_ms(), limit_slot);
    if (admit != ClientLimits::Admit::ok) {
      worker_.send_refusal(fd_, admit == ClientLimits::Admit::over_limit);
      close();
      return false;
    }
  }
  return true;
}

bool Connection::within_rate(std::string_view bytes) {
  std::uint32_t retry = 0;
  ClientLimits* per_client = worker_.state().client_limits.load(std::memory_order_acquire);
  if (!limit_slot.held() || per_client->take_request(limit_slot, worker_.now_ms(), retry)) return true;
  // Over the request rate: 429 and close. A body may follow the head, so linger rather than
  // reset the connection under the response.
  Response& res = worker_.response();
  res.reset();
  set_error_response(res, Status::too_many_requests);
  res.add_header("Retry-After", std::to_string(retry));
  res.close = true;
  linger_needed_ = true;
  queue_response(&worker_.request(), res, first_line(bytes));
  return false;
}

bool Connection::head_complete(std::size_t head_length) {
  const http::Request& req = worker_.request();
  head_length_ = head_length;
  const Application* app = worker_.state().app;
  to_app_ = app && req.method != http::Method::unknown &&
            (req.form == http::TargetForm::origin || req.form == http::TargetForm::absolute) && app->wants(req);
  bool has_body = req.framing == http::BodyFraming::chunked ||
                  (req.framing == http::BodyFraming::content_length && req.content_length > 0);
  if (has_body && body_too_large(worker_.limits(), req)) {
    respond_error(Status::content_too_large, first_line({buffer_ + start_, head_length}));
    return false;
  }
  if (!to_app_ && worker_.site().has_proxy()) {
    if (proxy::Group* upstreams = proxy_upstreams(req)) return start_proxy(*upstreams, has_body);
  }
  if (has_body && req.expect_continue && !to_app_ && end_ - start_ == head_length) {
    // The site's answer does not depend on the body: it goes out now, instead of a 100 that
    // would have the client upload a body only for it to be dropped (a 405 for a POST to a
    // file, a 404), as nginx does. Whatever body the client sends anyway is read and dropped
    // while the answer goes out, then the connection closes, as after an early 413.
    close_after_output_ = true;
    linger_needed_ = true;
    dispatch();  // never waits: only the application's answers do
    return false;
  }
  if (!has_body) {
    if (!dispatch()) {
      wait_for_app(start_ + head_length);
      return false;
    }
    start_ += head_length;
    parser_.reset();
    if (start_ == end_) start_ = end_ = 0;
    return true;
  }
  begin_body(req);
  return true;
}

// The body follows the head: the head moves to the front of the buffer, so that body bytes
// always have room behind it. Only the request's scalars are read after the move.
void Connection::begin_body(const http::Request& req) {
  if (start_ > 0) {
    std::memmove(buffer_, buffer_ + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  body_pos_ = head_length_;
  body_chunked_ = req.framing == http::BodyFraming::chunked;
  body_.clear();
  if (to_app_ && !body_chunked_) body_.reserve(static_cast<std::size_t>(req.content_length));
  body_left_ = req.content_length;
  chunked_.reset();
  state_ = State::body;
  // RFC 9110 §10.1.1: tell a waiting client to send the body.
  if (req.expect_continue && end_ == body_pos_) {
    std::size_t begin = out_.size();
    out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    queue_bytes(begin);
  }
  worker_.body_timers.schedule(timer, worker_.now_ms());
}

proxy::Group* Connection::proxy_upstreams(const http::Request& req) const {
  // Only what dispatch() would give the site can go to an upstream (not 501, OPTIONS *, the
  // status endpoints or CONNECT).
  StatusEndpoint endpoint;
  if (front_of(worker_.site().config().status, req, endpoint) != Front::site) return nullptr;
  return worker_.handler().proxy_upstreams(req, reinterpret_cast<const sockaddr*>(&peer_), listener_);
}

// The request goes to an upstream: its head is rewritten and handed over now, its body as it
// comes. The head stays at the front of the buffer until the response ends (for the log).
bool Connection::start_proxy(proxy::Group& upstreams, bool has_body) {
  const http::Request& req = worker_.request();
  ++requests_;
  auth_user_.assign(worker_.handler().authenticated_user());  // admitted by proxy_upstreams()
  to_app_ = false;
  const char* line_end = req.target.data() + req.target.size() + 9;
  std::string_view request_line(req.method_name.data(), static_cast<std::size_t>(line_end - req.method_name.data()));
  const bool upgrade = !has_body && asks_upgrade(req);
  std::string& head = worker_.proxy_scratch();
  build_upstream_head(head, req, reinterpret_cast<const sockaddr*>(&peer_), {client_, client_length_},
                      upstreams.config(), upgrade);
  proxy_ = worker_.upstreams().start(*this, {worker_.site_ptr(), &upstreams, req.method, has_body, upgrade}, head);
  proxy_head_sent_ = false;
  if (!proxy_) {
    base::log_error("{} \"{}\": no upstream of {} has an address", std::string_view(client_, client_length_),
                    request_line, upstreams.server(0).name());
    Response& res = worker_.response();
    res.reset();
    set_error_response(res, Status::bad_gateway);
    if (has_body) {
      res.close = true;  // its body is not read: nothing after it can be found
      linger_needed_ = true;
    }
    queue_response(&req, res, request_line);
    if (has_body) return false;
    start_ += head_length_;
    parser_.reset();
    if (start_ == end_) start_ = end_ = 0;
    return true;
  }
  if (!has_body) {
    if (start_ > 0) {
      std::memmove(buffer_, buffer_ + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    state_ = State::proxying;
    next_start_ = head_length_;
    proxy_->request_sent();
    return false;
  }
  begin_body(req);
  return true;
}

// The body of a proxied request, passed on as it arrives (re-framed when chunked: the upstream
// gets the data, not the client's chunk boundaries, extensions or trailers).
bool Connection::forward_body() {
  if (proxy_->backlogged()) return false;  // proxy_resume() brings us back
  std::string_view available(buffer_ + body_pos_, end_ - body_pos_);
  bool done;
  if (!body_chunked_) {
    std::uint64_t take = std::min<std::uint64_t>(body_left_, available.size());
    proxy_->send(available.substr(0, static_cast<std::size_t>(take)));
    body_pos_ += take;
    body_left_ -= take;
    done = body_left_ == 0;
  } else {
    auto r = chunked_.decode(available, &proxy_chunk_);
    body_pos_ += r.consumed;
    if (r.state == ParseState::error) {
      if (proxy_head_sent_) {
        close();  // a response is on its way: nothing else can be said
        return false;
      }
      proxy_->abandon();
      proxy_ = nullptr;
      respond_error(r.status, first_line({buffer_ + start_, head_length_}));
      return false;
    }
    if (!proxy_chunk_.empty()) {
      char size[24];
      auto end = fmt::format_to_n(size, sizeof size, "{:x}\r\n", proxy_chunk_.size()).out;
      proxy_->send({size, static_cast<std::size_t>(end - size)});
      proxy_->send(proxy_chunk_);
      proxy_->send("\r\n");
      proxy_chunk_.clear();
    }
    done = r.state == ParseState::complete;
    if (done) proxy_->send("0\r\n\r\n");
  }
  if (!done) {
    keep_unread_body();
    return false;
  }
  state_ = State::proxying;
  next_start_ = body_pos_;
  proxy_->request_sent();
  return false;
}

// The body bytes not yet taken move right behind the head, so that the buffer has room for more.
void Connection::keep_unread_body() {
  std::size_t keep = end_ - body_pos_;
  std::size_t dst = start_ + head_length_;
  if (dst != body_pos_) std::memmove(buffer_ + dst, buffer_ + body_pos_, keep);
  body_pos_ = dst;
  end_ = dst + keep;
}

void Connection::forward_tunnel() {
  if (!proxy_ || end_ == start_ || proxy_->backlogged()) return;
  proxy_->send({buffer_ + start_, end_ - start_});
  start_ = end_ = 0;
}

bool Connection::read_body() {
  if (proxy_) return forward_body();
  std::string_view available(buffer_ + body_pos_, end_ - body_pos_);
  bool done;
  // The static handler has no use for a body: it is read (to keep the framing) and dropped. The
  // back end gets it whole.
  if (!body_chunked_) {
    std::uint64_t take = std::min<std::uint64_t>(body_left_, available.size());
    if (to_app_) body_.append(available.data(), static_cast<std::size_t>(take));
    body_pos_ += take;
    body_left_ -= take;
    done = body_left_ == 0;
  } else {
    auto r = chunked_.decode(available, to_app_ ? &body_ : nullptr);
    body_pos_ += r.consumed;
    if (r.state == ParseState::error) {
      respond_error(r.status, first_line({buffer_ + start_, head_length_}));
      return false;
    }
    done = r.state == ParseState::complete;
  }
  if (!done) {
    keep_unread_body();
    return false;
  }
  // Another connection may have used the worker's Request since: parse the head again.
  parser_.reset();
  parser_.parse({buffer_ + start_, head_length_}, worker_.request());
  if (!dispatch()) {
    wait_for_app(body_pos_);
    return false;
  }
  start_ = body_pos_;
  state_ = State::head;
  parser_.reset();
  if (start_ == end_) start_ = end_ = 0;
  return true;
}

bool Connection::dispatch() {
  const http::Request& req = worker_.request();
  Response& res = worker_.response();
  res.reset();
  ++requests_;
  // The request line as sent: method, target and the 8 bytes of "HTTP/1.x".
  const char* line_end = req.target.data() + req.target.size() + 9;
  std::string_view request_line(req.method_name.data(), static_cast<std::size_t>(line_end - req.method_name.data()));
  try {
    StatusEndpoint endpoint;
    switch (front_of(worker_.site().config().status, req, endpoint)) {
      case Front::not_implemented:
        set_error_response(res, Status::not_implemented);
        res.close = true;  // we cannot know what such a method's message means: end here
        break;
      case Front::server_options:
        res.status = Status::no_content;  // OPTIONS * (RFC 9110 §9.3.7): what the server allows
        res.add_header("Allow", "GET, HEAD, OPTIONS");
        break;
      case Front::status_endpoint:
        // The viewer's own row shows this request, being answered.
        last_request_.assign(request_line.substr(0, 200));
        answering_ = true;
        serve_status(endpoint, req, res);
        answering_ = false;
        break;
      case Front::connect:
        res.add_header("Allow", "GET, HEAD, OPTIONS");  // an origin server, not a tunnel
        set_error_response(res, Status::method_not_allowed);
        break;
      case Front::site:
        if (to_app_) {
          if (!answer_from_app(req, res, request_line)) return false;
        } else {
          worker_.handler().handle(req, res, worker_.now_ms(), reinterpret_cast<const sockaddr*>(&peer_), listener_);
          auth_user_.assign(worker_.handler().authenticated_user());
        }
        break;
    }
  } catch (const std::exception& e) {
    answering_ = false;
    base::log_error("{} \"{}\": handler failed: {}", std::string_view(client_, client_length_), request_line, e.what());
    worker_.handler().release(res.file);
    res.reset();
    set_error_response(res, Status::internal_server_error);
  }
  queue_response(&req, res, request_line);
  if (body_.capacity() > kOutputHighWater) std::string().swap(body_);  // a big upload's memory goes back
  body_.clear();
  return true;
}

bool Connection::answer_from_app(const http::Request& req, Response& res, std::string_view request_line) {
  auto end = fmt::format_to_n(request_id_, sizeof request_id_, "{:x}-{:x}", worker_.index(),
                              worker_.next_request_number()).out;
  request_id_length_ = static_cast<std::size_t>(end - request_id_);
  std::string_view id(request_id_, request_id_length_);
  try {
    worker_.state().app->handle({req, body_, reinterpret_cast<const sockaddr*>(&peer_), id, *this}, res);
    if (!deferred_) return true;
    worker_.handler().release(res.file);  // what the handler set before later() is not the answer
    res.file = nullptr;
    return false;
  } catch (const std::exception& e) {
    fail_app(res, request_line, e.what());
  } catch (...) {
    fail_app(res, request_line, "an exception that is not a std::exception");
  }
  return true;
}

// The back end's fault, not the client's: a 500 the client can quote, the details in the log.
void Connection::fail_app(Response& res, std::string_view request_line, std::string_view what) {
  std::string_view id(request_id_, request_id_length_);
  if (deferred_) {
    deferred_->connection = nullptr;  // a completion that still comes is dropped
    deferred_.reset();
  }
  base::log_error("{} \"{}\": request {}: handler threw: {}", std::string_view(client_, client_length_), request_line,
                  id, what);
  worker_.handler().release(res.file);
  res.reset();
  res.status = Status::internal_server_error;
  res.add_header("Content-Type", "text/html; charset=utf-8");
  res.add_header("X-Request-Id", id);
  res.body = fmt::format(
      "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head><body>"
      "<h1>500 Internal Server Error</h1><p>The server failed to answer. Request id: {}</p></body></html>\n",
      id);
}

Deferred Connection::defer() {
  if (!deferred_) deferred_ = std::make_shared<DeferredTarget>(this);
  return Deferred(worker_.completions(), deferred_);
}

void Connection::wait_for_app(std::size_t next_request) {
  // The head stays where it is in the buffer (the answer needs it), and so does whatever the
  // client sent after the request.
  next_start_ = next_request;
  state_ = State::waiting;
}

const http::Request& Connection::waiting_request(std::string_view& request_line) {
  // Other connections used the worker's Request meanwhile: parse this head again (it stays at
  // start_ in the buffer while the back end answers).
  parser_.reset();
  parser_.parse({buffer_ + start_, head_length_}, worker_.request());
  const http::Request& req = worker_.request();
  const char* line_end = req.target.data() + req.target.size() + 9;
  request_line = {req.method_name.data(), static_cast<std::size_t>(line_end - req.method_name.data())};
  return req;
}

void Connection::finish_deferred(const CompletionQueue::Fill& fill) {
  if (fd_ < 0 || state_ != State::waiting) return;
  std::string_view request_line;
  const http::Request& req = waiting_request(request_line);
  Response& res = worker_.response();
  res.reset();
  try {
    fill(res);
  } catch (const std::exception& e) {
    fail_app(res, request_line, e.what());
  } catch (...) {
    fail_app(res, request_line, "an exception that is not a std::exception");
  }
  if (res.stream && deferred_) {
    // The head now, the body as the back end writes it (stream_write, stream_end).
    deferred_->connection = this;
    queue_stream_head(req, res);
    state_ = State::streaming;
    flush();
    if (fd_ >= 0) update_timer();
    return;
  }
  if (deferred_) deferred_->open.store(false, std::memory_order_relaxed);
  deferred_.reset();
  queue_response(&req, res, request_line);
  next_request();
}

void Connection::next_request() {
  if (body_.capacity() > kOutputHighWater) std::string().swap(body_);
  body_.clear();
  start_ = next_start_;
  state_ = State::head;
  parser_.reset();
  if (start_ == end_) start_ = end_ = 0;
  run();  // send what is queued, and answer what the client sent meanwhile
}

void Connection::queue_stream_head(const http::Request& req, Response& res) {
  int status = http::code(res.status);
  // HTTP/1.1 frames the body in chunks; an HTTP/1.0 client learns the end from the close.
  stream_chunked_ = req.version_minor >= 1;
  stream_keep_alive_ = stream_chunked_ && req.keep_alive && !res.close && !draining_;
  stream_body_ = !is_bodiless(status) && req.method != http::Method::head;
  stream_status_ = status;
  stream_bytes_ = 0;
  std::size_t begin = out_.size();
  append_head_start(status, res);
  if (stream_chunked_ && stream_body_) out_ += "Transfer-Encoding: chunked\r\n";
  if (!stream_keep_alive_) out_ += "Connection: close\r\n";
  out_ += "\r\n";
  queue_bytes(begin);
}

bool Connection::stream_write(std::string_view bytes) {
  if (fd_ < 0 || state_ != State::streaming) return false;
  if (bytes.empty() || !stream_body_) return true;
  // A producer faster than the client must not grow our memory without bound.
  if (queued_total_ - sent_total_ > kStreamBacklogMax) {
    base::log_error("{}: request {}: the client is {} bytes behind the stream; connection closed",
                    std::string_view(client_, client_length_), std::string_view(request_id_, request_id_length_),
                    queued_total_ - sent_total_);
    close();
    return false;
  }
  append_stream_piece(bytes);
  flush();
  if (fd_ >= 0) worker_.send_timers.schedule(timer, worker_.now_ms());  // the producer is alive
  return fd_ >= 0;
}

void Connection::stream_end() {
  if (fd_ < 0 || state_ != State::streaming) return;
  if (deferred_) deferred_->open.store(false, std::memory_order_relaxed);
  deferred_.reset();
  end_stream_body();
  next_request();
}

// The last chunk of a streamed or proxied body, and the response in the log and counters.
void Connection::end_stream_body() {
  if (stream_chunked_ && stream_body_) {
    std::size_t begin = out_.size();
    out_ += "0\r\n\r\n";
    queue_bytes(begin);
  }
  std::string_view request_line;
  const http::Request& req = waiting_request(request_line);
  record_response(&req, stream_status_, stream_bytes_, request_line);
  if (!stream_keep_alive_) close_after_output_ = true;
}

bool Connection::proxy_head(const http::Response& up, bool tunnel, bool via) {
  if (fd_ < 0) return false;
  std::string_view request_line;
  const http::Request& req = waiting_request(request_line);
  proxy_head_sent_ = true;
  const int status = up.status;
  const bool head_method = req.method == http::Method::head;
  const bool bodiless = is_bodiless(status) || head_method;
  const bool length_known = up.framing == http::ResponseFraming::content_length;
  // The client gets the upstream's length when it has one, else chunks (HTTP/1.1) or the end of
  // the connection (HTTP/1.0).
  stream_chunked_ = !tunnel && !bodiless && !length_known && req.version_minor >= 1;
  const bool close_delimited = !tunnel && !bodiless && !length_known && !stream_chunked_;
  // An answer before the whole request body came ends the connection (end_proxied_early): it
  // says so (RFC 9112 §9.6).
  stream_keep_alive_ = !tunnel && !close_delimited && req.keep_alive && !draining_ && !close_after_output_ &&
                       state_ != State::body;
  stream_body_ = tunnel || !bodiless;
  stream_status_ = status;
  stream_bytes_ = 0;

  std::size_t begin = out_.size();
  fmt::format_to(std::back_inserter(out_), "HTTP/1.1 {} {}\r\nDate: ", status,
                 up.reason.empty() ? http::reason_phrase(status) : up.reason);
  out_ += worker_.dates().now();
  out_ += "\r\n";
  if (worker_.site().config().server_tokens) out_ += "Server: nuri/" NURI_VERSION "\r\n";
  append_response_fields(out_, up, via);
  if (tunnel) {
    out_ += "Connection: upgrade\r\nUpgrade: ";
    out_ += up.find("Upgrade").value_or(std::string_view());
    out_ += "\r\n";
  } else {
    // A HEAD or 304 answer announces the length of what GET would send (RFC 9110 §8.6).
    if (up.has_content_length && !up.framing_conflict && (length_known || head_method || status == 304)) {
      fmt::format_to(std::back_inserter(out_), "Content-Length: {}\r\n", up.content_length);
    }
    if (stream_chunked_) out_ += "Transfer-Encoding: chunked\r\n";
    if (!stream_keep_alive_) {
      out_ += "Connection: close\r\n";
    } else if (req.version_minor == 0) {
      out_ += "Connection: keep-alive\r\n";
    }
  }
  out_ += "\r\n";
  queue_bytes(begin);
  if (tunnel) {
    // From here on the bytes after the request head are the new protocol's.
    record_response(&req, status, 0, request_line);
    state_ = State::tunnel;
    start_ = next_start_;
    parser_.reset();
    if (start_ == end_) start_ = end_ = 0;
    run();  // what the client sent meanwhile, and what waits in its socket
    return fd_ >= 0;
  }
  return true;  // sent with the first body bytes (proxy_flush)
}

bool Connection::proxy_flush() {
  if (fd_ >= 0 && queue_head_ < queue_.size() && !write_blocked_) flush();
  return fd_ >= 0;
}

bool Connection::proxy_body(std::string_view bytes) {
  if (fd_ < 0) return false;
  if (!stream_body_ || bytes.empty()) return true;
  append_stream_piece(bytes);
  return true;
}

void Connection::append_stream_piece(std::string_view bytes) {
  std::size_t begin = out_.size();
  if (stream_chunked_) fmt::format_to(std::back_inserter(out_), "{:x}\r\n", bytes.size());
  out_.append(bytes);
  if (stream_chunked_) out_ += "\r\n";
  queue_bytes(begin);
  stream_bytes_ += bytes.size();
}

void Connection::proxy_done(bool complete) {
  proxy_ = nullptr;
  if (fd_ < 0) return;
  if (!complete || state_ == State::tunnel) {
    // A body cut short can only be told by closing (a length not reached, no last chunk); a
    // tunnel ends when the upstream's side does.
    if (!complete) {
      flush();  // what did arrive, then the close that tells it is not all
      close();
      return;
    }
    close_after_output_ = true;
    flush();
    return;
  }
  end_stream_body();
  if (state_ == State::body) return end_proxied_early();
  next_request();
}

void Connection::proxy_fail(http::Status status, std::string_view why) {
  proxy_ = nullptr;
  if (fd_ < 0) return;
  std::string_view request_line;
  const http::Request& req = waiting_request(request_line);
  if (!why.empty()) base::log_error("{} \"{}\": {}", std::string_view(client_, client_length_), request_line, why);
  Response& res = worker_.response();
  res.reset();
  if (status == http::Status::service_unavailable) res.add_header("Retry-After", "1");
  set_error_response(res, status);
  if (state_ == State::body) res.close = true;
  queue_response(&req, res, request_line);
  if (state_ == State::body) return end_proxied_early();
  next_request();
}

// The upstream answered before the client finished sending the body: the rest of it is read
// and dropped while the answer goes out, then the connection closes.
void Connection::end_proxied_early() {
  close_after_output_ = true;
  linger_needed_ = true;
  flush();
  if (fd_ >= 0 && state_ != State::linger) update_timer();
}

void Connection::proxy_resume() {
  if (fd_ >= 0 && proxy_ && (state_ == State::body || state_ == State::tunnel)) run();
}

void Connection::serve_status(StatusEndpoint endpoint, const http::Request& req, Response& res) {
  Status refusal = status_endpoint_check(worker_.site().config().status, req, reinterpret_cast<const sockaddr*>(&peer_));
  if (refusal == Status::method_not_allowed) res.add_header("Allow", "GET, HEAD");
  if (refusal != Status::ok) return set_error_response(res, refusal);
  if (endpoint == StatusEndpoint::status) worker_.watch();
  render_status(endpoint, req, worker_.state(),
                endpoint == StatusEndpoint::status ? worker_.describe_connections() : std::vector<ConnectionInfo>{},
                worker_.index(), worker_.site().upstream_groups(), res);
}

ConnectionInfo Connection::describe() const {
  ConnectionInfo info;
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  const auto* peer = reinterpret_cast<const sockaddr*>(&peer_);
  info.client = net::SocketAddress::from(peer, peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)).to_string();
  if (fd_ >= 0 && ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
    info.local = net::SocketAddress::from(reinterpret_cast<sockaddr*>(&local), length).to_string();
  }
  if (state_ == State::linger) {
    info.state = "closing";
  } else if (state_ == State::proxy_header) {
    info.state = "reading PROXY header";
  } else if (state_ == State::waiting) {
    info.state = "waiting for the application";
  } else if (state_ == State::streaming) {
    info.state = "streaming response";
  } else if (state_ == State::proxying) {
    info.state = "proxying";
  } else if (state_ == State::tunnel) {
    info.state = "tunnel";
  } else if (answering_ || queue_head_ < queue_.size()) {
    info.state = "writing response";
  } else if (state_ == State::body) {
    info.state = "reading body";
  } else if (start_ < end_ || requests_ == 0) {
    info.state = "reading request";
  } else {
    info.state = "keep-alive idle";
  }
  info.request_line = last_request_;
  info.bytes_sent = bytes_sent_;
  info.requests = requests_;
  info.age_seconds = static_cast<double>(worker_.now_ms() - started_ms_) / 1000.0;
  return info;
}

void Connection::respond_error(Status status, std::string_view request_line) {
  Response& res = worker_.response();
  res.reset();
  set_error_response(res, status);
  res.close = true;  // after a framing error nothing that follows can be trusted
  linger_needed_ = true;
  // There is no Request, but a first line that names HEAD still gets no body (RFC 9110 §9.3.2):
  // a client reading the answer to a HEAD takes no body after the head, whatever the status.
  queue_response(nullptr, res, request_line, request_line.starts_with("HEAD "));
}

void Connection::queue_bytes(std::size_t begin) {
  std::size_t length = out_.size() - begin;
  if (length == 0) return;
  queued_total_ += length;
  if (queue_head_ < queue_.size()) {
    OutSegment& last = queue_.back();
    if (!last.file && last.offset + last.length == begin) {
      last.length += length;
      return;
    }
  }
  queue_.push_back({nullptr, begin, length});
}

// The status line, Date, Server (when asked for) and the handler's own fields: what every
// response head starts with; the caller adds the framing fields and the empty line.
void Connection::append_head_start(int status, const Response& res) {
  fmt::format_to(std::back_inserter(out_), "HTTP/1.1 {} {}\r\nDate: ", status, http::reason_phrase(status));
  out_ += worker_.dates().now();
  out_ += "\r\n";
  if (worker_.site().config().server_tokens) out_ += "Server: nuri/" NURI_VERSION "\r\n";
  out_ += res.headers;
}

void Connection::queue_response(const http::Request* req, Response& res, std::string_view request_line, bool head) {
  int status = http::code(res.status);
  // A 400 means the client sent something malformed; like nginx, trust nothing after it.
  bool keep_alive = req && req->keep_alive && !res.close && !draining_ && !close_after_output_ &&
                    res.status != Status::bad_request;
  if (!keep_alive) close_after_output_ = true;

  std::size_t begin = out_.size();
  append_head_start(status, res);
  bool bodiless_status = is_bodiless(status);
  std::uint64_t length = res.content_length();
  if (!bodiless_status) fmt::format_to(std::back_inserter(out_), "Content-Length: {}\r\n", length);
  if (!keep_alive) {
    out_ += "Connection: close\r\n";
  } else if (req->version_minor == 0) {
    out_ += "Connection: keep-alive\r\n";
  }
  out_ += "\r\n";

  // HEAD: the same head as GET, the body only announced (RFC 9110 §9.3.2).
  bool send_body = !bodiless_status && !(req ? req->method == http::Method::head : head);
  if (send_body) {
    if (res.segments.empty()) {
      out_ += res.body;
    } else {
      for (const BodySegment& s : res.segments) {
        if (s.length == 0) continue;
        if (!s.from_file) {
          out_.append(res.body, s.offset, s.length);
        } else if (res.file->in_memory) {
          out_.append(res.file->content, s.offset, s.length);
        } else {
          queue_bytes(begin);
          queue_file(res.file, s.offset, s.length);
          begin = out_.size();
        }
      }
    }
  }
  queue_bytes(begin);
  worker_.handler().release(res.file);
  res.file = nullptr;

  record_response(req, status, send_body ? length : 0, request_line);
}

// The response's last byte is queued: the duration histogram, the counters, the access log.
void Connection::record_response(const http::Request* req, int status, std::uint64_t body_bytes,
                                 std::string_view request_line) {
  timings_.push_back({queued_total_, request_started_ms_});
  // A pipelined request already in the buffer has been waiting since now.
  request_started_ms_ = worker_.now_ms();

  bytes_sent_ += body_bytes;
  worker_.stats().count_response(status, body_bytes, worker_.now_seconds());
  if (worker_.watched()) last_request_.assign(request_line.substr(0, 200));

  AccessLog& log = worker_.access_log();
  if (log.enabled()) {
    AccessRecord record;
    record.client = {client_, client_length_};
    record.user = auth_user_;
    record.request_line = request_line;
    record.status = status;
    record.bytes = body_bytes;
    if (req) {
      record.referer = req->find("Referer").value_or(std::string_view());
      record.user_agent = req->find("User-Agent").value_or(std::string_view());
    }
    log.add(record);
  }
  auth_user_.clear();
}

void Connection::queue_file(OpenFile* file, std::uint64_t offset, std::uint64_t length) {
  ++file->refs;
  queued_total_ += length;
  queue_.push_back({file, offset, length});
}

void Connection::flush() {
  bool progress = false;
  while (queue_head_ < queue_.size()) {
    OutSegment& seg = queue_[queue_head_];
    if (seg.length == 0) {
      if (seg.file) worker_.handler().release(seg.file);
      ++queue_head_;
      continue;
    }
    ssize_t n;
    if (!seg.file) {
      // Bytes before a file's (a response head before its body): MSG_MORE keeps them for the
      // file's first segment instead of pushing them out alone. With the head on its own, a
      // 1 MiB response here (loopback, bbr) came at two-thirds of the rate, the rest of it
      // sent from the client's ACKs on the client's CPU (docs/benchmarks.md, session 22).
      const bool file_next = queue_head_ + 1 < queue_.size() && queue_[queue_head_ + 1].file &&
                             queue_[queue_head_ + 1].length > 0;
      n = ::send(fd_, out_.data() + seg.offset, seg.length, MSG_NOSIGNAL | (file_next ? MSG_MORE : 0));
    } else {
      off_t offset = static_cast<off_t>(seg.offset);
      n = ::sendfile(fd_, seg.file->fd, &offset, std::min<std::uint64_t>(seg.length, 1u << 30));
      if (n == 0) {
        // The file shrank under us: the promised length cannot be sent. Closing early is how
        // the client learns the body is incomplete; the next request must see the new size.
        seg.file->mark_stale();
        base::log_error("{}: file changed while being sent; connection closed", std::string_view(client_, client_length_));
        close();
        return;
      }
    }
    if (n > 0) {
      seg.offset += static_cast<std::uint64_t>(n);
      seg.length -= static_cast<std::uint64_t>(n);
      sent_total_ += static_cast<std::uint64_t>(n);
      progress = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      if (progress) {
        complete_responses();
        compact_output();
        if (proxy_ && unsent_bytes() < kProxyClientHighWater / 2) proxy_->client_drained();
      }
      write_blocked_ = true;
      if (progress || timer.list != &worker_.send_timers) worker_.send_timers.schedule(timer, worker_.now_ms());
      return;
    }
    close();  // EPIPE, ECONNRESET: the client is gone
    return;
  }
  out_.clear();
  queue_.clear();
  queue_head_ = 0;
  complete_responses();
  if (proxy_) proxy_->client_drained();
  if (close_after_output_) {
    // A request answered in full with nothing more received: close at once, as nginx does.
    // Otherwise (an error mid-request, pipelined bytes, a body still arriving) the client may
    // still be sending, and closing now would reset the connection under our response.
    if (peer_eof_ || no_linger_ || (!linger_needed_ && start_ == end_)) {
      close();
    } else {
      start_linger();
    }
  }
}

// A long response that never quite drains (a stream, a proxied body) would grow out_ without
// bound: once the bytes already sent outweigh those still waiting, they are dropped.
void Connection::compact_output() {
  std::size_t shift = out_.size();
  for (std::size_t i = queue_head_; i < queue_.size(); ++i) {
    if (!queue_[i].file) {
      shift = static_cast<std::size_t>(queue_[i].offset);
      break;
    }
  }
  if (shift < 64 * 1024 || shift < out_.size() - shift) return;
  out_.erase(0, shift);
  for (std::size_t i = queue_head_; i < queue_.size(); ++i) {
    if (!queue_[i].file) queue_[i].offset -= shift;
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_));
  queue_head_ = 0;
}

void Connection::complete_responses() {
  while (timings_head_ < timings_.size() && timings_[timings_head_].end <= sent_total_) {
    worker_.stats().observe_duration(worker_.now_ms() - timings_[timings_head_].started_ms);
    ++timings_head_;
  }
  if (timings_head_ == timings_.size()) {
    timings_.clear();
    timings_head_ = 0;
  }
}

void Connection::start_linger() {
  // Close gracefully: send our FIN, then read and drop what the client still sends, so that
  // closing with unread data does not reset the connection before it read our response.
  state_ = State::linger;
  ::shutdown(fd_, SHUT_WR);
  release_buffer();
  worker_.linger_timers.schedule(timer, worker_.now_ms());
  linger_read();
}

void Connection::linger_read() {
  char scratch[4096];
  for (;;) {
    ssize_t n = ::read(fd_, scratch, sizeof scratch);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    close();
    return;
  }
}

void Connection::update_timer() {
  if (fd_ < 0 || state_ == State::linger) return;
  TimerList* want;
  if (write_blocked_ && queue_head_ < queue_.size()) {
    want = &worker_.send_timers;  // refreshed by flush() on progress
  } else if (state_ == State::body) {
    want = &worker_.body_timers;
  } else if (state_ == State::waiting || state_ == State::streaming) {
    want = &worker_.send_timers;  // how long the back end may take
  } else if (state_ == State::proxying || state_ == State::tunnel) {
    TimerList::unlink(timer);  // the upstream's timeouts run
    return;
  } else if (start_ < end_ || requests_ == 0) {
    want = &worker_.header_timers;
  } else {
    want = &worker_.idle_timers;
  }
  // Each timer runs from the start of what it measures: the header timeout from the first byte
  // of a request head (trickling bytes do not extend it: that is how slowloris is cut off), the
  // idle timeout from the end of the last response, the body timeout from the last read.
  if (want == &worker_.body_timers || timer.list != want || timer_request_ != requests_) {
    want->schedule(timer, worker_.now_ms());
    timer_request_ = requests_;
  }
}

void Connection::on_timeout() {
  TimerList* list = timer.list;
  TimerList::unlink(timer);
  if (proxy_) {
    if (state_ != State::body || proxy_head_sent_) {
      close();  // the client stopped reading (or sending) in the middle of a proxied exchange
      return;
    }
    proxy_->abandon();  // a body too slow: 408 below, and the upstream never gets the rest
    proxy_ = nullptr;
  }
  if (state_ == State::streaming) {
    // The producer went silent: the response cannot be completed, so the connection is cut
    // (a chunked body without its last chunk tells the client it is incomplete).
    base::log_error("{}: request {}: the stream had nothing new for {} s; connection closed",
                    std::string_view(client_, client_length_), std::string_view(request_id_, request_id_length_),
                    worker_.limits().send_timeout);
    close();
    return;
  }
  if (state_ == State::waiting) {
    // The back end did not answer in time: the client gets a 504 now, and a completion that
    // still comes is dropped.
    std::string_view id(request_id_, request_id_length_);
    base::log_error("{}: request {}: no answer from the application within {} s",
                    std::string_view(client_, client_length_), id, worker_.limits().send_timeout);
    if (deferred_) deferred_->connection = nullptr;
    finish_deferred([id](Response& res) {
      set_error_response(res, Status::gateway_timeout);
      res.add_header("X-Request-Id", id);
    });
    return;
  }
  if (state_ == State::proxy_header) {
    close();  // a proxy that cannot send its header in time gets no answer either
    return;
  }
  bool partial_request = (list == &worker_.header_timers && start_ < end_) || list == &worker_.body_timers;
  if (partial_request && state_ != State::linger && !close_after_output_) {
    respond_error(Status::request_timeout, first_line({buffer_ + start_, end_ - start_}));
    no_linger_ = true;  // a client that slow gets its 408 and no more of our time
    flush();
    if (fd_ >= 0 && state_ != State::linger) update_timer();
    return;
  }
  close();
}

void Connection::ensure_buffer() {
  if (buffer_) return;
  buffer_ = worker_.take_buffer();
  buffer_capacity_ = worker_.buffer_size();
  // Between requests: the limits of the site as it is now (a reload may have changed them).
  const config::Limits& limits = worker_.limits();
  parser_ = http::RequestParser(parser_limits(limits));
  chunked_ = http::ChunkedDecoder(limits.max_body_size);
  // Whatever this request's answer is, it is written into out_.
  if (out_.capacity() <= kInlineCapacity) out_ = worker_.take_output();
}

// Between requests a keep-alive connection keeps only itself (~750 bytes): its response bytes go
// back to the worker (an idle connection costs less than nginx's 1 KiB target that way), and so
// does what a back end's request body or a re-framed chunk grew.
void Connection::release_output() {
  if (out_.capacity() > kInlineCapacity) worker_.give_output(std::move(out_));
  out_.clear();
  if (body_.capacity() > kInlineCapacity) std::string().swap(body_);
  if (proxy_chunk_.capacity() > kInlineCapacity) std::string().swap(proxy_chunk_);
}

void Connection::release_buffer() {
  if (buffer_) {
    worker_.give_buffer(buffer_, buffer_capacity_);
    buffer_ = nullptr;
  }
  start_ = end_ = 0;
}

void Connection::close() {
  if (fd_ < 0) return;
  TimerList::unlink(timer);
  if (proxy_) {
    proxy_->abandon();
    proxy_ = nullptr;
  }
  ::close(fd_);  // also takes it out of the epoll set
  fd_ = -1;
  if (deferred_) {
    deferred_->connection = nullptr;  // the answer that may still come has nobody to go to
    deferred_->open.store(false, std::memory_order_relaxed);
    deferred_.reset();
  }
  if (limit_slot.held()) worker_.state().client_limits.load(std::memory_order_acquire)->close(limit_slot);
  for (std::size_t i = queue_head_; i < queue_.size(); ++i) {
    if (queue_[i].file) worker_.handler().release(queue_[i].file);
  }
  queue_.clear();
  queue_head_ = 0;
  release_output();
  release_buffer();
  worker_.retire(this);
}

}  // namespace nuri::server
