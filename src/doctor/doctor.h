#pragma once
// `nuri doctor HOST:PORT`: why can't they reach my server? Looks at the port from both sides:
// on this machine, who listens on it and on which address (sock_diag, as `nuri conns`); from
// the client's side, whether a connection is refused, dropped, rejected or accepted, and
// whether HTTP then answers. Every finding is one plain sentence with the fix.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conns/conns.h"
#include "net/address.h"

namespace nuri::doctor {

/// What to examine.
struct Target {
  std::string host;  ///< a name or an IP literal (IPv6 without its brackets)
  std::uint16_t port = 0;
};

/// Parses "HOST:PORT": "192.168.1.10:8080", "example.com:80", "[::1]:8080". nullopt with one
/// line in `error` for anything else (a URL, a missing or bad port, IPv6 without brackets, a
/// name with characters no host name has).
std::optional<Target> parse_target(std::string_view text, std::string& error);

struct Options {
  Target target;
  int timeout_ms = 3000;  ///< for the name lookup, each connect, and the HTTP answer
  bool http = true;       ///< after connecting, send HEAD / and read the answer
};

/// How much a finding matters. Only `problem` makes the exit code 1.
enum class Severity : std::uint8_t { ok, info, warning, problem };
std::string_view severity_name(Severity s);

/// One thing found: a stable code (docs/doctor.md lists them), the step that found it
/// ("resolve", "local", "connect", "http"), one sentence, and the fix (empty when none).
struct Finding {
  std::string code;
  Severity severity = Severity::info;
  std::string step;
  std::string text;
  std::string fix;
};

/// The listening sockets bound to one address and PORT: several when they share it with
/// SO_REUSEPORT (one per worker of `nuri serve`, say).
struct ListenGroup {
  net::SocketAddress address;
  bool v6only = false;                ///< [::] with IPV6_V6ONLY: IPv6 only
  int sockets = 0;
  std::vector<conns::Owner> owners;   ///< distinct processes, by pid; empty when unknown
  std::uint32_t queued = 0;           ///< connections waiting for accept, all sockets
  std::uint32_t backlog = 0;          ///< the most that may wait, all sockets
  bool queue_full = false;            ///< some socket's accept queue is full
};

/// How a TCP connection attempt ended (stable names: connect_verdict_name).
enum class ConnectVerdict : std::uint8_t {
  connected,        ///< the 3-way handshake completed
  refused,          ///< a TCP RST answered the SYN: nothing listens there
  timeout,          ///< nothing answered the SYN: dropped (firewall DROP, host down)
  rejected,         ///< an ICMP error a firewall's `reject` sends (admin-prohibited, port-unreachable)
  unreachable,      ///< no route, or ICMP net/host unreachable from a router
  blocked_locally,  ///< this machine's own firewall refused to send the SYN (EPERM/EACCES)
  error,            ///< anything else (errno says)
};
std::string_view connect_verdict_name(ConnectVerdict v);

/// One connection attempt.
struct ConnectResult {
  net::SocketAddress address;
  ConnectVerdict verdict = ConnectVerdict::error;
  int error = 0;            ///< errno of the failure, 0 when connected or timed out
  double ms = 0;            ///< from connect() to the outcome
  bool icmp = false;        ///< an ICMP error came back (IP_RECVERR), described below
  int icmp_type = 0;
  int icmp_code = 0;
  bool icmp_v6 = false;
  std::string icmp_from;    ///< who sent it (the host itself, or a router on the way)
};

/// What came back to `HEAD / HTTP/1.1` (stable names: http_verdict_name).
enum class HttpVerdict : std::uint8_t {
  answered,   ///< a well-formed HTTP/1.x response head
  malformed,  ///< starts like HTTP ("HTTP/") but the head is not valid or was cut short
  tls,        ///< TLS records: the port speaks HTTPS (or another TLS protocol)
  http2,      ///< an HTTP/2 frame: the port speaks HTTP/2 only (h2c, prior knowledge)
  not_http,   ///< other bytes (a banner: SSH, SMTP, a database...)
  closed,     ///< the server closed (FIN) without a byte
  reset,      ///< the server reset the connection without a byte
  silent,     ///< no byte within the timeout
};
std::string_view http_verdict_name(HttpVerdict v);

struct HttpResult {
  HttpVerdict verdict = HttpVerdict::silent;
  int status = 0;           ///< answered: the status code
  std::string status_line;  ///< answered: "HTTP/1.1 200 OK"
  std::string server;       ///< answered: the Server field, if any
  std::string excerpt;      ///< other verdicts with bytes: the first ones, printable
  std::string detail;       ///< malformed: why
  double ms = 0;            ///< from sending the request to the verdict
  bool tls_confirmed = false;  ///< a TLS ClientHello on a second connection got a TLS record back
};

/// Everything `diagnose` saw.
struct Report {
  Target target;
  std::vector<net::SocketAddress> addresses;  ///< what HOST resolved to, with PORT
  std::string resolved_by;                    ///< "numeric", "hosts_file", "dns"; "" on failure
  std::vector<std::string> local_addresses;   ///< those of `addresses` this machine has
  std::vector<ListenGroup> listeners;         ///< TCP LISTEN sockets on PORT, by address
  std::vector<ConnectResult> connects;        ///< one per address tried, in order
  std::optional<HttpResult> http;             ///< on the first address that connected
  std::vector<Finding> findings;

  bool has_problem() const;
  /// The code of the first problem, or "ok".
  std::string verdict() const;
  /// 0 when no finding is a problem (reachable, and HTTP answered unless --no-http), else 1.
  int exit_code() const { return has_problem() ? 1 : 0; }
};

/// Runs every step. Blocking (a command-line tool); each network wait is bounded by
/// options.timeout_ms, and at most 4 addresses of HOST are tried.
Report diagnose(const Options& options);

/// One line per finding ("problem  connect  ..."), its fix under it, then a one-line result;
/// the severities coloured when `color` (a terminal, see base/terminal.h).
std::string format_text(const Report& report, bool color = false);
/// One JSON object (docs/doctor.md describes its fields).
std::string format_json(const Report& report);

}  // namespace nuri::doctor
