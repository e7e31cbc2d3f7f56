#include "forward/end_reason.h"

#include <fmt/format.h>

#include <iterator>

namespace nuri::forward {

std::string_view to_string(EndReason reason) {
  switch (reason) {
    case EndReason::fin: return "fin";
    case EndReason::rst: return "rst";
    case EndReason::timeout: return "timeout";
    case EndReason::connect_timeout: return "connect-timeout";
    case EndReason::refused: return "refused";
    case EndReason::unreachable: return "unreachable";
    case EndReason::denied: return "denied";
    case EndReason::limit: return "limit";
    case EndReason::shutdown: return "shutdown";
    case EndReason::error: return "error";
  }
  return "error";
}

void append_log_line(std::string& out, std::string_view timestamp, const ConnectionRecord& r) {
  fmt::format_to(std::back_inserter(out), "{} client={} listen={} target={} up={} down={} ms={} end={}\n", timestamp,
                 r.client, r.listen, r.target, r.up, r.down, r.duration_ms, to_string(r.end));
}

}  // namespace nuri::forward
