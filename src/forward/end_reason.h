#pragma once
// How a forwarded connection ended, and the log line written when it does.
#include <cstdint>
#include <string>
#include <string_view>

namespace nuri::forward {

enum class EndReason : std::uint8_t {
  fin,              ///< both directions closed with FIN (each passed on as shutdown(SHUT_WR))
  rst,              ///< one side reset; the other got a reset too
  timeout,          ///< no byte either way for --idle-timeout
  connect_timeout,  ///< the target did not accept within --connect-timeout
  refused,          ///< the target refused (RST to our SYN): nothing listens there
  unreachable,      ///< no route to the target (ICMP unreachable, no interface)
  denied,           ///< the client's address is not allowed (--allow/--deny); never connected
  limit,            ///< over --max-conns; closed at once, never connected
  shutdown,         ///< still open when the grace period after SIGTERM ran out
  error,            ///< any other failure (out of descriptors, ...)
};

std::string_view to_string(EndReason reason);

/// What one log line says about a connection.
struct ConnectionRecord {
  std::string_view client;  ///< "127.0.0.1:51234"
  std::string_view listen;  ///< the rule's listening address
  std::string_view target;
  std::uint64_t up = 0;     ///< bytes client -> target
  std::uint64_t down = 0;   ///< bytes target -> client
  std::int64_t duration_ms = 0;
  EndReason end = EndReason::fin;
};

/// Appends "2026-11-27T02:40:01Z client=A listen=L target=T up=N down=N ms=N end=fin\n" to
/// `out`; `timestamp` is the UTC time already formatted (the worker caches it per second).
void append_log_line(std::string& out, std::string_view timestamp, const ConnectionRecord& record);

/// The same record as one JSON object and a newline (`nuri forward --json`):
/// {"time":"2026-11-27T02:40:01Z","client":"A","listen":"L","target":"T","up":N,"down":N,"ms":N,"end":"fin"}
void append_log_json(std::string& out, std::string_view timestamp, const ConnectionRecord& record);

}  // namespace nuri::forward
