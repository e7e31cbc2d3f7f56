#include "server/static_handler.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace nuri;
using http::Status;

namespace {

class StaticHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nuri-static-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    fs::create_directories(base_ / "root" / "dir");
    fs::create_directories(base_ / "root" / "empty");
    fs::create_directories(base_ / "root" / ".git");
    fs::create_directories(base_ / "root" / ".well-known");
    std::ofstream(base_ / "root" / "a.txt") << "0123456789";
    std::ofstream(base_ / "root" / "dir" / "index.html") << "<p>index</p>";
    std::ofstream(base_ / "root" / ".git" / "config") << "[core]";
    std::ofstream(base_ / "root" / ".well-known" / "security.txt") << "Contact: x";
    make_handler();
  }
  void TearDown() override {
    if (handler_) handler_->release(response_.file);
    handler_.reset();
    site_.reset();
    fs::remove_all(base_);
  }
  // (Re)builds the site from config_ (by default: one host serving base_/root).
  void make_handler(bool dotfiles = false) {
    if (handler_) handler_->release(response_.file);
    response_.reset();
    handler_.reset();
    config::Config config;
    config::Location everything;
    everything.dotfiles = dotfiles;
    config.hosts.push_back({{}, (base_ / "root").string(), {everything}});
    config.listeners.push_back({*net::SocketAddress::parse("127.0.0.1:0"), {}, {}});
    std::string error;
    site_ = std::make_unique<server::Site>(std::move(config), error);
    ASSERT_EQ(error, "");
    handler_ = std::make_unique<server::StaticHandler>(*site_);
  }

  // Parses `head` and answers it; the response is in response_.
  void get(const std::string& head) {
    text_ = head;
    http::RequestParser parser;
    auto r = parser.parse(text_, request_);
    ASSERT_EQ(r.state, http::ParseState::complete) << head;
    handler_->release(response_.file);
    response_.reset();
    handler_->handle(request_, response_, 0, nullptr, 0);
  }
  bool has_header(const std::string& line) const { return response_.headers.find(line + "\r\n") != std::string::npos; }
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

TEST_F(StaticHandlerTest, ServesAFileWithValidators) {
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
  EXPECT_TRUE(has_header("Content-Type: text/plain; charset=utf-8"));
  EXPECT_TRUE(has_header("Accept-Ranges: bytes"));
  EXPECT_FALSE(header_value("ETag").empty());
  EXPECT_FALSE(header_value("Last-Modified").empty());
  EXPECT_EQ(response_.content_length(), 10u);
  ASSERT_NE(response_.file, nullptr);
}

TEST_F(StaticHandlerTest, ConditionalRequests) {
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string etag = header_value("ETag");
  std::string modified = header_value("Last-Modified");
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n");
  EXPECT_EQ(response_.status, Status::not_modified);
  EXPECT_EQ(header_value("ETag"), etag);
  EXPECT_EQ(response_.content_length(), 0u);
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: " + modified + "\r\n\r\n");
  EXPECT_EQ(response_.status, Status::not_modified);
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"other\"\r\n\r\n");
  EXPECT_EQ(response_.status, Status::precondition_failed);
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n");
  EXPECT_EQ(response_.status, Status::precondition_failed);
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
}

TEST_F(StaticHandlerTest, Ranges) {
  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n");
  EXPECT_EQ(response_.status, Status::partial_content);
  EXPECT_EQ(header_value("Content-Range"), "bytes 2-4/10");
  ASSERT_EQ(response_.segments.size(), 1u);
  EXPECT_EQ(response_.segments[0].offset, 2u);
  EXPECT_EQ(response_.segments[0].length, 3u);

  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0,-2\r\n\r\n");
  EXPECT_EQ(response_.status, Status::partial_content);
  EXPECT_EQ(header_value("Content-Type").rfind("multipart/byteranges; boundary=", 0), 0u);
  EXPECT_NE(response_.body.find("Content-Range: bytes 0-0/10"), std::string::npos);
  EXPECT_NE(response_.body.find("Content-Range: bytes 8-9/10"), std::string::npos);

  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n\r\n");
  EXPECT_EQ(response_.status, Status::range_not_satisfiable);
  EXPECT_EQ(header_value("Content-Range"), "bytes */10");

  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: lines=1-2\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);

  get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nIf-Range: \"stale\"\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
  // HEAD ignores Range (RFC 9110 §14.2: GET only).
  get("HEAD /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
}

TEST_F(StaticHandlerTest, MethodsOnFiles) {
  get("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(response_.status, Status::method_not_allowed);
  EXPECT_TRUE(has_header("Allow: GET, HEAD, OPTIONS"));
  get("OPTIONS /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::no_content);
  EXPECT_TRUE(has_header("Allow: GET, HEAD, OPTIONS"));
  get("DELETE /missing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::not_found);
}

TEST_F(StaticHandlerTest, Directories) {
  get("GET /dir HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::moved_permanently);
  EXPECT_EQ(header_value("Location"), "/dir/");
  get("GET /dir?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(header_value("Location"), "/dir/?x=1");
  get("GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
  EXPECT_TRUE(has_header("Content-Type: text/html; charset=utf-8"));
  get("GET /empty/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::forbidden);
}

TEST_F(StaticHandlerTest, HiddenFilesAndBadPaths) {
  get("GET /.git/config HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::not_found);
  get("GET /dir/../.git/config HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::not_found);
  get("GET /.well-known/security.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
  get("GET /../a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::bad_request);
  get("GET /a%00.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::bad_request);
  get("GET /%61.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
  make_handler(true);
  get("GET /.git/config HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response_.status, Status::ok);
}

TEST(DefaultSite, ServesTheWelcomePage) {
  config::Config config;
  config.hosts.push_back({{}, "", {config::Location{}}});
  std::string error;
  server::Site site(std::move(config), error);
  server::StaticHandler handler(site);
  std::string head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  http::RequestParser parser;
  http::Request request;
  ASSERT_EQ(parser.parse(head, request).state, http::ParseState::complete);
  server::Response response;
  handler.handle(request, response, 0, nullptr, 0);
  EXPECT_EQ(response.status, Status::ok);
  ASSERT_NE(response.file, nullptr);
  EXPECT_NE(response.file->content.find("It works!"), std::string::npos);
  EXPECT_NE(response.headers.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  response.reset();
  head = "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n";
  parser.reset();
  ASSERT_EQ(parser.parse(head, request).state, http::ParseState::complete);
  handler.handle(request, response, 0, nullptr, 0);
  EXPECT_EQ(response.status, Status::not_found);
  handler.release(response.file);
}
