#pragma once
// The configuration of `nuri serve`: TOML (toml++) read into plain, validated structs.
// Loading either yields a complete Config or a list of errors, each "FILE:LINE:COL: message";
// a half-valid file never yields a Config.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "forward/forward.h"
#include "net/address.h"
#include "net/cidr.h"

namespace nuri::config {

/// HTTP Basic authentication for a location (RFC 7617).
struct BasicAuth {
  std::string realm = "restricted";
  /// user → crypt(3) hash ("$6$..." SHA-512, "$5$..." SHA-256, "$2y$..." bcrypt), from an
  /// htpasswd-style file (`user_file`, "user:hash" lines) and/or inline `users` table.
  std::map<std::string, std::string> users;
};

/// A redirect answered instead of a file ("return = [301, 'https://example.com/']").
struct Redirect {
  int status = 302;     ///< 301, 302, 307 or 308
  std::string target;   ///< absolute URL or absolute path
};

/// A reverse proxy to HTTP back ends ("proxy = ['http://127.0.0.1:9000']" in a location).
struct Proxy {
  struct Upstream {
    std::string url;        ///< as written, for messages
    std::string host;       ///< a numeric address or a name to resolve (c-ares)
    std::uint16_t port = 80;
    bool numeric = false;   ///< host is an IP address: nothing to resolve
  };
  enum class Balance { round_robin, least_connections };

  std::vector<Upstream> upstreams;
  Balance balance = Balance::round_robin;
  std::uint32_t max_fails = 1;       ///< failures in a row before an upstream is skipped; 0: never
  double fail_timeout = 10;          ///< seconds it is skipped for
  std::string health_check;          ///< path to GET for active checks; empty: none
  double health_interval = 5;        ///< seconds between active checks
  double connect_timeout = 5;
  double timeout = 60;               ///< seconds without a byte from the upstream
  std::uint32_t keepalive = 32;      ///< idle connections kept per upstream and worker
  bool via = false;                  ///< add "Via: 1.1 nuri"
};

/// Options for requests whose path starts with `prefix`; the longest matching prefix wins.
struct Location {
  std::string prefix = "/";                      ///< starts with '/'
  std::optional<std::string> root;               ///< overrides the host's root
  std::vector<std::string> index = {"index.html"};
  bool directory_listing = false;
  bool dotfiles = false;
  std::vector<std::pair<std::string, std::string>> headers;  ///< added to every response
  std::optional<Redirect> redirect;
  std::map<int, std::string> error_pages;        ///< status → path under the root ("/404.html")
  std::string cache_control;                     ///< empty: none
  std::vector<std::string> hidden;               ///< path prefixes answered 404 ("/private/")
  std::vector<net::AccessRule> access;           ///< denied: 403
  std::optional<BasicAuth> auth;
  std::optional<Proxy> proxy;                    ///< requests go to back ends instead of files
};

/// A virtual host, chosen by the request's Host.
struct VirtualHost {
  std::vector<std::string> names;  ///< "example.com", "*.example.com" (any subdomain); lower case
  std::string root;                ///< absolute path, an existing directory (empty: built-in site)
  std::vector<Location> locations; ///< always holds at least "/"
};

/// A listening address.
struct Listener {
  net::SocketAddress address;
  std::string default_host;             ///< a VirtualHost name; empty: the config's default
  std::vector<net::AccessRule> access;  ///< denied clients are closed right after accept
  /// Connections start with a PROXY protocol header (v1 or v2) from a proxy or forwarder in
  /// front: the client it names is the one logged, limited and matched by location rules.
  /// `access` still applies to the proxy itself (the connection's own peer).
  bool proxy_protocol = false;
  /// TCP_DEFER_ACCEPT: the kernel hands over a connection once its first bytes arrive (or after
  /// about a second of silence), as Apache httpd does on Linux by default. A connection that says
  /// nothing costs no descriptor, buffer or timer until then, and the request is read at accept.
  bool defer_accept = true;
  /// TCP_NOTSENT_LOWAT: at most this many bytes wait unsent in the kernel per connection (0: the
  /// system's default, no limit). A large file then leaves in pieces sendfile'd by the worker, and
  /// a slow client ties up less kernel memory; the price is more wakeups (docs/benchmarks.md).
  std::uint32_t unsent_limit = 0;
};

struct Limits {
  std::uint32_t max_connections = 10000;      ///< per worker; 503 past it
  std::uint32_t max_connections_per_client = 0;  ///< 0: unlimited; 429 past it
  double requests_per_second = 0;             ///< per client address, token bucket; 0: off
  double burst = 0;                           ///< bucket size (0: requests_per_second)
  double header_timeout = 10;
  double idle_timeout = 60;
  double body_timeout = 30;
  double send_timeout = 60;
  double grace_period = 10;
  std::uint64_t max_body_size = 1 << 20;
  std::uint32_t max_header_size = 16384;
  std::uint32_t max_uri_size = 8192;
};

enum class LogFormat { combined, common, json };

struct StatusPage {
  bool enabled = true;
  std::string path = "/server-status";
  std::string metrics_path = "/metrics";
  std::string health_path = "/healthz";
  std::vector<net::AccessRule> access;  ///< default: allow 127.0.0.0/8 and ::1, deny all
};

/// What an unknown Host gets: the default host, or a status.
enum class UnknownHost { default_host, misdirected /*421*/, not_found /*404*/ };

struct Config {
  std::string source;                    ///< the file it was read from
  std::vector<Listener> listeners;       ///< at least one (default 127.0.0.1:8080)
  std::vector<VirtualHost> hosts;        ///< at least one
  std::size_t default_host = 0;          ///< index into hosts
  UnknownHost unknown_host = UnknownHost::default_host;
  unsigned workers = 0;                  ///< 0: one per core
  Limits limits;
  std::string access_log;                ///< path, "-" for stdout, empty: off
  LogFormat access_log_format = LogFormat::combined;
  bool server_tokens = false;
  std::string user;                      ///< drop privileges to this user after binding
  StatusPage status;
  std::vector<forward::Rule> forwards;   ///< [[forward]] tables: port forwarding beside HTTP
  std::string forward_log = "-";        ///< their connection log: a file, "-" (stdout), "" (off)
};

/// Reads and validates `path`. On success returns the Config and leaves `errors` empty; on
/// failure returns nullopt and fills `errors` with every problem found, each one line
/// "FILE:LINE:COL: message" (unknown key, wrong type, bad address or CIDR, missing root,
/// duplicate listener, bad status code...).
std::optional<Config> load_config(const std::string& path, std::vector<std::string>& errors);

/// The same from TOML text; `source` names it in error messages.
std::optional<Config> parse_config(std::string_view text, const std::string& source, std::vector<std::string>& errors);

/// What `nuri serve` runs without a configuration file: `options` (what its command line set)
/// with one default host serving `root` (empty: the built-in welcome site) through one "/"
/// location. Its listeners stay as `options` has them (empty: 127.0.0.1:8080 or systemd's).
Config without_file(Config options, const std::string& root, bool dotfiles);

/// A few lines describing what the config will do (listeners and who can reach them, hosts and
/// their roots), for `nuri check-config`.
std::string summarize(const Config& config);

/// One line per [[forward]] rule (listen, targets, access, limits): for check-config, and to tell
/// whether a reload changed them.
std::string describe_forwards(const std::vector<forward::Rule>& rules);

}  // namespace nuri::config
