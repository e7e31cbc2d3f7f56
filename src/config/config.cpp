// TOML → Config. Reading is strict and never stops at the first problem: every unknown key,
// wrong type and bad value is reported with its position, and only a fully valid file yields a
// Config. The file's shape is documented in docs/configuration.md.
#include "config/config.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "config/auth.h"
#include "config/forward_rules.h"
#include "config/reader.h"
#include "http/chars.h"

namespace nuri::config {

namespace {

// The whole file into `text`; false with errno set on any error, a read error included.
bool read_whole_file(const std::string& path, std::string& text) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      int error = errno;
      ::close(fd);
      errno = error;
      return n == 0;
    }
  }
}

using detail::Reader;

constexpr double kMaxTimeout = 7 * 24 * 3600;  // a week; beyond it a typo is likelier than intent

std::string position(const toml::node& node) {
  return fmt::format("line {}", node.source().begin.line);
}

// A header value, a cache-control value: visible characters, spaces and tabs (RFC 9110 §5.5).
bool is_field_value(std::string_view v) {
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool is_url_path(std::string_view p) {
  if (p.empty() || p.front() != '/') return false;
  for (const char c : p) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

// "example.com", "*.example.com", "127.0.0.1", "[::1]"; `name` already lower case.
bool valid_host_name(std::string_view name) {
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    return name.substr(1, name.size() - 2).find_first_not_of("0123456789abcdef:.") == std::string_view::npos;
  }
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

void read_limits(Reader& r, const toml::table& t, Limits& limits) {
  r.check_keys(t,
               {"max_connections", "max_connections_per_client", "requests_per_second", "burst", "header_timeout",
                "idle_timeout", "body_timeout", "send_timeout", "grace_period", "max_body_size", "max_header_size",
                "max_uri_size"},
               "in [limits]");
  std::int64_t n = 0;
  if (r.read_int(t, "max_connections", 1, UINT32_MAX, n)) limits.max_connections = static_cast<std::uint32_t>(n);
  if (r.read_int(t, "max_connections_per_client", 0, UINT32_MAX, n)) {
    limits.max_connections_per_client = static_cast<std::uint32_t>(n);
  }
  r.read_number(t, "requests_per_second", 0, false, 1e9, limits.requests_per_second);
  r.read_number(t, "burst", 0, false, 1e9, limits.burst);
  r.read_number(t, "header_timeout", 0, true, kMaxTimeout, limits.header_timeout);
  r.read_number(t, "idle_timeout", 0, true, kMaxTimeout, limits.idle_timeout);
  r.read_number(t, "body_timeout", 0, true, kMaxTimeout, limits.body_timeout);
  r.read_number(t, "send_timeout", 0, true, kMaxTimeout, limits.send_timeout);
  // 0 is meaningful here: stop at once on SIGTERM.
  r.read_number(t, "grace_period", 0, false, kMaxTimeout, limits.grace_period);
  std::uint64_t size = 0;
  r.read_size(t, "max_body_size", 0, UINT64_MAX, limits.max_body_size);
  // The same bounds as `nuri serve --max-header-size / --max-uri-size`.
  if (r.read_size(t, "max_header_size", 256, 1u << 20, size)) limits.max_header_size = static_cast<std::uint32_t>(size);
  if (r.read_size(t, "max_uri_size", 64, 1u << 20, size)) limits.max_uri_size = static_cast<std::uint32_t>(size);
  // A request target lives in the request head: it cannot be longer than the head may be.
  limits.max_uri_size = std::min(limits.max_uri_size, limits.max_header_size);
}

void read_redirect(Reader& r, const toml::node& node, std::optional<Redirect>& out) {
  const toml::node* status = nullptr;
  const toml::node* target = nullptr;
  if (const toml::array* a = node.as_array(); a && a->size() == 2) {
    status = a->get(0);
    target = a->get(1);
  } else if (const toml::table* t = node.as_table()) {
    r.check_keys(*t, {"status", "target"}, "in return");
    status = t->get("status");
    target = t->get("target");
    if (!status || !target) {
      r.error(node, "\"return\" needs both status and target: { status = 301, target = \"https://...\" }");
      return;
    }
  } else {
    r.error(node, "\"return\" must be [STATUS, \"TARGET\"] or { status = STATUS, target = \"TARGET\" }");
    return;
  }
  Redirect redirect;
  bool ok = true;
  if (!status->is_integer()) {
    r.error(*status, fmt::format("redirect status must be an integer, not {}", detail::type_name(status->type())));
    ok = false;
  } else {
    const std::int64_t s = status->as_integer()->get();
    if (s != 301 && s != 302 && s != 307 && s != 308) {
      r.error(*status, fmt::format("redirect status {} is not one of 301, 302, 307, 308", s));
      ok = false;
    }
    redirect.status = static_cast<int>(s);
  }
  if (!target->is_string()) {
    r.error(*target, fmt::format("redirect target must be a string, not {}", detail::type_name(target->type())));
    ok = false;
  } else {
    redirect.target = target->as_string()->get();
    if (redirect.target.empty()) {
      r.error(*target, "redirect target is empty");
      ok = false;
    } else if (!(redirect.target.starts_with("http://") || redirect.target.starts_with("https://") ||
                 redirect.target.front() == '/') ||
               !is_field_value(redirect.target) || redirect.target.find(' ') != std::string::npos) {
      r.error(*target, fmt::format("redirect target \"{}\" must be an absolute URL (https://...) or path (/...), "
                                   "without spaces or control characters",
                                   redirect.target));
      ok = false;
    }
  }
  if (ok) out = redirect;
}

// "http://host:port" or "http://host:port/": the request's own target is sent unchanged, so a
// path here would be silently ignored; it is refused instead.
std::optional<Proxy::Upstream> parse_upstream(std::string_view text, std::string& why) {
  constexpr std::string_view kScheme = "http://";
  if (!text.starts_with(kScheme)) {
    why = text.starts_with("https://") ? "https upstreams are not supported yet" : "must start with http://";
    return std::nullopt;
  }
  std::string_view rest = text.substr(kScheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    why = "must be http://HOST[:PORT] without a path (the client's path and query are sent as they came)";
    return std::nullopt;
  }
  Proxy::Upstream up;
  up.url = std::string(text);
  std::string_view host = rest;
  std::string_view port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      why = "has an unclosed '['";
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        why = "has bytes after the IPv6 address";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (!port.empty() || rest.ends_with(':')) {
    unsigned value = 0;
    bool ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
    if (ok) value = static_cast<unsigned>(std::stoul(std::string(port)));
    if (!ok || value == 0 || value > 65535) {
      why = "has a bad port (1-65535)";
      return std::nullopt;
    }
    up.port = static_cast<std::uint16_t>(value);
  }
  up.host = std::string(host);
  for (char& c : up.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  in6_addr v6{};
  in_addr v4{};
  up.numeric = ::inet_pton(AF_INET, up.host.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, up.host.c_str(), &v6) == 1;
  if (!up.numeric && (up.host.empty() || !valid_host_name(up.host) || up.host.starts_with("*."))) {
    why = "has a bad host name";
    return std::nullopt;
  }
  return up;
}

void read_proxy(Reader& r, const toml::table& t, Location& loc) {
  const bool has_options = std::any_of(t.begin(), t.end(), [](auto&& kv) {
    return kv.first.str().starts_with("proxy_");
  });
  if (!t.contains("proxy")) {
    if (has_options) r.error(t, "proxy_* options need a \"proxy\" list of upstreams in the same location");
    return;
  }
  Proxy proxy;
  std::vector<std::string> urls;
  std::vector<const toml::node*> nodes;
  if (!r.read_strings(t, "proxy", urls, &nodes)) return;
  if (urls.empty()) r.error(*t.get("proxy"), "\"proxy\" lists no upstream");
  if (urls.size() > 64) r.error(*t.get("proxy"), "\"proxy\" lists more than 64 upstreams");
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::string why;
    if (auto up = parse_upstream(urls[i], why)) {
      proxy.upstreams.push_back(std::move(*up));
    } else {
      r.error(*nodes[i], fmt::format("upstream \"{}\" {}", urls[i], why));
    }
  }
  std::string balance;
  if (r.read_string(t, "proxy_balance", balance)) {
    if (balance == "round-robin") {
      proxy.balance = Proxy::Balance::round_robin;
    } else if (balance == "least-connections") {
      proxy.balance = Proxy::Balance::least_connections;
    } else {
      r.error(*t.get("proxy_balance"), fmt::format("unknown proxy_balance \"{}\" (round-robin or least-connections)", balance));
    }
  }
  std::int64_t n = 0;
  if (r.read_int(t, "proxy_max_fails", 0, 1000, n)) proxy.max_fails = static_cast<std::uint32_t>(n);
  if (r.read_int(t, "proxy_keepalive", 0, 10000, n)) proxy.keepalive = static_cast<std::uint32_t>(n);
  r.read_number(t, "proxy_fail_timeout", 0, true, 86400, proxy.fail_timeout);
  r.read_number(t, "proxy_health_interval", 0, true, 86400, proxy.health_interval);
  r.read_number(t, "proxy_connect_timeout", 0, true, 3600, proxy.connect_timeout);
  r.read_number(t, "proxy_timeout", 0, true, 86400, proxy.timeout);
  r.read_bool(t, "proxy_via", proxy.via);
  if (r.read_string(t, "proxy_health_check", proxy.health_check) &&
      (!is_url_path(proxy.health_check) || !is_field_value(proxy.health_check))) {
    r.error(*t.get("proxy_health_check"), "proxy_health_check must be a path starting with '/'");
  }
  if (loc.redirect) r.error(*t.get("proxy"), "a location cannot both redirect (\"return\") and proxy");
  if (loc.root) r.error(*t.get("proxy"), "a location that proxies has no \"root\" of its own");
  loc.proxy = std::move(proxy);
}

void read_location(Reader& r, const toml::table& t, Location& loc) {
  r.check_keys(t,
               {"prefix", "root", "index", "directory_listing", "dotfiles", "headers", "return", "error_pages",
                "cache_control", "hidden", "allow", "deny", "access", "auth", "proxy", "proxy_balance",
                "proxy_max_fails", "proxy_fail_timeout", "proxy_health_check", "proxy_health_interval",
                "proxy_connect_timeout", "proxy_timeout", "proxy_keepalive", "proxy_via"},
               "in [[host.location]]");
  if (r.read_string(t, "prefix", loc.prefix) && !is_url_path(loc.prefix)) {
    r.error(*t.get("prefix"), fmt::format("location prefix \"{}\" must start with '/' (and hold no spaces)", loc.prefix));
  }
  std::string root;
  if (r.read_root(t, "root", root)) loc.root = root;
  std::vector<const toml::node*> nodes;
  if (r.read_strings(t, "index", loc.index, &nodes)) {
    for (std::size_t i = 0; i < loc.index.size(); ++i) {
      const std::string& name = loc.index[i];
      if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || !is_field_value(name)) {
        r.error(*nodes[i], fmt::format("index \"{}\" must be a file name, without '/'", name));
      }
    }
  }
  r.read_bool(t, "directory_listing", loc.directory_listing);
  r.read_bool(t, "dotfiles", loc.dotfiles);
  if (const toml::table* headers = r.table_at(t, "headers")) {
    for (auto&& [key, value] : *headers) {
      const std::string_view name = key.str();
      if (!http::chars::is_token(name)) {
        r.error(key.source(), fmt::format("\"{}\" is not a valid header name", name));
        continue;
      }
      std::string lower(name);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection") {
        r.error(key.source(), fmt::format("header \"{}\" is set by the server itself", name));
        continue;
      }
      if (!value.is_string() || !is_field_value(value.as_string()->get())) {
        r.error(value, fmt::format("the value of header \"{}\" must be a string without control characters", name));
        continue;
      }
      loc.headers.emplace_back(std::string(name), value.as_string()->get());
    }
  }
  if (const toml::node* ret = t.get("return")) read_redirect(r, *ret, loc.redirect);
  if (const toml::table* pages = r.table_at(t, "error_pages")) {
    for (auto&& [key, value] : *pages) {
      const std::string_view code = key.str();
      const bool status = code.size() == 3 && (code[0] == '4' || code[0] == '5') &&
                          code.find_first_not_of("0123456789") == std::string_view::npos;
      if (!status) {
        r.error(key.source(), fmt::format("error_pages key \"{}\" is not a 4xx or 5xx status", code));
        continue;
      }
      if (!value.is_string() || !is_url_path(value.as_string()->get())) {
        r.error(value, fmt::format("error page for {} must be a path starting with '/'", code));
        continue;
      }
      loc.error_pages[std::stoi(std::string(code))] = value.as_string()->get();
    }
  }
  if (r.read_string(t, "cache_control", loc.cache_control) && !is_field_value(loc.cache_control)) {
    r.error(*t.get("cache_control"), "\"cache_control\" must not hold control characters");
  }
  nodes.clear();
  if (r.read_strings(t, "hidden", loc.hidden, &nodes)) {
    for (std::size_t i = 0; i < loc.hidden.size(); ++i) {
      if (!is_url_path(loc.hidden[i])) {
        r.error(*nodes[i], fmt::format("hidden path \"{}\" must start with '/'", loc.hidden[i]));
      }
    }
  }
  r.read_access(t, loc.access);
  if (const toml::table* auth = r.table_at(t, "auth")) {
    loc.auth.emplace();
    detail::read_auth(r, *auth, *loc.auth);
  }
  read_proxy(r, t, loc);
}

struct NameSeen {
  std::size_t host;
  const toml::node* node;
};

void read_hosts(Reader& r, const toml::array& array, Config& config) {
  std::map<std::string, NameSeen> names;
  const toml::node* default_node = nullptr;
  bool has_default = false;
  for (std::size_t h = 0; h < array.size(); ++h) {
    const toml::table& t = *array.get(h)->as_table();
    r.check_keys(t, {"names", "root", "default", "location"}, "in [[host]]");
    VirtualHost host;
    std::vector<const toml::node*> nodes;
    if (r.read_strings(t, "names", host.names, &nodes)) {
      for (std::size_t i = 0; i < host.names.size(); ++i) {
        std::string& name = host.names[i];
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!valid_host_name(name)) {
          r.error(*nodes[i], fmt::format("bad host name \"{}\" (letters, digits, '-', '.'; a wildcard only as a "
                                         "leading \"*.\")",
                                         name));
          continue;
        }
        auto [it, inserted] = names.emplace(name, NameSeen{h, nodes[i]});
        if (!inserted) {
          r.error(*nodes[i], fmt::format("host name \"{}\" is already used at {}", name, position(*it->second.node)));
        }
      }
    }
    r.read_root(t, "root", host.root);
    bool is_default = false;
    if (r.read_bool(t, "default", is_default) && is_default) {
      if (has_default) {
        r.error(*t.get("default"), fmt::format("a second default host (the first is at {})", position(*default_node)));
      } else {
        has_default = true;
        default_node = t.get("default");
        config.default_host = h;
      }
    }
    if (const toml::array* locations = r.tables_at(t, "location", "host.location")) {
      std::map<std::string, const toml::node*> prefixes;
      for (const toml::node& node : *locations) {
        Location loc;
        read_location(r, *node.as_table(), loc);
        const toml::node* where = node.as_table()->get("prefix");
        if (!where) where = &node;
        auto [it, inserted] = prefixes.emplace(loc.prefix, where);
        if (!inserted) {
          r.error(*where, fmt::format("location \"{}\" is already defined in this host at {}", loc.prefix,
                                      position(*it->second)));
        }
        host.locations.push_back(std::move(loc));
      }
    }
    bool has_root_location = false;
    for (const Location& loc : host.locations) has_root_location = has_root_location || loc.prefix == "/";
    if (!has_root_location) host.locations.insert(host.locations.begin(), Location{});
    config.hosts.push_back(std::move(host));
  }
}

void read_listeners(Reader& r, const toml::array& array, Config& config) {
  std::map<std::string, const toml::node*> seen;
  for (const toml::node& node : array) {
    const toml::table& t = *node.as_table();
    r.check_keys(t, {"address", "default_host", "allow", "deny", "access", "proxy_protocol", "defer_accept",
                     "unsent_limit"},
                  "in [[listen]]");
    Listener listener;
    std::string address;
    if (r.read_string(t, "address", address)) {
      const toml::node& where = *t.get("address");
      if (auto parsed = net::SocketAddress::parse(address)) {
        listener.address = *parsed;
        // Port 0 (any free port) never collides: each one gets its own.
        auto [it, inserted] = seen.emplace(parsed->to_string(), &where);
        if (!inserted && parsed->port() != 0) {
          r.error(where, fmt::format("listener {} is already defined at {}", parsed->to_string(), position(*it->second)));
        }
      } else {
        r.error(where, fmt::format("bad listen address \"{}\" (expected ADDR:PORT, like 127.0.0.1:8080, "
                                   "0.0.0.0:80 or [::1]:8080)",
                                   address));
      }
    } else if (!t.get("address")) {
      r.error(node, "[[listen]] needs an address, like address = \"127.0.0.1:8080\"");
    }
    if (r.read_string(t, "default_host", listener.default_host)) {
      std::string& name = listener.default_host;
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      bool found = false;
      for (const VirtualHost& host : config.hosts) {
        for (const std::string& n : host.names) found = found || n == name;
      }
      if (!found) r.error(*t.get("default_host"), fmt::format("default_host \"{}\" names no [[host]]", name));
    }
    r.read_access(t, listener.access);
    r.read_bool(t, "proxy_protocol", listener.proxy_protocol);
    r.read_bool(t, "defer_accept", listener.defer_accept);
    std::uint64_t unsent = 0;
    if (r.read_size(t, "unsent_limit", 0, 1u << 30, unsent)) listener.unsent_limit = static_cast<std::uint32_t>(unsent);
    config.listeners.push_back(std::move(listener));
  }
}

void read_status(Reader& r, const toml::table& t, StatusPage& status) {
  r.check_keys(t, {"enabled", "path", "metrics_path", "health_path", "allow", "deny", "access"}, "in [status]");
  r.read_bool(t, "enabled", status.enabled);
  std::map<std::string, std::string_view> paths;
  for (auto [key, value] : {std::pair{std::string_view("path"), &status.path},
                            std::pair{std::string_view("metrics_path"), &status.metrics_path},
                            std::pair{std::string_view("health_path"), &status.health_path}}) {
    if (r.read_string(t, key, *value) && !is_url_path(*value)) {
      r.error(*t.get(key), fmt::format("\"{}\" must start with '/' (and hold no spaces)", key));
    }
    auto [it, inserted] = paths.emplace(*value, key);
    if (!inserted && t.get(key)) {
      r.error(*t.get(key), fmt::format("\"{}\" is the same path as \"{}\"", key, it->second));
    }
  }
  // Giving any of allow/deny/access replaces the whole default (loopback only).
  r.read_access(t, status.access);
}

}  // namespace

std::optional<Config> parse_config(std::string_view text, const std::string& source, std::vector<std::string>& errors) {
  errors.clear();
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    errors.push_back(detail::one_line(
        fmt::format("{}:{}:{}: {}", source, e.source().begin.line, e.source().begin.column, e.description())));
    return std::nullopt;
  }
  std::filesystem::path base = std::filesystem::path(source).parent_path();
  if (base.empty() || base.is_relative()) {
    std::error_code ec;
    base = std::filesystem::current_path(ec) / base;
  }
  Reader r(source, base);
  Config config;
  config.source = source;
  config.status.access = {{true, *net::Cidr::parse("127.0.0.0/8")}, {true, *net::Cidr::parse("::1")},
                          {false, *net::Cidr::parse("all")}};

  r.check_keys(root,
               {"workers", "server_tokens", "user", "unknown_host", "access_log", "limits", "status", "listen", "host",
                "forward", "forward_log"},
               "at the top level");
  std::int64_t workers = 0;
  if (r.read_int(root, "workers", 0, 1024, workers)) config.workers = static_cast<unsigned>(workers);
  r.read_bool(root, "server_tokens", config.server_tokens);
  if (r.read_string(root, "user", config.user) && config.user.empty()) {
    r.error(*root.get("user"), "\"user\" is empty (leave it out to keep the current user)");
  }
  if (const toml::node* unknown = root.get("unknown_host")) {
    if (unknown->is_string() && unknown->as_string()->get() == "default") {
      config.unknown_host = UnknownHost::default_host;
    } else if (unknown->is_integer() && unknown->as_integer()->get() == 421) {
      config.unknown_host = UnknownHost::misdirected;
    } else if (unknown->is_integer() && unknown->as_integer()->get() == 404) {
      config.unknown_host = UnknownHost::not_found;
    } else {
      r.error(*unknown, "\"unknown_host\" must be \"default\", 421 or 404");
    }
  }
  if (const toml::table* log = r.table_at(root, "access_log")) {
    r.check_keys(*log, {"path", "format"}, "in [access_log]");
    if (r.read_string(*log, "path", config.access_log) && !config.access_log.empty() && config.access_log != "-") {
      config.access_log = r.resolve(config.access_log);
      // What serve would fail on when it opens the log: checked here too, so that check-config
      // (systemd's gate before a reload) does not pass a file serve then refuses.
      std::error_code ec;
      const std::filesystem::path log_path(config.access_log);
      if (!std::filesystem::is_directory(log_path.parent_path(), ec)) {
        r.error(*log->get("path"), fmt::format("access log \"{}\": its directory does not exist", config.access_log));
      } else if (std::filesystem::is_directory(log_path, ec)) {
        r.error(*log->get("path"), fmt::format("access log \"{}\" is a directory", config.access_log));
      }
    }
    std::string format;
    if (r.read_string(*log, "format", format)) {
      if (format == "combined") {
        config.access_log_format = LogFormat::combined;
      } else if (format == "common") {
        config.access_log_format = LogFormat::common;
      } else if (format == "json") {
        config.access_log_format = LogFormat::json;
      } else {
        r.error(*log->get("format"), fmt::format("unknown log format \"{}\" (combined, common or json)", format));
      }
    }
  }
  if (const toml::table* limits = r.table_at(root, "limits")) read_limits(r, *limits, config.limits);
  if (const toml::table* status = r.table_at(root, "status")) read_status(r, *status, config.status);

  if (const toml::array* hosts = r.tables_at(root, "host")) read_hosts(r, *hosts, config);
  if (config.hosts.empty()) {
    config.hosts.emplace_back();
    config.hosts.back().locations.emplace_back();
    config.default_host = 0;
  }
  if (const toml::array* listeners = r.tables_at(root, "listen")) read_listeners(r, *listeners, config);
  if (const toml::array* forwards = r.tables_at(root, "forward")) detail::read_forwards(r, *forwards, config);
  if (config.listeners.empty()) config.listeners.push_back(Listener{*net::SocketAddress::parse("127.0.0.1:8080"), {}, {}});
  if (r.read_string(root, "forward_log", config.forward_log) && !config.forward_log.empty() &&
      config.forward_log != "-") {
    config.forward_log = r.resolve(config.forward_log);
  }

  errors = r.take_errors();
  if (!errors.empty()) return std::nullopt;
  return config;
}

Config without_file(Config options, const std::string& root, bool dotfiles) {
  Location everything;
  everything.dotfiles = dotfiles;
  options.hosts = {{{}, root, {everything}}};
  options.default_host = 0;
  return options;
}

std::optional<Config> load_config(const std::string& path, std::vector<std::string>& errors) {
  errors.clear();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    errors.push_back(fmt::format("{}: cannot read the configuration: it is a directory", path));
    return std::nullopt;
  }
  // A configuration is small; /dev/zero or a FIFO must not hang or exhaust memory.
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    errors.push_back(fmt::format("{}: cannot read the configuration: not a regular file", path));
    return std::nullopt;
  }
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > (16u << 20)) {
    errors.push_back(fmt::format("{}: cannot read the configuration: larger than 16 MiB", path));
    return std::nullopt;
  }
  // read(2) itself, not a stream: streams turn a read error (EIO) into an early end of file,
  // and the part read before it would pass for the whole configuration.
  std::string text;
  if (!read_whole_file(path, text)) {
    errors.push_back(fmt::format("{}: cannot read the configuration: {}", path, std::strerror(errno)));
    return std::nullopt;
  }
  return parse_config(text, path, errors);
}

}  // namespace nuri::config
