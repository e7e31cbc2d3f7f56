#pragma once
// The subcommands of the nuri binary.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "capture/capture.h"
#include "config/config.h"
#include "forward/forward.h"

namespace nuri::cli {

/// What `nuri --version` prints: the version, the compiler, build type and flags, sanitizers,
/// and the versions of the libraries linked (as found at run time) and compiled in.
std::string version_text();

/// `nuri version [--json]`: what --version prints, or the same as one JSON object.
class VersionCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  bool json_ = false;
};

/// `nuri serve`: the HTTP/1.1 web server.
class ServeCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  void apply_overrides(config::Config& config, const std::vector<config::Listener>& listeners) const;

  CLI::App* command_ = nullptr;
  config::Config config_;  // what the options say (defaults where not given)
  std::string config_file_;
  std::string root_;
  bool dotfiles_ = false;
  std::vector<std::string> listen_ = {"127.0.0.1:8080"};
};

/// `nuri check-config FILE`: validates a configuration without starting anything. Exit 0 and a
/// summary on stdout, or exit 2 and one "FILE:LINE:COL: message" line per problem on stderr
/// (--json: one object on stdout either way).
class CheckConfigCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  std::string file_;
  bool json_ = false;
};

/// `nuri forward LISTEN TARGET...`: the TCP port forwarder (the lecture's NAT rule).
class ForwardCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  int run_config();

  CLI::App* command_ = nullptr;
  CLI::Option* allow_ = nullptr;
  CLI::Option* deny_ = nullptr;
  CLI::Option* config_ = nullptr;
  std::string config_file_;
  std::string listen_;
  std::vector<std::string> targets_;
  std::string balance_ = "round-robin";
  std::string proxy_protocol_;
  std::vector<std::string> allow_values_;
  std::vector<std::string> deny_values_;
  forward::Rule rule_;
  forward::Options options_;
};

/// `nuri resolve NAME`: one DNS question (A, AAAA, MX, ... or PTR for an address) and its answer.
class ResolveCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  std::string name_;
  std::string type_;
  std::string server_;
  double timeout_ = 2.0;
  int tries_ = 2;
  bool no_hosts_ = false;
  bool json_ = false;
};

/// `nuri get URL...`: an HTTP/1.1 client (curl's everyday options) that can trace every step.
class GetCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  std::vector<std::string> urls_;
  std::string method_;
  std::vector<std::string> headers_;
  std::vector<std::string> data_;
  std::vector<std::string> data_urlencode_;
  std::vector<std::string> form_;
  std::string cookie_in_;
  std::string cookie_out_;
  bool follow_ = false;
  int max_redirects_ = 10;
  bool head_only_ = false;
  std::vector<std::string> outputs_;
  double max_time_ = 0;
  bool fail_ = false;
  bool trace_ = false;
  bool json_ = false;
  bool silent_ = false;
};

/// `nuri conns`: the machine's sockets (netstat -ano, ss -tanp) and, with --watch, their state
/// changes as they happen.
class ConnsCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  bool tcp_ = false;
  bool udp_ = false;
  bool info_ = false;
  std::vector<int> ports_;
  std::vector<std::string> states_;
  std::vector<int> pids_;
  bool listening_ = false;
  bool json_ = false;
  bool watch_ = false;
  int interval_ms_ = 100;
  double duration_ = 0;
};

/// `nuri capture`: the packets of one port grouped per TCP connection (libpcap).
class CaptureCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  capture::Options options_;
  bool no_headers_ = false;
};

/// `nuri doctor HOST:PORT`: why a server cannot be reached, from this machine's and the client's side.
class DoctorCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  std::string target_;
  double timeout_ = 3.0;
  bool no_http_ = false;
  bool json_ = false;
};

/// `nuri explain METHOD URL`: which listener, host, location and rule would answer, and why.
class ExplainCommand {
 public:
  void add_to(CLI::App& app);
  bool selected() const { return command_ && command_->parsed(); }
  int run();

 private:
  CLI::App* command_ = nullptr;
  std::string config_file_;
  std::string from_ = "127.0.0.1";
  std::vector<std::string> headers_;
  std::string method_;
  std::string url_;
  bool json_ = false;
};

}  // namespace nuri::cli
