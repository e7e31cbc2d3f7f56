#include "client/http_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "base/terminal.h"
#include "dns/lookup.h"
#include "http/response_parser.h"

namespace nuri::client {

namespace {

// Interim responses accepted before the final one. A server sends one or two (100 Continue,
// 103 Early Hints); without a bound, one that sends 1xx forever keeps the client busy forever.
constexpr int kMaxInterimResponses = 100;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return net::SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len).to_string();
}

}  // namespace

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string build_head(const Request& r) {
  Fields fields = {{"Host", r.url.authority()}, {"User-Agent", "nuri/" NURI_VERSION}, {"Accept", "*/*"}};
  for (const auto& field : r.headers) {
    const std::string& name = field.first;  // not a structured binding: clang 14 cannot capture those
    const std::string& value = field.second;
    auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return iequals(f.first, name); });
    bool is_default = it != fields.end() && it - fields.begin() < 3;
    if (value.empty()) {
      if (is_default) fields.erase(it);
      continue;
    }
    if (is_default) {
      *it = {name, value};  // the user's spelling of the name, too
    } else {
      fields.emplace_back(name, value);
    }
  }
  std::string head = fmt::format("{} {} HTTP/1.1\r\n", r.method, r.url.target);
  bool has_length = false;
  for (const auto& [name, value] : fields) {
    has_length = has_length || iequals(name, "Content-Length");
    head += name + ": " + value + "\r\n";
  }
  if (r.has_body && !has_length) head += fmt::format("Content-Length: {}\r\n", r.body.size());
  head += "\r\n";
  return head;
}

std::optional<std::string> Head::find(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Head::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) out.push_back(v);
  }
  return out;
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  key_.clear();
}

void Client::set_deadline_in(int ms) { deadline_ns_ = ms > 0 ? now_ns() + std::int64_t{ms} * 1'000'000 : 0; }

double Client::elapsed_ms() const { return static_cast<double>(now_ns() - start_ns_) / 1e6; }

int Client::remaining_ms() const {
  if (deadline_ns_ == 0) return -1;
  std::int64_t left = (deadline_ns_ - now_ns()) / 1'000'000;
  return left > 0 ? static_cast<int>(left) : 0;
}

void Client::trace(const char* format, ...) {
  if (!trace_) return;
  char line[4096];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  std::string text = fmt::format("* [{:9.3f} ms] {}", elapsed_ms(), line);
  std::fprintf(trace_, "%s\n", term::paint(color_, term::Role::quiet, text).c_str());
}

void Client::trace_request_line(std::string_view line) {
  std::fprintf(trace_, "%s\n", term::paint(color_, term::Role::info, "> " + term::printable(line)).c_str());
}

// "< HTTP/1.1 404 Not Found" with the status coloured by its class; "< Name: value" with the
// name in bold, so that the fields stand out from their values.
void Client::trace_response_line(std::string_view line, bool status_line) {
  std::string text = term::printable(line);
  if (color_) {
    std::size_t space = text.find(' ');
    if (status_line && space != std::string::npos) {
      int status = std::atoi(text.c_str() + space + 1);
      text = text.substr(0, space + 1) + term::paint(true, term::status_role(status), text.substr(space + 1));
    } else if (!status_line) {
      std::size_t colon = text.find(':');
      if (colon != std::string::npos) text = term::paint(true, term::Role::emphasis, text.substr(0, colon)) + text.substr(colon);
    }
  }
  std::fprintf(trace_, "< %s\n", text.c_str());
}

void Client::trace_response_head(std::string_view head) {
  if (!trace_) return;
  bool first = true;
  while (!head.empty()) {
    std::size_t eol = head.find("\r\n");
    trace_response_line(head.substr(0, eol), first);
    first = false;
    head.remove_prefix(eol + 2);
  }
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out.
static int wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  while (true) {
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0 ? 1 : 0;
  }
}

bool Client::connect_to(const Request& request, Outcome& out) {
  const Url& url = request.url;
  int budget = remaining_ms();
  dns::HostLookup found = dns::lookup_host(url.host, url.port, budget < 0 ? 5000 : std::max(budget, 1));
  out.timing.dns = elapsed_ms();
  if (found.addresses.empty()) {
    bool timed_out = found.failure == dns::Failure::timeout || (budget >= 0 && remaining_ms() == 0);
    out.error = timed_out ? Error::timeout : Error::resolve;
    out.message = timed_out ? fmt::format("timeout while resolving '{}'", url.host)
                            : fmt::format("could not resolve host '{}': {}", url.host, found.error);
    trace("dns: %s", out.message.c_str());
    return false;
  }
  std::string list;
  for (const auto& a : found.addresses) list += (list.empty() ? "" : ", ") + a.host();
  const char* source = found.source == dns::HostLookup::Source::numeric  ? "an address, no lookup"
                       : found.source == dns::HostLookup::Source::hosts_file ? "from /etc/hosts"
                                                                               : "from DNS";
  trace("dns: %s -> %s (%s, %.3f ms)", url.host.c_str(), list.c_str(), source, found.ms);

  std::string errors;
  for (const auto& address : found.addresses) {
    int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      errors = fmt::format("socket: {}", std::strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    trace("tcp: connecting to %s (SYN sent)", address.to_string().c_str());
    int rc = ::connect(fd, address.get(), address.length());
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      if (!wait_for(fd, POLLOUT, remaining_ms())) {
        ::close(fd);
        out.error = Error::timeout;
        out.message = fmt::format("timeout while connecting to {}", address.to_string());
        trace("tcp: %s", out.message.c_str());
        return false;
      }
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err != 0) {
      ::close(fd);
      std::string why = err == ECONNREFUSED ? "connection refused (nothing listens on that port: the SYN got a RST)"
                                            : std::strerror(err);
      trace("tcp: %s: %s", address.to_string().c_str(), why.c_str());
      errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", address.to_string(), why);
      continue;
    }
    fd_ = fd;
    key_ = url.authority();
    peer_ = address.to_string();
    ++connections_;
    out.timing.connect = elapsed_ms();
    trace("tcp: connected %s -> %s (SYN+ACK came back, ACK sent: the 3-way handshake is done), connection #%d",
          local_address(fd).c_str(), peer_.c_str(), connections_);
    return true;
  }
  out.error = Error::connect;
  out.message = fmt::format("could not connect to {}: {}", url.authority(), errors);
  return false;
}

Outcome Client::fetch(const Request& request, Sink& sink) {
  start_ns_ = now_ns();
  trace("%s %s", request.method.c_str(), request.url.to_string().c_str());
  bool retry = false;
  Outcome out = attempt(request, sink, retry);
  if (retry) {
    // A kept-alive connection the server had closed meanwhile (its idle timeout): nothing of
    // this request was answered, so it is sent again on a new connection, as browsers do.
    trace("tcp: the server had closed the kept-alive connection; opening a new one");
    close();
    out = attempt(request, sink, retry);
  }
  out.timing.total = elapsed_ms();
  if (trace_ && out.error == Error::none) {
    const Timing& t = out.timing;
    double connect_end = t.connect > 0 ? t.connect : (t.dns > 0 ? t.dns : 0);
    // httpstat's picture: where the time of this request went.
    std::string header = "*   DNS lookup    TCP connect   server processing   content transfer";
    std::string times = fmt::format("* [{:9.3f} ms | {:9.3f} ms | {:12.3f} ms    | {:12.3f} ms    ]  total {:.3f} ms{}",
                                    t.dns, t.connect > 0 ? t.connect - t.dns : 0.0, t.first_byte - connect_end,
                                    t.total - t.first_byte, t.total,
                                    out.reused ? " (reused connection: no DNS, no handshake)" : "");
    std::fprintf(trace_, "%s\n%s\n", term::paint(color_, term::Role::quiet, header).c_str(),
                 term::paint(color_, term::Role::quiet, times).c_str());
  }
  return out;
}

Outcome Client::attempt(const Request& request, Sink& sink, bool& retry) {
  Outcome out;
  retry = false;
  if (fd_ >= 0 && key_ == request.url.authority()) {
    out.reused = true;
    trace("tcp: reusing connection #%d to %s (kept alive)", connections_, peer_.c_str());
  } else {
    close();
    if (!connect_to(request, out)) return out;
  }
  out.connection_number = connections_;
  out.peer = peer_;

  // The request, exactly as sent.
  std::string wire = build_head(request);
  if (trace_) {
    std::string_view head = wire;
    while (!head.empty()) {
      std::size_t eol = head.find("\r\n");
      trace_request_line(head.substr(0, eol));
      head.remove_prefix(eol + 2);
    }
  }
  if (request.has_body) {
    wire += request.body;
    if (trace_ && !request.body.empty()) {
      // Text bodies line by line (a multipart form is readable that way); others by size.
      bool text = request.body.size() <= 4096 && std::all_of(request.body.begin(), request.body.end(), [](char c) {
                    auto b = static_cast<unsigned char>(c);
                    return (b >= 0x20 && b < 0x7f) || c == '\r' || c == '\n' || c == '\t';
                  });
      if (text) {
        std::string_view b = request.body;
        while (!b.empty()) {
          std::size_t eol = b.find('\n');
          std::string_view line = b.substr(0, eol);
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          trace_request_line(line);
          b.remove_prefix(eol == std::string_view::npos ? b.size() : eol + 1);
        }
      } else {
        trace_request_line(fmt::format("[{} bytes of body]", request.body.size()));
      }
    }
  }
  std::size_t sent = 0;
  while (sent < wire.size()) {
    ssize_t n = ::send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!wait_for(fd_, POLLOUT, remaining_ms())) {
        out.error = Error::timeout;
        out.message = "timeout while sending the request";
        close();
        return out;
      }
      continue;
    }
    if (out.reused) {
      retry = true;
      return out;
    }
    out.error = Error::truncated;
    out.message = fmt::format("sending the request failed: {}", std::strerror(errno));
    close();
    return out;
  }
  trace("request sent: %zu bytes (head and body)", wire.size());

  http::Method method = http::method_from_name(request.method);
  http::ResponseParser parser(http::ResponseLimits{65536, 100});
  http::Response response;
  std::string in;
  std::size_t received = 0;
  char buf[65536];
  // Reads more bytes: >0, 0 at the end of the connection, -1 on an error (errno), -2 timeout.
  auto receive = [&]() -> ssize_t {
    while (true) {
      if (!wait_for(fd_, POLLIN, remaining_ms())) return -2;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n > 0) {
        if (received == 0) {
          out.timing.first_byte = elapsed_ms();
          trace("first byte of the response (%zd bytes in this read)", n);
        }
        received += static_cast<std::size_t>(n);
      }
      return n;
    }
  };
  auto fail = [&](Error e, std::string message) {
    out.error = e;
    out.message = std::move(message);
    close();
    return out;
  };

  std::size_t consumed = 0;
  int interim_responses = 0;
  while (true) {
    http::ResponseResult r = parser.parse(in, method, response);
    if (r.state == http::ParseState::error) {
      trace("malformed head; the bytes received: %s", term::printable(std::string_view(in).substr(0, 1024)).c_str());
      return fail(Error::bad_response, fmt::format("malformed response from {}: {}", peer_, http::describe(r.error)));
    }
    if (r.state == http::ParseState::complete) {
      if (response.framing == http::ResponseFraming::interim) {
        trace_response_head(std::string_view(in).substr(0, r.consumed - 2));
        if (++interim_responses > kMaxInterimResponses) {
          return fail(Error::bad_response, fmt::format("more than {} interim (1xx) responses to one request",
                                                       kMaxInterimResponses));
        }
        trace("interim response %d; the final one follows", response.status);
        in.erase(0, r.consumed);
        continue;
      }
      consumed = r.consumed;
      break;
    }
    ssize_t n = receive();
    if (n == -2) return fail(Error::timeout, "timeout while waiting for the response");
    if (n <= 0) {
      if (received == 0 && out.reused) {
        retry = true;
        close();
        return out;
      }
      // curl's split: a failed read (a reset) is a receive failure wherever it happens; a clean
      // close is an empty reply before any byte, and a malformed one inside the head.
      if (n < 0) {
        return fail(Error::truncated, fmt::format("receive failure {}: {}",
                                                  received == 0 ? "before any reply" : "in the middle of the response head",
                                                  std::strerror(errno)));
      }
      if (received == 0) return fail(Error::empty_reply, "the server closed the connection without answering (empty reply)");
      return fail(Error::bad_response, "the connection ended in the middle of the response head");
    }
    in.append(buf, static_cast<std::size_t>(n));
  }

  // Copy the head out of the buffer before it changes.
  Head& head = out.head;
  head.version_minor = response.version_minor;
  head.status = response.status;
  head.reason = std::string(response.reason);
  for (std::size_t i = 0; i < response.header_count; ++i) {
    head.headers.emplace_back(std::string(response.headers[i].name), std::string(response.headers[i].value));
  }
  head.raw = in.substr(0, consumed);
  trace_response_head(std::string_view(head.raw).substr(0, consumed - 2));
  static constexpr const char* kFraming[] = {"no body", "Content-Length", "chunked", "until the server closes",
                                             "interim", "switching protocols", "tunnel"};
  const char* framing = kFraming[static_cast<int>(response.framing)];
  bool keep_alive = response.keep_alive;
  http::BodyReader reader;
  reader.start(response);
  if (!sink.on_head(head)) return fail(Error::write, "could not write the response head");

  std::string pending = in.substr(consumed);
  in.clear();
  std::string chunk;
  while (true) {
    chunk.clear();
    http::BodyReader::Result r = reader.read(pending, &chunk);
    if (!chunk.empty()) {
      out.body_bytes += chunk.size();
      if (!sink.on_data(chunk)) return fail(Error::write, "could not write the body");
    }
    pending.erase(0, r.consumed);
    if (r.state == http::ParseState::complete) break;
    if (r.state == http::ParseState::error) {
      trace("malformed head; the bytes received: %s", term::printable(std::string_view(in).substr(0, 1024)).c_str());
      return fail(r.error == http::BodyError::bad_chunk ? Error::bad_response : Error::truncated,
                  r.error == http::BodyError::bad_chunk ? "malformed chunked body" : "body too large");
    }
    ssize_t n = receive();
    if (n == -2) return fail(Error::timeout, fmt::format("timeout while reading the body ({} bytes so far)", out.body_bytes));
    if (n < 0) {
      // A reset ends no body well, not even one that lasts until the server closes (curl: 56).
      return fail(Error::truncated, fmt::format("receive failure after {} bytes of the body: {}", out.body_bytes,
                                                std::strerror(errno)));
    }
    if (n == 0) {
      r = reader.end_of_input();
      if (r.state == http::ParseState::complete) {
        keep_alive = false;
        break;
      }
      return fail(Error::truncated, fmt::format("the connection ended before the body did ({} bytes received{})",
                                                out.body_bytes,
                                                reader.remaining() ? fmt::format(", {} missing", reader.remaining()) : ""));
    }
    pending.append(buf, static_cast<std::size_t>(n));
  }
  if (!pending.empty()) keep_alive = false;  // bytes nobody asked for: do not trust the connection
  trace("body: %llu bytes (%s); connection %s", static_cast<unsigned long long>(out.body_bytes), framing,
        keep_alive ? "kept alive for the next request" : "closed");
  if (!keep_alive) close();
  return out;
}

}  // namespace nuri::client
