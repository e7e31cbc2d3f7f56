#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/terminal.h"
#include "cli/commands.h"
#include "config/config.h"

namespace nuri::cli {

namespace {

using nlohmann::ordered_json;

// The parts of an error line "FILE:LINE:COL: message" (or "FILE: message" when the file could
// not be read). `file` is the path given, which every error line of load_config starts with; a
// line that does not is kept whole as the message.
struct ErrorParts {
  int line = 0;  // 0: no position
  int column = 0;
  std::string message;
  std::string location;  // "FILE:LINE:COL:" or "FILE:", as printed
};

ErrorParts split_error(const std::string& file, const std::string& text) {
  ErrorParts parts;
  parts.message = text;
  if (text.compare(0, file.size() + 1, file + ":") != 0) return parts;
  std::string_view rest = std::string_view(text).substr(file.size() + 1);
  const char* begin = rest.data();
  char* end = nullptr;
  long line = std::strtol(begin, &end, 10);
  long column = 0;
  if (end != begin && *end == ':') {
    const char* col_begin = end + 1;
    column = std::strtol(col_begin, &end, 10);
    if (end == col_begin || *end != ':') line = 0;
  } else {
    line = 0;
  }
  std::size_t message_at = line > 0 ? static_cast<std::size_t>(end + 1 - text.data()) : file.size() + 1;
  if (line > 0) {
    parts.line = static_cast<int>(line);
    parts.column = static_cast<int>(column);
  }
  parts.location = text.substr(0, message_at);
  std::string_view message = std::string_view(text).substr(message_at);
  while (!message.empty() && message.front() == ' ') message.remove_prefix(1);
  parts.message = std::string(message);
  return parts;
}

std::vector<std::string> access_text(const std::vector<net::AccessRule>& rules) {
  std::vector<std::string> out;
  for (const net::AccessRule& rule : rules) out.push_back((rule.allow ? "allow " : "deny ") + rule.range.to_string());
  return out;
}

ordered_json summary_json(const config::Config& c) {
  ordered_json j;
  j["file"] = c.source;
  j["valid"] = true;
  j["workers"] = c.workers;
  ordered_json listeners = ordered_json::array();
  for (const config::Listener& l : c.listeners) {
    listeners.push_back({{"address", l.address.to_string()},
                         {"url", l.address.url()},
                         {"loopback_only", l.address.is_loopback()},
                         {"default_host", l.default_host},
                         {"access", access_text(l.access)},
                         {"proxy_protocol", l.proxy_protocol}});
  }
  j["listeners"] = listeners;
  ordered_json hosts = ordered_json::array();
  for (std::size_t i = 0; i < c.hosts.size(); ++i) {
    const config::VirtualHost& h = c.hosts[i];
    ordered_json locations = ordered_json::array();
    for (const config::Location& loc : h.locations) {
      ordered_json l = {{"prefix", loc.prefix}};
      if (loc.root) l["root"] = *loc.root;
      if (loc.redirect) l["redirect"] = {{"status", loc.redirect->status}, {"target", loc.redirect->target}};
      if (loc.proxy) {
        ordered_json upstreams = ordered_json::array();
        for (const auto& u : loc.proxy->upstreams) upstreams.push_back(u.url);
        l["proxy"] = upstreams;
      }
      l["directory_listing"] = loc.directory_listing;
      l["auth"] = loc.auth.has_value();
      l["access"] = access_text(loc.access);
      locations.push_back(std::move(l));
    }
    hosts.push_back({{"names", h.names}, {"root", h.root}, {"default", i == c.default_host}, {"locations", locations}});
  }
  j["hosts"] = hosts;
  ordered_json forwards = ordered_json::array();
  for (const forward::Rule& r : c.forwards) {
    std::vector<std::string> targets;
    for (const auto& t : r.targets) targets.push_back(t.text);
    forwards.push_back({{"listen", r.listen.to_string()}, {"targets", targets}, {"udp", r.udp}});
  }
  j["forwards"] = forwards;
  j["access_log"] = c.access_log;
  j["errors"] = ordered_json::array();
  return j;
}

}  // namespace

void CheckConfigCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("check-config", "Validate a configuration file without starting the server");
  command_->footer(
      "Exit status 0: the file is valid; a summary of listeners and hosts follows.\n"
      "Exit status 2: each problem is printed to stderr as FILE:LINE:COL: message.\n"
      "--json: one JSON object on stdout either way (\"valid\", and \"errors\" with file, line, column, message).");
  command_->add_option("FILE", file_, "The TOML configuration file (see docs/configuration.md)")->required();
  command_->add_flag("--json", json_, "Print the summary, or the errors, as one JSON object on stdout");
}

int CheckConfigCommand::run() {
  std::vector<std::string> errors;
  auto config = config::load_config(file_, errors);
  if (json_) {
    ordered_json doc;
    if (config) {
      doc = summary_json(*config);
    } else {
      ordered_json list = ordered_json::array();
      for (const std::string& e : errors) {
        ErrorParts parts = split_error(file_, e);
        list.push_back({{"file", file_},
                        {"line", parts.line > 0 ? ordered_json(parts.line) : ordered_json()},
                        {"column", parts.line > 0 ? ordered_json(parts.column) : ordered_json()},
                        {"message", parts.message}});
      }
      doc = {{"file", file_}, {"valid", false}, {"errors", list}};
    }
    std::printf("%s\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return config ? 0 : 2;
  }
  if (!config) {
    // As compilers do: the place in bold, the problem in red.
    const bool color = term::use_color(stderr);
    for (const std::string& e : errors) {
      ErrorParts parts = split_error(file_, e);
      if (!color || parts.location.empty()) {
        std::fprintf(stderr, "%s\n", term::paint(color, term::Role::error, e).c_str());
      } else {
        std::fprintf(stderr, "%s %s\n", term::paint(true, term::Role::emphasis, parts.location).c_str(),
                     term::paint(true, term::Role::error, parts.message).c_str());
      }
    }
    return 2;
  }
  std::string summary = config::summarize(*config);
  if (term::use_color(stdout)) {
    const std::string ok = "configuration OK";
    if (std::size_t at = summary.find(ok); at != std::string::npos) {
      summary.replace(at, ok.size(), term::paint(true, term::Role::good, ok));
    }
  }
  std::fputs(summary.c_str(), stdout);
  return 0;
}

}  // namespace nuri::cli
