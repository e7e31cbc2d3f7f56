#include "forward/end_reason.h"

#include <fmt/format.h>

#include <iterator>
#include <nlohmann/json.hpp>

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

void append_log_json(std::string& out, std::string_view timestamp, const ConnectionRecord& r) {
  // The keys of the text line, in its order, so that one document describes both.
  nlohmann::ordered_json j;
  j["time"] = timestamp;
  j["client"] = r.client;
  j["listen"] = r.listen;
  j["target"] = r.target;
  j["up"] = r.up;
  j["down"] = r.down;
  j["ms"] = r.duration_ms;
  j["end"] = to_string(r.end);
  out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
}

}  // namespace nuri::forward
