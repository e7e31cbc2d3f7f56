// nuri doctor: the steps in order (resolve, this machine, connect, HTTP), the sentences for
// the client's side, and the two outputs.
#include "doctor/doctor.h"

#include <arpa/inet.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/terminal.h"
#include "dns/lookup.h"
#include "doctor/checks.h"

namespace nuri::doctor {
namespace {

constexpr std::size_t kMaxAddresses = 4;  // a name with more: the first ones tell the story

const char kExamples[] = "(192.168.1.10:8080, example.com:80, [::1]:8080)";

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

// RFC 1123 §2.1 host names, leniently (underscores are common in internal names): labels of
// 1 to 63 name characters, at most 253 in all, a final dot allowed.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 254 || (name.size() == 254 && name.back() != '.')) return false;
  if (!std::all_of(name.begin(), name.end(), is_name_char)) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '.') {
      if (++label > 63) return false;
      continue;
    }
    if (label == 0) return false;  // "a..b", ".a"
    label = 0;
  }
  return true;
}

std::string seconds(int ms) { return fmt::format("{:g} s", ms / 1000.0); }

// What an ICMP error says, in words.
std::string icmp_text(const ConnectResult& r) {
  if (!r.icmp_v6 && r.icmp_type == 3) {
    switch (r.icmp_code) {
      case 0: return "ICMP network unreachable";
      case 1: return "ICMP host unreachable";
      case 2: return "ICMP protocol unreachable";
      case 3: return "ICMP port unreachable";
      case 9: case 10: case 13: return "ICMP administratively prohibited";
      default: return fmt::format("ICMP destination unreachable (code {})", r.icmp_code);
    }
  }
  if (r.icmp_v6 && r.icmp_type == 1) {
    switch (r.icmp_code) {
      case 0: return "ICMPv6 no route to destination";
      case 1: return "ICMPv6 administratively prohibited";
      case 3: return "ICMPv6 address unreachable";
      case 4: return "ICMPv6 port unreachable";
      case 5: return "ICMPv6 source address failed policy";
      case 6: return "ICMPv6 reject route";
      default: return fmt::format("ICMPv6 destination unreachable (code {})", r.icmp_code);
    }
  }
  return fmt::format("ICMP{} type {} code {}", r.icmp_v6 ? "v6" : "", r.icmp_type, r.icmp_code);
}

std::string sender(const ConnectResult& r) {
  if (r.icmp_from.empty()) return "something on the way";
  if (r.icmp_from == r.address.host()) return fmt::format("{} itself", r.icmp_from);
  return fmt::format("the router {}", r.icmp_from);
}

// The machine whose firewall to look at: the one that sent the ICMP, else the server.
std::string firewall_host(const ConnectResult& r) {
  return r.icmp_from.empty() ? r.address.host() : r.icmp_from;
}

// Milliseconds to the microsecond: more digits would only be noise.
double rounded(double ms) { return std::round(ms * 1000) / 1000; }

const char* source_name(dns::HostLookup::Source s) {
  switch (s) {
    case dns::HostLookup::Source::numeric: return "numeric";
    case dns::HostLookup::Source::hosts_file: return "hosts_file";
    case dns::HostLookup::Source::dns: return "dns";
  }
  return "dns";
}

}  // namespace

std::optional<Target> parse_target(std::string_view text, std::string& error) {
  const std::string shown = printable_excerpt(text, 200);
  if (text.find("://") != std::string_view::npos) {
    error = fmt::format("'{}': give HOST:PORT, not a URL (http://example.com:8080/ is example.com:8080)", shown);
    return std::nullopt;
  }
  Target t;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = fmt::format("'{}': expected [IPv6]:PORT, e.g. [::1]:8080", shown);
      return std::nullopt;
    }
    t.host = std::string(text.substr(1, close - 1));
    unsigned char buf[16];
    if (inet_pton(AF_INET6, t.host.c_str(), buf) != 1) {
      error = fmt::format("'{}': {} is not a valid IPv6 address", shown, printable_excerpt(t.host, 200));
      return std::nullopt;
    }
    port_text = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = fmt::format("'{}': expected HOST:PORT {}", shown, kExamples);
      return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      error = fmt::format("'{}': an IPv6 address goes in brackets: [ADDRESS]:PORT, e.g. [::1]:8080", shown);
      return std::nullopt;
    }
    t.host = std::string(host);
    port_text = text.substr(colon + 1);
    unsigned char buf[4];
    const bool dotted_digits = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '.';
    });
    if (dotted_digits && inet_pton(AF_INET, t.host.c_str(), buf) != 1) {
      error = fmt::format("'{}': {} is not a valid IPv4 address", shown, printable_excerpt(host, 200));
      return std::nullopt;
    }
    if (!dotted_digits && !valid_name(host)) {
      error = fmt::format("'{}': '{}' is not a host name or an address {}", shown, printable_excerpt(host, 200),
                          kExamples);
      return std::nullopt;
    }
  }
  // 0.0.0.0 and :: are what a server binds to mean "every interface" (its banner shows them);
  // a client cannot ask for them: the kernel would quietly connect to this machine instead.
  unsigned char any[16] = {};
  unsigned char parsed[16] = {};
  if ((inet_pton(AF_INET, t.host.c_str(), parsed) == 1 && std::memcmp(parsed, any, 4) == 0) ||
      (inet_pton(AF_INET6, t.host.c_str(), parsed) == 1 && std::memcmp(parsed, any, 16) == 0)) {
    error = fmt::format("'{}': {} means every interface to a server; ask for one of the machine's addresses "
                        "(127.0.0.1, or its LAN address)",
                        shown, t.host);
    return std::nullopt;
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    error = fmt::format("'{}': the port must be a number from 1 to 65535 {}", shown, kExamples);
    return std::nullopt;
  }
  t.port = static_cast<std::uint16_t>(port);
  return t;
}

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::ok: return "ok";
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::problem: return "problem";
  }
  return "info";
}

std::string_view connect_verdict_name(ConnectVerdict v) {
  switch (v) {
    case ConnectVerdict::connected: return "connected";
    case ConnectVerdict::refused: return "refused";
    case ConnectVerdict::timeout: return "timeout";
    case ConnectVerdict::rejected: return "rejected";
    case ConnectVerdict::unreachable: return "unreachable";
    case ConnectVerdict::blocked_locally: return "blocked_locally";
    case ConnectVerdict::error: return "connect_error";
  }
  return "connect_error";
}

std::string_view http_verdict_name(HttpVerdict v) {
  switch (v) {
    case HttpVerdict::answered: return "http_ok";
    case HttpVerdict::malformed: return "http_malformed";
    case HttpVerdict::tls: return "tls";
    case HttpVerdict::http2: return "http2_only";
    case HttpVerdict::not_http: return "not_http";
    case HttpVerdict::closed: return "closed_without_answer";
    case HttpVerdict::reset: return "reset_without_answer";
    case HttpVerdict::silent: return "no_answer";
  }
  return "no_answer";
}

bool Report::has_problem() const {
  return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::problem; });
}

std::string Report::verdict() const {
  for (const Finding& f : findings) {
    if (f.severity == Severity::problem) return f.code;
  }
  return "ok";
}

Finding connect_finding(const ConnectResult& r, const Target& target, int timeout_ms, bool listening_here) {
  const std::string where = r.address.to_string();
  const std::uint16_t port = target.port;
  Finding f{std::string(connect_verdict_name(r.verdict)), Severity::problem, "connect", "", ""};
  switch (r.verdict) {
    case ConnectVerdict::connected:
      f.severity = Severity::ok;
      f.text = fmt::format("{} accepted the connection in {:.1f} ms (the 3-way handshake completed).", where, r.ms);
      break;
    case ConnectVerdict::refused:
      f.text = fmt::format("{} refused the connection: a TCP RST answered the SYN, so nothing listens on that "
                           "address and port (or a firewall rule rejects with a TCP reset).",
                           where);
      f.fix = fmt::format("Start the server on port {0}, listening on every interface (`nuri serve --listen "
                          "0.0.0.0:{0}`), or check the port number; on the server, `nuri conns -l --port {0}` shows "
                          "who listens where.",
                          port);
      break;
    case ConnectVerdict::timeout:
      f.text = listening_here
                   ? fmt::format("Nothing answered the SYN to {} within {}, though a program listens on it here: "
                                 "this machine's firewall drops the packets.",
                                 where, seconds(timeout_ms))
                   : fmt::format("Nothing answered the SYN to {} within {}: the packets are dropped, by a firewall "
                                 "DROP rule or because the host is down or unreachable.",
                                 where, seconds(timeout_ms));
      f.fix = listening_here
                  ? fmt::format("List this machine's firewall rules (`nft list ruleset`, `iptables -S`) and accept "
                                "TCP port {0} inbound, e.g. `nft add rule inet filter input tcp dport {0} accept`.",
                                port)
                  : fmt::format("On the server, list the firewall rules (`nft list ruleset`, `iptables -S`) and "
                                "accept TCP port {0} inbound, e.g. `nft add rule inet filter input tcp dport {0} "
                                "accept`; check the firewalls on the way (a cloud security group) and that {1} is up.",
                                port, r.address.host());
      break;
    case ConnectVerdict::rejected:
      f.text = fmt::format("{} was rejected: {} answered the SYN with {}, as a firewall's `reject` rule does (a "
                           "closed port answers with a TCP RST, not ICMP).",
                           where, sender(r), icmp_text(r));
      f.fix = fmt::format("List the firewall rules on {} (`nft list ruleset`, `iptables -S`) and accept TCP port {} "
                          "inbound before the reject rule.",
                          firewall_host(r), port);
      break;
    case ConnectVerdict::unreachable:
      f.text = r.icmp ? fmt::format("{} is unreachable: {} answered the SYN with {}.", where, sender(r), icmp_text(r))
                      : fmt::format("{} is unreachable from this machine: {}.", where, std::strerror(r.error));
      f.fix = fmt::format("Check the address, the route to it (`ip route get {}`), and that the host is up and on "
                          "the network.",
                          r.address.host());
      break;
    case ConnectVerdict::blocked_locally:
      f.text = fmt::format("This machine refused to send the connection to {} ({}): a local firewall or security "
                           "policy blocks it.",
                           where, std::strerror(r.error));
      f.fix = "Check this machine's outbound rules (`nft list ruleset`) and security policies (SELinux, AppArmor, "
              "cgroup BPF).";
      break;
    case ConnectVerdict::error:
      f.text = fmt::format("Connecting to {} failed: {}.", where, std::strerror(r.error));
      break;
  }
  return f;
}

Finding http_finding(const HttpResult& r, const Target& target, int timeout_ms) {
  const std::string host = target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  const std::string url = fmt::format("http://{}:{}/", host, target.port);
  Finding f{std::string(http_verdict_name(r.verdict)), Severity::problem, "http", "", ""};
  const std::string retry_plain =
      fmt::format("Check the server's log; `nuri get -I --trace {}` shows the exchange; use --no-http for a port "
                  "that is not a web server.",
                  url);
  switch (r.verdict) {
    case HttpVerdict::answered:
      f.severity = r.status >= 500 ? Severity::warning : Severity::ok;
      f.text = fmt::format("HTTP answers: {}{} in {:.1f} ms.", r.status_line,
                           r.server.empty() ? "" : fmt::format(" (Server: {})", r.server), r.ms);
      if (r.status >= 500) {
        f.fix = "The server answers with an error: check its log (a 502 or 504 from a proxy means its back end "
                "is down or slow).";
      }
      break;
    case HttpVerdict::malformed:
      f.text = fmt::format("The port answers like HTTP, but the response head is not valid: {} (\"{}\").", r.detail,
                           r.excerpt);
      f.fix = fmt::format("The server, or a proxy in front of it, sends a broken response: `nuri get -I --trace {}` "
                          "shows it.",
                          url);
      break;
    case HttpVerdict::tls:
      f.text = "The port speaks TLS, not plain HTTP: it is an HTTPS port.";
      f.fix = fmt::format("Use https://{}:{}/ (e.g. `curl -v https://{}:{}/`).", host, target.port, host, target.port);
      break;
    case HttpVerdict::http2:
      f.text = "The port answers with an HTTP/2 frame: it speaks HTTP/2 only (h2c), not HTTP/1.1.";
      f.fix = fmt::format("Use an HTTP/2 client (`curl --http2-prior-knowledge {}`), or enable HTTP/1.1 on the "
                          "server.",
                          url);
      break;
    case HttpVerdict::not_http:
      f.text = fmt::format("The port accepted the connection but answers in another protocol, not HTTP: \"{}\".",
                           r.excerpt);
      f.fix = fmt::format("Check the port number: on the server, `nuri conns -l --port {}` names the program that "
                          "holds it; use --no-http for a port that is not a web server.",
                          target.port);
      break;
    case HttpVerdict::closed:
      f.text = "The server accepted the connection, then closed it without answering the HTTP request.";
      f.fix = retry_plain;
      break;
    case HttpVerdict::reset:
      f.text = "The server accepted the connection, then reset it without answering the HTTP request.";
      f.fix = retry_plain;
      break;
    case HttpVerdict::silent:
      f.text = fmt::format("The server accepted the connection but sent nothing within {} of the HTTP request.",
                           seconds(timeout_ms));
      f.fix = fmt::format("The program is stuck or overloaded, or waits for another protocol: check its log, and "
                          "its accept queue with `nuri conns -l --port {}`.",
                          target.port);
      break;
  }
  return f;
}

Report diagnose(const Options& options) {
  Report report;
  report.target = options.target;
  const Target& target = options.target;
  std::vector<Finding>& out = report.findings;

  // 1. The name.
  dns::HostLookup found = dns::lookup_host(target.host, target.port, options.timeout_ms);
  if (found.addresses.empty()) {
    const bool timed_out = found.failure == dns::Failure::timeout;
    out.push_back({"resolve_failed", Severity::problem, "resolve",
                   timed_out ? fmt::format("{} could not be resolved: no DNS server answered within {}.", target.host,
                                           seconds(options.timeout_ms))
                             : fmt::format("{} does not resolve to an address: {}.", target.host,
                                           found.error.empty() ? "no A or AAAA record" : found.error),
                   fmt::format("Check the name (a typo?) and its DNS records (`nuri resolve {}`), or use the "
                               "server's address.",
                               target.host)});
    return report;
  }
  report.resolved_by = source_name(found.source);
  if (found.addresses.size() > kMaxAddresses) found.addresses.resize(kMaxAddresses);
  report.addresses = found.addresses;
  if (found.source != dns::HostLookup::Source::numeric) {
    std::vector<std::string> hosts;
    for (const auto& a : found.addresses) hosts.push_back(a.host());
    out.push_back({"resolved", Severity::ok, "resolve",
                   fmt::format("{} is {} ({}).", target.host, fmt::join(hosts, ", "),
                               found.source == dns::HostLookup::Source::hosts_file ? "from /etc/hosts" : "from DNS"),
                   ""});
  }

  // 2. This machine: is HOST one of its addresses, and who listens on PORT?
  std::vector<std::string> interfaces = net::interface_addresses(AF_INET);
  for (std::string& a : net::interface_addresses(AF_INET6)) interfaces.push_back(std::move(a));
  std::vector<net::SocketAddress> local;
  for (const auto& a : found.addresses) {
    if (!local_interface(a, interfaces).empty()) {
      local.push_back(a);
      report.local_addresses.push_back(a.host());
    }
  }
  if (local.empty()) {
    out.push_back({"not_local", Severity::info, "local",
                   fmt::format("{} is not an address of this machine, so the local check (who listens on port {}) "
                               "does not apply: run `nuri doctor {}:{}` on the server too.",
                               found.addresses.front().host(), target.port, found.addresses.front().host(),
                               target.port),
                   ""});
  } else {
    conns::Filter filter;
    filter.ports = {target.port};
    filter.states = {conns::TcpState::listen};
    std::vector<conns::Row> rows;
    std::string error;
    if (!conns::collect(true, false, false, filter, rows, error)) {
      out.push_back({"local_unreadable", Severity::warning, "local",
                     fmt::format("This machine's sockets could not be read: {}.", error), ""});
    } else {
      // The filter matches the port on either side; a listener has it on its own.
      std::erase_if(rows, [&](const conns::Row& r) { return r.socket.local.port() != target.port; });
      report.listeners = group_listeners(rows);
      describe_listeners(report.listeners, local, out);
      for (const auto& a : local) coverage_finding(report.listeners, a, out);
    }
    if (std::any_of(local.begin(), local.end(), [](const auto& a) { return !a.is_loopback(); })) {
      out.push_back({"same_machine", Severity::info, "local",
                     "This probe runs on the server itself, so its packets go through the loopback interface: a "
                     "firewall rule for an outside interface, or a firewall between the machines, is not tested.",
                     fmt::format("Run `nuri doctor {}:{}` from a client machine too.", local.front().host(),
                                 target.port)});
    }
  }

  // 3. The client's side: one connection per address.
  net::FileDescriptor connected;
  std::size_t connected_index = 0;
  for (std::size_t i = 0; i < found.addresses.size(); ++i) {
    net::FileDescriptor fd;
    ConnectResult r = probe_connect(found.addresses[i], options.timeout_ms, fd);
    if (fd && !connected) {
      connected = std::move(fd);
      connected_index = i;
    }
    report.connects.push_back(r);
  }
  const bool any_connected = static_cast<bool>(connected);
  for (const ConnectResult& r : report.connects) {
    const bool here = std::any_of(report.listeners.begin(), report.listeners.end(),
                                  [&](const ListenGroup& g) { return covers(g, r.address); });
    Finding f = connect_finding(r, target, options.timeout_ms, here);
    const bool queue_full = std::any_of(report.listeners.begin(), report.listeners.end(),
                                        [&](const ListenGroup& g) { return g.queue_full && covers(g, r.address); });
    if (r.verdict == ConnectVerdict::timeout && queue_full) {
      // A full accept queue drops new SYNs too: the program, not a firewall, is the cause.
      f.text = fmt::format("Nothing answered the SYN to {} within {}: the listener's accept queue is full, so the "
                           "kernel drops new connections.",
                           r.address.to_string(), seconds(options.timeout_ms));
      f.fix = "See the accept_queue_full finding above: the program must accept its connections.";
    }
    const bool explained = std::any_of(out.begin(), out.end(), [](const Finding& l) {
      return l.step == "local" && l.severity == Severity::problem;
    });
    if (r.verdict == ConnectVerdict::refused && explained) f.fix = "See the fix of the local finding above.";
    // Another address of the name works: clients fall back to it (more slowly).
    if (any_connected && f.severity == Severity::problem) f.severity = Severity::warning;
    out.push_back(std::move(f));
  }
  if (any_connected) {
    // Refused locally yet connected: a NAT or redirect rule (Docker, nft dnat) takes the
    // connection elsewhere, so what this machine's listeners say is not the whole story.
    for (Finding& f : out) {
      if (f.step == "local" && f.severity == Severity::problem) {
        f.severity = Severity::warning;
        f.text += " Yet the connection succeeded: a NAT or redirect rule (Docker, nft dnat) must take it elsewhere.";
      }
    }
  }

  // 4. HTTP, on the first address that connected.
  if (any_connected && options.http) {
    HttpResult h = probe_http(connected.get(), target, options.timeout_ms);
    connected.reset();
    if (h.verdict == HttpVerdict::tls || h.verdict == HttpVerdict::closed || h.verdict == HttpVerdict::reset ||
        h.verdict == HttpVerdict::silent) {
      // A TLS server drops a plain request, often without a word: ask it in TLS to be sure.
      if (probe_tls(found.addresses[connected_index], target.host, options.timeout_ms)) {
        h.tls_confirmed = true;
        h.verdict = HttpVerdict::tls;
      }
    }
    out.push_back(http_finding(h, target, options.timeout_ms));
    report.http = std::move(h);
  }
  return report;
}

namespace {
term::Role severity_role(Severity s) {
  switch (s) {
    case Severity::ok: return term::Role::good;
    case Severity::info: return term::Role::quiet;
    case Severity::warning: return term::Role::warning;
    case Severity::problem: return term::Role::error;
  }
  return term::Role::quiet;
}
}  // namespace

std::string format_text(const Report& report, bool color) {
  const Target& t = report.target;
  const bool v6 = t.host.find(':') != std::string::npos;
  std::string text = fmt::format("nuri doctor {}{}{}:{}\n", v6 ? "[" : "", t.host, v6 ? "]" : "", t.port);
  for (const Finding& f : report.findings) {
    // Padded before painting, so that the escapes do not count as columns.
    const std::string severity = fmt::format("{:<8}", severity_name(f.severity));
    text += fmt::format("{} {:<8} {}\n", term::paint(color, severity_role(f.severity), severity), f.step, f.text);
    if (!f.fix.empty()) text += fmt::format("{:<17} fix: {}\n", "", f.fix);
  }
  const auto problems = std::count_if(report.findings.begin(), report.findings.end(),
                                      [](const Finding& f) { return f.severity == Severity::problem; });
  if (problems == 0) {
    const bool http_ok = report.http && report.http->verdict == HttpVerdict::answered;
    text += http_ok ? "result: reachable, and HTTP answers\n" : "result: reachable (the HTTP step was skipped)\n";
  } else {
    text += fmt::format("result: {} problem{} found ({})\n", problems, problems > 1 ? "s" : "", report.verdict());
  }
  return text;
}

std::string format_json(const Report& report) {
  using json = nlohmann::ordered_json;
  json j;
  j["host"] = report.target.host;
  j["port"] = report.target.port;
  j["verdict"] = report.verdict();
  j["exit_code"] = report.exit_code();
  j["resolved_by"] = report.resolved_by.empty() ? json(nullptr) : json(report.resolved_by);
  json addresses = json::array();
  for (const auto& a : report.addresses) addresses.push_back(a.host());
  j["addresses"] = addresses;
  j["local"] = {{"applies", !report.local_addresses.empty()}, {"addresses", report.local_addresses}};
  json listeners = json::array();
  for (const ListenGroup& g : report.listeners) {
    json owners = json::array();
    for (const conns::Owner& o : g.owners) owners.push_back({{"pid", o.pid}, {"program", o.program}});
    listeners.push_back({{"address", g.address.host()},
                         {"port", g.address.port()},
                         {"family", g.address.family() == AF_INET6 ? "ipv6" : "ipv4"},
                         {"scope", g.address.is_unspecified() ? "any" : g.address.is_loopback() ? "loopback" : "address"},
                         {"v6only", g.v6only},
                         {"sockets", g.sockets},
                         {"owners", owners},
                         {"queued", g.queued},
                         {"backlog", g.backlog}});
  }
  j["local"]["listeners"] = listeners;
  json connects = json::array();
  for (const ConnectResult& r : report.connects) {
    json c = {{"address", r.address.host()},
              {"port", r.address.port()},
              {"verdict", connect_verdict_name(r.verdict)},
              {"ms", rounded(r.ms)},
              {"errno", r.error == 0 ? json(nullptr) : json(std::strerror(r.error))}};
    if (r.icmp) {
      c["icmp"] = {{"type", r.icmp_type}, {"code", r.icmp_code}, {"v6", r.icmp_v6},
                   {"from", r.icmp_from.empty() ? json(nullptr) : json(r.icmp_from)}};
    }
    connects.push_back(std::move(c));
  }
  j["connect"] = connects;
  if (report.http) {
    const HttpResult& h = *report.http;
    json http = {{"verdict", http_verdict_name(h.verdict)}, {"ms", rounded(h.ms)}};
    if (h.verdict == HttpVerdict::answered) {
      http["status"] = h.status;
      http["status_line"] = h.status_line;
      http["server"] = h.server.empty() ? json(nullptr) : json(h.server);
    } else {
      http["excerpt"] = h.excerpt;
      if (!h.detail.empty()) http["detail"] = h.detail;
      if (h.verdict == HttpVerdict::tls) http["tls_confirmed"] = h.tls_confirmed;
    }
    j["http"] = http;
  } else {
    j["http"] = nullptr;
  }
  json findings = json::array();
  for (const Finding& f : report.findings) {
    findings.push_back({{"code", f.code},
                        {"severity", severity_name(f.severity)},
                        {"step", f.step},
                        {"text", f.text},
                        {"fix", f.fix.empty() ? json(nullptr) : json(f.fix)}});
  }
  j["findings"] = findings;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace nuri::doctor
