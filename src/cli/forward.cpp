#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/validators.h"
#include "config/config.h"
#include "forward/forward.h"
#include "forward/target.h"

namespace nuri::cli {

void ForwardCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("forward", "Forward TCP connections from a local port to another address (port forwarding)");
  command_->footer(
      "The lecture's router: 'nuri forward 0.0.0.0:65535 192.168.17.17:80' passes every connection that\n"
      "arrives on port 65535 of this machine to the web server at 192.168.17.17, port 80, and back.\n"
      "\n"
      "--allow/--deny are checked in the order given; the first range that contains the client decides,\n"
      "and a client no range contains gets the opposite of the last rule (as in nginx).\n"
      "Log: one line per connection when it ends:\n"
      "  TIME client=ADDR listen=ADDR target=ADDR up=BYTES down=BYTES ms=DURATION end=HOW\n"
      "  up: client to target; HOW: fin, rst, timeout, connect-timeout, refused, unreachable, denied,\n"
      "  limit, shutdown or error. A refused or unreachable target resets the client's connection.\n"
      "  --json: the same fields as one JSON object per line.\n"
      "Exit: 0 stopped by SIGTERM/SIGINT, 1 a socket or the log could not be opened, 2 usage or configuration\n"
      "error (or a target name that does not resolve).");
  command_->add_option("LISTEN", listen_, "ADDR:PORT to accept connections on (0.0.0.0:65535, [::]:8080, 127.0.0.1:0)");
  command_->add_option("TARGET", targets_,
                       "HOST:PORT to pass them to (192.168.17.17:80, [::1]:80, backend.lan:80); several: see --balance");
  config_ = command_->add_option("--config", config_file_,
                                 "Run the [[forward]] tables of this configuration file instead of LISTEN TARGET "
                                 "(`nuri serve --config` runs them beside HTTP)");
  command_->add_option("--balance", balance_,
                       "With several targets: round-robin, or first (the first that is up; the rest are backups). "
                       "Either way a target that fails is skipped for the next")
      ->check(CLI::IsMember({"round-robin", "first"}));
  allow_ = command_->add_option("--allow", allow_values_, "Accept clients in this CIDR range (repeatable, ordered)")
               ->allow_extra_args(false);
  deny_ = command_->add_option("--deny", deny_values_, "Close clients in this CIDR range at once (repeatable, ordered)")
              ->allow_extra_args(false);
  command_->add_option("--max-conns", rule_.max_conns, "Connections open at once; over it new ones are closed at once (0: no limit)")
      ->check(whole_number(0, UINT32_MAX));
  command_->add_option("--connect-timeout", rule_.connect_timeout, "Seconds for the target to accept a connection")
      ->check(positive_seconds());
  command_->add_option("--idle-timeout", rule_.idle_timeout, "Seconds without a byte either way before closing")
      ->check(positive_seconds());
  command_->add_option("--proxy-protocol", proxy_protocol_,
                       "Send the target a PROXY protocol header (v1: text, v2: binary) with the client's address")
      ->check(CLI::IsMember({"v1", "v2"}));
  command_->add_flag("--udp", rule_.udp,
                     "Forward UDP instead of TCP: a session per client address, ended after --idle-timeout "
                     "(default 30 s for UDP) or past --max-conns sessions");
  command_->add_option("--resolver", options_.resolver,
                       "DNS server ADDR:PORT for target host names (default: /etc/resolv.conf); names are looked up "
                       "again when their TTL runs out");
  command_->add_option("--log", options_.log, "Connection log: a file, '-' for stdout, '' for none");
  command_->add_flag("--json", options_.log_json,
                     "Write the connection log as JSON lines (one object per connection: time, client, listen, "
                     "target, up, down, ms, end); the start-up lines then go to stderr");
  command_->add_option("--workers", options_.workers, "Worker threads, each with its own event loop (0: one per core)")
      ->check(whole_number(0, 1024));
  command_->add_option("--grace-period", options_.grace_period, "Seconds SIGTERM lets open connections finish")
      ->check(seconds(0));
}

int ForwardCommand::run_config() {
  if (!listen_.empty() || !targets_.empty()) {
    std::fprintf(stderr, "nuri forward: give LISTEN TARGET or --config FILE, not both\n");
    return 2;
  }
  for (const char* option : {"--allow", "--deny", "--max-conns", "--connect-timeout", "--idle-timeout",
                             "--proxy-protocol", "--udp", "--balance"}) {
    if (command_->get_option(option)->count() > 0) {
      std::fprintf(stderr, "nuri forward: %s is for LISTEN TARGET; with --config, set it in the [[forward]] table\n",
                   option);
      return 2;
    }
  }
  std::vector<std::string> errors;
  std::optional<config::Config> config = config::load_config(config_file_, errors);
  if (!config) {
    for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fprintf(stderr, "nuri forward: the configuration has %zu error(s); nothing was started\n", errors.size());
    return 2;
  }
  if (config->forwards.empty()) {
    std::fprintf(stderr, "nuri forward: %s has no [[forward]] table\n", config_file_.c_str());
    return 2;
  }
  options_.rules = config->forwards;
  if (command_->get_option("--log")->count() == 0) options_.log = config->forward_log;
  if (command_->get_option("--workers")->count() == 0) options_.workers = config->workers;
  if (command_->get_option("--grace-period")->count() == 0) options_.grace_period = config->limits.grace_period;
  return forward::run(std::move(options_));
}

int ForwardCommand::run() {
  if (config_->count() > 0) return run_config();
  if (listen_.empty() || targets_.empty()) {
    std::fprintf(stderr, "nuri forward: LISTEN and TARGET are required (or --config FILE); see nuri forward --help\n");
    return 2;
  }
  auto listen = net::SocketAddress::parse(listen_);
  if (!listen) {
    std::fprintf(stderr, "nuri forward: LISTEN '%s': expected ADDR:PORT, like 0.0.0.0:65535 or [::]:8080\n",
                 listen_.c_str());
    return 2;
  }
  rule_.listen = *listen;
  for (const std::string& text : targets_) {
    std::string error;
    auto target = forward::parse_target(text, error);
    if (!target) {
      std::fprintf(stderr, "nuri forward: %s\n", error.c_str());
      return 2;
    }
    rule_.targets.push_back(*target);
  }
  rule_.balance = balance_ == "first" ? forward::Balance::first : forward::Balance::round_robin;
  if (proxy_protocol_ == "v1") rule_.proxy_protocol = net::ProxyProtocol::v1;
  if (proxy_protocol_ == "v2") rule_.proxy_protocol = net::ProxyProtocol::v2;
  // The order of --allow and --deny between each other matters: CLI11 keeps it in parse_order().
  std::size_t next_allow = 0;
  std::size_t next_deny = 0;
  for (const CLI::Option* option : command_->parse_order()) {
    if (option != allow_ && option != deny_) continue;
    bool allow = option == allow_;
    const std::string& text = allow ? allow_values_.at(next_allow++) : deny_values_.at(next_deny++);
    std::string why;
    auto range = net::Cidr::parse(text, why);
    if (!range) {
      std::fprintf(stderr, "nuri forward: %s %s: %s\n", allow ? "--allow" : "--deny", text.c_str(), why.c_str());
      return 2;
    }
    rule_.access.push_back({allow, *range});
  }
  if (rule_.udp && command_->get_option("--idle-timeout")->count() == 0) {
    rule_.idle_timeout = 30;  // a NAT table's usual UDP timeout, not a TCP connection's 10 minutes
  }
  if (rule_.udp && rule_.proxy_protocol != net::ProxyProtocol::none) {
    std::fprintf(stderr, "nuri forward: --proxy-protocol is for TCP; it cannot be used with --udp\n");
    return 2;
  }
  options_.rules = {rule_};
  return forward::run(std::move(options_));
}

}  // namespace nuri::cli
