#include "server/status_page.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "base/clock.h"

namespace nuri::server {

namespace {

struct Totals {
  std::uint64_t requests = 0, bytes = 0, accepted = 0, open = 0, last_minute = 0;
  std::uint64_t by_class[5] = {};
  std::uint64_t durations[kDurationBoundsMs.size() + 1] = {};
  std::uint64_t duration_ms_sum = 0;
};

Totals sum(const ServerState& state, std::time_t now) {
  Totals t;
  for (const WorkerStats* w : state.workers) {
    t.requests += w->requests();
    t.bytes += w->bytes();
    t.accepted += w->accepted();
    t.last_minute += w->requests_last_minute(now);
    for (int c = 1; c <= 5; ++c) t.by_class[c - 1] += w->by_class(c);
    for (std::size_t i = 0; i <= kDurationBoundsMs.size(); ++i) t.durations[i] += w->duration_bucket(i);
    t.duration_ms_sum += w->duration_ms_sum();
  }
  return t;
}

void html_escape(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

// "<tr><td>a</td><td>b": the text cells of a table row, escaped; the caller adds the rest.
void open_row(std::string& out, std::initializer_list<std::string_view> cells) {
  out += "<tr>";
  bool first = true;
  for (std::string_view cell : cells) {
    out += first ? "<td>" : "</td><td>";
    first = false;
    html_escape(out, cell);
  }
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

bool wants_json(std::string_view query) {
  while (!query.empty()) {
    auto amp = query.find('&');
    if (query.substr(0, amp) == "format=json") return true;
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return false;
}

}  // namespace

void render_status(StatusEndpoint endpoint, const http::Request& request, const ServerState& state,
                   const std::vector<ConnectionInfo>& own, std::size_t own_index,
                   const std::vector<proxy::Group*>& upstreams, Response& res) {
  std::time_t now = std::time(nullptr);
  const std::int64_t now_ms = base::monotonic_ms();
  // Every upstream of every proxying location, as its counters say now.
  struct UpstreamRow {
    const std::string& location;
    const std::string& name;
    std::uint64_t requests, failures;
    std::uint32_t active;
    bool up;
  };
  std::vector<UpstreamRow> rows;
  for (const proxy::Group* g : upstreams) {
    for (std::size_t i = 0; i < g->size(); ++i) {
      const proxy::Server& s = g->server(i);
      rows.push_back({g->where(), s.name(), s.requests.load(std::memory_order_relaxed),
                      s.failures.load(std::memory_order_relaxed), s.active.load(std::memory_order_relaxed),
                      !s.is_down(now_ms) && !s.addresses()->empty()});
    }
  }
  res.status = http::Status::ok;
  res.add_header("Cache-Control", "no-store");
  if (endpoint == StatusEndpoint::health) {
    res.add_header("Content-Type", "text/plain; charset=utf-8");
    res.body = "ok\n";
    return;
  }
  Totals t = sum(state, now);
  // Read once: the total and the split must agree though the workers go on changing them.
  std::vector<std::uint64_t> open_by_worker;
  for (const WorkerStats* w : state.workers) open_by_worker.push_back(w->open_connections());
  for (std::uint64_t n : open_by_worker) t.open += n;
  std::uint64_t uptime = static_cast<std::uint64_t>(now - state.started);
  if (endpoint == StatusEndpoint::metrics) {
    // Prometheus text exposition format 0.0.4.
    res.add_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    auto out = std::back_inserter(res.body);
    fmt::format_to(out, "# HELP nuri_requests_total Requests answered, by status class.\n# TYPE nuri_requests_total counter\n");
    for (int c = 1; c <= 5; ++c) fmt::format_to(out, "nuri_requests_total{{class=\"{}xx\"}} {}\n", c, t.by_class[c - 1]);
    fmt::format_to(out,
                   "# HELP nuri_response_bytes_total Body bytes of responses.\n# TYPE nuri_response_bytes_total counter\n"
                   "nuri_response_bytes_total {}\n"
                   "# HELP nuri_connections_accepted_total Connections accepted.\n# TYPE nuri_connections_accepted_total counter\n"
                   "nuri_connections_accepted_total {}\n"
                   "# HELP nuri_connections_open Connections open now.\n# TYPE nuri_connections_open gauge\n"
                   "nuri_connections_open {}\n"
                   "# HELP nuri_workers Worker threads.\n# TYPE nuri_workers gauge\nnuri_workers {}\n"
                   "# HELP nuri_uptime_seconds Seconds since start.\n# TYPE nuri_uptime_seconds gauge\nnuri_uptime_seconds {}\n",
                   t.bytes, t.accepted, t.open, state.workers.size(), uptime);
    fmt::format_to(out, "# HELP nuri_worker_connections_open Connections open now, by worker thread.\n"
                        "# TYPE nuri_worker_connections_open gauge\n");
    for (std::size_t w = 0; w < state.workers.size(); ++w) {
      fmt::format_to(out, "nuri_worker_connections_open{{worker=\"{}\"}} {}\n", w, open_by_worker[w]);
    }
    fmt::format_to(out,
                   "# HELP nuri_request_duration_seconds From a request's first byte to its response's last byte "
                   "handed to the kernel.\n# TYPE nuri_request_duration_seconds histogram\n");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kDurationBoundsMs.size(); ++i) {
      cumulative += t.durations[i];
      fmt::format_to(out, "nuri_request_duration_seconds_bucket{{le=\"{:g}\"}} {}\n",
                     static_cast<double>(kDurationBoundsMs[i]) / 1000.0, cumulative);
    }
    cumulative += t.durations[kDurationBoundsMs.size()];
    fmt::format_to(out,
                   "nuri_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n"
                   "nuri_request_duration_seconds_sum {:.3f}\nnuri_request_duration_seconds_count {}\n",
                   cumulative, static_cast<double>(t.duration_ms_sum) / 1000.0, cumulative);
    fmt::format_to(out,
                   "# HELP nuri_config_reloads_total Successful reloads (SIGHUP).\n# TYPE nuri_config_reloads_total counter\n"
                   "nuri_config_reloads_total {}\n"
                   "# HELP nuri_config_loaded_timestamp_seconds When the configuration in use was read.\n"
                   "# TYPE nuri_config_loaded_timestamp_seconds gauge\nnuri_config_loaded_timestamp_seconds {}\n",
                   state.reloads.load(std::memory_order_relaxed), state.config_loaded.load(std::memory_order_relaxed));
    // One family per counter, a sample per upstream.
    auto family = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
      fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
      for (const auto& r : rows) {
        fmt::format_to(out, "{}{{location=\"{}\",upstream=\"{}\"}} {}\n", name, label(r.location), label(r.name), value(r));
      }
    };
    if (!rows.empty()) {
      family("nuri_upstream_requests_total", "counter", "Requests sent to an upstream (retries included).",
             [](const UpstreamRow& r) { return r.requests; });
      family("nuri_upstream_failures_total", "counter", "Failures counted against an upstream (passive health).",
             [](const UpstreamRow& r) { return r.failures; });
      family("nuri_upstream_active", "gauge", "Requests in flight to an upstream.",
             [](const UpstreamRow& r) { return std::uint64_t{r.active}; });
      family("nuri_upstream_up", "gauge", "1 when requests may go to an upstream, 0 while it is skipped.",
             [](const UpstreamRow& r) { return std::uint64_t{r.up ? 1u : 0u}; });
    }
    return;
  }

  std::vector<ConnectionInfo> all;
  for (std::size_t i = 0; i < state.workers.size(); ++i) {
    std::vector<ConnectionInfo> part = i == own_index ? own : state.workers[i]->connections();
    all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  double per_second = static_cast<double>(t.last_minute) / 60.0;
  if (wants_json(request.query)) {
    nlohmann::ordered_json j;
    j["uptime_seconds"] = uptime;
    j["workers"] = state.workers.size();
    j["requests_total"] = t.requests;
    j["requests_by_class"] = {{"1xx", t.by_class[0]}, {"2xx", t.by_class[1]}, {"3xx", t.by_class[2]},
                              {"4xx", t.by_class[3]}, {"5xx", t.by_class[4]}};
    j["bytes_total"] = t.bytes;
    j["connections_accepted"] = t.accepted;
    j["connections_open"] = t.open;
    j["connections_open_by_worker"] = open_by_worker;
    j["new_connections_to_workers"] = state.workers.size() == 1                                       ? "one worker"
                                      : state.connections_in_turn.load(std::memory_order_relaxed) ? "in turn"
                                                                                                  : "by the kernel";
    j["requests_per_second_last_minute"] = per_second;
    j["upstreams"] = nlohmann::json::array();
    for (const auto& r : rows) {
      j["upstreams"].push_back({{"location", r.location}, {"upstream", r.name}, {"up", r.up}, {"active", r.active},
                                {"requests", r.requests}, {"failures", r.failures}});
    }
    j["connections"] = nlohmann::json::array();
    for (const ConnectionInfo& c : all) {
      j["connections"].push_back({{"client", c.client}, {"local", c.local}, {"state", c.state},
                                  {"request", c.request_line}, {"requests", c.requests},
                                  {"bytes_sent", c.bytes_sent}, {"age_seconds", c.age_seconds}});
    }
    res.add_header("Content-Type", "application/json");
    res.body = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    res.body += '\n';
    return;
  }
  res.add_header("Content-Type", "text/html; charset=utf-8");
  auto out = std::back_inserter(res.body);
  fmt::format_to(out,
                 "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<meta http-equiv=\"refresh\" content=\"2\"><title>nuri status</title>\n<style>"
                 "body{{font:14px/1.4 system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}"
                 "td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}"
                 "th{{background:#f4f4f4}}.n{{text-align:right}}</style></head><body>\n"
                 "<h1>nuri status</h1>\n<table id=\"summary\">\n"
                 "<tr><th>Uptime</th><td class=\"n\">{} s</td></tr>\n<tr><th>Workers</th><td class=\"n\">{}</td></tr>\n"
                 "<tr><th>Requests</th><td class=\"n\">{}</td></tr>\n"
                 "<tr><th>Requests/s (last minute)</th><td class=\"n\">{:.2f}</td></tr>\n"
                 "<tr><th>1xx / 2xx / 3xx / 4xx / 5xx</th><td class=\"n\">{} / {} / {} / {} / {}</td></tr>\n"
                 "<tr><th>Bytes sent</th><td class=\"n\">{}</td></tr>\n"
                 "<tr><th>Connections accepted / open</th><td class=\"n\">{} / {}</td></tr>\n</table>\n"
                 ,
                 uptime, state.workers.size(), t.requests, per_second, t.by_class[0], t.by_class[1], t.by_class[2],
                 t.by_class[3], t.by_class[4], t.bytes, t.accepted, t.open);
  if (!rows.empty()) {
    res.body += "<h2>Upstreams</h2>\n<table id=\"upstreams\">\n<tr><th>Location</th><th>Upstream</th><th>State</th>"
                "<th>Active</th><th>Requests</th><th>Failures</th></tr>\n";
    for (const auto& r : rows) {
      open_row(res.body, {r.location, r.name});
      fmt::format_to(out, "</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                     r.up ? "up" : "skipped", r.active, r.requests, r.failures);
    }
    res.body += "</table>\n";
  }
  res.body += "<h2>Connections</h2>\n<table id=\"connections\">\n<tr><th>Client</th><th>Local</th><th>State</th>"
              "<th>Request</th><th>Requests</th><th>Bytes sent</th><th>Age (s)</th></tr>\n";
  for (const ConnectionInfo& c : all) {
    open_row(res.body, {c.client, c.local, c.state, c.request_line});
    fmt::format_to(out, "</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1f}</td></tr>\n", c.requests,
                   c.bytes_sent, c.age_seconds);
  }
  res.body += "</table>\n<p>JSON: <a href=\"?format=json\">?format=json</a></p>\n</body></html>\n";
}

}  // namespace nuri::server
