// Tests of server::build_upstream_head (src/server/upstream.cpp): the rewritten head must be one
// valid HTTP/1.1 request head for the upstream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "config/config.h"
#include "http/parser.h"
#include "server/upstream.h"

using namespace nuri;

namespace {

std::string upstream_head(const std::string& client_request, const config::Proxy& proxy) {
  http::RequestParser parser;
  http::Request req;
  EXPECT_EQ(parser.parse(client_request, req).state, http::ParseState::complete);
  sockaddr_in client{};
  client.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.7", &client.sin_addr);
  std::string head;
  server::build_upstream_head(head, req, reinterpret_cast<const sockaddr*>(&client), "192.0.2.7", proxy, false);
  return head;
}

// Found by upstream_head_fuzz: an HTTP/1.0 request without Host went upstream as an HTTP/1.1
// request without Host, which RFC 9112 §3.2 makes a 400 (nuri's own parser refused it).
TEST(UpstreamHead, Http10WithoutHostNamesTheUpstream) {
  config::Proxy proxy;
  proxy.upstreams.push_back({"http://app:8080", "app", 8080, false});
  const std::string head = upstream_head("GET /index.html HTTP/1.0\r\n\r\n", proxy);
  http::RequestParser parser;
  http::Request out;
  const http::ParseResult r = parser.parse(head, out);
  ASSERT_EQ(r.state, http::ParseState::complete) << head;
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(out.host, "app:8080");
  EXPECT_EQ(out.find("X-Forwarded-Host"), std::nullopt);  // the client named no host

  proxy.upstreams.front() = {"http://[::1]", "::1", 80, true};
  EXPECT_NE(upstream_head("GET / HTTP/1.0\r\n\r\n", proxy).find("\r\nHost: [::1]\r\n"), std::string::npos);
}

TEST(UpstreamHead, ClientHostKept) {
  config::Proxy proxy;
  proxy.upstreams.push_back({"http://app:8080", "app", 8080, false});
  EXPECT_NE(upstream_head("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n", proxy).find("\r\nHost: example.com\r\n"),
            std::string::npos);
  EXPECT_NE(upstream_head("GET http://a.example/x HTTP/1.1\r\nHost: b\r\n\r\n", proxy).find("\r\nHost: a.example\r\n"),
            std::string::npos);
}

}  // namespace
