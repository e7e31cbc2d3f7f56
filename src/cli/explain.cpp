// `nuri explain`: what the server would answer to one request and why, without sending it.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "server/explain.h"

namespace nuri::cli {

void ExplainCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("explain", "Show which listener, host, location and rule would answer a request, and why");
  command_->footer(
      "Nothing is sent: the request goes through nuri serve's own parser and decision code.\n"
      "Example: nuri explain --config nuri.toml GET http://shop.local/cart\n"
      "         nuri explain --from 10.1.2.3 -H 'Host: shop.local' -H 'Content-Length: 5000000' POST /upload\n"
      "Exit status 0: explained (whatever the answer); 2: a bad option, request or configuration\n"
      "(configuration errors as FILE:LINE:COL: message).");
  command_->add_option("--config", config_file_, "TOML configuration file; without it, what nuri serve runs without one");
  command_->add_option("--from", from_, "The client's address, for allow/deny rules");
  command_->add_option("-H,--header", headers_,
                       "A request field 'Name: value', repeatable (Host replaces the URL's; Content-Length states a body size)")
      ->allow_extra_args(false);  // one field per -H: METHOD and URL stay positional
  command_->add_flag("--json", json_, "Print one JSON object instead of lines");
  command_->add_option("METHOD", method_, "The request method (GET, POST...)")->required();
  command_->add_option("URL", url_, "http://host[:port]/path?query, or /path?query with -H 'Host: ...', or *")
      ->required();
}

int ExplainCommand::run() {
  config::Config config;
  if (config_file_.empty()) {
    config = config::without_file({}, {}, false);
  } else {
    std::vector<std::string> errors;
    auto loaded = config::load_config(config_file_, errors);
    if (!loaded) {
      // check-config's format: every problem as FILE:LINE:COL: message.
      for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
      return 2;
    }
    config = std::move(*loaded);
  }
  // As the server's listener set does when nothing names one (and no systemd socket is passed).
  if (config.listeners.empty()) config.listeners.push_back({*net::SocketAddress::parse("127.0.0.1:8080"), {}, {}});
  std::string error;
  auto explanation = server::explain(config, {method_, url_, headers_, from_}, error);
  if (!explanation) {
    std::fprintf(stderr, "nuri explain: %s\n", error.c_str());
    return 2;
  }
  std::string out = json_ ? server::explanation_json(*explanation) : server::explanation_text(*explanation);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace nuri::cli
