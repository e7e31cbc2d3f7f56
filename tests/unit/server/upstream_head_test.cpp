// Tests of server::build_upstream_head (src/server/upstream.cpp): the rewritten head must be one
// valid HTTP/1.1 request head for the upstream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "config/config.h"
#include "http/parser.h"
#include "http/response_parser.h"
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

// The whole rewritten head for a request with every kind of field the proxy treats specially,
// names in odd cases: hop-by-hop ones and those the Connection field names are dropped, Host,
// Content-Length, Expect and X-Forwarded-Proto/-Host are replaced, X-Forwarded-For, Forwarded
// and Via sent in several lines are joined (empty ones add nothing) and nuri adds itself last.
TEST(UpstreamHead, SpecialFieldsExactly) {
  config::Proxy proxy;
  proxy.upstreams.push_back({"http://app:8080", "app", 8080, false});
  proxy.via = true;
  const std::string request =
      "POST /f?q=1 HTTP/1.1\r\n"
      "hOST: shop.example\r\n"
      "Content-length: 3\r\n"
      "EXPECT: 100-continue\r\n"
      "Connection: keep-alive, X-Secret\r\n"
      "x-secret: 1\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "Trailer: X\r\n"
      "Proxy-Connection: close\r\n"
      "Upgrade: websocket\r\n"
      "X-Forwarded-For: 198.51.100.1\r\n"
      "x-forwarded-for: \r\n"
      "X-FORWARDED-FOR: 198.51.100.2\r\n"
      "X-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: evil\r\n"
      "Forwarded: for=198.51.100.1\r\n"
      "VIA: 1.0 a\r\n"
      "via: 1.1 b\r\n"
      "Date: x\r\n"
      "Server: y\r\n"
      "Accept: */*\r\n"
      "\r\n";
  EXPECT_EQ(upstream_head(request, proxy),
            "POST /f?q=1 HTTP/1.1\r\n"
            "Host: shop.example\r\n"
            "Date: x\r\n"
            "Server: y\r\n"
            "Accept: */*\r\n"
            "Content-Length: 3\r\n"
            "X-Forwarded-For: 198.51.100.1, 198.51.100.2, 192.0.2.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: shop.example\r\n"
            "Forwarded: for=198.51.100.1, for=192.0.2.7;host=shop.example;proto=http\r\n"
            "Via: 1.0 a, 1.1 b, 1.1 nuri\r\n"
            "\r\n");

  // Without via: the client's Via lines pass (joined); only empty ones: no Via at all.
  proxy.via = false;
  EXPECT_NE(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a\r\nVia: 1.1 b\r\n\r\n", proxy)
                .find("\r\nVia: 1.0 a, 1.1 b\r\n"),
            std::string::npos);
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nVia: \r\n\r\n", proxy).find("Via"), std::string::npos);
  // A field the Connection field names is dropped even when it is one nuri joins.
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nConnection: x-forwarded-for\r\n"
                          "X-Forwarded-For: 10.0.0.1\r\n\r\n",
                          proxy)
                .find("10.0.0.1"),
            std::string::npos);
  // A host that is no token is quoted in Forwarded.
  EXPECT_NE(upstream_head("GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n", proxy)
                .find("\r\nForwarded: for=192.0.2.7;host=\"h:8080\";proto=http\r\n"),
            std::string::npos);
}

// What the client gets of an upstream's response fields: hop-by-hop ones, those its Connection
// names, Date, Server and Content-Length (nuri writes its own) are dropped; Via is joined.
TEST(UpstreamHead, ResponseFieldsExactly) {
  const std::string response =
      "HTTP/1.1 200 OK\r\n"
      "connection: X-Internal\r\n"
      "X-Internal: 1\r\n"
      "Content-Length: 2\r\n"
      "DATE: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
      "server: backend\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Via: 1.1 a\r\n"
      "Via: \r\n"
      "Cache-Control: no-store\r\n"
      "\r\n";
  http::ResponseParser parser;
  http::Response head;
  ASSERT_EQ(parser.parse(response, http::Method::get, head).state, http::ParseState::complete);
  std::string out;
  server::append_response_fields(out, head, true);
  EXPECT_EQ(out, "Cache-Control: no-store\r\nVia: 1.1 a, 1.1 nuri\r\n");
  out.clear();
  server::append_response_fields(out, head, false);
  EXPECT_EQ(out, "Via: 1.1 a\r\nVia: \r\nCache-Control: no-store\r\n");
}

}  // namespace
