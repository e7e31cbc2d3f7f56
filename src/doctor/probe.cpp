// nuri doctor, the client's side: one TCP connection attempt per address, read the way a
// network engineer reads it (RST, silence, ICMP and who sent it), then one HTTP request.
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/terminal.h"
#include "client/http_client.h"
#include "doctor/checks.h"
#include "http/response_parser.h"

namespace nuri::doctor {
namespace {

constexpr std::size_t kMaxReply = 16384;  // a response head larger than this is not normal

// poll() until `events` or the deadline (client::now_ns time): the revents, 0 on timeout.
short wait_until(int fd, short events, std::int64_t deadline_ns) {
  pollfd p{fd, events, 0};
  for (;;) {
    std::int64_t left_ns = deadline_ns - client::now_ns();
    if (left_ns <= 0) return 0;
    int rc = ::poll(&p, 1, static_cast<int>((left_ns + 999'999) / 1'000'000));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return 0;
    return p.revents;
  }
}

double ms_between(std::int64_t from_ns, std::int64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e6; }

// Reads the ICMP error the kernel queued for the socket (IP_RECVERR), if any: its type, code
// and sender.
void read_icmp(int fd, ConnectResult& result) {
  alignas(cmsghdr) char control[512];
  char data[64];
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
    const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if (!(v4 || v6) || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
    sock_extended_err ee;
    std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
    if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
    result.icmp = true;
    result.icmp_v6 = ee.ee_origin == SO_EE_ORIGIN_ICMP6;
    result.icmp_type = ee.ee_type;
    result.icmp_code = ee.ee_code;
    // The sender's address follows the structure (SO_EE_OFFENDER), when it fits.
    const std::size_t offender_at = sizeof(sock_extended_err);
    const std::size_t room = c->cmsg_len - CMSG_LEN(0);
    sockaddr_storage from{};
    if (room > offender_at) {
      std::memcpy(&from, CMSG_DATA(c) + offender_at, std::min(room - offender_at, sizeof from));
      if (from.ss_family == AF_INET || from.ss_family == AF_INET6) {
        socklen_t len = from.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        result.icmp_from = net::SocketAddress::from(reinterpret_cast<sockaddr*>(&from), len).host();
      }
    }
    return;
  }
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// An HTTP/2 frame header (RFC 9113 §4.1) of a SETTINGS or GOAWAY frame on stream 0: what an
// h2c-only server sends first, whatever it received.
bool looks_like_http2(std::string_view b) {
  if (b.size() < 9) return false;
  const auto type = static_cast<unsigned char>(b[3]);
  if (type != 0x04 && type != 0x07) return false;
  for (std::size_t i = 5; i < 9; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

void put16(std::string& out, std::size_t v) {
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

// One extension: type, length, body (RFC 8446 §4.2).
void extension(std::string& out, std::uint16_t type, const std::string& body) {
  put16(out, type);
  put16(out, body.size());
  out += body;
}

}  // namespace

void classify_connect(int error, ConnectResult& result) {
  using V = ConnectVerdict;
  if (error == 0) {
    result.verdict = V::connected;
    return;
  }
  if (result.icmp) {
    // A closed TCP port answers with a RST, never with ICMP: an ICMP error to a SYN comes from
    // a firewall's reject rule (port-unreachable is nftables' default `reject`), or from a
    // router that has no way to the host.
    const int t = result.icmp_type;
    const int c = result.icmp_code;
    bool rejected = false;
    if (!result.icmp_v6 && t == 3) {
      // RFC 792 / RFC 1812: 2 protocol, 3 port, 9-10 and 13 administratively prohibited.
      rejected = c == 2 || c == 3 || c == 9 || c == 10 || c == 13;
    } else if (result.icmp_v6 && t == 1) {
      // RFC 4443 §3.1: 1 administratively prohibited, 4 port, 5 source policy, 6 reject route.
      rejected = c == 1 || c == 4 || c == 5 || c == 6;
    }
    result.verdict = rejected ? V::rejected : V::unreachable;
    return;
  }
  switch (error) {
    case ECONNREFUSED: result.verdict = V::refused; break;
    case ETIMEDOUT: result.verdict = V::timeout; break;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EHOSTDOWN: result.verdict = V::unreachable; break;
    case EPERM:
    case EACCES: result.verdict = V::blocked_locally; break;
    default: result.verdict = V::error; break;
  }
}

ConnectResult probe_connect(const net::SocketAddress& address, int timeout_ms, net::FileDescriptor& fd) {
  ConnectResult result;
  result.address = address;
  const std::int64_t start = client::now_ns();
  net::FileDescriptor s(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s) {
    result.error = errno;
    result.verdict = ConnectVerdict::error;
    return result;
  }
  int one = 1;
  if (address.family() == AF_INET6) {
    ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
  } else {
    ::setsockopt(s.get(), IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  }
  int error = 0;
  if (::connect(s.get(), address.get(), address.length()) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      if (wait_until(s.get(), POLLOUT, start + std::int64_t{timeout_ms} * 1'000'000) == 0) {
        result.ms = ms_between(start, client::now_ns());
        result.verdict = ConnectVerdict::timeout;
        return result;
      }
      socklen_t len = sizeof error;
      if (::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    }
  }
  result.ms = ms_between(start, client::now_ns());
  result.error = error;
  if (error != 0) read_icmp(s.get(), result);
  classify_connect(error, result);
  if (result.verdict == ConnectVerdict::connected) fd = std::move(s);
  return result;
}

std::string printable_excerpt(std::string_view bytes, std::size_t max) {
  std::string out = term::printable(bytes.substr(0, std::min(bytes.find_first_of("\r\n"), max)));
  if (bytes.size() > max && out.size() >= max) out += "...";
  return out;
}

bool looks_like_tls(std::string_view b) {
  if (b.size() < 3) return false;
  const auto type = static_cast<unsigned char>(b[0]);
  return (type == 0x15 || type == 0x16) && b[1] == 0x03 && static_cast<unsigned char>(b[2]) <= 0x04;
}

HttpResult classify_reply(std::string_view bytes, ReadEnd end) {
  HttpResult r;
  if (bytes.empty()) {
    r.verdict = end == ReadEnd::closed ? HttpVerdict::closed
                : end == ReadEnd::reset ? HttpVerdict::reset
                                        : HttpVerdict::silent;
    return r;
  }
  r.excerpt = printable_excerpt(bytes);
  if (looks_like_tls(bytes)) {
    r.verdict = HttpVerdict::tls;
    return r;
  }
  if (looks_like_http2(bytes)) {
    r.verdict = HttpVerdict::http2;
    return r;
  }
  // "HTTP/" or a beginning of it that the server stopped after.
  if (!starts_with(bytes, "HTTP/") && !starts_with("HTTP/", bytes)) {
    r.verdict = HttpVerdict::not_http;
    return r;
  }
  http::ResponseParser parser;
  http::Response response;
  http::ResponseResult parsed = parser.parse(bytes, http::Method::head, response);
  if (parsed.state == http::ParseState::complete) {
    r.verdict = HttpVerdict::answered;
    r.status = response.status;
    r.status_line = fmt::format("HTTP/1.{} {} {}", response.version_minor, response.status,
                                printable_excerpt(response.reason, 200));
    while (!r.status_line.empty() && r.status_line.back() == ' ') r.status_line.pop_back();
    if (auto server = response.find("Server")) r.server = printable_excerpt(*server, 200);
    r.excerpt.clear();
    return r;
  }
  r.verdict = HttpVerdict::malformed;
  if (parsed.state == http::ParseState::error) {
    r.detail = std::string(http::describe(parsed.error));
  } else if (end == ReadEnd::enough) {
    r.detail = fmt::format("no end of the head within {} bytes", kMaxReply);
  } else {
    r.detail = end == ReadEnd::timeout ? "the head did not end before the timeout"
                                       : "the connection ended in the middle of the head";
  }
  return r;
}

std::string head_request(const Target& target) {
  const bool v6 = target.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + target.host + "]" : target.host;
  if (target.port != 80) host += fmt::format(":{}", target.port);
  return fmt::format("HEAD / HTTP/1.1\r\nHost: {}\r\nUser-Agent: nuri-doctor/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                     host, NURI_VERSION);
}

HttpResult probe_http(int fd, const Target& target, int timeout_ms) {
  const std::int64_t start = client::now_ns();
  const std::int64_t deadline = start + std::int64_t{timeout_ms} * 1'000'000;
  const std::string request = head_request(target);
  std::size_t sent = 0;
  ReadEnd end = ReadEnd::enough;
  // A fresh socket's send buffer takes these few bytes at once; the loop is for EINTR and a
  // peer that already said something and closed.
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (wait_until(fd, POLLOUT, deadline) == 0) break;
    } else {
      end = ReadEnd::reset;  // RST before our request went out; what it said is read below
      break;
    }
  }
  std::string reply;
  char buffer[4096];
  for (;;) {
    // Enough to decide: a complete head, the cap, or bytes that are not HTTP and show what
    // they are (a TLS record, an HTTP/2 frame header's 9 bytes, a banner's first line).
    const bool http_so_far = starts_with(reply, "HTTP/") || starts_with("HTTP/", reply);
    if (reply.find("\r\n\r\n") != std::string::npos || reply.size() >= kMaxReply ||
        (!http_so_far && (reply.size() >= 9 || looks_like_tls(reply) || reply.find('\n') != std::string::npos))) {
      end = ReadEnd::enough;
      break;
    }
    ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, kMaxReply - reply.size()), MSG_DONTWAIT);
    if (n > 0) {
      reply.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      end = ReadEnd::closed;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      if (wait_until(fd, POLLIN, deadline) == 0) {
        end = ReadEnd::timeout;
        break;
      }
      continue;
    }
    end = ReadEnd::reset;  // ECONNRESET, or another error: the connection is gone
    break;
  }
  HttpResult result = classify_reply(reply, end);
  result.ms = ms_between(start, client::now_ns());
  return result;
}

std::string client_hello(std::string_view host) {
  // TLS 1.3 and 1.2 suites, so that any server from the last decade finds one it knows; a
  // server that finds none still answers with a TLS alert, which is all the probe needs.
  static const std::uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c,
                                         0xc030, 0xcca9, 0xcca8, 0x009c, 0x009d, 0x002f};
  std::string body;
  body += "\x03\x03";                       // legacy_version: TLS 1.2
  for (int i = 0; i < 32; ++i) body += static_cast<char>(0x4e + i);  // random (not secret)
  body += '\0';                             // no session id
  put16(body, sizeof suites);
  for (std::uint16_t s : suites) put16(body, s);
  body += "\x01\x00";                       // compression: null only
  std::string ext;
  unsigned char probe[16];
  const std::string name(host);
  const bool is_name = !name.empty() && inet_pton(AF_INET, name.c_str(), probe) != 1 &&
                       inet_pton(AF_INET6, name.c_str(), probe) != 1 && name.size() < 256;
  if (is_name) {
    // RFC 6066 §3: server_name list with one host_name.
    std::string sni;
    put16(sni, name.size() + 3);
    sni += '\0';
    put16(sni, name.size());
    sni += name;
    extension(ext, 0x0000, sni);
  }
  extension(ext, 0x000a, std::string("\x00\x06\x00\x1d\x00\x17\x00\x18", 8));  // groups: x25519, P-256, P-384
  extension(ext, 0x000b, std::string("\x01\x00", 2));                          // point formats: uncompressed
  extension(ext, 0x000d, std::string("\x00\x0c\x04\x03\x08\x04\x04\x01\x05\x03\x08\x05\x05\x01", 14));  // signatures
  put16(body, ext.size());
  body += ext;
  std::string handshake;
  handshake += '\x01';  // ClientHello
  handshake += static_cast<char>((body.size() >> 16) & 0xff);
  put16(handshake, body.size());
  handshake += body;
  std::string record("\x16\x03\x01", 3);  // handshake record, version 3.1 as clients send
  put16(record, handshake.size());
  return record + handshake;
}

bool probe_tls(const net::SocketAddress& address, std::string_view host, int timeout_ms) {
  net::FileDescriptor fd;
  ConnectResult c = probe_connect(address, timeout_ms, fd);
  if (c.verdict != ConnectVerdict::connected) return false;
  const std::int64_t deadline = client::now_ns() + std::int64_t{timeout_ms} * 1'000'000;
  const std::string hello = client_hello(host);
  if (::send(fd.get(), hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) return false;
  std::string reply;
  char buffer[16];
  while (reply.size() < 3) {
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      reply.append(buffer, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (wait_until(fd.get(), POLLIN, deadline) == 0) return false;
    } else {
      return false;
    }
  }
  return looks_like_tls(reply);
}

}  // namespace nuri::doctor
