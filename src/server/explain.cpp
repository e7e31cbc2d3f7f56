#include "server/explain.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/clock.h"
#include "client/url.h"
#include "http/chars.h"
#include "server/decision.h"
#include "server/response.h"
#include "server/site.h"
#include "server/static_handler.h"

namespace nuri::server {

namespace {

using http::Status;

// --from: an IPv4 or IPv6 address, no port (access rules match addresses only).
bool parse_client(const std::string& text, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  std::string bare = text.size() > 2 && text.front() == '[' && text.back() == ']' ? text.substr(1, text.size() - 2) : text;
  if (::inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return true;
  }
  return false;
}

// A field value may hold HTAB, visible bytes and obs-text; a CR or LF would end the head early and
// let one -H inject others, so the command refuses it instead of explaining something else.
bool valid_field_value(std::string_view v) {
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The port a Host value names ("shop.local:8080", "[::1]:8080"), or 0.
std::uint16_t host_port(std::string_view host) {
  auto colon = host.rfind(':');
  if (colon == std::string_view::npos || host.find(']', colon) != std::string_view::npos) return 0;
  unsigned port = 0;
  for (char c : host.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return 0;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  return port <= 65535 ? static_cast<std::uint16_t>(port) : 0;
}

std::string rules_text(const std::vector<net::AccessRule>& rules) {
  std::string out;
  for (const auto& r : rules) {
    if (!out.empty()) out += ", ";
    out += (r.allow ? "allow " : "deny ") + r.range.to_string();
  }
  return out;
}

nlohmann::json rules_json(const std::vector<net::AccessRule>& rules) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rules) out.push_back((r.allow ? "allow " : "deny ") + r.range.to_string());
  return out;
}

// The step that names the rule deciding access: which one, and why it was that one.
ExplainStep rule_step(const std::vector<net::AccessRule>& rules, const net::AccessVerdict& v, const std::string& client,
                      std::string_view whose) {
  ExplainStep step{"rule", {}, {}, {}};
  step.facts["rules"] = rules_json(rules);
  step.facts["allowed"] = v.allowed;
  step.facts["index"] = v.rule >= 0 ? nlohmann::json(v.rule + 1) : nlohmann::json(nullptr);
  if (rules.empty()) {
    step.what = "none";
    step.why = fmt::format("{} has no allow/deny rules: everyone may", whose);
  } else if (v.rule >= 0) {
    const net::AccessRule& r = rules[static_cast<std::size_t>(v.rule)];
    step.what = fmt::format("{} {}", r.allow ? "allow" : "deny", r.range.to_string());
    step.why = fmt::format("rule {} of {} of {}, the first whose range contains {}", v.rule + 1, rules.size(), whose,
                           client);
  } else {
    const net::AccessRule& last = rules.back();
    step.what = fmt::format("none matches: {}", v.allowed ? "allowed" : "denied");
    step.why = fmt::format("no rule of {} contains {}; the list ends in \"{} {}\", so everyone else is {}", whose, client,
                           last.allow ? "allow" : "deny", last.range.to_string(), v.allowed ? "allowed" : "denied");
  }
  return step;
}

std::string host_names(const config::VirtualHost& vh) {
  if (vh.names.empty()) return "(no names)";
  std::string out;
  for (const auto& n : vh.names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string errno_text(int e) {
  switch (e) {
    case ENOENT: return "ENOENT: no such file";
    case ENOTDIR: return "ENOTDIR: a part of the path is not a directory";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EXDEV: return "EXDEV: the path or a symlink in it leads out of the root (RESOLVE_BENEATH)";
    case ELOOP: return "ELOOP: too many symlinks, or a magic link";
    case EACCES: return "EACCES: permission denied";
    case EPERM: return "EPERM: not permitted";
    case EINVAL: return "EINVAL: not a regular file";
    case EMFILE:
    case ENFILE: return "EMFILE: out of file descriptors";
    default: return std::strerror(e);
  }
}

std::string verdict_text(Verdict v, const Trace& t, const Response& res) {
  const config::Location* loc = t.location ? t.location->config : nullptr;
  switch (v) {
    case Verdict::none: return "";
    case Verdict::bad_path:
      return "the path does not normalize: a decoded NUL or control byte, or \"..\" above the root";
    case Verdict::unknown_host: return "no [[host]] takes this Host and unknown_host refuses it";
    case Verdict::access_denied: return "the location's allow/deny rules deny the client";
    case Verdict::auth_required:
      return t.auth == Trace::Auth::missing ? "Basic authentication required: no Authorization field"
                                            : "Basic authentication required: the credentials are not accepted";
    case Verdict::proxy: return "the location proxies";
    case Verdict::proxy_after_reload: return "the location proxies but the head was read before";
    case Verdict::redirect: return fmt::format("the location's return = [{}, \"{}\"]", loc->redirect->status, loc->redirect->target);
    case Verdict::dotfile: return "a name starting with '.' and dotfiles = false (only .well-known is served)";
    case Verdict::hidden: return "the path is under one of the location's hidden prefixes";
    case Verdict::directory_slash: return "a directory without its trailing slash: redirected to it";
    case Verdict::directory_listing: return "a directory without an index file, directory_listing = true";
    case Verdict::listing_failed: return "the directory could not be read for its listing";
    case Verdict::no_index: return "a directory without an index file, and directory_listing = false";
    case Verdict::lookup_failed:
      return t.lookups.empty() ? "the file cannot be opened" : "openat2: " + errno_text(t.lookups.back().error);
    case Verdict::not_modified: return "the file's validators match If-None-Match / If-Modified-Since";
    case Verdict::precondition_failed: return "If-Match / If-Unmodified-Since does not match the file";
    case Verdict::range_unsatisfiable: return "the Range lies outside the file";
    case Verdict::partial_content: return "a satisfiable Range";
    case Verdict::file:
      if (!t.lookups.empty() && t.lookups.back().kind == LookupKind::file) {
        const auto& f = t.lookups.back();
        return fmt::format("a regular file, {} bytes, {}", f.size, f.content_type);
      }
      return "the file";
    case Verdict::options: return "OPTIONS on a file: what it allows";
    case Verdict::method_not_allowed:
      return fmt::format("files take GET, HEAD and OPTIONS, not this method (status {})", http::code(res.status));
  }
  return "";
}

// The response fields that tell an operator something (not Date, Content-Length, ETag...).
// A Content-Type is telling only for a 2xx: with an error it types nuri's own little page.
std::vector<std::pair<std::string, std::string>> telling_fields(const std::string& headers, int status) {
  static constexpr std::string_view kTelling[] = {"Location", "Allow", "WWW-Authenticate", "Retry-After",
                                                  "Content-Type", "Content-Range", "Cache-Control"};
  std::vector<std::pair<std::string, std::string>> out;
  std::string_view rest = headers;
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    if (status >= 300 && http::iequals(name, "Content-Type")) continue;
    for (std::string_view t : kTelling) {
      if (http::iequals(name, t)) out.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
    }
  }
  return out;
}

class Explainer {
 public:
  Explainer(const config::Config& config, const ExplainRequest& request) : config_(config), request_(request) {}

  std::optional<Explanation> run(std::string& error);

 private:
  bool build_head(std::string& error);
  bool choose_listener();
  bool parse_head();
  void limits_step();
  void status_endpoint(StatusEndpoint endpoint);
  bool site(std::string& error);
  void site_steps(const Site& site, const Trace& trace);
  void answer(int status, std::string why) {
    out_.status = status;
    out_.answer = fmt::format("{} {}", status, http::reason_phrase(status));
    out_.why = std::move(why);
  }
  void step(std::string name, std::string what, std::string why, nlohmann::json facts = nlohmann::json::object()) {
    out_.steps.push_back({std::move(name), std::move(what), std::move(why), std::move(facts)});
  }

  const config::Config& config_;
  const ExplainRequest& request_;
  Explanation out_;
  sockaddr_storage client_{};
  std::string head_;
  std::uint16_t port_ = 0;       // the port the client connects to; 0: not known
  bool port_known_ = false;
  std::string url_host_;         // the URL's host when it is an address literal
  std::size_t listener_ = 0;
  http::Request parsed_;
  std::size_t field_count_ = 0;
};

bool Explainer::build_head(std::string& error) {
  const std::string& method = request_.method;
  if (!http::chars::is_token(method)) {
    error = fmt::format("method \"{}\" is not an HTTP token (like GET, POST, PROPFIND)", method);
    return false;
  }
  if (!parse_client(request_.from, client_)) {
    error = fmt::format("--from \"{}\": expected an IPv4 or IPv6 address, like 10.1.2.3 or ::1", request_.from);
    return false;
  }
  out_.client = request_.from;
  out_.method = method;
  std::string host;
  const std::string& url = request_.url;
  client::UrlError kind;
  std::string why;
  if (url == "*") {
    out_.target = "*";  // OPTIONS * (the parser refuses it with any other method: 400)
  } else if (!url.empty() && url.front() == '/') {
    // Origin form: encoded as an absolute URL's path would be, so no byte can inject anything.
    auto parsed = client::parse_url("http://origin.invalid" + url, kind, why);
    if (!parsed) {
      error = fmt::format("URL \"{}\": {}", url, why);
      return false;
    }
    out_.target = parsed->target;
  } else {
    auto parsed = client::parse_url(url, kind, why);
    if (!parsed) {
      error = kind == client::UrlError::unsupported
                  ? fmt::format("URL \"{}\": only http:// URLs (nuri serves plain HTTP)", url)
                  : fmt::format("URL \"{}\": {}", url, why);
      return false;
    }
    out_.target = parsed->target;
    host = parsed->authority();
    port_ = parsed->port;
    port_known_ = true;
    url_host_ = parsed->host;
  }
  std::string fields;
  for (const std::string& h : request_.headers) {
    auto colon = h.find(':');
    std::string_view name = std::string_view(h).substr(0, colon == std::string::npos ? h.size() : colon);
    if (colon == std::string::npos || !http::chars::is_token(name)) {
      error = fmt::format("header \"{}\": expected \"Name: value\" with a token for a name", h);
      return false;
    }
    std::string_view value = trim(std::string_view(h).substr(colon + 1));
    if (!valid_field_value(value)) {
      error = fmt::format("header \"{}\": a field value cannot hold control characters (CR, LF, NUL...)", name);
      return false;
    }
    if (http::iequals(name, "Host")) {
      host = std::string(value);  // curl -H 'Host: x' replaces the URL's, so does this
      if (!port_known_) {
        port_ = host_port(value);
        port_known_ = port_ != 0;
      }
      continue;
    }
    fmt::format_to(std::back_inserter(fields), "{}: {}\r\n", name, value);
    ++field_count_;
  }
  bool host_given = !host.empty() || std::any_of(request_.headers.begin(), request_.headers.end(), [](const std::string& h) {
    return h.size() >= 5 && http::iequals(std::string_view(h).substr(0, 5), "Host:");
  });
  out_.host = host;
  head_ = fmt::format("{} {} HTTP/1.1\r\n", method, out_.target);
  if (host_given) {
    head_ += fmt::format("Host: {}\r\n", host);
    ++field_count_;
  }
  head_ += fields;
  head_ += "\r\n";
  return true;
}

bool Explainer::choose_listener() {
  const auto& listeners = config_.listeners;
  std::optional<net::SocketAddress> literal;
  if (!url_host_.empty()) {
    literal = net::SocketAddress::parse(url_host_.find(':') != std::string::npos ? "[" + url_host_ + "]:0" : url_host_ + ":0");
  }
  std::size_t chosen = listeners.size();
  std::string why;
  for (std::size_t i = 0; i < listeners.size() && port_known_; ++i) {
    const net::SocketAddress& a = listeners[i].address;
    bool port_ok = a.port() == port_ || a.port() == 0;
    // A name is not resolved here: any listener on the port may be the one it leads to.
    bool address_ok = !literal || a.is_unspecified() || a.host() == literal->host();
    if (port_ok && address_ok) {
      chosen = i;
      why = a.port() == 0 ? fmt::format("port 0 in the configuration: the port chosen at start, taken as {}", port_)
                          : fmt::format("it listens on port {}{}", port_, literal ? " at that address" : "");
      break;
    }
  }
  if (!port_known_ && !listeners.empty()) {
    chosen = 0;
    why = "the request names no port: the first listener";
  }
  if (chosen == listeners.size()) {
    std::string all;
    for (const auto& l : listeners) all += (all.empty() ? "" : ", ") + l.address.to_string();
    // Name the address too when the request gives one: the port may well be listened on, at
    // another address ([::1]:8080 against 127.0.0.1:8080).
    std::string where = fmt::format("port {}", port_);
    if (literal) {
      net::SocketAddress asked = *literal;
      asked.set_port(port_);
      where = asked.to_string();
    }
    step("listener", "none", fmt::format("no listener on {} (this configuration listens on {})", where, all),
         {{"port", port_}});
    out_.status = 0;
    out_.answer = "connection refused";
    out_.why = fmt::format("nothing of this configuration listens on {}", where);
    return false;
  }
  listener_ = chosen;
  const config::Listener& l = listeners[chosen];
  nlohmann::json facts = {{"address", l.address.to_string()}, {"index", chosen}, {"proxy_protocol", l.proxy_protocol}};
  step("listener", l.address.to_string(), why, facts);
  if (l.proxy_protocol) {
    // Its rules check the proxy, the connection's own peer; --from is the client its header names.
    step("rule", "not checked", fmt::format("proxy_protocol = true: the listener's rules ({}) check the proxy in front; "
                                            "{} is taken as the client its PROXY header names", rules_text(l.access).empty() ? "none" : rules_text(l.access), out_.client));
    return true;
  }
  // The worker's accept checks the same rules, with the same function, before reading a byte.
  net::AccessVerdict v = net::access_verdict(l.access, reinterpret_cast<const sockaddr*>(&client_));
  if (!l.access.empty()) out_.steps.push_back(rule_step(l.access, v, out_.client, "the listener"));
  if (!v.allowed) {
    out_.status = 0;
    out_.answer = "connection closed";
    out_.why = "the listener's rules deny the client: it is closed right after accept, before a byte is read; "
               "no HTTP answer";
    return false;
  }
  return true;
}

bool Explainer::parse_head() {
  http::RequestParser parser(parser_limits(config_.limits));
  http::ParseResult r = parser.parse(head_, parsed_);
  if (r.state == http::ParseState::complete) return true;
  const config::Limits& lim = config_.limits;
  std::string why;
  int code = r.state == http::ParseState::error ? http::code(r.status) : 400;
  switch (code) {
    case 414:
      why = fmt::format("the target is {} bytes, over max_uri_size = {}", out_.target.size(), lim.max_uri_size);
      break;
    case 431:
      why = head_.size() > lim.max_header_size
                ? fmt::format("the head is {} bytes, over max_header_size = {}", head_.size(), lim.max_header_size)
                : fmt::format("{} header fields, over the limit of {}", field_count_, http::kMaxHeaderCount);
      break;
    case 501:
      why = "a Transfer-Encoding nuri does not implement (only chunked)";
      break;
    default:
      why = out_.host.empty() && request_.url != "*"
                ? "the request parser refuses the head: HTTP/1.1 requires a Host field (give an absolute URL or -H 'Host: ...')"
                : "the request parser refuses the head as malformed (RFC 9112; e.g. a bad target, field or "
                  "Content-Length, or both Content-Length and Transfer-Encoding)";
  }
  step("parser", fmt::format("refused: {}", code), why, {{"status", code}});
  answer(code, why + "; the connection is closed after it");
  return false;
}

void Explainer::limits_step() {
  const config::Limits& lim = config_.limits;
  std::string body;
  nlohmann::json facts = {{"target_bytes", out_.target.size()},  {"max_uri_size", lim.max_uri_size},
                          {"head_bytes", head_.size()},          {"max_header_size", lim.max_header_size},
                          {"fields", field_count_},              {"max_fields", http::kMaxHeaderCount},
                          {"max_body_size", lim.max_body_size}};
  if (parsed_.framing == http::BodyFraming::content_length) {
    body = fmt::format("body {} of {} bytes (max_body_size)", parsed_.content_length, lim.max_body_size);
    facts["body_bytes"] = parsed_.content_length;
  } else if (parsed_.framing == http::BodyFraming::chunked) {
    body = fmt::format("chunked body: counted as it arrives, 413 past {} bytes", lim.max_body_size);
  } else {
    body = "no body";
  }
  std::string per_client;
  if (lim.requests_per_second > 0) {
    per_client += fmt::format("; per client {} requests/s, burst {} (past it 429: depends on traffic, not predicted)",
                              lim.requests_per_second, lim.burst > 0 ? lim.burst : std::max(1.0, lim.requests_per_second));
    facts["requests_per_second"] = lim.requests_per_second;
  }
  if (lim.max_connections_per_client > 0) {
    per_client += fmt::format("; {} connections per client (past it 429)", lim.max_connections_per_client);
    facts["max_connections_per_client"] = lim.max_connections_per_client;
  }
  step("limits",
       fmt::format("target {} of {} bytes, head {} of {} bytes, {} of {} fields, {}{}", out_.target.size(),
                   lim.max_uri_size, head_.size(), lim.max_header_size, field_count_, http::kMaxHeaderCount, body,
                   per_client),
       "", facts);
}

void Explainer::status_endpoint(StatusEndpoint endpoint) {
  const config::StatusPage& status = config_.status;
  const char* key = endpoint == StatusEndpoint::status ? "path" : endpoint == StatusEndpoint::metrics ? "metrics_path" : "health_path";
  const char* what = endpoint == StatusEndpoint::status ? "the status page" : endpoint == StatusEndpoint::metrics ? "Prometheus metrics" : "the health check";
  step("status endpoint", fmt::format("{} {}", what, parsed_.path),
       fmt::format("[status] {} = \"{}\": answered before any virtual host or location", key, parsed_.path),
       {{"endpoint", key}});
  net::AccessVerdict v;
  Status s = status_endpoint_check(status, parsed_, reinterpret_cast<const sockaddr*>(&client_), &v);
  ExplainStep rule = rule_step(status_access(status), v, out_.client,
                               status.access.empty() ? "[status] (default: this machine only)" : "[status]");
  out_.steps.push_back(std::move(rule));
  if (s == Status::forbidden) return answer(403, "[status]'s allow/deny rules deny the client");
  if (s == Status::method_not_allowed) {
    out_.fields.emplace_back("Allow", "GET, HEAD");
    return answer(405, "the status endpoints take GET and HEAD only");
  }
  answer(200, fmt::format("{} for an allowed client", what));
}

bool Explainer::site(std::string& error) {
  Site site(config_, error);
  if (!error.empty()) return false;
  StaticHandler handler(site);
  Trace trace;
  handler.set_trace(&trace);
  const auto* client = reinterpret_cast<const sockaddr*>(&client_);
  // As Connection::head_complete: a proxying location takes the request before dispatch().
  if (site.has_proxy()) {
    if (proxy::Group* group = handler.proxy_upstreams(parsed_, client, listener_)) {
      site_steps(site, trace);
      const config::Proxy& p = group->config();
      nlohmann::json servers = nlohmann::json::array();
      std::string names;
      for (std::size_t i = 0; i < group->size(); ++i) {
        servers.push_back(group->server(i).name());
        names += (names.empty() ? "" : ", ") + group->server(i).name();
      }
      const char* balance = p.balance == config::Proxy::Balance::round_robin ? "round-robin" : "least-connections";
      step("upstream", fmt::format("{} ({})", group->where(), names),
           fmt::format("proxy_balance = {}: {}; nothing is connected by explain", balance,
                       p.balance == config::Proxy::Balance::round_robin ? "each request takes the next upstream"
                                                                        : "the upstream with the fewest requests in flight"),
           {{"group", group->where()}, {"servers", servers}, {"balance", balance}, {"timeout", p.timeout},
            {"connect_timeout", p.connect_timeout}, {"max_fails", p.max_fails}});
      out_.status = 0;
      out_.answer = "from an upstream";
      out_.why = fmt::format("the upstream's status; 502 when none can be reached, 504 when it is silent for "
                             "proxy_timeout = {} s", p.timeout);
      return true;
    }
    trace.clear();
  }
  Response res;
  handler.handle(parsed_, res, base::monotonic_ms(), client, listener_);
  site_steps(site, trace);
  out_.fields = telling_fields(res.headers, http::code(res.status));
  if (!trace.error_page.empty()) {
    step("error page", trace.error_page,
         fmt::format("error_pages of location {}: its content, with the error's status", trace.location->config->prefix));
  }
  answer(http::code(res.status), verdict_text(trace.verdict, trace, res));
  handler.release(res.file);
  return true;
}

void Explainer::site_steps(const Site& site, const Trace& t) {
  const config::Config& c = site.config();
  if (t.verdict == Verdict::bad_path) return;
  std::string host_text = out_.host.empty() ? std::string("no Host") : fmt::format("Host \"{}\"", out_.host);
  if (!t.host.host) {
    step("virtual host", "none",
         fmt::format("no [[host]] name matches {} and unknown_host = {}", host_text,
                     c.unknown_host == config::UnknownHost::misdirected ? "421" : "404"));
    return;
  }
  const config::VirtualHost& vh = *t.host.host->config;
  auto index = static_cast<std::size_t>(&vh - c.hosts.data());
  std::string why;
  switch (t.host.match) {
    case HostMatch::exact: why = fmt::format("server_name match: \"{}\" is one of its names", t.host.name); break;
    case HostMatch::wildcard: why = fmt::format("wildcard \"*{}\" matches {}", t.host.name, host_text); break;
    case HostMatch::listener_default:
      why = fmt::format("no name matches {}: the listener's default_host = \"{}\"", host_text,
                        c.listeners[listener_].default_host);
      break;
    default:
      why = fmt::format("no name matches {}: the default host ({})", host_text,
                        index == c.default_host && c.hosts.size() > 1 ? "default = true, or the first [[host]]" : "the only one");
  }
  std::string root = vh.root.empty() ? "the built-in welcome site" : vh.root;
  step("virtual host", fmt::format("{} (root {})", host_names(vh), root), why,
       {{"index", index}, {"names", vh.names}, {"root", vh.root}, {"match", t.host.match == HostMatch::exact ? "exact"
          : t.host.match == HostMatch::wildcard ? "wildcard" : "default"}});

  const config::Location& loc = *t.location->config;
  std::string prefixes;
  for (const auto& l : vh.locations) prefixes += (prefixes.empty() ? "\"" : ", \"") + l.prefix + "\"";
  std::string kind = loc.proxy ? "proxy" : loc.redirect ? "return" : "files";
  step("location", loc.prefix,
       t.location_match == LocationMatch::without_slash
           ? fmt::format("{} is {} without its slash (it redirects there)", t.path, loc.prefix)
           : fmt::format("longest prefix of {} among {}", t.path, prefixes),
       {{"prefix", loc.prefix}, {"kind", kind}, {"path", t.path}});
  if (t.access_checked) out_.steps.push_back(rule_step(loc.access, t.access, out_.client, "the location"));
  if (loc.auth) {
    const char* how = t.auth == Trace::Auth::accepted ? "the Authorization field's user and password are accepted"
                      : t.auth == Trace::Auth::rejected ? "the Authorization field's credentials are not accepted"
                      : t.auth == Trace::Auth::missing  ? "no Authorization field: 401 asks for one"
                                                        : "not reached";
    step("auth", fmt::format("Basic, realm \"{}\", {} user(s)", loc.auth->realm, loc.auth->users.size()), how,
         {{"realm", loc.auth->realm}, {"result", t.auth == Trace::Auth::accepted ? "accepted"
                                                 : t.auth == Trace::Auth::rejected ? "rejected"
                                                 : t.auth == Trace::Auth::missing ? "missing" : "not reached"}});
  }
  const int root_index = t.location->root;
  std::string root_path = root_index >= 0 ? site.root_path(static_cast<std::size_t>(root_index)) : std::string();
  for (const Trace::FileLookup& f : t.lookups) {
    std::string full = root_index >= 0 ? root_path + f.path : "built-in " + f.path;
    std::string result = f.kind == LookupKind::file        ? fmt::format("a regular file, {} bytes", f.size)
                         : f.kind == LookupKind::directory ? std::string("a directory")
                                                           : errno_text(f.error);
    std::string how = root_index >= 0 ? fmt::format("openat2 of {} beneath {} (RESOLVE_BENEATH): {}", f.path, root_path, result)
                                : fmt::format("the built-in welcome site: {}", result);
    step("file", full, how,
         {{"path", full}, {"relative", f.path}, {"root", root_path},
          {"result", f.kind == LookupKind::file ? "file" : f.kind == LookupKind::directory ? "directory" : "error"},
          {"errno", f.kind == LookupKind::error ? nlohmann::json(f.error) : nlohmann::json(nullptr)}});
  }
}

std::optional<Explanation> Explainer::run(std::string& error) {
  if (!build_head(error)) return std::nullopt;
  if (!choose_listener()) return out_;
  if (!parse_head()) return out_;
  limits_step();
  // As Connection::head_complete: a body announced too large is refused before anything else.
  if (body_too_large(config_.limits, parsed_)) {
    answer(413, fmt::format("Content-Length {} is over max_body_size = {}; refused before any body byte is read",
                            parsed_.content_length, config_.limits.max_body_size));
    return out_;
  }
  StatusEndpoint endpoint;
  Front front = front_of(config_.status, parsed_, endpoint);
  // A proxying location is asked before dispatch() only for what dispatch() gives the site.
  if (front == Front::site) {
    if (!site(error)) return std::nullopt;
    return out_;
  }
  switch (front) {
    case Front::not_implemented:
      answer(501, fmt::format("\"{}\" is not a method nuri knows (methods are case-sensitive)", out_.method));
      break;
    case Front::server_options:
      out_.fields.emplace_back("Allow", "GET, HEAD, OPTIONS");
      answer(204, "OPTIONS * asks what the server allows (RFC 9110 §9.3.7)");
      break;
    case Front::connect:
      out_.fields.emplace_back("Allow", "GET, HEAD, OPTIONS");
      answer(405, "CONNECT: nuri is an origin server, not a tunnel");
      break;
    case Front::status_endpoint:
      status_endpoint(endpoint);
      break;
    case Front::site:
      break;
  }
  return out_;
}

}  // namespace

std::optional<Explanation> explain(const config::Config& config, const ExplainRequest& request, std::string& error) {
  return Explainer(config, request).run(error);
}

std::string explanation_text(const Explanation& e) {
  std::string out = fmt::format("request: {} {} HTTP/1.1{} from {} (nothing is sent)\n", e.method, e.target,
                                e.host.empty() ? std::string(", no Host") : ", Host: " + e.host, e.client);
  for (const ExplainStep& s : e.steps) {
    out += fmt::format("{}: {}", s.name, s.what);
    if (!s.why.empty()) out += fmt::format(" (why: {})", s.why);
    out += '\n';
  }
  for (const auto& [name, value] : e.fields) out += fmt::format("field: {}: {}\n", name, value);
  out += fmt::format("answer: {} (why: {})\n", e.answer, e.why);
  return out;
}

std::string explanation_json(const Explanation& e) {
  nlohmann::json steps = nlohmann::json::array();
  for (const ExplainStep& s : e.steps) {
    nlohmann::json j = {{"step", s.name}, {"what", s.what}, {"why", s.why}};
    for (const auto& [k, v] : s.facts.items()) j[k] = v;
    steps.push_back(std::move(j));
  }
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& [name, value] : e.fields) fields[name] = value;
  nlohmann::json out = {
      {"request", {{"method", e.method}, {"target", e.target}, {"host", e.host}, {"client", e.client}}},
      {"steps", steps},
      {"status", e.status ? nlohmann::json(e.status) : nlohmann::json(nullptr)},
      {"answer", e.answer},
      {"why", e.why},
      {"fields", fields},
  };
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace nuri::server
