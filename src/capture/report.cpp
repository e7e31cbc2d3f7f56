#include "capture/report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/terminal.h"

namespace nuri::capture {
namespace {

std::string endpoint(const IpAddress& a, std::uint16_t port) {
  return a.family == 6 ? fmt::format("[{}]:{}", a.to_string(), port) : fmt::format("{}:{}", a.to_string(), port);
}

std::string end_text(const Connection& c) {
  switch (c.end) {
    case EndReason::fin: return "closed with FIN both ways";
    case EndReason::rst: return "reset (RST)";
    case EndReason::open: return "still open when the capture ended";
  }
  return "?";
}

// "client SYN_SENT -> ESTABLISHED, server ..." for the sides whose state changed, through every
// state passed.
std::string state_changes(const Segment& s) {
  std::string text;
  auto add = [&](const char* who, SideState before, const std::vector<SideState>& path) {
    if (path.empty()) return;
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {}", who, state_name(before));
    for (SideState st : path) text += fmt::format(" -> {}", state_name(st));
  };
  add("client", s.client_before, s.client_path);
  add("server", s.server_before, s.server_path);
  return text;
}

// The flags column, `width` wide: SYN (a connection starts), FIN (one ends politely) and RST (one
// is torn down) coloured, since those are what a reader scans the column for. Padded from the
// plain text's length, as escape codes take no columns.
std::string flags_column(std::uint8_t flags, std::size_t width, bool color) {
  const std::string plain = flags_text(flags);
  std::string out;
  if (!color) {
    out = plain;
  } else {
    std::string_view rest = plain;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view name = rest.substr(0, comma);
      if (!out.empty()) out += ',';
      if (name == "SYN") {
        out += term::paint(true, term::Role::good, name);
      } else if (name == "FIN") {
        out += term::paint(true, term::Role::warning, name);
      } else if (name == "RST") {
        out += term::paint(true, term::Role::error, name);
      } else {
        out += name;
      }
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    }
  }
  if (plain.size() < width) out.append(width - plain.size(), ' ');
  return out;
}

}  // namespace

std::string format_text(const Connection& c, bool headers, bool color) {
  std::string out = fmt::format("connection {}: {} (client) -> {} (server){}\n", c.id, endpoint(c.client, c.client_port),
                                endpoint(c.server, c.server_port),
                                c.mid_stream ? "  [capture joined after the handshake: states assumed]" : "");
  out += fmt::format("  {:>10}  {:<3}  {:<12} {:>10} {:>10} {:>6}  {}\n", "ms", "dir", "flags", "seq", "ack", "len",
                     "what it means [state changes]");
  for (const Segment& s : c.segments) {
    std::string line = fmt::format("  {:>10.3f}  {:<3}  {} {:>10} {:>10} {:>6}", (s.time - c.first) * 1000,
                                   s.from_client ? "C>S" : "S>C", flags_column(s.flags, 12, color), s.seq, s.ack,
                                   s.length);
    if (!s.note.empty()) line += "  " + s.note;
    std::string states = state_changes(s);
    if (!states.empty()) line += "  [" + states + "]";
    out += line + "\n";
    // Bytes from the wire, escaped as `nuri get --trace` does: the parser lets obs-text
    // (>= 0x80) through, and a raw or UTF-8 C1 control is a terminal escape.
    for (const HttpMessage& m : s.http) {
      out += fmt::format("{:>16}{}\n", "", term::printable(m.start_line));
      if (!headers) continue;
      for (const auto& [name, value] : m.headers) {
        out += fmt::format("{:>16}{}: {}\n", "", term::printable(name), term::printable(value));
      }
    }
  }
  if (c.segments_omitted > 0) out += fmt::format("  ... {} more segments not shown\n", c.segments_omitted);
  out += fmt::format(
      "  summary: {:.3f} ms; client->server {} bytes in {} packets ({} retransmitted); server->client {} bytes in {} "
      "packets ({} retransmitted); {}; client {}, server {}",
      (c.last - c.first) * 1000, c.to_server.bytes, c.to_server.packets, c.to_server.retransmissions, c.to_client.bytes,
      c.to_client.packets, c.to_client.retransmissions, end_text(c), state_name(c.client_state),
      state_name(c.server_state));
  if (c.rtt_ms() >= 0) out += fmt::format("; handshake RTT {:.3f} ms", c.rtt_ms());
  out += "\n";
  return out;
}

std::string format_json(const Connection& c) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["id"] = c.id;
  j["client"] = {{"address", c.client.to_string()}, {"port", c.client_port}};
  j["server"] = {{"address", c.server.to_string()}, {"port", c.server_port}};
  j["mid_stream"] = c.mid_stream;
  j["start"] = c.first;
  j["duration_ms"] = (c.last - c.first) * 1000;
  ordered_json handshake;
  handshake["syn"] = c.syn_time >= 0;
  handshake["syn_ack"] = c.synack_time >= 0;
  handshake["ack"] = c.ack_time >= 0;
  if (c.rtt_ms() >= 0) handshake["rtt_ms"] = c.rtt_ms();
  j["handshake"] = handshake;
  ordered_json segments = ordered_json::array();
  ordered_json http = ordered_json::array();
  for (const Segment& s : c.segments) {
    ordered_json seg;
    seg["time_ms"] = (s.time - c.first) * 1000;
    seg["from"] = s.from_client ? "client" : "server";
    seg["flags"] = flags_text(s.flags);
    seg["seq"] = s.seq;
    seg["ack"] = s.ack;
    seg["len"] = s.length;
    seg["window"] = s.window;
    if (s.options.mss != 0) seg["mss"] = s.options.mss;
    if (s.options.window_scale >= 0) seg["window_scale"] = s.options.window_scale;
    if (s.options.sack_permitted) seg["sack_permitted"] = true;
    if (s.options.has_timestamps) seg["timestamps"] = {s.options.ts_value, s.options.ts_echo};
    seg["retransmission"] = s.retransmission;
    seg["note"] = s.note;
    seg["client_state"] = state_name(s.client_after);
    seg["server_state"] = state_name(s.server_after);
    auto path = [](const std::vector<SideState>& states) {
      ordered_json a = ordered_json::array();
      for (SideState st : states) a.push_back(state_name(st));
      return a;
    };
    if (!s.client_path.empty()) seg["client_path"] = path(s.client_path);
    if (!s.server_path.empty()) seg["server_path"] = path(s.server_path);
    for (const HttpMessage& m : s.http) {
      ordered_json h;
      h["from"] = m.from_client ? "client" : "server";
      h["time_ms"] = (s.time - c.first) * 1000;
      h["start_line"] = m.start_line;
      ordered_json fields = ordered_json::array();
      for (const auto& [name, value] : m.headers) fields.push_back({name, value});
      h["headers"] = fields;
      http.push_back(h);
    }
    segments.push_back(std::move(seg));
  }
  j["segments"] = segments;
  j["segments_omitted"] = c.segments_omitted;
  j["http"] = http;
  auto dir = [](const DirectionStats& d) {
    return ordered_json{{"packets", d.packets}, {"bytes", d.bytes}, {"retransmissions", d.retransmissions}};
  };
  ordered_json summary;
  summary["client_to_server"] = dir(c.to_server);
  summary["server_to_client"] = dir(c.to_client);
  summary["ended"] = c.end == EndReason::fin ? "fin" : c.end == EndReason::rst ? "rst" : "open";
  summary["client_state"] = state_name(c.client_state);
  summary["server_state"] = state_name(c.server_state);
  j["summary"] = summary;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace nuri::capture
