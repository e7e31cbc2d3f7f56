#include "server/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/log.h"
#include "http/chars.h"
#include "http/field_values.h"
#include "net/socket.h"
#include "server/connection.h"
#include "server/worker.h"

namespace nuri::server {

namespace {

// The fields the proxy treats specially, recognised with one switch on the name's length and
// one comparison: a request or response has a dozen fields, and each used to be compared with
// every special name in turn.
enum class Field : std::uint8_t {
  other,
  hop_by_hop,  // RFC 9110 §7.6.1: for one connection only (Connection and Upgrade have their own)
  connection,
  upgrade,
  host,
  content_length,
  expect,
  x_forwarded_for,
  x_forwarded_proto,
  x_forwarded_host,
  forwarded,
  via,
  date,
  server,
};

Field classify(std::string_view name) {
  const auto named = [name](std::string_view lower) { return http::iequals(name, lower); };
  switch (name.size()) {
    case 2: return named("te") ? Field::hop_by_hop : Field::other;
    case 3: return named("via") ? Field::via : Field::other;
    case 4:
      if (named("host")) return Field::host;
      return named("date") ? Field::date : Field::other;
    case 6:
      if (named("expect")) return Field::expect;
      return named("server") ? Field::server : Field::other;
    case 7:
      if (named("upgrade")) return Field::upgrade;
      return named("trailer") ? Field::hop_by_hop : Field::other;
    case 9: return named("forwarded") ? Field::forwarded : Field::other;
    case 10:
      if (named("connection")) return Field::connection;
      return named("keep-alive") ? Field::hop_by_hop : Field::other;
    case 14: return named("content-length") ? Field::content_length : Field::other;
    case 15: return named("x-forwarded-for") ? Field::x_forwarded_for : Field::other;
    case 16:
      if (named("x-forwarded-host")) return Field::x_forwarded_host;
      return named("proxy-connection") ? Field::hop_by_hop : Field::other;
    case 17:
      if (named("transfer-encoding")) return Field::hop_by_hop;
      return named("x-forwarded-proto") ? Field::x_forwarded_proto : Field::other;
    default: return Field::other;
  }
}

bool is_hop_by_hop(Field f) { return f == Field::hop_by_hop || f == Field::connection || f == Field::upgrade; }

// Whether a Connection field value lists `name` (those fields are hop-by-hop too).
bool lists(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    std::size_t comma = connection.find(',');
    if (http::iequals(http::fields::trim_ows(connection.substr(0, comma)), name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

template <typename Message>
std::string connection_tokens(const Message& m) {
  std::string all;
  for (std::size_t i = 0; i < m.header_count; ++i) {
    if (classify(m.headers[i].name) != Field::connection) continue;
    if (!all.empty()) all += ',';
    all += m.headers[i].value;
  }
  return all;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

// The values of every `kind` field not named by the Connection field, joined with ", " (a list
// field may arrive in several lines; empty ones add nothing); true if there was one.
template <typename Message>
bool append_joined(std::string& out, const Message& m, Field kind, std::string_view connection) {
  bool any = false;
  for (std::size_t i = 0; i < m.header_count; ++i) {
    const http::Header& h = m.headers[i];
    if (h.value.empty() || classify(h.name) != kind || lists(connection, h.name)) continue;
    if (any) out += ", ";
    out += h.value;
    any = true;
  }
  return any;
}

// Whether the body's transfer codings are ones nuri decodes: none, or chunked alone. RFC 9112
// §6.1 lets a recipient remove only a coding it decodes, and the client gets the body with
// nuri's own framing: "gzip, chunked" passed on as chunked would hand it gzip bytes as if plain.
// Anything else is refused, as nginx refuses it, whatever the status (a HEAD or 304 answer
// describes the body the request would have had).
bool only_chunked(const http::Response& response) {
  return response.transfer_coding_count == 0 ||
         (response.transfer_coding_count == 1 && http::iequals(response.transfer_codings[0], "chunked"));
}

// Why the client cannot be given `head`, the final answer to a request that asked to switch
// protocols or not (`upgrade`); empty when it can. Each is the upstream's fault: 502.
std::string refusal(const http::Response& head, bool upgrade) {
  using http::ResponseFraming;
  if (head.framing == ResponseFraming::switching_protocols) {
    if (!upgrade) return "101 Switching Protocols to a request that asked for no upgrade";
    // RFC 9110 §15.2.2: a 101 names the protocol the connection switches to.
    if (head.find("Upgrade").value_or("").empty()) return "101 Switching Protocols without Upgrade";
  }
  if (head.framing == ResponseFraming::tunnel) return "a tunnel answer to a request that was not CONNECT";
  // RFC 9112 §6.3 lets a proxy drop Content-Length and go on, but a message framed two ways is
  // how responses are split: refused, as such a request would be.
  if (head.framing_conflict) return "a response with both Content-Length and Transfer-Encoding";
  if (!only_chunked(head)) {
    std::string why = "unknown Transfer-Encoding \"";
    for (std::size_t i = 0; i < head.transfer_coding_count; ++i) {
      if (i > 0) why += ", ";
      why += head.transfer_codings[i];
    }
    return why + '"';
  }
  return {};
}

bool is_idempotent(http::Method m) {
  using http::Method;
  return m == Method::get || m == Method::head || m == Method::put || m == Method::delete_ ||
         m == Method::options || m == Method::trace;
}

}  // namespace

void build_upstream_head(std::string& out, const http::Request& req, const sockaddr* client,
                         std::string_view client_host, const config::Proxy& config, bool upgrade) {
  out.clear();
  out += req.method_name;
  out += ' ';
  if (req.form == http::TargetForm::origin) {
    out += req.target;
  } else {  // absolute form: an origin server is sent the path and query alone (RFC 9112 §3.2.1)
    out += req.path;
    if (!req.query.empty()) {
      out += '?';
      out += req.query;
    }
  }
  out += " HTTP/1.1\r\n";
  // The authority the client asked for: the Host field, or an absolute target's (which wins).
  // An HTTP/1.0 client may send neither, but the upstream is spoken to in HTTP/1.1, where a
  // request without Host is a 400 (RFC 9112 §3.2): name the upstream then, as nginx's default
  // does. (The empty Host that §3.2 also allows is refused by many servers, nuri among them.)
  if (!req.host.empty()) {
    append_field(out, "Host", req.host);
  } else if (!config.upstreams.empty()) {
    const config::Proxy::Upstream& up = config.upstreams.front();
    const bool ipv6 = up.host.find(':') != std::string::npos;
    out += "Host: ";
    out += ipv6 ? fmt::format("[{}]", up.host) : up.host;
    if (up.port != 80) fmt::format_to(std::back_inserter(out), ":{}", up.port);
    out += "\r\n";
  } else {
    out += "Host: \r\n";
  }

  const std::string connection = connection_tokens(req);
  std::string_view upgrade_value;
  bool forwarded_for = false, forwarded = false, via = false;  // such fields came: joined below
  for (std::size_t i = 0; i < req.header_count; ++i) {
    const http::Header& h = req.headers[i];
    const Field f = classify(h.name);
    if (f == Field::upgrade) upgrade_value = h.value;
    if (is_hop_by_hop(f) || lists(connection, h.name)) continue;
    switch (f) {
      case Field::host:
      case Field::content_length:
      case Field::expect:  // nuri answered 100 itself
      case Field::x_forwarded_proto:
      case Field::x_forwarded_host: continue;  // replaced below
      case Field::x_forwarded_for: forwarded_for = true; continue;
      case Field::forwarded: forwarded = true; continue;
      case Field::via: via = true; continue;
      default: append_field(out, h.name, h.value);
    }
  }
  if (req.framing == http::BodyFraming::content_length && req.content_length > 0) {
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", req.content_length);
  } else if (req.framing == http::BodyFraming::chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else if (req.method == http::Method::post || req.method == http::Method::put ||
             req.method == http::Method::patch) {
    out += "Content-Length: 0\r\n";  // RFC 9110 §8.6: a method that expects a body says it has none
  }
  // Each proxy adds itself at the end of the lists the client (or a proxy before us) sent.
  out += "X-Forwarded-For: ";
  if (forwarded_for && append_joined(out, req, Field::x_forwarded_for, connection)) out += ", ";
  out += client_host;
  out += "\r\nX-Forwarded-Proto: http\r\n";
  if (!req.host.empty()) append_field(out, "X-Forwarded-Host", req.host);
  // RFC 7239: an IPv6 node is quoted and bracketed; the host is a quoted-string (it may hold ':').
  out += "Forwarded: ";
  if (forwarded && append_joined(out, req, Field::forwarded, connection)) out += ", ";
  if (client->sa_family == AF_INET6) {
    out += "for=\"[";
    out += client_host;
    out += "]\"";
  } else {
    out += "for=";
    out += client_host;
  }
  if (http::chars::is_token(req.host)) {
    out += ";host=";
    out += req.host;
  } else if (!req.host.empty() && req.host.find_first_of("\"\\") == std::string_view::npos) {
    out += ";host=\"";  // "h:8080", "[::1]"
    out += req.host;
    out += '"';
  }
  out += ";proto=http\r\n";
  if (via || config.via) {
    const std::size_t before = out.size();
    out += "Via: ";
    const bool listed = via && append_joined(out, req, Field::via, connection);
    if (config.via) out += listed ? ", 1.1 nuri" : "1.1 nuri";
    if (listed || config.via) {
      out += "\r\n";
    } else {
      out.resize(before);  // only empty Via fields came
    }
  }
  if (upgrade) {
    out += "Connection: upgrade\r\n";
    append_field(out, "Upgrade", upgrade_value);
  }
  out += "\r\n";
}

bool asks_upgrade(const http::Request& request) {
  return request.method == http::Method::get && request.find("Upgrade").has_value() &&
         lists(connection_tokens(request), "upgrade");
}

void append_response_fields(std::string& out, const http::Response& response, bool via) {
  const std::string connection = connection_tokens(response);
  bool listed_via = false;
  for (std::size_t i = 0; i < response.header_count; ++i) {
    const http::Header& h = response.headers[i];
    const Field f = classify(h.name);
    if (is_hop_by_hop(f) || f == Field::date || f == Field::server || f == Field::content_length ||
        lists(connection, h.name)) {
      continue;  // ours replace them
    }
    if (via && f == Field::via) {
      listed_via = true;
      continue;
    }
    append_field(out, h.name, h.value);
  }
  if (via) {
    out += "Via: ";
    if (listed_via && append_joined(out, response, Field::via, connection)) out += ", ";
    out += "1.1 nuri\r\n";
  }
}

// ---------------------------------------------------------------------------------------------

UpstreamConnection::UpstreamConnection(Worker& worker, UpstreamPool& pool) : worker_(worker), pool_(pool) {
  timer.owner = this;
}

UpstreamConnection::~UpstreamConnection() { close_fd(); }

void UpstreamConnection::begin(Connection& client, ProxyRequest request, std::string& head, std::size_t server,
                               bool reused) {
  client_ = &client;
  request_ = std::move(request);
  server_ = server;
  tried_ = std::uint64_t{1} << server;
  reused_ = reused;
  wrote_ = timed_out_ = request_done_ = client_eof_ = paused_ = out_of_ports_ = false;
  write_blocked_ = readable_ = fin_pending_ = false;
  got_head_ = false;
  out_.swap(head);
  out_pos_ = 0;
  in_begin_ = in_end_ = 0;
  parser_.reset();
  decoded_.clear();
  this->server().active.fetch_add(1, std::memory_order_relaxed);
  this->server().requests.fetch_add(1, std::memory_order_relaxed);
  counted_ = true;
  if (reused) {
    phase_ = Phase::exchanging;
    schedule(request_.group->config().timeout);
  } else {
    phase_ = Phase::starting;
  }
  pool_.schedule(this);
}

void UpstreamConnection::send(std::string_view bytes) {
  if (phase_ == Phase::free || bytes.empty()) return;
  if (out_pos_ == out_.size() && (request_.has_body || phase_ == Phase::tunnel)) {
    out_.clear();  // everything before was sent; a bodiless request keeps its head for a retry
    out_pos_ = 0;
  }
  out_.append(bytes);
  pool_.schedule(this);
}

void UpstreamConnection::request_sent() {
  request_done_ = true;
  if (phase_ != Phase::free) pool_.schedule(this);
}

void UpstreamConnection::client_drained() {
  if (!paused_ || phase_ == Phase::free) return;
  paused_ = false;
  pool_.schedule(this);
}

void UpstreamConnection::client_eof() {
  if (client_eof_ || phase_ == Phase::free) return;
  client_eof_ = true;
  pool_.schedule(this);
}

void UpstreamConnection::abandon() {
  if (phase_ == Phase::free) return;
  client_ = nullptr;
  detach();
  close_fd();
  pool_.retire(this);
}

void UpstreamConnection::schedule(double seconds) {
  pool_.timers_.schedule_at(timer, worker_.now_ms() + base::timeout_ms(seconds));
}

void UpstreamConnection::on_event(std::uint32_t events) {
  if (fd_ < 0) return;
  if (phase_ == Phase::idle) {
    // An idle connection has nothing to say: data, a FIN or an error all end it.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pool_.drop_idle(this);
    return;
  }
  if (events & EPOLLOUT) write_blocked_ = false;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP)) fin_pending_ = true;  // read on to the end: no edge will follow
  if (phase_ == Phase::connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      close_fd();
      base::log_error("upstream {}: connect failed: {}", server().name(), std::strerror(error));
      request_.group->report_failure(server_, worker_.now_ms());
      timed_out_ = false;
      connect_next();
      return;
    }
    connected();
    if (phase_ == Phase::free) return;
  }
  pump();
}

void UpstreamConnection::pump() {
  if (phase_ == Phase::starting) {
    connect_next();
    return;  // connecting: the socket's first event goes on
  }
  if (phase_ != Phase::exchanging && phase_ != Phase::tunnel) return;
  if (!write_blocked_ && out_pos_ < out_.size()) write_out();
  if (phase_ == Phase::tunnel && client_eof_ && out_pos_ == out_.size() && fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);  // the client's FIN, passed on once its bytes are
  }
  if (fd_ >= 0 && readable_ && !paused_ && (phase_ == Phase::exchanging || phase_ == Phase::tunnel)) read_in();
}

// The next upstream to try for this request: a pooled connection to it, or a new one.
void UpstreamConnection::connect_next() {
  for (;;) {
    if (phase_ != Phase::starting) {  // a retry: the first choice came from the pool's start()
      std::size_t next = request_.group->pick(tried_, worker_.now_ms());
      if (next == proxy::Group::npos) {
        if (out_of_ports_) return fail_for_shortage(UpstreamShortage::ports, {});
        fail(timed_out_ ? 504 : 502,
             timed_out_ ? "no upstream answered in time" : "no upstream could be reached");
        return;
      }
      if (counted_) server().active.fetch_sub(1, std::memory_order_relaxed);
      server_ = next;
      tried_ |= std::uint64_t{1} << next;
      server().active.fetch_add(1, std::memory_order_relaxed);
      server().requests.fetch_add(1, std::memory_order_relaxed);
      counted_ = true;
      if (UpstreamConnection* idle = pool_.take_idle(&server())) {
        // Take over its socket: this object holds the request.
        close_fd();
        fd_ = idle->fd_;
        idle->fd_ = -1;
        pool_.retire(idle);
        worker_.loop().remove(fd_);
        worker_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
        reused_ = true;
        phase_ = Phase::exchanging;
        write_blocked_ = readable_ = fin_pending_ = false;
        schedule(request_.group->config().timeout);
        pump();
        return;
      }
    }
    reused_ = false;
    std::string why;
    if (open_socket(why)) return;
    if (shortage_ == UpstreamShortage::descriptors) return fail_for_shortage(UpstreamShortage::descriptors, why);
    if (shortage_ == UpstreamShortage::ports) {
      // No local port free for this upstream's address (all of net.ipv4.ip_local_port_range is
      // in connections to it, or in TIME_WAIT): this machine's limit, so the upstream is not
      // marked failed. A port can serve connections to different addresses at once, so the
      // other upstreams are still tried; when none is left the client gets 503 (above).
      out_of_ports_ = true;
    } else {
      base::log_error("upstream {}: connect failed: {}", server().name(), why);
      request_.group->report_failure(server_, worker_.now_ms());
    }
    phase_ = Phase::connecting;  // so that the loop picks another
    close_fd();
  }
}

bool UpstreamConnection::open_socket(std::string& why) {
  close_fd();
  shortage_ = UpstreamShortage::none;
  auto addresses = server().addresses();
  if (addresses->empty()) {
    why = "no address";
    return false;
  }
  // Several addresses (a name with A and AAAA records): spread over them.
  const net::SocketAddress& a = (*addresses)[server().requests.load(std::memory_order_relaxed) % addresses->size()];
  fd_ = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    if (net::short_of_resources(errno)) shortage_ = UpstreamShortage::descriptors;
    why = std::strerror(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, a.get(), a.length()) != 0 && errno != EINPROGRESS) {
    if (errno == EADDRNOTAVAIL) shortage_ = UpstreamShortage::ports;
    why = std::strerror(errno);
    return false;
  }
  if (!worker_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this)) {
    why = "epoll refused the socket";
    return false;
  }
  phase_ = Phase::connecting;
  write_blocked_ = true;  // until the connect completes
  readable_ = fin_pending_ = false;
  schedule(request_.group->config().connect_timeout);
  return true;
}

void UpstreamConnection::connected() {
  phase_ = Phase::exchanging;
  write_blocked_ = false;
  schedule(request_.group->config().timeout);
}

void UpstreamConnection::write_out() {
  bool progress = false;
  while (out_pos_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<std::size_t>(n);
      wrote_ = progress = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      write_blocked_ = true;
      break;
    }
    // The upstream went away under the request; what it answered (if anything) is still read.
    readable_ = true;
    write_blocked_ = true;
    out_pos_ = out_.size();
    break;
  }
  if (!progress) return;
  schedule(request_.group->config().timeout);
  if (client_ && out_.size() - out_pos_ < kSendHighWater / 2) client_->proxy_resume();
}

void UpstreamConnection::read_in() {
  if (!in_) in_ = std::make_unique<char[]>(kReadBuffer);
  while (phase_ == Phase::exchanging || phase_ == Phase::tunnel) {
    if (paused_) return;
    if (in_end_ == kReadBuffer) {
      if (in_begin_ == 0) {
        // Full and nothing taken: a head or a chunk line longer than the buffer.
        if (!got_head_) return retry_or_fail("response head too large", true);
        base::log_error("upstream {}: chunk line too long; client connection closed", server().name());
        return finish(false);
      }
      std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
    }
    ssize_t n = ::recv(fd_, in_.get() + in_end_, kReadBuffer - in_end_, 0);
    if (n > 0) {
      std::size_t room = kReadBuffer - in_end_;
      in_end_ += static_cast<std::size_t>(n);
      schedule(request_.group->config().timeout);
      take_input();
      if (static_cast<std::size_t>(n) < room && !fin_pending_) {
        readable_ = false;  // a short read emptied the socket; epoll tells of more
        return;
      }
      continue;
    }
    if (n == 0) return on_eof("closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      readable_ = false;
      return;
    }
    return on_eof(std::strerror(errno));
  }
}

// Whatever the upstream sent so far: the head, then body bytes passed on to the client.
void UpstreamConnection::take_input() {
  if (!got_head_ && !take_head()) return;
  while (in_begin_ < in_end_ && client_) {
    std::string_view input(in_.get() + in_begin_, in_end_ - in_begin_);
    if (phase_ == Phase::tunnel) {
      in_begin_ = in_end_;
      if (!client_->proxy_body(input)) return;
      break;
    }
    const bool chunked = head_.framing == http::ResponseFraming::chunked;
    http::BodyReader::Result r = body_.read(input, chunked ? &decoded_ : nullptr);
    in_begin_ += r.consumed;
    std::string_view data = chunked ? std::string_view(decoded_) : input.substr(0, r.consumed);
    if (!data.empty()) {
      bool alive = client_->proxy_body(data);
      decoded_.clear();
      if (!alive || phase_ == Phase::free) return;
    }
    if (r.state == http::ParseState::error) {
      base::log_error("upstream {}: malformed response body; client connection closed", server().name());
      request_.group->report_failure(server_, worker_.now_ms());
      return finish(false);
    }
    if (r.state == http::ParseState::complete) return finish(true);
    if (r.consumed == 0) break;  // an unfinished chunk line: wait for more
  }
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  // One write to the client for what this read brought (head and body together).
  if (client_ && !client_->proxy_flush()) return;
  if (client_ && client_->unsent_bytes() >= Connection::kProxyClientHighWater) paused_ = true;
}

bool UpstreamConnection::take_head() {
  for (;;) {
    http::ResponseResult r = parser_.parse({in_.get() + in_begin_, in_end_ - in_begin_}, request_.method, head_);
    if (r.state == http::ParseState::incomplete) return false;
    if (r.state == http::ParseState::error) {
      retry_or_fail(fmt::format("malformed response head: {}", http::describe(r.error)), true);
      return false;
    }
    in_begin_ += r.consumed;
    if (head_.framing == http::ResponseFraming::interim) continue;  // 100, 103: the final one follows
    break;
  }
  got_head_ = true;
  if (const std::string why = refusal(head_, request_.upgrade); !why.empty()) {
    retry_or_fail(why, true);
    return false;
  }
  request_.group->report_success(server_);
  if (head_.framing == http::ResponseFraming::switching_protocols) phase_ = Phase::tunnel;
  body_ = http::BodyReader();
  body_.start(head_);
  // The client connection re-reads its request head: views into ours stay valid (in_ is ours).
  if (!client_->proxy_head(head_, phase_ == Phase::tunnel, request_.group->config().via) || phase_ == Phase::free) {
    return false;
  }
  if (phase_ != Phase::tunnel && body_.read({}, nullptr).state == http::ParseState::complete) {
    finish(true);  // no body: HEAD, 204, 304, Content-Length: 0
    return false;
  }
  return true;
}

void UpstreamConnection::on_eof(std::string_view why) {
  if (phase_ == Phase::tunnel) {
    if (!client_) return;
    Connection* c = client_;
    detach();
    close_fd();
    pool_.retire(this);
    c->proxy_done(true);  // the client connection closes once its output is sent
    return;
  }
  if (!got_head_) return retry_or_fail(fmt::format("{} before answering", why), in_end_ > in_begin_);
  if (body_.end_of_input().state == http::ParseState::complete) return finish(true);
  base::log_error("upstream {}: {} after {} byte(s) of the body; client connection closed", server().name(), why,
                  body_.body_size());
  request_.group->report_failure(server_, worker_.now_ms());
  finish(false);
}

// No usable response head. The request goes to another upstream when that cannot repeat an
// action: nothing of it was sent, or it is idempotent and has no body (sent again whole, as
// nginx does). A pooled connection the upstream had closed is replaced by a new one to the same
// upstream. A malformed answer is not retried: the upstream is broken, not unreachable.
void UpstreamConnection::retry_or_fail(std::string_view why, bool upstream_fault) {
  close_fd();
  const bool repeatable = !request_.has_body && is_idempotent(request_.method);
  if (!upstream_fault && reused_ && repeatable) {
    reset_attempt();
    std::string error;
    if (open_socket(error)) return;
    if (shortage_ == UpstreamShortage::descriptors) return fail_for_shortage(UpstreamShortage::descriptors, error);
    if (shortage_ == UpstreamShortage::ports) {
      out_of_ports_ = true;
      phase_ = Phase::connecting;  // another upstream may still have a port free
      return connect_next();
    }
    why = error;
  }
  base::log_error("upstream {}: {}", server().name(), why);
  request_.group->report_failure(server_, worker_.now_ms());
  if (!upstream_fault && (!wrote_ || repeatable)) {
    reset_attempt();
    phase_ = Phase::connecting;  // a retry: connect_next picks another upstream
    connect_next();
    return;
  }
  fail(502, why);
}

// This machine cannot reach the upstream: no descriptor or memory for a socket (then no other
// upstream is tried, each would fail the same way), or no local port left for any of them. No
// upstream is at fault or marked failed: the client gets 503 and Retry-After, as for a file that
// cannot be opened, and the log a line a second at most for each cause.
void UpstreamConnection::fail_for_shortage(UpstreamShortage kind, std::string_view error) {
  worker_.count_upstream_shortage(kind, error);
  fail(503, {});
}

void UpstreamConnection::reset_attempt() {
  out_pos_ = 0;
  fin_pending_ = false;
  wrote_ = reused_ = timed_out_ = false;
  write_blocked_ = readable_ = false;
  in_begin_ = in_end_ = 0;
  parser_.reset();
}

void UpstreamConnection::fail(int status, std::string_view why) {
  Connection* c = client_;
  detach();
  close_fd();
  pool_.retire(this);
  if (c) c->proxy_fail(static_cast<http::Status>(status), why);
}

void UpstreamConnection::finish(bool complete) {
  Connection* c = client_;
  // Not after the upstream's FIN: an idle connection learns of its end only from a new event.
  bool reusable = complete && phase_ == Phase::exchanging && head_.keep_alive && request_done_ && !fin_pending_ &&
                  out_pos_ == out_.size() && in_begin_ == in_end_ && request_.group->config().keepalive > 0 &&
                  request_.site.get() == &worker_.site();
  std::size_t keep = request_.group->config().keepalive;
  const proxy::Server* s = &server();
  detach();
  if (reusable && pool_.idle_[s].size() < keep) {
    pool_.keep_idle(this);
  } else {
    close_fd();
    pool_.retire(this);
  }
  if (c) c->proxy_done(complete);  // last: the client may start its next request on this pool
}

void UpstreamConnection::detach() {
  if (counted_) server().active.fetch_sub(1, std::memory_order_relaxed);
  counted_ = false;
  client_ = nullptr;
  TimerList::unlink(timer);
}

void UpstreamConnection::close_fd() {
  if (fd_ >= 0) ::close(fd_);  // also leaves the epoll set
  fd_ = -1;
}

void UpstreamConnection::on_timeout() {
  TimerList::unlink(timer);
  switch (phase_) {
    case Phase::idle:
      pool_.drop_idle(this);
      return;
    case Phase::connecting:
      base::log_error("upstream {}: no connection within {} s", server().name(), request_.group->config().connect_timeout);
      request_.group->report_failure(server_, worker_.now_ms());
      close_fd();
      timed_out_ = true;
      connect_next();
      return;
    case Phase::exchanging:
      if (!got_head_) {
        request_.group->report_failure(server_, worker_.now_ms());
        return fail(504, fmt::format("upstream {}: no response within {} s", server().name(),
                                     request_.group->config().timeout));
      }
      base::log_error("upstream {}: the body stalled for {} s; client connection closed", server().name(),
                      request_.group->config().timeout);
      return finish(false);
    case Phase::tunnel:
      return on_eof("idle");
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------

UpstreamPool::UpstreamPool(Worker& worker) : worker_(worker) {}

UpstreamPool::~UpstreamPool() {
  for (auto& u : all_) u->close_fd();
}

UpstreamConnection* UpstreamPool::fresh() {
  if (!spare_.empty()) {
    UpstreamConnection* u = spare_.back();
    spare_.pop_back();
    return u;
  }
  all_.push_back(std::make_unique<UpstreamConnection>(worker_, *this));
  return all_.back().get();
}

UpstreamConnection* UpstreamPool::start(Connection& client, ProxyRequest request, std::string& head) {
  std::size_t server = request.group->pick(0, worker_.now_ms());
  if (server == proxy::Group::npos) return nullptr;
  UpstreamConnection* u = take_idle(&request.group->server(server));
  bool reused = u != nullptr;
  if (!u) u = fresh();
  u->begin(client, std::move(request), head, server, reused);
  return u;
}

void UpstreamPool::schedule(UpstreamConnection* u) {
  if (u->scheduled_) return;
  u->scheduled_ = true;
  scheduled_.push_back(u);
}

void UpstreamPool::run_scheduled() {
  // Work may schedule more work (a finished exchange lets the client start its next request).
  for (std::size_t i = 0; i < scheduled_.size(); ++i) {
    UpstreamConnection* u = scheduled_[i];
    u->scheduled_ = false;
    if (u->phase_ != UpstreamConnection::Phase::free && u->phase_ != UpstreamConnection::Phase::idle) u->pump();
  }
  scheduled_.clear();
}

void UpstreamPool::expire(std::int64_t now_ms) {
  while (TimerNode* node = timers_.expired(now_ms)) {
    auto* u = static_cast<UpstreamConnection*>(node->owner);
    u->on_timeout();
    if (node->list == &timers_ && node->deadline_ms <= now_ms) TimerList::unlink(*node);
  }
}

UpstreamConnection* UpstreamPool::take_idle(const proxy::Server* server) {
  auto it = idle_.find(server);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  UpstreamConnection* u = it->second.back();  // the most recently used: the least likely closed
  it->second.pop_back();
  --idle_total_;
  TimerList::unlink(u->timer);
  u->phase_ = UpstreamConnection::Phase::free;
  return u;
}

void UpstreamPool::keep_idle(UpstreamConnection* u) {
  u->phase_ = UpstreamConnection::Phase::idle;
  idle_[&u->request_.group->server(u->server_)].push_back(u);
  ++idle_total_;
  u->request_.site.reset();  // an idle connection does not hold a site alive (close_idle on reload)
  timers_.schedule_at(u->timer, worker_.now_ms() + kIdleMs);
}

void UpstreamPool::drop_idle(UpstreamConnection* u) {
  for (auto& [server, list] : idle_) {
    auto it = std::find(list.begin(), list.end(), u);
    if (it == list.end()) continue;
    list.erase(it);
    --idle_total_;
    break;
  }
  u->close_fd();
  retire(u);
}

void UpstreamPool::retire(UpstreamConnection* u) {
  TimerList::unlink(u->timer);
  u->phase_ = UpstreamConnection::Phase::free;
  u->client_ = nullptr;
  u->request_.site.reset();
  retired_.push_back(u);
}

void UpstreamPool::recycle() {
  for (UpstreamConnection* u : retired_) {
    if (u->phase_ == UpstreamConnection::Phase::free) spare_.push_back(u);
  }
  retired_.clear();
}

void UpstreamPool::close_idle() {
  for (auto& [server, list] : idle_) {
    for (UpstreamConnection* u : list) {
      u->close_fd();
      retire(u);
    }
  }
  idle_.clear();
  idle_total_ = 0;
}

}  // namespace nuri::server
