#include "config/forward_rules.h"

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/reader.h"
#include "forward/target.h"

namespace nuri::config::detail {

namespace {

constexpr double kMaxTimeout = 7 * 24 * 3600;  // as for [limits]: beyond a week, a typo

// Call after the listen address was read: a target that is the rule's own listener is an error.
void read_targets(Reader& r, const toml::table& t, const toml::node& where, forward::Rule& rule) {
  const toml::node* one = t.get("target");
  const toml::node* many = t.get("targets");
  if (one && many) {
    r.error(*many, "give target or targets, not both");
    return;
  }
  std::vector<std::string> texts;
  std::vector<const toml::node*> nodes;
  if (one) {
    std::string text;
    if (!r.read_string(t, "target", text)) return;
    texts.push_back(text);
    nodes.push_back(one);
  } else if (many) {
    if (!r.read_strings(t, "targets", texts, &nodes)) return;
    if (texts.empty()) r.error(*many, "targets is empty: name at least one HOST:PORT");
  } else {
    r.error(where, "[[forward]] needs a target = \"HOST:PORT\" (or targets = [...])");
    return;
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::string error;
    auto spec = forward::parse_target(texts[i], error);
    // A literal address is checked here; a name is when `nuri forward` or `serve` resolves it.
    if (spec && spec->address) error = forward::forwarding_loop(rule.listen, *spec, *spec->address);
    if (spec && error.empty()) {
      rule.targets.push_back(std::move(*spec));
    } else {
      r.error(*nodes[i], error);
    }
  }
}

}  // namespace

void read_forwards(Reader& r, const toml::array& array, Config& config) {
  // A TCP rule cannot share an address with an HTTP listener or another TCP rule; a UDP rule
  // only with other UDP rules. Port 0 (any free port) never collides.
  std::map<std::string, const toml::node*> seen;
  for (const Listener& l : config.listeners) {
    if (l.address.port() != 0) seen.emplace(l.address.to_string() + "/tcp", nullptr);
  }
  for (const toml::node& node : array) {
    const toml::table& t = *node.as_table();
    r.check_keys(t,
                 {"listen", "target", "targets", "balance", "allow", "deny", "access", "max_conns", "connect_timeout",
                  "idle_timeout", "proxy_protocol", "udp"},
                 "in [[forward]]");
    forward::Rule rule;
    r.read_bool(t, "udp", rule.udp);
    if (rule.udp) rule.idle_timeout = 30;  // a NAT table's usual UDP timeout, as on the command line

    std::string listen;
    if (r.read_string(t, "listen", listen)) {
      const toml::node& where = *t.get("listen");
      if (auto address = net::SocketAddress::parse(listen)) {
        rule.listen = *address;
        auto [it, inserted] = seen.emplace(address->to_string() + (rule.udp ? "/udp" : "/tcp"), &where);
        if (!inserted && address->port() != 0) {
          r.error(where, it->second ? fmt::format("{} is already forwarded at {}", address->to_string(),
                                                  fmt::format("{}:{}", it->second->source().begin.line,
                                                              it->second->source().begin.column))
                                    : fmt::format("{} is already an HTTP [[listen]] address", address->to_string()));
        }
      } else {
        r.error(where, fmt::format("bad listen address \"{}\" (expected ADDR:PORT, like 0.0.0.0:65535 or [::]:8080)",
                                   listen));
      }
    } else if (!t.get("listen")) {
      r.error(node, "[[forward]] needs a listen address, like listen = \"0.0.0.0:65535\"");
    }
    read_targets(r, t, node, rule);

    std::string text;
    if (r.read_string(t, "balance", text)) {
      if (text == "round-robin") {
        rule.balance = forward::Balance::round_robin;
      } else if (text == "first") {
        rule.balance = forward::Balance::first;
      } else {
        r.error(*t.get("balance"), fmt::format("unknown balance \"{}\" (round-robin or first)", text));
      }
    }
    r.read_access(t, rule.access);
    std::int64_t n = 0;
    if (r.read_int(t, "max_conns", 0, UINT32_MAX, n)) rule.max_conns = static_cast<unsigned>(n);
    r.read_number(t, "connect_timeout", 0, true, kMaxTimeout, rule.connect_timeout);
    r.read_number(t, "idle_timeout", 0, true, kMaxTimeout, rule.idle_timeout);
    if (r.read_string(t, "proxy_protocol", text)) {
      const toml::node& where = *t.get("proxy_protocol");
      if (text == "v1") {
        rule.proxy_protocol = net::ProxyProtocol::v1;
      } else if (text == "v2") {
        rule.proxy_protocol = net::ProxyProtocol::v2;
      } else if (text != "none") {
        r.error(where, fmt::format("unknown proxy_protocol \"{}\" (v1, v2 or none)", text));
      }
      if (rule.udp && rule.proxy_protocol != net::ProxyProtocol::none) {
        r.error(where, "proxy_protocol is for TCP; it cannot be used with udp = true");
      }
    }
    config.forwards.push_back(std::move(rule));
  }
}

}  // namespace nuri::config::detail
