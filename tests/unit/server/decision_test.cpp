// The request decisions that the connection and `nuri explain` share (src/server/decision.h), the
// reasons Site gives for a host and a location, and the rule net::access_verdict names.
#include "server/decision.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "server/site.h"

using namespace nuri;
using http::Status;
using server::Front;
using server::StatusEndpoint;

namespace {

sockaddr_in ipv4(const char* text) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, text, &sin.sin_addr);
  return sin;
}

const sockaddr* sa(const sockaddr_in& sin) { return reinterpret_cast<const sockaddr*>(&sin); }

// A parsed head; `text` must outlive the request (it holds views into it).
http::Request parse(const std::string& text, const config::Limits& limits = {}) {
  http::RequestParser parser(server::parser_limits(limits));
  http::Request req;
  EXPECT_EQ(parser.parse(text, req).state, http::ParseState::complete) << text;
  return req;
}

net::AccessRule access_rule(bool allow, const char* range) { return {allow, *net::Cidr::parse(range)}; }

}  // namespace

TEST(AccessVerdict, NamesTheFirstRuleContainingTheClient) {
  std::vector<net::AccessRule> rules = {access_rule(true, "10.1.0.0/16"), access_rule(false, "10.0.0.0/8"), access_rule(true, "all")};
  auto inner = ipv4("10.1.2.3"), outer = ipv4("10.9.9.9"), other = ipv4("192.0.2.1");
  EXPECT_EQ(net::access_verdict(rules, sa(inner)).rule, 0);
  EXPECT_TRUE(net::access_verdict(rules, sa(inner)).allowed);
  EXPECT_EQ(net::access_verdict(rules, sa(outer)).rule, 1);
  EXPECT_FALSE(net::access_verdict(rules, sa(outer)).allowed);
  EXPECT_EQ(net::access_verdict(rules, sa(other)).rule, 2);
}

TEST(AccessVerdict, NoRuleMatchingTakesTheOppositeOfTheLast) {
  auto client = ipv4("192.0.2.1");
  EXPECT_EQ(net::access_verdict({}, sa(client)).rule, -1);
  EXPECT_TRUE(net::access_verdict({}, sa(client)).allowed);
  auto ends_allow = net::access_verdict({access_rule(true, "10.0.0.0/8")}, sa(client));
  EXPECT_EQ(ends_allow.rule, -1);
  EXPECT_FALSE(ends_allow.allowed);
  EXPECT_TRUE(net::access_verdict({access_rule(false, "10.0.0.0/8")}, sa(client)).allowed);
  // access_allowed is the same answer.
  EXPECT_FALSE(net::access_allowed({access_rule(true, "10.0.0.0/8")}, sa(client)));
}

TEST(Decision, ParserLimitsComeFromTheConfiguration) {
  config::Limits limits;
  limits.max_uri_size = 100;
  limits.max_header_size = 2000;
  auto p = server::parser_limits(limits);
  EXPECT_EQ(p.max_target_bytes, 100u);
  EXPECT_EQ(p.max_head_bytes, 2000u);
}

TEST(Decision, BodyTooLargeOnlyByAnnouncedLength) {
  config::Limits limits;
  limits.max_body_size = 10;
  std::string over = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
  std::string at = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
  std::string chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_TRUE(server::body_too_large(limits, parse(over)));
  EXPECT_FALSE(server::body_too_large(limits, parse(at)));
  EXPECT_FALSE(server::body_too_large(limits, parse(chunked)));  // counted as it arrives
}

TEST(Decision, FrontInTheConnectionsOrder) {
  config::StatusPage status;
  StatusEndpoint endpoint;
  std::string unknown = "BREW /server-status HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(server::front_of(status, parse(unknown), endpoint), Front::not_implemented);
  std::string star = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(server::front_of(status, parse(star), endpoint), Front::server_options);
  std::string metrics = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(server::front_of(status, parse(metrics), endpoint), Front::status_endpoint);
  EXPECT_EQ(endpoint, StatusEndpoint::metrics);
  std::string connect = "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
  EXPECT_EQ(server::front_of(status, parse(connect), endpoint), Front::connect);
  std::string file = "GET /server-status/ HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(server::front_of(status, parse(file), endpoint), Front::site);
  EXPECT_EQ(endpoint, StatusEndpoint::none);
  // The absolute form goes to the site: the status page answers the origin form only.
  std::string absolute = "GET http://a/server-status HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(server::front_of(status, parse(absolute), endpoint), Front::site);
  status.enabled = false;
  EXPECT_EQ(server::front_of(status, parse(metrics), endpoint), Front::site);
}

TEST(Decision, StatusEndpointsAnswerThisMachineByDefault) {
  config::StatusPage status;
  std::string get = "GET /server-status HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string post = "POST /server-status HTTP/1.1\r\nHost: a\r\n\r\n";
  auto local = ipv4("127.0.0.1"), remote = ipv4("192.0.2.1");
  net::AccessVerdict verdict;
  EXPECT_EQ(server::status_endpoint_check(status, parse(get), sa(local), &verdict), Status::ok);
  EXPECT_EQ(verdict.rule, 0);
  EXPECT_EQ(server::status_endpoint_check(status, parse(get), sa(remote), &verdict), Status::forbidden);
  EXPECT_EQ(verdict.rule, 2);  // "deny all"
  EXPECT_EQ(server::status_endpoint_check(status, parse(post), sa(local)), Status::method_not_allowed);
  status.access = {access_rule(true, "192.0.2.0/24")};
  EXPECT_EQ(server::status_endpoint_check(status, parse(get), sa(remote)), Status::ok);
  EXPECT_EQ(server::status_endpoint_check(status, parse(get), sa(local)), Status::forbidden);
}

TEST(SiteChoice, SaysWhyAHostAndALocationWereChosen) {
  config::Config c;
  config::Location root, docs;
  docs.prefix = "/docs/";
  c.hosts = {{{"a.test", "*.b.test"}, "", {root, docs}}, {{"c.test"}, "", {root}}};
  c.listeners = {{*net::SocketAddress::parse("127.0.0.1:0"), {}, {}, false},
                 {*net::SocketAddress::parse("127.0.0.1:1"), "c.test", {}, false}};
  std::string error;
  server::Site site(c, error);
  ASSERT_EQ(error, "");
  auto exact = site.choose_host("A.test:8080", 0);
  EXPECT_EQ(exact.match, server::HostMatch::exact);
  EXPECT_EQ(exact.name, "a.test");
  auto wild = site.choose_host("x.y.b.test", 0);
  EXPECT_EQ(wild.match, server::HostMatch::wildcard);
  EXPECT_EQ(wild.name, ".b.test");
  EXPECT_EQ(site.choose_host("other", 0).match, server::HostMatch::config_default);
  auto by_listener = site.choose_host("other", 1);
  EXPECT_EQ(by_listener.match, server::HostMatch::listener_default);
  EXPECT_EQ(by_listener.host->config, &site.config().hosts[1]);
  EXPECT_EQ(site.select_host("other", 1), by_listener.host);

  server::LocationMatch why;
  EXPECT_EQ(site.select_location(*exact.host, "/docs/x", &why).config->prefix, "/docs/");
  EXPECT_EQ(why, server::LocationMatch::prefix);
  EXPECT_EQ(site.select_location(*exact.host, "/docs", &why).config->prefix, "/docs/");
  EXPECT_EQ(why, server::LocationMatch::without_slash);

  c.unknown_host = config::UnknownHost::misdirected;
  server::Site strict(c, error);
  auto refused = strict.choose_host("other", 0);
  EXPECT_EQ(refused.match, server::HostMatch::refused);
  EXPECT_EQ(refused.host, nullptr);
}
