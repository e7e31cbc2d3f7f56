#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/auth.h"

using nuri::config::Config;
using nuri::config::LogFormat;
using nuri::config::UnknownHost;
using nuri::config::parse_config;

namespace {

const std::string kSha512 = "$6$saltsalt$" + std::string(86, 'a');
const std::string kSha256 = "$5$rounds=5000$salt$" + std::string(43, 'B');
const std::string kBcrypt = "$2y$10$" + std::string(53, 'c');
const std::string kYescrypt = "$y$j9T$salt$" + std::string(43, 'd');

// A scratch directory with www/, docs/, logs/, a plain file and htpasswd files; "@DIR@" in a test's
// TOML becomes its path. Error messages name the config "t.toml".
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nuri-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/www");
    std::filesystem::create_directories(dir_ + "/docs");
    std::filesystem::create_directories(dir_ + "/logs");
    std::ofstream(dir_ + "/file.txt") << "not a directory\n";
    std::ofstream(dir_ + "/htpasswd") << "# staff\n\nalice:" << kSha512 << "\r\nbob:" << kBcrypt << ":comment\n";
    std::ofstream(dir_ + "/bad-htpasswd") << "# staff\nalice:" << kSha512 << "\nno colon here\ncarol:$1$x$y\n"
                                          << "alice:" << kYescrypt << "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string expand(std::string text) const {
    for (std::size_t at; (at = text.find("@DIR@")) != std::string::npos;) text.replace(at, 5, dir_);
    return text;
  }

  Config ok(const std::string& text) {
    std::vector<std::string> errors;
    auto config = parse_config(expand(text), dir_ + "/t.toml", errors);
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    EXPECT_TRUE(config) << all;
    EXPECT_TRUE(errors.empty());
    return config.value_or(Config{});
  }

  // The errors, with the scratch directory shown as "@DIR@".
  std::vector<std::string> errors(const std::string& text) {
    std::vector<std::string> out;
    auto config = parse_config(expand(text), "t.toml", out);
    EXPECT_FALSE(config);
    EXPECT_FALSE(out.empty());
    for (std::string& e : out) {
      for (std::size_t at; (at = e.find(dir_)) != std::string::npos;) e.replace(at, dir_.size(), "@DIR@");
    }
    return out;
  }

  void expect_error(const std::string& text, const std::string& expected) {
    auto got = errors(text);
    ASSERT_EQ(got.size(), 1u) << text << "\nfirst: " << (got.empty() ? "" : got[0]);
    EXPECT_EQ(got[0], expected) << text;
  }

  std::string dir_;
};

}  // namespace

TEST_F(ConfigTest, EmptyFileGivesTheDefaults) {
  Config c = ok("");
  Config d;
  EXPECT_EQ(c.workers, 0u);
  EXPECT_FALSE(c.server_tokens);
  EXPECT_EQ(c.user, "");
  EXPECT_EQ(c.unknown_host, UnknownHost::default_host);
  EXPECT_EQ(c.access_log, "");
  EXPECT_EQ(c.access_log_format, LogFormat::combined);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address.to_string(), "127.0.0.1:8080");
  EXPECT_TRUE(c.listeners[0].access.empty());
  EXPECT_TRUE(c.listeners[0].defer_accept);
  ASSERT_EQ(c.hosts.size(), 1u);
  EXPECT_EQ(c.default_host, 0u);
  EXPECT_TRUE(c.hosts[0].names.empty());
  EXPECT_EQ(c.hosts[0].root, "");
  ASSERT_EQ(c.hosts[0].locations.size(), 1u);
  EXPECT_EQ(c.hosts[0].locations[0].prefix, "/");
  EXPECT_EQ(c.hosts[0].locations[0].index, std::vector<std::string>{"index.html"});
  EXPECT_EQ(c.limits.max_connections, d.limits.max_connections);
  EXPECT_EQ(c.limits.header_timeout, 10);
  EXPECT_EQ(c.limits.idle_timeout, 60);
  EXPECT_EQ(c.limits.body_timeout, 30);
  EXPECT_EQ(c.limits.send_timeout, 60);
  EXPECT_EQ(c.limits.grace_period, 10);
  EXPECT_EQ(c.limits.max_body_size, 1u << 20);
  EXPECT_EQ(c.limits.max_header_size, 16384u);
  EXPECT_EQ(c.limits.max_uri_size, 8192u);
  EXPECT_TRUE(c.status.enabled);
  EXPECT_EQ(c.status.path, "/server-status");
  EXPECT_EQ(c.status.metrics_path, "/metrics");
  EXPECT_EQ(c.status.health_path, "/healthz");
  ASSERT_EQ(c.status.access.size(), 3u);
  EXPECT_EQ(c.status.access[0].range.to_string(), "127.0.0.0/8");
  EXPECT_EQ(c.status.access[1].range.to_string(), "::1/128");
  EXPECT_EQ(c.status.access[2].range.to_string(), "all");
  EXPECT_TRUE(c.status.access[0].allow && c.status.access[1].allow && !c.status.access[2].allow);
}

TEST_F(ConfigTest, EveryKey) {
  Config c = ok(R"(workers = 2
server_tokens = true
user = "www-data"
unknown_host = 421
[access_log]
path = "logs/access.log"
format = "json"
[limits]
max_connections = 500
max_connections_per_client = 8
requests_per_second = 2.5
burst = 10
header_timeout = 1.5
idle_timeout = 5
body_timeout = 6
send_timeout = 7
grace_period = 0
max_body_size = "2G"
max_header_size = "8k"
max_uri_size = 1024
[status]
enabled = false
path = "/st"
metrics_path = "/m"
health_path = "/h"
access = ["deny 10.0.0.0/8", "allow all"]
[[listen]]
address = "0.0.0.0:80"
default_host = "WWW.example.com"
allow = ["10.0.0.0/8", "::1"]
deny = ["all"]
[[listen]]
address = "[::1]:8080"
defer_accept = false
[[host]]
names = ["Example.COM", "www.example.com", "*.example.org"]
root = "www"
[[host]]
names = ["other.test"]
root = "@DIR@/docs/"
default = true
  [[host.location]]
  prefix = "/docs/"
  root = "docs"
  index = ["index.html", "index.htm"]
  directory_listing = true
  dotfiles = true
  headers = { "X-Frame-Options" = "DENY", "X-A" = "1" }
  return = { status = 308, target = "https://example.com/" }
  error_pages = { 404 = "/errors/404.html", 503 = "/errors/503.html" }
  cache_control = "max-age=3600"
  hidden = ["/docs/private/"]
  allow = ["127.0.0.1"]
  deny = ["all"]
  [host.location.auth]
  realm = "staff"
  user_file = "htpasswd"
  users = { carol = ")" + kSha256 + R"(", alice = ")" + kYescrypt + R"(" }
  [[host.location]]
  prefix = "/old/"
  return = [301, "/new/"]
)");
  EXPECT_EQ(c.workers, 2u);
  EXPECT_TRUE(c.server_tokens);
  EXPECT_EQ(c.user, "www-data");
  EXPECT_EQ(c.unknown_host, UnknownHost::misdirected);
  EXPECT_EQ(c.access_log, dir_ + "/logs/access.log");
  EXPECT_EQ(c.access_log_format, LogFormat::json);
  EXPECT_EQ(c.limits.max_connections, 500u);
  EXPECT_EQ(c.limits.max_connections_per_client, 8u);
  EXPECT_EQ(c.limits.requests_per_second, 2.5);
  EXPECT_EQ(c.limits.burst, 10);
  EXPECT_EQ(c.limits.header_timeout, 1.5);
  EXPECT_EQ(c.limits.idle_timeout, 5);
  EXPECT_EQ(c.limits.body_timeout, 6);
  EXPECT_EQ(c.limits.send_timeout, 7);
  EXPECT_EQ(c.limits.grace_period, 0);
  EXPECT_EQ(c.limits.max_body_size, 2ull << 30);
  EXPECT_EQ(c.limits.max_header_size, 8192u);
  EXPECT_EQ(c.limits.max_uri_size, 1024u);
  EXPECT_FALSE(c.status.enabled);
  EXPECT_EQ(c.status.path, "/st");
  EXPECT_EQ(c.status.metrics_path, "/m");
  EXPECT_EQ(c.status.health_path, "/h");
  ASSERT_EQ(c.status.access.size(), 2u);
  EXPECT_FALSE(c.status.access[0].allow);
  EXPECT_EQ(c.status.access[0].range.to_string(), "10.0.0.0/8");
  EXPECT_TRUE(c.status.access[1].allow);

  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].address.to_string(), "0.0.0.0:80");
  EXPECT_EQ(c.listeners[0].default_host, "www.example.com");
  ASSERT_EQ(c.listeners[0].access.size(), 3u);  // allow entries first, then deny
  EXPECT_TRUE(c.listeners[0].access[0].allow);
  EXPECT_EQ(c.listeners[0].access[1].range.to_string(), "::1/128");
  EXPECT_TRUE(c.listeners[0].access[1].allow);
  EXPECT_FALSE(c.listeners[0].access[2].allow);
  EXPECT_EQ(c.listeners[1].address.to_string(), "[::1]:8080");
  EXPECT_TRUE(c.listeners[0].defer_accept);  // the default
  EXPECT_FALSE(c.listeners[1].defer_accept);

  ASSERT_EQ(c.hosts.size(), 2u);
  EXPECT_EQ(c.default_host, 1u);
  EXPECT_EQ(c.hosts[0].names, (std::vector<std::string>{"example.com", "www.example.com", "*.example.org"}));
  EXPECT_EQ(c.hosts[0].root, dir_ + "/www");
  ASSERT_EQ(c.hosts[0].locations.size(), 1u);
  EXPECT_EQ(c.hosts[0].locations[0].prefix, "/");
  EXPECT_EQ(c.hosts[1].root, dir_ + "/docs");
  ASSERT_EQ(c.hosts[1].locations.size(), 3u);  // "/" added in front
  EXPECT_EQ(c.hosts[1].locations[0].prefix, "/");
  const auto& docs = c.hosts[1].locations[1];
  EXPECT_EQ(docs.prefix, "/docs/");
  EXPECT_EQ(docs.root, dir_ + "/docs");
  EXPECT_EQ(docs.index, (std::vector<std::string>{"index.html", "index.htm"}));
  EXPECT_TRUE(docs.directory_listing);
  EXPECT_TRUE(docs.dotfiles);
  ASSERT_EQ(docs.headers.size(), 2u);
  EXPECT_EQ(docs.headers[0], (std::pair<std::string, std::string>{"X-A", "1"}));
  EXPECT_EQ(docs.headers[1], (std::pair<std::string, std::string>{"X-Frame-Options", "DENY"}));
  ASSERT_TRUE(docs.redirect);
  EXPECT_EQ(docs.redirect->status, 308);
  EXPECT_EQ(docs.redirect->target, "https://example.com/");
  EXPECT_EQ(docs.error_pages.at(404), "/errors/404.html");
  EXPECT_EQ(docs.error_pages.at(503), "/errors/503.html");
  EXPECT_EQ(docs.cache_control, "max-age=3600");
  EXPECT_EQ(docs.hidden, std::vector<std::string>{"/docs/private/"});
  ASSERT_EQ(docs.access.size(), 2u);
  ASSERT_TRUE(docs.auth);
  EXPECT_EQ(docs.auth->realm, "staff");
  ASSERT_EQ(docs.auth->users.size(), 3u);
  EXPECT_EQ(docs.auth->users.at("alice"), kYescrypt);  // inline overrides the file
  EXPECT_EQ(docs.auth->users.at("bob"), kBcrypt);       // ":comment" dropped
  EXPECT_EQ(docs.auth->users.at("carol"), kSha256);
  const auto& old = c.hosts[1].locations[2];
  ASSERT_TRUE(old.redirect);
  EXPECT_EQ(old.redirect->status, 301);
  EXPECT_EQ(old.redirect->target, "/new/");

  const std::string summary = nuri::config::summarize(c);
  EXPECT_NE(summary.find("http://0.0.0.0:80/ (every interface of this machine), default host www.example.com"),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("http://[::1]:8080/ (this machine only)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("other.test [default]"), std::string::npos) << summary;
  EXPECT_NE(summary.find("location /old/: return 301 /new/"), std::string::npos) << summary;
  EXPECT_NE(summary.find("auth \"staff\" (3 users)"), std::string::npos) << summary;
}

TEST_F(ConfigTest, SmallVariants) {
  Config c = ok("unknown_host = 404\n[access_log]\npath = \"-\"\nformat = \"common\"\n[limits]\nmax_body_size = 0\n"
                "max_header_size = 1024\nmax_uri_size = \"4K\"\n");
  EXPECT_EQ(c.unknown_host, UnknownHost::not_found);
  EXPECT_EQ(c.access_log, "-");
  EXPECT_EQ(c.access_log_format, LogFormat::common);
  EXPECT_EQ(c.limits.max_body_size, 0u);
  EXPECT_EQ(c.limits.max_uri_size, 1024u);  // never longer than the head it lives in
  EXPECT_EQ(ok("unknown_host = \"default\"").unknown_host, UnknownHost::default_host);
  // The first host is the default without "default = true"; "/" stays when given.
  Config h = ok("[[host]]\nnames = [\"a.test\"]\n[[host]]\nnames = [\"b.test\"]\n  [[host.location]]\n  prefix = \"/\"\n"
                "  directory_listing = true\n");
  EXPECT_EQ(h.default_host, 0u);
  ASSERT_EQ(h.hosts[1].locations.size(), 1u);
  EXPECT_TRUE(h.hosts[1].locations[0].directory_listing);
  // Port 0 twice is two different ports, not a duplicate.
  EXPECT_EQ(ok("[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\n").listeners.size(), 2u);
  // Giving status rules replaces the loopback default entirely.
  EXPECT_TRUE(ok("[status]\ndeny = []\n").status.access.empty());
}

TEST_F(ConfigTest, SyntaxErrorStopsAtOnce) {
  auto e = errors("workers = 2\nfoo = \nbar = [\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("t.toml:2:7: ", 0), 0u) << e[0];
}

TEST_F(ConfigTest, ErrorsStayOnOneLine) {
  // toml++ quotes the character it stopped at: here a newline (found by the fuzzer).
  auto e = errors("server_tokens = tru\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "t.toml:1:20: Error while parsing boolean: expected 'true', saw 'tru\\n'");
  expect_error("\"a\\nb\\u0001\" = 1\n", "t.toml:1:1: unknown key \"a\\nb\\x01\" at the top level");
}

TEST_F(ConfigTest, UnknownKeysEverywhere) {
  expect_error("wrokers = 2\n", "t.toml:1:1: unknown key \"wrokers\" at the top level (did you mean \"workers\"?)");
  expect_error("frobnicate = 2\n", "t.toml:1:1: unknown key \"frobnicate\" at the top level");
  expect_error("[limits]\n  idle_timout = 3\n",
               "t.toml:2:3: unknown key \"idle_timout\" in [limits] (did you mean \"idle_timeout\"?)");
  expect_error("[access_log]\nfromat = \"json\"\n",
               "t.toml:2:1: unknown key \"fromat\" in [access_log] (did you mean \"format\"?)");
  expect_error("[status]\npaths = \"/s\"\n", "t.toml:2:1: unknown key \"paths\" in [status] (did you mean \"path\"?)");
  expect_error("[[listen]]\naddress = \"127.0.0.1:1\"\nadress = \"x\"\n",
               "t.toml:3:1: unknown key \"adress\" in [[listen]] (did you mean \"address\"?)");
  expect_error("[[host]]\nname = [\"a\"]\n", "t.toml:2:1: unknown key \"name\" in [[host]] (did you mean \"names\"?)");
  expect_error("[[host]]\n[[host.location]]\nprefx = \"/\"\n",
               "t.toml:3:1: unknown key \"prefx\" in [[host.location]] (did you mean \"prefix\"?)");
  expect_error("[[host]]\n[[host.location]]\nreturn = { status = 301, target = \"/\", code = 1 }\n",
               "t.toml:3:40: unknown key \"code\" in return");
  expect_error("[[host]]\n[[host.location]]\n[host.location.auth]\nrealm = \"r\"\nusers = { a = \"" + kSha512 +
                   "\" }\nuserfile = \"x\"\n",
               "t.toml:6:1: unknown key \"userfile\" in [host.location.auth] (did you mean \"user_file\"?)");
}

TEST_F(ConfigTest, WrongTypes) {
  expect_error("workers = \"2\"\n", "t.toml:1:11: \"workers\" must be an integer, not a string");
  expect_error("server_tokens = 1\n", "t.toml:1:17: \"server_tokens\" must be true or false, not an integer");
  expect_error("user = 5\n", "t.toml:1:8: \"user\" must be a string, not an integer");
  expect_error("limits = 2\n", "t.toml:1:10: \"limits\" must be a table ([limits] or limits = { ... }), not an integer");
  expect_error("listen = \"127.0.0.1:80\"\n",
               "t.toml:1:10: \"listen\" must be an array of tables ([[listen]]), not a string");
  expect_error("listen = []\n", "t.toml:1:10: \"listen\" must be an array of tables ([[listen]]), not an empty array");
  expect_error("[limits]\nidle_timeout = \"5s\"\n", "t.toml:2:16: \"idle_timeout\" must be a number, not a string");
  expect_error("[limits]\nmax_body_size = 1.5\n",
               "t.toml:2:17: \"max_body_size\" must be a size (an integer, or a string like \"64K\"), not a float");
  expect_error("[status]\nallow = \"::1\"\n", "t.toml:2:9: \"allow\" must be an array of strings, not a string");
  expect_error("[status]\nallow = [\"::1\", 7]\n", "t.toml:2:17: \"allow\" must hold strings, not an integer");
  expect_error("[[host]]\nnames = \"a.test\"\n", "t.toml:2:9: \"names\" must be an array of strings, not a string");
  expect_error("[[host]]\ndefault = \"yes\"\n", "t.toml:2:11: \"default\" must be true or false, not a string");
  expect_error("[[host]]\n[host.location]\nprefix = \"/\"\n",
               "t.toml:2:1: \"location\" must be an array of tables ([[host.location]]), not a table");
  expect_error("[[host]]\n[[host.location]]\nheaders = [\"X-A: 1\"]\n",
               "t.toml:3:11: \"headers\" must be a table ([headers] or headers = { ... }), not an array");
  expect_error("[[host]]\n[[host.location]]\nheaders = { X-A = 1 }\n",
               "t.toml:3:19: the value of header \"X-A\" must be a string without control characters");
  expect_error("[[host]]\n[[host.location]]\nindex = \"index.html\"\n",
               "t.toml:3:9: \"index\" must be an array of strings, not a string");
  auto e = errors("w = 1979-05-27\nworkers = 1979-05-27\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0], "t.toml:1:1: unknown key \"w\" at the top level");
  EXPECT_EQ(e[1], "t.toml:2:11: \"workers\" must be an integer, not a date");
}

TEST_F(ConfigTest, BadValues) {
  expect_error("workers = 1025\n", "t.toml:1:11: \"workers\" must be between 0 and 1024, not 1025");
  expect_error("workers = -1\n", "t.toml:1:11: \"workers\" must be between 0 and 1024, not -1");
  expect_error("unknown_host = 403\n", "t.toml:1:16: \"unknown_host\" must be \"default\", 421 or 404");
  expect_error("unknown_host = \"421\"\n", "t.toml:1:16: \"unknown_host\" must be \"default\", 421 or 404");
  expect_error("user = \"\"\n", "t.toml:1:8: \"user\" is empty (leave it out to keep the current user)");
  expect_error("[access_log]\nformat = \"apache\"\n",
               "t.toml:2:10: unknown log format \"apache\" (combined, common or json)");
  expect_error("[limits]\nmax_body_size = \"12Q\"\n",
               "t.toml:2:17: \"max_body_size\": \"12Q\" is not a size (bytes, or a number followed by K, M or G)");
  expect_error("[limits]\nmax_body_size = \"-1\"\n",
               "t.toml:2:17: \"max_body_size\": \"-1\" is not a size (bytes, or a number followed by K, M or G)");
  expect_error("[limits]\nmax_body_size = \"1 M\"\n",
               "t.toml:2:17: \"max_body_size\": \"1 M\" is not a size (bytes, or a number followed by K, M or G)");
  expect_error("[limits]\nmax_body_size = -5\n", "t.toml:2:17: \"max_body_size\" must not be negative");
  expect_error("[limits]\nmax_body_size = \"99999999999999999999G\"\n",
               "t.toml:2:17: \"max_body_size\": \"99999999999999999999G\" is too large");
  expect_error("[limits]\nmax_header_size = \"2M\"\n",
               "t.toml:2:19: \"max_header_size\" must be between 256 and 1048576 bytes");
  expect_error("[limits]\nmax_uri_size = 10\n", "t.toml:2:16: \"max_uri_size\" must be between 64 and 1048576 bytes");
  expect_error("[limits]\nheader_timeout = 0\n",
               "t.toml:2:18: \"header_timeout\" must be greater than 0 and at most 604800, not 0");
  expect_error("[limits]\nidle_timeout = -1.5\n",
               "t.toml:2:16: \"idle_timeout\" must be greater than 0 and at most 604800, not -1.5");
  expect_error("[limits]\nbody_timeout = nan\n",
               "t.toml:2:16: \"body_timeout\" must be greater than 0 and at most 604800, not nan");
  expect_error("[limits]\nsend_timeout = inf\n",
               "t.toml:2:16: \"send_timeout\" must be greater than 0 and at most 604800, not inf");
  expect_error("[limits]\ngrace_period = -1\n",
               "t.toml:2:16: \"grace_period\" must be at least 0 and at most 604800, not -1");
  expect_error("[limits]\nmax_connections = 0\n",
               "t.toml:2:19: \"max_connections\" must be between 1 and 4294967295, not 0");
  expect_error("[limits]\nrequests_per_second = -1\n",
               "t.toml:2:23: \"requests_per_second\" must be at least 0 and at most 1000000000, not -1");
  expect_error("[status]\npath = \"server-status\"\n", "t.toml:2:8: \"path\" must start with '/' (and hold no spaces)");
  expect_error("[status]\nhealth_path = \"/metrics\"\n",
               "t.toml:2:15: \"health_path\" is the same path as \"metrics_path\"");
}

TEST_F(ConfigTest, Listeners) {
  expect_error("[[listen]]\naddress = \"localhost:80\"\n",
               "t.toml:2:11: bad listen address \"localhost:80\" (expected ADDR:PORT, like 127.0.0.1:8080, 0.0.0.0:80 "
               "or [::1]:8080)");
  expect_error("[[listen]]\naddress = \"::1:80\"\n",
               "t.toml:2:11: bad listen address \"::1:80\" (expected ADDR:PORT, like 127.0.0.1:8080, 0.0.0.0:80 or "
               "[::1]:8080)");
  expect_error("[[listen]]\naddress = \"127.0.0.1:65536\"\n",
               "t.toml:2:11: bad listen address \"127.0.0.1:65536\" (expected ADDR:PORT, like 127.0.0.1:8080, "
               "0.0.0.0:80 or [::1]:8080)");
  expect_error("[[listen]]\naddress = \"127.0.0.1:80\"\n[[listen]]\naddress = \"127.0.0.1:80\"\n",
               "t.toml:4:11: listener 127.0.0.1:80 is already defined at line 2");
  expect_error("[[listen]]\naddress = \"[::1]:80\"\n[[listen]]\naddress = \"[0:0::1]:80\"\n",
               "t.toml:4:11: listener [::1]:80 is already defined at line 2");
  expect_error("[[listen]]\ndefault_host = \"a.test\"\n[[host]]\nnames = [\"a.test\"]\n",
               "t.toml:1:1: [[listen]] needs an address, like address = \"127.0.0.1:8080\"");
  expect_error("[[listen]]\naddress = \"127.0.0.1:80\"\ndefault_host = \"b.test\"\n[[host]]\nnames = [\"a.test\"]\n",
               "t.toml:3:16: default_host \"b.test\" names no [[host]]");
  expect_error("[[listen]]\naddress = \"127.0.0.1:80\"\nallow = [\"10.0.0.1/8\"]\n",
               "t.toml:3:10: bad address range \"10.0.0.1/8\": host bits set beyond /8 (the network is 10.0.0.0/8)");
}

TEST_F(ConfigTest, AccessRules) {
  Config c = ok("[[listen]]\naddress = \"127.0.0.1:80\"\naccess = [\"deny 10.1.0.0/16\", \"allow  10.0.0.0/8\", "
                "\"deny all\"]\n");
  ASSERT_EQ(c.listeners[0].access.size(), 3u);
  EXPECT_FALSE(c.listeners[0].access[0].allow);
  EXPECT_EQ(c.listeners[0].access[0].range.to_string(), "10.1.0.0/16");
  EXPECT_TRUE(c.listeners[0].access[1].allow);
  EXPECT_EQ(c.listeners[0].access[2].range.to_string(), "all");
  Config d = ok("[[listen]]\naddress = \"127.0.0.1:80\"\ndeny = [\"192.0.2.0/24\"]\n");
  ASSERT_EQ(d.listeners[0].access.size(), 1u);
  EXPECT_FALSE(d.listeners[0].access[0].allow);

  expect_error("[status]\naccess = [\"allow ::1\"]\ndeny = [\"all\"]\n",
               "t.toml:2:10: use either \"access\" (ordered rules) or \"allow\"/\"deny\", not both");
  expect_error("[status]\naccess = [\"allow ::1\", \"permit all\"]\n",
               "t.toml:2:24: access rule \"permit all\" must be \"allow RANGE\" or \"deny RANGE\"");
  expect_error("[status]\naccess = [\"deny\"]\n",
               "t.toml:2:11: access rule \"deny\" must be \"allow RANGE\" or \"deny RANGE\"");
  expect_error("[status]\naccess = [\"deny 1.2.3.4/33\"]\n",
               "t.toml:2:11: bad address range \"1.2.3.4/33\": prefix /33 out of range 0..32");
  expect_error("[status]\nallow = [\"01.2.3.4\"]\n",
               "t.toml:2:10: bad address range \"01.2.3.4\": \"01.2.3.4\" is not an IPv4 address (a.b.c.d, each 0..255 "
               "without leading zeros)");
  expect_error("[status]\ndeny = [\"1.2.3.4/\"]\n",
               "t.toml:2:9: bad address range \"1.2.3.4/\": \"/\" is not a prefix length");
}

TEST_F(ConfigTest, Hosts) {
  expect_error("[[host]]\nnames = [\"a.test\"]\n[[host]]\nnames = [\"b.test\", \"A.TEST\"]\n",
               "t.toml:4:20: host name \"a.test\" is already used at line 2");
  expect_error("[[host]]\nnames = [\"a.*.test\"]\n",
               "t.toml:2:10: bad host name \"a.*.test\" (letters, digits, '-', '.'; a wildcard only as a leading \"*.\")");
  expect_error("[[host]]\nnames = [\"*\"]\n",
               "t.toml:2:10: bad host name \"*\" (letters, digits, '-', '.'; a wildcard only as a leading \"*.\")");
  expect_error("[[host]]\nnames = [\"a..test\"]\n",
               "t.toml:2:10: bad host name \"a..test\" (letters, digits, '-', '.'; a wildcard only as a leading \"*.\")");
  expect_error("[[host]]\ndefault = true\n[[host]]\ndefault = true\n",
               "t.toml:4:11: a second default host (the first is at line 2)");
  expect_error("[[host]]\nroot = \"@DIR@/missing\"\n",
               "t.toml:2:8: root \"@DIR@/missing\" cannot be used: No such file or directory");
  expect_error("[[host]]\nroot = \"@DIR@/file.txt\"\n", "t.toml:2:8: root \"@DIR@/file.txt\" is not a directory");
  expect_error("[[host]]\nroot = \"\"\n", "t.toml:2:8: \"root\" is empty (leave it out for the built-in site)");
  Config c = ok("[[host]]\nnames = [\"[::1]\", \"127.0.0.1\", \"*.x-y.test\", \"Under_Score.test\"]\n");
  EXPECT_EQ(c.hosts[0].names[3], "under_score.test");
}

TEST_F(ConfigTest, Locations) {
  const std::string h = "[[host]]\n[[host.location]]\n";  // the location's keys start on line 3
  expect_error(h + "prefix = \"docs/\"\n", "t.toml:3:10: location prefix \"docs/\" must start with '/' (and hold no spaces)");
  expect_error(h + "prefix = \"/a/\"\n[[host.location]]\nprefix = \"/a/\"\n",
               "t.toml:5:10: location \"/a/\" is already defined in this host at line 3");
  expect_error(h + "root = \"@DIR@/nowhere\"\n", "t.toml:3:8: root \"@DIR@/nowhere\" cannot be used: No such file or directory");
  expect_error(h + "return = [303, \"/x\"]\n", "t.toml:3:11: redirect status 303 is not one of 301, 302, 307, 308");
  expect_error(h + "return = [301, \"\"]\n", "t.toml:3:16: redirect target is empty");
  expect_error(h + "return = { status = 307 }\n",
               "t.toml:3:10: \"return\" needs both status and target: { status = 301, target = \"https://...\" }");
  expect_error(h + "return = \"https://x/\"\n",
               "t.toml:3:10: \"return\" must be [STATUS, \"TARGET\"] or { status = STATUS, target = \"TARGET\" }");
  expect_error(h + "return = [\"301\", \"/x\"]\n", "t.toml:3:11: redirect status must be an integer, not a string");
  expect_error(h + "return = [302, \"ftp://x/\"]\n",
               "t.toml:3:16: redirect target \"ftp://x/\" must be an absolute URL (https://...) or path (/...), without "
               "spaces or control characters");
  expect_error(h + "error_pages = { 200 = \"/ok.html\" }\n",
               "t.toml:3:17: error_pages key \"200\" is not a 4xx or 5xx status");
  expect_error(h + "error_pages = { 4041 = \"/x.html\" }\n",
               "t.toml:3:17: error_pages key \"4041\" is not a 4xx or 5xx status");
  expect_error(h + "error_pages = { 404 = \"404.html\" }\n",
               "t.toml:3:23: error page for 404 must be a path starting with '/'");
  expect_error(h + "hidden = [\"private\"]\n", "t.toml:3:11: hidden path \"private\" must start with '/'");
  expect_error(h + "index = [\"a/index.html\"]\n", "t.toml:3:10: index \"a/index.html\" must be a file name, without '/'");
  expect_error(h + "headers = { \"Bad Name\" = \"x\" }\n", "t.toml:3:13: \"Bad Name\" is not a valid header name");
  expect_error(h + "headers = { Content-Length = \"5\" }\n",
               "t.toml:3:13: header \"Content-Length\" is set by the server itself");
  expect_error(h + "headers = { X-A = \"a\\nb\" }\n",
               "t.toml:3:19: the value of header \"X-A\" must be a string without control characters");
  expect_error(h + "cache_control = \"a\\u0001\"\n", "t.toml:3:17: \"cache_control\" must not hold control characters");
  expect_error(h + "directory_listing = \"on\"\n",
               "t.toml:3:21: \"directory_listing\" must be true or false, not a string");
}

TEST_F(ConfigTest, Auth) {
  const std::string h = "[[host]]\n[[host.location]]\nprefix = \"/p/\"\n[host.location.auth]\n";  // keys from line 5
  expect_error(h + "user_file = \"@DIR@/missing\"\n",
               "t.toml:5:13: cannot read auth user_file \"@DIR@/missing\": No such file or directory");
  auto e = errors(h + "user_file = \"@DIR@/bad-htpasswd\"\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0], "@DIR@/bad-htpasswd:3:1: expected \"user:hash\" (user_file named at t.toml:5:13)");
  EXPECT_EQ(e[1], "@DIR@/bad-htpasswd:4:1: user \"carol\": MD5-based hashes ($1$, $apr1$) are too weak; use SHA-512 "
                  "($6$), bcrypt ($2y$) or yescrypt ($y$) (user_file named at t.toml:5:13)");
  EXPECT_EQ(e[2], "@DIR@/bad-htpasswd:5:1: user \"alice\" appears twice (user_file named at t.toml:5:13)");
  expect_error(h + "users = { bob = \"$1$abc$def\" }\n",
               "t.toml:5:17: user \"bob\": MD5-based hashes ($1$, $apr1$) are too weak; use SHA-512 ($6$), bcrypt "
               "($2y$) or yescrypt ($y$)");
  expect_error(h + "users = { bob = \"plaintext\" }\n",
               "t.toml:5:17: user \"bob\": not a supported crypt(3) hash (SHA-512 $6$, SHA-256 $5$, bcrypt "
               "$2y$/$2b$/$2a$ or yescrypt $y$)");
  expect_error(h + "users = { bob = 5 }\n", "t.toml:5:17: the password hash of \"bob\" must be a string, not an integer");
  expect_error(h + "users = { \"a:b\" = \"" + kSha512 + "\" }\n",
               "t.toml:5:11: bad user name \"a:b\" (no colon, spaces or control characters)");
  expect_error(h + "realm = \"say \\\"hi\\\"\"\nusers = { a = \"" + kSha512 + "\" }\n",
               "t.toml:5:9: \"realm\" must be non-empty, without quotes, backslashes or control characters");
  expect_error(h + "realm = \"r\"\n", "t.toml:4:1: auth has no users (give user_file and/or users): nobody could log in");
}

TEST_F(ConfigTest, CollectsEveryError) {
  auto e = errors(R"(workers = 2000
[limits]
idle_timeout = 0
[[listen]]
address = "nope"
[[host]]
root = "missing"
  [[host.location]]
  prefix = "x"
)");
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].rfind("t.toml:1:11: ", 0), 0u);
  EXPECT_EQ(e[1].rfind("t.toml:3:16: ", 0), 0u);
  EXPECT_EQ(e[2].rfind("t.toml:5:11: ", 0), 0u);
  EXPECT_EQ(e[3].rfind("t.toml:7:8: ", 0), 0u);
  EXPECT_EQ(e[4].rfind("t.toml:9:12: ", 0), 0u);
}

TEST(PasswordHash, Formats) {
  using nuri::config::detail::check_password_hash;
  EXPECT_FALSE(check_password_hash(kSha512));
  EXPECT_FALSE(check_password_hash(kSha256));
  EXPECT_FALSE(check_password_hash("$6$rounds=10000$abc$" + std::string(86, 'x')));
  EXPECT_FALSE(check_password_hash(kBcrypt));
  EXPECT_FALSE(check_password_hash("$2b$04$" + std::string(53, '.')));
  EXPECT_FALSE(check_password_hash("$2a$31$" + std::string(53, '/')));
  EXPECT_FALSE(check_password_hash(kYescrypt));
  EXPECT_TRUE(check_password_hash("$2y$03$" + std::string(53, 'c')));
  EXPECT_TRUE(check_password_hash("$2y$10$" + std::string(52, 'c')));
  EXPECT_TRUE(check_password_hash("$6$saltsalt$" + std::string(85, 'a')));
  EXPECT_TRUE(check_password_hash("$6$" + std::string(17, 's') + "$" + std::string(86, 'a')));
  EXPECT_TRUE(check_password_hash("$6$rounds=$s$" + std::string(86, 'a')));
  EXPECT_TRUE(check_password_hash("$5$s$" + std::string(43, '!')));
  EXPECT_TRUE(check_password_hash("$y$$s$" + std::string(43, 'd')));
  EXPECT_TRUE(check_password_hash("$1$abc$def"));
  EXPECT_TRUE(check_password_hash("$apr1$abc$def"));
  EXPECT_TRUE(check_password_hash("{SHA}abc"));
  EXPECT_TRUE(check_password_hash(""));
}

TEST(LoadConfig, MissingFileIsOneLine) {
  std::vector<std::string> errors;
  EXPECT_FALSE(nuri::config::load_config("/nonexistent/nuri.toml", errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "/nonexistent/nuri.toml: cannot read the configuration: No such file or directory");
  EXPECT_FALSE(nuri::config::load_config("/tmp", errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "/tmp: cannot read the configuration: it is a directory");
}

TEST_F(ConfigTest, ForwardTables) {
  Config c = ok(R"(
forward_log = "fwd.log"
[[forward]]
listen = "0.0.0.0:65535"
target = "192.168.17.17:80"
[[forward]]
listen = "[::]:5353"
targets = ["10.0.0.1:53", "dns.lan:53"]
balance = "first"
udp = true
access = ["allow 10.0.0.0/8", "deny all"]
max_conns = 100
connect_timeout = 2.5
[[forward]]
listen = "127.0.0.1:9000"
target = "127.0.0.1:8080"
idle_timeout = 5
proxy_protocol = "v2"
)");
  ASSERT_EQ(c.forwards.size(), 3u);
  EXPECT_EQ(c.forward_log, dir_ + "/fwd.log");  // relative to the configuration's directory
  const nuri::forward::Rule& nat = c.forwards[0];
  EXPECT_EQ(nat.listen.to_string(), "0.0.0.0:65535");
  ASSERT_EQ(nat.targets.size(), 1u);
  EXPECT_EQ(nat.targets[0].address->to_string(), "192.168.17.17:80");
  EXPECT_FALSE(nat.udp);
  EXPECT_EQ(nat.idle_timeout, 600);  // the command line's defaults
  EXPECT_EQ(nat.proxy_protocol, nuri::net::ProxyProtocol::none);
  const nuri::forward::Rule& dns = c.forwards[1];
  EXPECT_TRUE(dns.udp);
  EXPECT_EQ(dns.idle_timeout, 30);  // UDP's own default
  EXPECT_EQ(dns.balance, nuri::forward::Balance::first);
  ASSERT_EQ(dns.targets.size(), 2u);
  EXPECT_EQ(dns.targets[1].host, "dns.lan");
  EXPECT_EQ(dns.access.size(), 2u);
  EXPECT_EQ(dns.max_conns, 100u);
  EXPECT_EQ(dns.connect_timeout, 2.5);
  EXPECT_EQ(c.forwards[2].proxy_protocol, nuri::net::ProxyProtocol::v2);
  EXPECT_EQ(c.forwards[2].idle_timeout, 5);
  // Forward tables alone do not take the place of the default HTTP listener.
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address.to_string(), "127.0.0.1:8080");
  EXPECT_NE(nuri::config::describe_forwards(c.forwards).find("[::]:5353/udp"), std::string::npos);
}

TEST_F(ConfigTest, ForwardTableErrors) {
  expect_error("[[forward]]\nlisten = \"127.0.0.1:1\"\n", "t.toml:1:1: [[forward]] needs a target = \"HOST:PORT\" (or targets = [...])");
  expect_error("[[forward]]\nlisten = \"127.0.0.1:1\"\ntargets = []\n", "t.toml:3:11: targets is empty: name at least one HOST:PORT");
  expect_error("[[forward]]\nlisten = \"127.0.0.1:1\"\ntarget = \"a:1\"\ntargets = [\"b:1\"]\n",
               "t.toml:4:11: give target or targets, not both");
  expect_error("[[forward]]\nlisten = \"localhost:1\"\ntarget = \"a:1\"\n",
               "t.toml:2:10: bad listen address \"localhost:1\" (expected ADDR:PORT, like 0.0.0.0:65535 or [::]:8080)");
  expect_error("[[forward]]\nlisten = \"127.0.0.1:1\"\ntarget = \"a:1\"\nproxy_protocol = \"v3\"\n",
               "t.toml:4:18: unknown proxy_protocol \"v3\" (v1, v2 or none)");
  // Port 0 never collides; the same port twice does.
  ok("[[forward]]\nlisten = \"127.0.0.1:0\"\ntarget = \"a:1\"\n[[forward]]\nlisten = \"127.0.0.1:0\"\ntarget = \"a:1\"\n");
  expect_error("[[forward]]\nlisten = \"127.0.0.1:7\"\ntarget = \"a:1\"\n[[forward]]\nlisten = \"127.0.0.1:7\"\ntarget = \"a:1\"\n",
               "t.toml:5:10: 127.0.0.1:7 is already forwarded at 2:10");
  // A target that is the rule's own listener would loop; the error points at the target.
  expect_error("[[forward]]\nlisten = \"0.0.0.0:7\"\ntargets = [\"10.0.0.1:7\", \"127.0.0.1:7\"]\n",
               "t.toml:3:26: target 127.0.0.1:7 is on this machine, where 0.0.0.0:7 listens on every address: "
               "connections would loop back to this rule until out of file descriptors");
}

TEST_F(ConfigTest, ListenerProxyProtocol) {
  Config c = ok("[[listen]]\naddress = \"127.0.0.1:0\"\nproxy_protocol = true\n[[listen]]\naddress = \"127.0.0.1:0\"\n");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_TRUE(c.listeners[0].proxy_protocol);
  EXPECT_FALSE(c.listeners[1].proxy_protocol);
  expect_error("[[listen]]\naddress = \"127.0.0.1:0\"\nproxy_protocol = \"v1\"\n",
               "t.toml:3:18: \"proxy_protocol\" must be true or false, not a string");
}
