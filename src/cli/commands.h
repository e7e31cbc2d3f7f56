#pragma once
// The subcommands of the nuri binary.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "config/config.h"

namespace nuri::cli {

/// `nuri serve`: the HTTP/1.1 web server.
class ServeCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  config::Config config_;  // what the options say (defaults where not given)
  std::string config_file_;
  std::string root_;
  bool dotfiles_ = false;
  std::vector<std::string> listen_ = {"127.0.0.1:8080"};
};

/// `nuri check-config FILE`: validates a configuration without starting anything. Exit 0 and a
/// summary on stdout, or exit 2 and one "FILE:LINE:COL: message" line per problem on stderr.
class CheckConfigCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  std::string file_;
};

}  // namespace nuri::cli
