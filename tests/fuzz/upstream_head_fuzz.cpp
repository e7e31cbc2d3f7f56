// libFuzzer target for server::build_upstream_head (src/server/upstream.cpp), the request head
// the reverse proxy writes to an upstream. The input is parsed as a request with nuri's own
// parser; a complete one that a proxy location would take (a known method other than CONNECT,
// origin- or absolute-form: Connection::proxy_upstreams) is rewritten, and the rewrite parsed
// again. The proxy must not be a way to smuggle a request or change framing, so the rewrite must
// be exactly one complete request head (nothing after it), with the same method, the target in
// origin form (the path and query of an absolute-form target), no hop-by-hop field and no field
// the client's Connection named (bar the Connection/Upgrade pair of a WebSocket upgrade, which
// the proxy writes itself), exactly one X-Forwarded-Proto, and the body framed as the client
// framed it (a length of 0 and no body count as the same: both mean no body bytes follow).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/parser.h"
#include "server/upstream.h"

using namespace nuri;

namespace {

void require(bool ok, const char* what, std::string_view head = {}) {
  if (!ok) {
    std::fprintf(stderr, "upstream_head_fuzz: invariant broken: %s\n", what);
    if (!head.empty()) std::fprintf(stderr, "upstream head:\n%.*s\n", static_cast<int>(head.size()), head.data());
    std::abort();
  }
}

bool hop_by_hop(std::string_view name) {  // RFC 9110 §7.6.1, and Proxy-Connection, Keep-Alive
  for (const char* h : {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}) {
    if (http::iequals(name, h)) return true;
  }
  return false;
}

// Whether the comma list `list` names `name` (case-insensitive, OWS around elements).
bool names(std::string_view list, std::string_view name) {
  while (true) {
    const std::size_t comma = list.find(',');
    std::string_view e = list.substr(0, comma);
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
    if (http::iequals(e, name)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// Body bytes that follow the head: -1 for chunked, else the length (none is 0).
std::int64_t body_of(const http::Request& r) {
  if (r.framing == http::BodyFraming::chunked) return -1;
  return r.framing == http::BodyFraming::content_length ? static_cast<std::int64_t>(r.content_length) : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // At most 90 fields from the client: the proxy adds up to seven, and a Request holds 100.
  http::RequestParser parser({.max_target_bytes = 8192, .max_head_bytes = 16384, .max_header_count = 90});
  http::Request req;
  if (parser.parse(bytes, req).state != http::ParseState::complete) return 0;
  // Only what Connection::proxy_upstreams sends to an upstream.
  if (req.method == http::Method::unknown || req.method == http::Method::connect) return 0;
  if (req.form != http::TargetForm::origin && req.form != http::TargetForm::absolute) return 0;

  // The client's address, IPv4 or IPv6 by the input's first byte.
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(40000);
  inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(40000);
  inet_pton(AF_INET6, "2001:db8::7", &v6.sin6_addr);
  const bool ipv6 = size > 0 && (data[0] & 1);
  const sockaddr* client = ipv6 ? reinterpret_cast<const sockaddr*>(&v6) : reinterpret_cast<const sockaddr*>(&v4);
  const std::string_view client_host = ipv6 ? "2001:db8::7" : "192.0.2.7";
  // The upstream names the Host sent for an HTTP/1.0 request without one.
  config::Proxy proxy;
  proxy.via = size > 1 && (data[1] & 1);
  const bool upstream_v6 = size > 1 && (data[1] & 2);
  proxy.upstreams.push_back(upstream_v6 ? config::Proxy::Upstream{"http://[::1]", "::1", 80, true}
                                        : config::Proxy::Upstream{"http://app:8080", "app", 8080, false});
  const std::string_view upstream_authority = upstream_v6 ? "[::1]" : "app:8080";

  // As Connection::start_proxy decides it.
  const bool has_body = body_of(req) != 0;
  const bool upgrade = !has_body && server::asks_upgrade(req);
  std::string head;
  server::build_upstream_head(head, req, client, client_host, proxy, upgrade);

  http::RequestParser again({.max_target_bytes = 8192, .max_head_bytes = 1 << 20, .max_header_count = 100});
  http::Request out;
  const http::ParseResult r = again.parse(head, out);
  require(r.state == http::ParseState::complete, "the upstream head parses", head);
  require(r.consumed == head.size(), "the upstream head is one head, nothing after it", head);
  require(out.method_name == req.method_name, "same method", head);
  require(out.form == http::TargetForm::origin, "origin form upstream", head);
  std::string target(req.path);
  if (!req.query.empty()) target += "?" + std::string(req.query);
  require(out.target == (req.form == http::TargetForm::origin ? req.target : std::string_view(target)),
          "same target (origin form)", head);
  require(out.version_minor == 1, "HTTP/1.1 upstream", head);
  require(out.host == (req.host.empty() ? upstream_authority : req.host), "same authority", head);
  require(body_of(out) == body_of(req), "same body framing", head);

  // The client's Connection options, all fields joined.
  std::string options;
  for (std::size_t i = 0; i < req.header_count; ++i) {
    if (http::iequals(req.headers[i].name, "connection")) options += std::string(req.headers[i].value) + ",";
  }
  int proto = 0;
  for (std::size_t i = 0; i < out.header_count; ++i) {
    const std::string_view name = out.headers[i].name;
    const std::string_view value = out.headers[i].value;
    if (http::iequals(name, "x-forwarded-proto")) ++proto;
    if (upgrade && http::iequals(name, "connection")) {
      require(value == "upgrade", "only Connection: upgrade", head);
      continue;
    }
    if (upgrade && http::iequals(name, "upgrade")) continue;
    if (http::iequals(name, "transfer-encoding")) {
      require(value == "chunked" && body_of(req) == -1, "Transfer-Encoding only for a chunked body", head);
      continue;
    }
    require(!hop_by_hop(name), "no hop-by-hop field", head);
    // Fields the proxy writes itself may share a name the client listed; the client's are gone.
    static const char* const kOwn[] = {"host", "content-length", "x-forwarded-for", "x-forwarded-proto",
                                       "x-forwarded-host", "forwarded", "via"};
    bool own = false;
    for (const char* o : kOwn) own = own || http::iequals(name, o);
    if (!own) require(!names(options, name), "no field the client's Connection named", head);
  }
  require(proto == 1, "exactly one X-Forwarded-Proto", head);
  return 0;
}
