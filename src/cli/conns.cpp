#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <string>

#include "base/terminal.h"
#include "cli/commands.h"
#include "cli/validators.h"
#include "conns/conns.h"

namespace nuri::cli {
namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

std::string now_text() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  localtime_r(&ts.tv_sec, &t);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld", t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000);
  return buf;
}

}  // namespace

void ConnsCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("conns", "Show this machine's TCP and UDP sockets, their state and owner (netstat -ano, ss -tanp)");
  command_->footer(
      "The lecture's netstat -ano: LISTEN sockets wait for the 3-way handshake, ESTABLISHED ones carry data,\n"
      "and the side that closes first keeps TIME_WAIT for 60 s (the state diagram of ch9); 0.0.0.0 = every interface.\n"
      "\n"
      "Columns: Proto, State, Local and Remote Address, PID/Program (from /proc/*/fd; '-' when no process\n"
      "holds it, as in TIME_WAIT, or it belongs to another user and you are not root), Recv-Q and Send-Q\n"
      "(bytes not yet read / not yet acknowledged; for LISTEN: connections waiting for accept / backlog),\n"
      "Note (who can reach a listener; seconds left in TIME_WAIT). -i adds RTT, retransmits, cwnd (tcp_info).\n"
      "--watch polls the kernel every --interval ms (default 100): a state that lasts less than that can be\n"
      "missed (FIN_WAIT1 usually lasts far less). Sockets are read through netlink NETLINK_SOCK_DIAG.\n"
      "Exit: 0 ok, 2 bad option, 3 the kernel's socket list could not be read.");
  command_->add_flag("-t,--tcp", tcp_, "TCP sockets only");
  command_->add_flag("-u,--udp", udp_, "UDP sockets only");
  command_->add_flag("-i,--info", info_, "Add RTT (ms), retransmitted segments and congestion window (segments) of TCP connections");
  command_->add_option("--port", ports_, "Only sockets whose local or remote port is N (repeatable)")
      ->check(whole_number(1, 65535))
      ->allow_extra_args(false);
  command_->add_option("--state", states_,
                       "Only this state (repeatable): listen, syn-sent, syn-recv, established, fin-wait-1, fin-wait-2, "
                       "close-wait, closing, last-ack, time-wait, close (unconn)")
      ->allow_extra_args(false);
  command_->add_option("--pid", pids_, "Only sockets held by this process (repeatable)")
      ->check(whole_number(1, INT32_MAX))
      ->allow_extra_args(false);
  command_->add_flag("-l,--listening", listening_, "Only listening sockets (TCP LISTEN, unconnected UDP)");
  command_->add_flag("--json", json_, "Print a JSON array instead of the table");
  command_->add_flag("-w,--watch", watch_, "Print each state change (new, A -> B, gone) with a timestamp until Ctrl-C");
  command_->add_option("--interval", interval_ms_, "--watch: milliseconds between two reads of the kernel's table")
      ->check(whole_number(10, 60000));
  command_->add_option("--duration", duration_, "--watch: stop after this many seconds (0: until Ctrl-C)")
      ->check(seconds(0));
}

int ConnsCommand::run() {
  conns::Filter filter;
  for (int p : ports_) filter.ports.push_back(static_cast<std::uint16_t>(p));
  for (const std::string& text : states_) {
    auto state = conns::parse_state(text);
    if (!state) {
      std::fprintf(stderr, "nuri conns: --state %s: unknown state (try listen, established, time-wait...)\n", text.c_str());
      return 2;
    }
    filter.states.push_back(*state);
  }
  if (watch_ && (json_ || info_)) {
    std::fprintf(stderr, "nuri conns: --watch prints lines of changes; it cannot be combined with %s\n",
                 json_ ? "--json" : "-i");
    return 2;
  }
  filter.pids = pids_;
  filter.listening = listening_;
  bool tcp = tcp_ || !udp_;
  bool udp = udp_ || !tcp_;
  if (!watch_) {
    std::vector<conns::Row> rows;
    std::string error;
    if (!conns::collect(tcp, udp, info_, filter, rows, error)) {
      std::fprintf(stderr, "nuri conns: %s\n", error.c_str());
      return 3;
    }
    std::string text =
        json_ ? conns::format_json(rows, info_) : conns::format_table(rows, info_, term::use_color(stdout));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the sleep ends at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const bool color = term::use_color(stdout);
  std::printf("watching %s sockets every %d ms (Ctrl-C to stop)\n", tcp && udp ? "TCP and UDP" : tcp ? "TCP" : "UDP",
              interval_ms_);
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  std::map<conns::Key, conns::Row> before;
  conns::OwnerCache owners;
  bool first = true;
  while (!g_stop) {
    std::vector<conns::Row> rows;
    std::string error;
    if (!conns::collect_cached(tcp, udp, filter, owners, rows, error)) {
      std::fprintf(stderr, "nuri conns: %s\n", error.c_str());
      return 3;
    }
    std::map<conns::Key, conns::Row> after;
    for (conns::Row& row : rows) after.emplace(conns::key_of(row.socket), std::move(row));
    const std::string stamp = now_text();
    for (conns::Change& change : conns::diff(before, after)) {
      if (first) change.kind = conns::Change::Kind::present;
      std::printf("%s\n", conns::format_change(change, stamp, color).c_str());
    }
    before = std::move(after);
    first = false;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double elapsed = static_cast<double>(now.tv_sec - start.tv_sec) + static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
    if (duration_ > 0 && elapsed >= duration_) break;
    timespec pause{interval_ms_ / 1000, (interval_ms_ % 1000) * 1'000'000L};
    nanosleep(&pause, nullptr);
  }
  return 0;
}

}  // namespace nuri::cli
