#pragma once
// `nuri capture`: reads packets with libpcap (live from an interface, or from a pcap file),
// optionally writes them to a pcap file, and prints them grouped per TCP connection.
#include <cstdint>
#include <string>

namespace nuri::capture {

struct Options {
  std::string interface = "lo";  ///< live capture device ("any": every interface)
  std::string read_file;         ///< non-empty: read this pcap file instead of capturing
  std::string write_file;        ///< non-empty: also write every captured packet here
  int port = 0;                  ///< non-zero: BPF "tcp port N"; else "tcp"
  std::uint64_t count = 0;       ///< stop after this many packets (0: no limit)
  std::uint64_t connections = 0; ///< stop after this many connections ended (0: no limit)
  double duration = 0;           ///< stop after this many seconds (0: no limit)
  bool json = false;
  bool headers = true;           ///< print HTTP header fields, not only start lines
  bool color = false;            ///< colour the text report's flags (the caller decides: a terminal, --color)
  bool live_count = false;       ///< redraw a packet and connection count on stderr (a terminal)
};

/// Exit codes of `nuri capture`.
enum Exit : int {
  kExitOk = 0,
  kExitUsage = 2,        ///< bad option or BPF filter
  kExitSource = 3,       ///< no such interface, unreadable or malformed file, capture error
  kExitPermission = 4,   ///< live capture needs root or CAP_NET_RAW
  kExitWrite = 5,        ///< the -w file could not be written
};

/// Runs a capture until the file ends, a limit is reached, or SIGINT/SIGTERM. Prints
/// connections on stdout, progress and errors on stderr. Returns an Exit code.
int run(const Options& options);

}  // namespace nuri::capture
