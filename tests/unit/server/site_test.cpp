#include "server/site.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "server/static_handler.h"

namespace fs = std::filesystem;
using namespace nuri;
using http::Status;

namespace {

config::Location location(std::string prefix) {
  config::Location l;
  l.prefix = std::move(prefix);
  return l;
}

sockaddr_in ipv4(const char* text) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, text, &sin.sin_addr);
  return sin;
}

class SiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nuri-site-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    for (const char* d : {"a", "b", "wild", "a/docs", "a/private", "a/errors", "staff"}) fs::create_directories(base_ / d);
    std::ofstream(base_ / "a" / "index.html") << "site a";
    std::ofstream(base_ / "b" / "index.html") << "site b";
    std::ofstream(base_ / "wild" / "index.html") << "wildcard";
    std::ofstream(base_ / "a" / "docs" / "x.txt") << "docs";
    std::ofstream(base_ / "a" / "private" / "p.txt") << "private";
    std::ofstream(base_ / "a" / "errors" / "404.html") << "<p>custom not found</p>";
    std::ofstream(base_ / "staff" / "s.txt") << "staff only";
  }
  void TearDown() override {
    if (handler_) handler_->release(response_.file);
    handler_.reset();
    site_.reset();
    fs::remove_all(base_);
  }

  config::Config two_hosts() {
    config::Config c;
    config::VirtualHost a{{"a.test", "www.a.test"}, (base_ / "a").string(), {location("/")}};
    auto docs = location("/docs/");
    docs.headers = {{"X-Docs", "yes"}};
    docs.cache_control = "max-age=60";
    a.locations.push_back(docs);
    auto old = location("/old/");
    old.redirect = config::Redirect{308, "https://a.test/new/"};
    a.locations.push_back(old);
    a.locations[0].hidden = {"/private/"};
    a.locations[0].error_pages = {{404, "/errors/404.html"}};
    auto local = location("/local/");
    local.access = {{true, *net::Cidr::parse("127.0.0.0/8")}, {false, *net::Cidr::parse("all")}};
    a.locations.push_back(local);
    auto staff = location("/staff/");
    staff.root = (base_).string();
    config::BasicAuth auth;
    auth.realm = "staff";
    crypt_data data{};
    auth.users["alice"] = crypt_r("wonderland", "$6$saltsalt$", &data);
    staff.auth = auth;
    a.locations.push_back(staff);
    c.hosts.push_back(a);
    c.hosts.push_back({{"b.test"}, (base_ / "b").string(), {location("/")}});
    c.hosts.push_back({{"*.wild.test"}, (base_ / "wild").string(), {location("/")}});
    c.listeners.push_back({*net::SocketAddress::parse("127.0.0.1:0"), {}, {}});
    c.listeners.push_back({*net::SocketAddress::parse("127.0.0.1:0"), "b.test", {}});
    return c;
  }

  void build(config::Config c) {
    // The response may hold a file of the old site's caches: give it back before they go.
    if (handler_) handler_->release(response_.file);
    response_.reset();
    handler_.reset();
    std::string error;
    site_ = std::make_unique<server::Site>(std::move(c), error);
    ASSERT_EQ(error, "");
    handler_ = std::make_unique<server::StaticHandler>(*site_);
  }

  void get(const std::string& path, const std::string& host, const std::string& extra = "",
           const char* client = "127.0.0.1", std::size_t listener = 0) {
    text_ = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
    http::RequestParser parser;
    ASSERT_EQ(parser.parse(text_, request_).state, http::ParseState::complete) << text_;
    handler_->release(response_.file);
    response_.reset();
    sockaddr_in peer = ipv4(client);
    handler_->handle(request_, response_, 0, reinterpret_cast<sockaddr*>(&peer), listener);
  }
  std::string body() const {
    if (response_.file && response_.file->in_memory) return response_.file->content;
    return response_.body;
  }
  std::string header_value(const std::string& name) const {
    auto at = response_.headers.find(name + ": ");
    if (at == std::string::npos) return {};
    at += name.size() + 2;
    return response_.headers.substr(at, response_.headers.find("\r\n", at) - at);
  }

  fs::path base_;
  std::unique_ptr<server::Site> site_;
  std::unique_ptr<server::StaticHandler> handler_;
  std::string text_;
  http::Request request_;
  server::Response response_;
};

}  // namespace

TEST_F(SiteTest, HostsByNameCaseAndPortIgnored) {
  build(two_hosts());
  get("/", "a.test");
  EXPECT_EQ(body(), "site a");
  get("/", "WWW.A.Test:8080");
  EXPECT_EQ(body(), "site a");
  get("/", "b.test.");
  EXPECT_EQ(body(), "site b");
  get("/", "x.wild.test");
  EXPECT_EQ(body(), "wildcard");
  get("/", "y.x.wild.test");
  EXPECT_EQ(body(), "wildcard");
  get("/", "wild.test");  // a wildcard needs a subdomain: unknown, so the default host
  EXPECT_EQ(body(), "site a");
  get("/", "unknown.test");
  EXPECT_EQ(body(), "site a");
  get("/", "unknown.test", "", "127.0.0.1", 1);  // listener 1 defaults to b.test
  EXPECT_EQ(body(), "site b");
}

TEST_F(SiteTest, UnknownHostsCanBeRefused) {
  auto c = two_hosts();
  c.unknown_host = config::UnknownHost::misdirected;
  build(std::move(c));
  get("/", "unknown.test");
  EXPECT_EQ(response_.status, Status::misdirected_request);
  get("/", "a.test");
  EXPECT_EQ(response_.status, Status::ok);
  c = two_hosts();
  c.unknown_host = config::UnknownHost::not_found;
  build(std::move(c));
  get("/", "unknown.test");
  EXPECT_EQ(response_.status, Status::not_found);
}

TEST_F(SiteTest, LongestLocationPrefixWins) {
  build(two_hosts());
  get("/docs/x.txt", "a.test");
  EXPECT_EQ(response_.status, Status::ok);
  EXPECT_EQ(header_value("X-Docs"), "yes");
  EXPECT_EQ(header_value("Cache-Control"), "max-age=60");
  get("/index.html", "a.test");
  EXPECT_EQ(header_value("X-Docs"), "");
  EXPECT_EQ(header_value("Cache-Control"), "");
  get("/docs", "a.test");  // the location's own directory, without the slash: redirected
  EXPECT_EQ(response_.status, Status::moved_permanently);
  EXPECT_EQ(header_value("Location"), "/docs/");
}

TEST_F(SiteTest, RedirectHiddenAndErrorPages) {
  build(two_hosts());
  get("/old/page", "a.test");
  EXPECT_EQ(response_.status, Status::permanent_redirect);
  EXPECT_EQ(header_value("Location"), "https://a.test/new/");
  get("/private/p.txt", "a.test");
  EXPECT_EQ(response_.status, Status::not_found);
  EXPECT_EQ(body(), "<p>custom not found</p>");
  EXPECT_EQ(header_value("Content-Type"), "text/html; charset=utf-8");
  get("/nothing", "a.test");
  EXPECT_EQ(response_.status, Status::not_found);
  EXPECT_EQ(body(), "<p>custom not found</p>");
  get("/nothing", "b.test");  // b has no error pages: nuri's own
  EXPECT_NE(body().find("404 Not Found"), std::string::npos);
}

TEST_F(SiteTest, AccessRulesByClientAddress) {
  build(two_hosts());
  get("/local/", "a.test", "", "127.0.0.1");
  EXPECT_EQ(response_.status, Status::not_found);  // allowed; nothing there
  get("/local/", "a.test", "", "10.1.2.3");
  EXPECT_EQ(response_.status, Status::forbidden);
}

TEST_F(SiteTest, BasicAuthentication) {
  build(two_hosts());
  get("/staff/s.txt", "a.test");
  EXPECT_EQ(response_.status, Status::unauthorized);
  EXPECT_EQ(header_value("WWW-Authenticate"), "Basic realm=\"staff\", charset=\"UTF-8\"");
  // alice:wonderland
  get("/staff/s.txt", "a.test", "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\n");
  EXPECT_EQ(response_.status, Status::ok);
  EXPECT_EQ(body(), "staff only");
  get("/staff/s.txt", "a.test", "Authorization: basic YWxpY2U6d29uZGVybGFuZA==\r\n");  // scheme is case-insensitive
  EXPECT_EQ(response_.status, Status::ok);
  // alice:wrong, bob:wonderland, garbage
  for (const char* bad : {"Basic YWxpY2U6d3Jvbmc=", "Basic Ym9iOndvbmRlcmxhbmQ=", "Basic !!!!", "Bearer abc",
                          "Basic YWxpY2U=", "Basic"}) {
    get("/staff/s.txt", "a.test", std::string("Authorization: ") + bad + "\r\n");
    EXPECT_EQ(response_.status, Status::unauthorized) << bad;
  }
}

TEST_F(SiteTest, ListenerDefaultMayNameAWildcardHost) {
  auto c = two_hosts();
  c.listeners[1].default_host = "*.wild.test";
  build(std::move(c));
  get("/", "nobody.test", "", "127.0.0.1", 1);
  EXPECT_EQ(body(), "wildcard");
  get("/", "nobody.test", "", "127.0.0.1", 0);
  EXPECT_EQ(body(), "site a");
}
