// `nuri doctor HOST:PORT`: options only; the checks are in src/doctor.
#include <cstdio>
#include <string>

#include "base/terminal.h"
#include "cli/commands.h"
#include "cli/validators.h"
#include "doctor/doctor.h"

namespace nuri::cli {

void DoctorCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("doctor", "Find out why a server cannot be reached: who listens where, refused, dropped or rejected, HTTP or not");
  command_->footer(
      "On this machine (when HOST is one of its addresses): who listens on PORT and on which address\n"
      "(127.0.0.1 = this machine only, 0.0.0.0 = every interface), how many sockets share it (SO_REUSEPORT).\n"
      "From the client's side: a TCP connection to each address of HOST is refused (RST: nothing listens),\n"
      "times out (dropped: a firewall DROP rule, or the host is down), is rejected (ICMP from a firewall's\n"
      "reject rule) or unreachable, or connects; then HEAD / says whether HTTP answers (or TLS, or another\n"
      "protocol). Each finding is one sentence, with the fix under it. docs/doctor.md lists every verdict.\n"
      "\n"
      "Exit: 0 reachable (and HTTP answers, unless --no-http); 1 a problem was found; 2 usage error.");
  command_->add_option("TARGET", target_, "HOST:PORT: 192.168.1.10:8080, example.com:80, [::1]:8080")->required();
  command_->add_option("--timeout", timeout_, "Seconds to wait for the name, each connection and the HTTP answer")
      ->check(seconds(0.05, 60));
  command_->add_flag("--no-http", no_http_, "Only connect: do not send an HTTP request (a port that is not a web server)");
  command_->add_flag("--json", json_, "Print one JSON object (verdict, listeners, connections, HTTP, findings)");
}

int DoctorCommand::run() {
  std::string error;
  auto target = doctor::parse_target(target_, error);
  if (!target) {
    std::fprintf(stderr, "nuri doctor: %s\n", error.c_str());
    return 2;
  }
  doctor::Options options;
  options.target = *target;
  options.timeout_ms = static_cast<int>(timeout_ * 1000);
  options.http = !no_http_;
  doctor::Report report = doctor::diagnose(options);
  std::string text = json_ ? doctor::format_json(report) : doctor::format_text(report, term::use_color(stdout));
  std::fwrite(text.data(), 1, text.size(), stdout);
  return report.exit_code();
}

}  // namespace nuri::cli
