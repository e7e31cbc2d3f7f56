// summarize(): what `nuri check-config` prints for a valid file, in the words of the server's
// banner (who can reach each listener).
#include <fmt/format.h>

#include "config/config.h"

namespace nuri::config {

namespace {

std::string describe(const std::vector<net::AccessRule>& rules) {
  if (rules.empty()) return "everyone";
  std::string out;
  for (const net::AccessRule& rule : rules) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", rule.allow ? "allow" : "deny", rule.range.to_string());
  }
  const bool explicit_end = rules.back().range.to_string() == "all";
  if (!explicit_end) out += rules.back().allow ? ", deny the rest" : ", allow the rest";
  return out;
}

std::string reach(const net::SocketAddress& address) {
  if (address.is_loopback()) return "this machine only";
  if (address.is_unspecified()) return "every interface of this machine";
  return "clients that can reach " + address.host();
}

std::string seconds(double s) { return fmt::format("{:g}s", s); }

}  // namespace

std::string summarize(const Config& config) {
  std::string out = fmt::format("{}: configuration OK\n", config.source);
  out += "listeners:\n";
  for (const Listener& l : config.listeners) {
    out += fmt::format("  {} ({})", l.address.url(), reach(l.address));
    if (!l.default_host.empty()) out += fmt::format(", default host {}", l.default_host);
    if (!l.access.empty()) out += fmt::format(", access: {}", describe(l.access));
    if (l.proxy_protocol) out += ", PROXY protocol header required";
    if (!l.defer_accept) out += ", silent connections accepted at once";
    if (l.unsent_limit) out += fmt::format(", at most {} bytes unsent per connection", l.unsent_limit);
    out += '\n';
  }
  out += "hosts:\n";
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    const VirtualHost& h = config.hosts[i];
    std::string names;
    for (const std::string& n : h.names) names += (names.empty() ? "" : ", ") + n;
    if (names.empty()) names = "(no names)";
    out += fmt::format("  {}{}\n", names, i == config.default_host ? " [default]" : "");
    out += fmt::format("    root {}\n", h.root.empty() ? "(the built-in welcome site)" : h.root);
    for (const Location& loc : h.locations) {
      std::vector<std::string> parts;
      if (loc.redirect) parts.push_back(fmt::format("return {} {}", loc.redirect->status, loc.redirect->target));
      if (loc.proxy) {
        const Proxy& p = *loc.proxy;
        std::string list;
        for (const auto& u : p.upstreams) list += (list.empty() ? "" : ", ") + u.url;
        std::string health = p.health_check.empty()
                                 ? std::string("passive health")
                                 : fmt::format("health GET {} every {}s", p.health_check, p.health_interval);
        parts.push_back(fmt::format("proxy to {} ({}, {}; timeouts connect {}s, read {}s; {} idle kept)", list,
                                    p.balance == Proxy::Balance::round_robin ? "round-robin" : "least-connections",
                                    health, p.connect_timeout, p.timeout, p.keepalive));
      }
      if (loc.root) parts.push_back("root " + *loc.root);
      if (loc.directory_listing) parts.push_back("directory listing");
      if (loc.dotfiles) parts.push_back("dotfiles served");
      if (loc.auth) parts.push_back(fmt::format("auth \"{}\" ({} user{})", loc.auth->realm, loc.auth->users.size(),
                                                loc.auth->users.size() == 1 ? "" : "s"));
      if (!loc.access.empty()) parts.push_back("access: " + describe(loc.access));
      if (!loc.error_pages.empty()) parts.push_back(fmt::format("{} error page(s)", loc.error_pages.size()));
      if (!loc.headers.empty()) parts.push_back(fmt::format("{} extra header(s)", loc.headers.size()));
      if (!loc.cache_control.empty()) parts.push_back("cache-control " + loc.cache_control);
      if (!loc.hidden.empty()) parts.push_back(fmt::format("{} hidden path(s)", loc.hidden.size()));
      std::string line = fmt::format("    location {}", loc.prefix);
      for (std::size_t p = 0; p < parts.size(); ++p) line += (p == 0 ? ": " : "; ") + parts[p];
      out += line + '\n';
    }
  }
  static constexpr const char* kUnknown[] = {"the default host", "421 Misdirected Request", "404 Not Found"};
  out += fmt::format("unknown Host: {}\n", kUnknown[static_cast<int>(config.unknown_host)]);
  if (config.status.enabled) {
    out += fmt::format("status: {}, {}, {} ({})\n", config.status.path, config.status.metrics_path,
                       config.status.health_path, describe(config.status.access));
  } else {
    out += "status: off\n";
  }
  static constexpr const char* kFormats[] = {"combined", "common", "json"};
  out += fmt::format("access log: {}\n",
                     config.access_log.empty() ? std::string("off")
                                               : fmt::format("{} ({})", config.access_log == "-" ? "stdout" : config.access_log,
                                                             kFormats[static_cast<int>(config.access_log_format)]));
  out += fmt::format("workers: {}", config.workers == 0 ? std::string("one per core") : std::to_string(config.workers));
  if (!config.user.empty()) out += fmt::format(", then runs as user {}", config.user);
  out += '\n';
  const Limits& l = config.limits;
  out += fmt::format("limits: {} connections per worker, {} per client, {}; timeouts header {}, idle {}, body {}, "
                     "send {}, grace {}; body {} bytes, header {} bytes, URI {} bytes\n",
                     l.max_connections,
                     l.max_connections_per_client == 0 ? std::string("unlimited")
                                                       : std::to_string(l.max_connections_per_client),
                     l.requests_per_second == 0 ? std::string("no rate limit")
                                                : fmt::format("{:g} requests/s (burst {:g})", l.requests_per_second,
                                                              l.burst == 0 ? l.requests_per_second : l.burst),
                     seconds(l.header_timeout), seconds(l.idle_timeout), seconds(l.body_timeout),
                     seconds(l.send_timeout), seconds(l.grace_period), l.max_body_size, l.max_header_size,
                     l.max_uri_size);
  out += fmt::format("server tokens: {}\n", config.server_tokens ? "on" : "off");
  if (!config.forwards.empty()) {
    out += "forwarding:\n" + describe_forwards(config.forwards);
    out += fmt::format("forward log: {}\n", config.forward_log.empty() ? std::string("off")
                                             : config.forward_log == "-" ? std::string("stdout")
                                                                         : config.forward_log);
  }
  return out;
}

std::string describe_forwards(const std::vector<forward::Rule>& rules) {
  std::string out;
  for (const forward::Rule& rule : rules) {
    std::string targets;
    for (const forward::TargetSpec& t : rule.targets) targets += (targets.empty() ? "" : ", ") + t.text;
    out += fmt::format("  {}{} ({}) -> {}", rule.listen.to_string(), rule.udp ? "/udp" : "", reach(rule.listen), targets);
    if (rule.targets.size() > 1) out += rule.balance == forward::Balance::first ? " (first that is up)" : " (round-robin)";
    out += fmt::format("; access: {}; connections: {}; timeouts connect {}, idle {}", describe(rule.access),
                       rule.max_conns == 0 ? std::string("unlimited") : std::to_string(rule.max_conns),
                       seconds(rule.connect_timeout), seconds(rule.idle_timeout));
    if (rule.proxy_protocol != net::ProxyProtocol::none) {
      out += rule.proxy_protocol == net::ProxyProtocol::v1 ? "; PROXY protocol v1" : "; PROXY protocol v2";
    }
    out += '\n';
  }
  return out;
}

}  // namespace nuri::config
