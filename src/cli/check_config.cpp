#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "config/config.h"

namespace nuri::cli {

void CheckConfigCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("check-config", "Validate a configuration file without starting the server");
  command_->footer(
      "Exit status 0: the file is valid; a summary of listeners and hosts follows.\n"
      "Exit status 2: each problem is printed to stderr as FILE:LINE:COL: message.");
  command_->add_option("FILE", file_, "The TOML configuration file (see docs/configuration.md)")->required();
}

int CheckConfigCommand::run() {
  std::vector<std::string> errors;
  auto config = config::load_config(file_, errors);
  if (!config) {
    for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 2;
  }
  std::fputs(config::summarize(*config).c_str(), stdout);
  return 0;
}

}  // namespace nuri::cli
