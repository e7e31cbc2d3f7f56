#include <cstdio>
#include <string>

#include "base/terminal.h"
#include "capture/capture.h"
#include "cli/commands.h"
#include "cli/validators.h"

namespace nuri::cli {

void CaptureCommand::add_to(CLI::App& app) {
  command_ = app.add_subcommand("capture", "Show the TCP packets of one port, grouped per connection (a Wireshark view)");
  command_->footer(
      "The lecture's Wireshark: each connection's 3-way handshake (SYN, SYN+ACK, ACK), its data (HTTP request and\n"
      "response heads, readable by anyone on the path), its teardown (FIN, ACK / RST) and each side's TCP state.\n"
      "\n"
      "Each segment line: ms since the connection's first packet, direction (C>S client to server, S>C back),\n"
      "flags, seq and ack relative to each side's initial sequence number, payload bytes, what it means and\n"
      "[the state changes it implies]. A block is printed when its connection ends (FIN both ways, or RST); the\n"
      "ones still open when the capture stops come last. A summary ends each block.\n"
      "On a terminal, stderr shows a live count of packets and connections while the capture runs.\n"
      "Live capture needs root or CAP_NET_RAW. Exit: 0 ok, 2 bad option or filter, 3 no such interface or bad\n"
      "file, 4 no permission to capture, 5 the -w file could not be written.");
  command_->add_option("-i,--interface", options_.interface, "Interface to capture on (lo, eth0, any)");
  command_->add_option("--port", options_.port, "Only TCP port N (BPF filter 'tcp port N'); default: all TCP")
      ->check(whole_number(1, 65535));
  command_->add_option("-r,--read", options_.read_file, "Read packets from this pcap file instead of an interface");
  command_->add_option("-w,--write", options_.write_file, "Also write the captured packets to this pcap file (tcpdump -w)");
  command_->add_option("-c,--count", options_.count, "Stop after this many packets")->check(whole_number(0, INT64_MAX));
  command_->add_option("-n,--connections", options_.connections, "Stop after this many connections have ended");
  command_->add_option("--duration", options_.duration, "Stop after this many seconds")->check(seconds(0));
  command_->add_flag("--json", options_.json, "Print one JSON document (every connection) at the end instead of text");
  command_->add_flag("--no-headers", no_headers_, "Print only the first line of each HTTP head");
}

int CaptureCommand::run() {
  if (!options_.read_file.empty() && command_->get_option("--interface")->count() > 0) {
    std::fprintf(stderr, "nuri capture: -r FILE and -i IFACE exclude each other\n");
    return capture::kExitUsage;
  }
  options_.headers = !no_headers_;
  options_.color = !options_.json && term::use_color(stdout);
  options_.live_count = term::is_terminal(stderr);
  return capture::run(options_);
}

}  // namespace nuri::cli
