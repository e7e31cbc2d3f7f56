#include "capture/capture.h"

#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/terminal.h"
#include "capture/decode.h"
#include "capture/report.h"
#include "capture/tracker.h"

namespace nuri::capture {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Owns the pcap handles whatever path run() leaves by.
struct Handles {
  pcap_t* pcap = nullptr;
  pcap_dumper_t* dumper = nullptr;
  ~Handles() {
    if (dumper != nullptr) pcap_dump_close(dumper);
    if (pcap != nullptr) pcap_close(pcap);
  }
};

class Printer {
 public:
  Printer(const Options& o, term::StatusLine& status) : options_(o), status_(status) {}
  void print(const std::vector<Connection>& connections) {
    for (const Connection& c : connections) {
      if (options_.json) {
        json_.push_back(format_json(c));
      } else {
        // The live count shares the terminal when stdout is one too: off the line first.
        status_.clear();
        std::string text = format_text(c, options_.headers, options_.color) + "\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
      }
    }
    std::fflush(stdout);
  }
  void finish(std::uint64_t packets, std::uint64_t segments, std::uint64_t skipped, std::uint64_t connections) {
    if (!options_.json) return;
    std::string out = "{\"packets\": " + std::to_string(packets) + ", \"tcp_segments\": " + std::to_string(segments) +
                      ", \"skipped\": " + std::to_string(skipped) + ", \"connections_seen\": " + std::to_string(connections) +
                      ", \"connections\": [";
    for (std::size_t i = 0; i < json_.size(); ++i) out += (i == 0 ? "\n" : ",\n") + json_[i];
    out += "\n]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }

 private:
  const Options& options_;
  term::StatusLine& status_;
  std::vector<std::string> json_;
};

}  // namespace

int run(const Options& options) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  Handles h;
  const bool live = options.read_file.empty();
  if (live) {
    h.pcap = pcap_create(options.interface.c_str(), errbuf);
    if (h.pcap == nullptr) {
      std::fprintf(stderr, "nuri capture: %s: %s\n", options.interface.c_str(), errbuf);
      return kExitSource;
    }
    pcap_set_snaplen(h.pcap, 262144);
    pcap_set_promisc(h.pcap, 0);  // this machine's own traffic is what the lecture looks at
    pcap_set_immediate_mode(h.pcap, 1);  // each packet as it comes, not in buffered batches
    pcap_set_timeout(h.pcap, 100);
    int status = pcap_activate(h.pcap);
    if (status == PCAP_ERROR_PERM_DENIED || status == PCAP_ERROR_PROMISC_PERM_DENIED) {
      std::fprintf(stderr,
                   "nuri capture: capturing on %s needs root or CAP_NET_RAW (run it with sudo, or: sudo setcap "
                   "cap_net_raw,cap_net_admin+ep $(command -v nuri)); -r FILE reads a capture without either\n",
                   options.interface.c_str());
      return kExitPermission;
    }
    if (status == PCAP_ERROR_NO_SUCH_DEVICE) {
      std::fprintf(stderr, "nuri capture: no interface named '%s' (see: ip link)\n", options.interface.c_str());
      return kExitSource;
    }
    if (status < 0) {
      std::fprintf(stderr, "nuri capture: %s: %s\n", options.interface.c_str(), pcap_geterr(h.pcap));
      return kExitSource;
    }
  } else {
    h.pcap = pcap_open_offline(options.read_file.c_str(), errbuf);
    if (h.pcap == nullptr) {
      // libpcap names the file in some messages ("F: No such file or directory"), not others.
      const std::string why = errbuf;
      if (why.rfind(options.read_file, 0) == 0) {
        std::fprintf(stderr, "nuri capture: %s\n", errbuf);
      } else {
        std::fprintf(stderr, "nuri capture: %s: %s\n", options.read_file.c_str(), errbuf);
      }
      return kExitSource;
    }
  }
  const std::string filter = options.port != 0 ? "tcp port " + std::to_string(options.port) : "tcp";
  bpf_program program{};
  if (pcap_compile(h.pcap, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    std::fprintf(stderr, "nuri capture: filter '%s': %s\n", filter.c_str(), pcap_geterr(h.pcap));
    return kExitUsage;
  }
  const int set = pcap_setfilter(h.pcap, &program);
  pcap_freecode(&program);
  if (set != 0) {
    std::fprintf(stderr, "nuri capture: filter '%s': %s\n", filter.c_str(), pcap_geterr(h.pcap));
    return kExitSource;
  }
  if (!options.write_file.empty()) {
    h.dumper = pcap_dump_open(h.pcap, options.write_file.c_str());
    if (h.dumper == nullptr) {
      std::fprintf(stderr, "nuri capture: -w %s: %s\n", options.write_file.c_str(), pcap_geterr(h.pcap));
      return kExitWrite;
    }
  }
  const int link = pcap_datalink(h.pcap);
  // Announce that the capture runs (tests and scripts wait for this line before sending).
  std::fprintf(stderr, "nuri capture: %s %s, link type %s, filter '%s'\n", live ? "capturing on" : "reading",
               live ? options.interface.c_str() : options.read_file.c_str(),
               pcap_datalink_val_to_name(link) ? pcap_datalink_val_to_name(link) : "?", filter.c_str());
  std::fflush(stderr);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Tracker tracker;
  term::StatusLine status(stderr, options.live_count);
  Printer printer(options, status);
  std::uint64_t packets = 0, segments = 0, skipped = 0, ended = 0;
  const double start = monotonic_seconds();
  // Redrawn while idle too, so that the seconds show the capture is alive.
  auto draw_count = [&] {
    if (!status.due()) return;
    const std::uint64_t seen = tracker.connections_seen();
    status.show(fmt::format("nuri capture: {} packets, {} connections ({} open), {:.1f} s", packets, seen,
                            seen - ended, monotonic_seconds() - start));
  };
  int exit_code = kExitOk;
  // One packet: write it, decode it, track it. false when a limit says stop.
  auto handle_packet = [&](const pcap_pkthdr* header, const u_char* data) {
    ++packets;
    if (h.dumper != nullptr) pcap_dump(reinterpret_cast<u_char*>(h.dumper), header, data);
    Packet packet;
    const double time = static_cast<double>(header->ts.tv_sec) + static_cast<double>(header->ts.tv_usec) / 1e6;
    const DecodeError e = decode(link, std::string_view(reinterpret_cast<const char*>(data), header->caplen), packet);
    if (e == DecodeError::none) {
      ++segments;
      tracker.add(time, packet);
      std::vector<Connection> closed = tracker.take_closed();
      ended += closed.size();
      printer.print(closed);
    } else {
      ++skipped;
    }
    draw_count();
    if (options.count != 0 && packets >= options.count) return false;
    if (options.connections != 0 && ended >= options.connections) return false;
    return true;
  };
  // Live: non-blocking reads after poll(2) with a 100 ms timeout, so that SIGINT, SIGTERM and
  // --duration end the capture even when no packet comes (a blocking read would wait for one).
  const int fd = live ? pcap_get_selectable_fd(h.pcap) : -1;
  if (live && (fd < 0 || pcap_setnonblock(h.pcap, 1, errbuf) != 0)) {
    std::fprintf(stderr, "nuri capture: %s: cannot poll the capture: %s\n", options.interface.c_str(), errbuf);
    return kExitSource;
  }
  bool more = true;
  while (more && !g_stop) {
    if (options.duration > 0 && monotonic_seconds() - start >= options.duration) break;
    if (live) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        draw_count();
        continue;  // timeout, or EINTR from a signal
      }
    }
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int r = 0;
    while (more && !g_stop && (r = pcap_next_ex(h.pcap, &header, &data)) == 1) more = handle_packet(header, data);
    if (r == PCAP_ERROR_BREAK) break;  // end of file
    if (r < 0) {
      status.clear();
      std::fprintf(stderr, "nuri capture: %s\n", pcap_geterr(h.pcap));
      exit_code = kExitSource;
      break;
    }
  }
  status.clear();
  printer.print(tracker.take_all());
  printer.finish(packets, segments, skipped, tracker.connections_seen());
  if (h.dumper != nullptr && pcap_dump_flush(h.dumper) != 0) {
    std::fprintf(stderr, "nuri capture: -w %s: write failed\n", options.write_file.c_str());
    exit_code = kExitWrite;
  }
  std::fprintf(stderr, "nuri capture: %llu packets, %llu TCP segments, %llu connections%s\n",
               static_cast<unsigned long long>(packets), static_cast<unsigned long long>(segments),
               static_cast<unsigned long long>(tracker.connections_seen()),
               skipped > 0 ? (", " + std::to_string(skipped) + " packets not decoded").c_str() : "");
  return exit_code;
}

}  // namespace nuri::capture
