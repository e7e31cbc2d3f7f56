#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/validators.h"
#include "server/server.h"

namespace nuri::cli {

void ServeCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("serve", "Serve a folder (or the built-in welcome site) over HTTP/1.1");
  command_->footer(
      "Addresses: 127.0.0.1 and [::1] are reachable from this machine only; 0.0.0.0 and [::] from\n"
      "every interface (other machines can connect if the firewall lets them).\n"
      "Example: nuri serve --root ./htdocs --listen 0.0.0.0:8080 --access-log -");
  auto& c = config_;
  auto& l = config_.limits;
  command_->add_option("--config", config_file_, "TOML configuration file (see docs/configuration.md); the options below override it")
      ->check(CLI::ExistingFile);
  command_->add_option("--root", root_, "Folder to serve; without it, the built-in welcome site")
      ->check(CLI::ExistingDirectory);
  command_->add_option("--listen", listen_, "ADDR:PORT to listen on, repeatable (IPv6: [::1]:8080; port 0: any free)")
      ->take_all();
  command_->add_option("--workers", c.workers, "Worker threads, each with its own event loop (0: one per core)")
      ->check(whole_number(0, 1024));
  command_->add_option("--access-log", c.access_log, "Access log file in Combined Log Format, '-' for stdout (default: off)");
  command_->add_flag("--server-tokens", c.server_tokens, "Send a 'Server: nuri/VERSION' header");
  command_->add_flag("--dotfiles", dotfiles_, "Serve files whose names start with '.' (.git, .env); else 404");
  command_->add_option("--max-connections", l.max_connections, "Connections per worker; past it: 503 and close")
      ->check(whole_number(1, UINT32_MAX));
  command_->add_option("--header-timeout", l.header_timeout, "Seconds to receive a request head, then 408")
      ->check(positive_seconds());
  command_->add_option("--idle-timeout", l.idle_timeout, "Seconds an idle keep-alive connection is kept")
      ->check(positive_seconds());
  command_->add_option("--body-timeout", l.body_timeout, "Seconds between two reads of a request body, then 408")
      ->check(positive_seconds());
  command_->add_option("--send-timeout", l.send_timeout, "Seconds without progress sending a response, then close")
      ->check(positive_seconds());
  command_->add_option("--grace-period", l.grace_period, "Seconds SIGTERM waits for requests in flight")
      ->check(seconds(0));
  command_->add_option("--max-body-size", l.max_body_size, "Largest request body in bytes, past it 413")
      ->check(whole_number(0, INT64_MAX));
  command_->add_option("--max-header-size", l.max_header_size, "Largest request head in bytes, past it 431")
      ->check(whole_number(256, 1 << 20));
  command_->add_option("--max-uri-size", l.max_uri_size, "Longest request target in bytes, past it 414")
      ->check(whole_number(64, 1 << 20));
}

int ServeCommand::run() {
  std::vector<config::Listener> listeners;
  for (const std::string& text : listen_) {
    auto address = net::SocketAddress::parse(text);
    if (!address) {
      std::fprintf(stderr, "nuri serve: --listen %s: expected ADDR:PORT, like 127.0.0.1:8080 or [::1]:8080\n",
                   text.c_str());
      return 2;
    }
    for (const config::Listener& earlier : listeners) {
      // As in a configuration file: the same address twice is a mistake, not two listeners
      // (port 0, any free port, never collides).
      if (address->port() != 0 && earlier.address.to_string() == address->to_string()) {
        std::fprintf(stderr, "nuri serve: --listen %s is given twice\n", text.c_str());
        return 2;
      }
    }
    listeners.push_back({*address, {}, {}});
  }
  // Called at start and on each SIGHUP: the file as it is now, with the command line on top.
  auto load = [this, listeners](std::vector<std::string>& errors) -> std::optional<config::Config> {
    config::Config config;
    if (config_file_.empty()) {
      config = config::without_file(config_, root_, dotfiles_);
      // Without --listen: 127.0.0.1:8080, or the sockets systemd passed (socket activation).
      if (command_->get_option("--listen")->count() > 0) config.listeners = listeners;
    } else {
      auto loaded = config::load_config(config_file_, errors);
      if (!loaded) return std::nullopt;
      config = std::move(*loaded);
      apply_overrides(config, listeners);
    }
    if (config.limits.max_uri_size > config.limits.max_header_size) {
      config.limits.max_uri_size = config.limits.max_header_size;
    }
    return config;
  };
  return server::serve(load);
}

void ServeCommand::apply_overrides(config::Config& config, const std::vector<config::Listener>& listeners) const {
  // What the command line says explicitly wins over the file.
  auto given = [this](const char* name) { return command_->get_option(name)->count() > 0; };
  if (given("--listen")) config.listeners = listeners;
  if (given("--root")) config.hosts[config.default_host].root = root_;
  if (given("--dotfiles")) {
    for (auto& host : config.hosts) {
      for (auto& location : host.locations) location.dotfiles = true;
    }
  }
  if (given("--workers")) config.workers = config_.workers;
  if (given("--access-log")) config.access_log = config_.access_log;
  if (given("--server-tokens")) config.server_tokens = true;
  const config::Limits& cli = config_.limits;
  config::Limits& limits = config.limits;
  if (given("--max-connections")) limits.max_connections = cli.max_connections;
  if (given("--header-timeout")) limits.header_timeout = cli.header_timeout;
  if (given("--idle-timeout")) limits.idle_timeout = cli.idle_timeout;
  if (given("--body-timeout")) limits.body_timeout = cli.body_timeout;
  if (given("--send-timeout")) limits.send_timeout = cli.send_timeout;
  if (given("--grace-period")) limits.grace_period = cli.grace_period;
  if (given("--max-body-size")) limits.max_body_size = cli.max_body_size;
  if (given("--max-header-size")) limits.max_header_size = cli.max_header_size;
  if (given("--max-uri-size")) limits.max_uri_size = cli.max_uri_size;
}

}  // namespace nuri::cli
