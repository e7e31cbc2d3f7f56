// libFuzzer target for the capture decoder and connection tracker (src/capture/decode.cpp,
// tracker.cpp, report.cpp). The first byte picks the link type; the rest is a sequence of frames,
// each a 2-byte big-endian length and that many bytes (the last one takes what is left). Each
// frame is an exact-size heap copy, so ASan sees any over-read. Every frame is decoded; the
// segments go through one tracker, whose connections are then printed as text and JSON.
// Invariants: a decoded payload lies inside its frame and is no longer than the IP header
// announced; the tracker never keeps more than its limits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "capture/decode.h"
#include "capture/report.h"
#include "capture/tracker.h"

using namespace nuri::capture;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "packet_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const int links[] = {kLinkEthernet, kLinkLinuxSll, kLinkLinuxSll2, kLinkNull,
                              kLinkLoop,     kLinkRaw,      kLinkIpv4,      kLinkIpv6};
  const int link = links[data[0] & 7];
  ++data;
  --size;
  const TrackerLimits limits{.max_connections = 8, .max_segments_per_connection = 16};
  Tracker tracker(limits);
  double time = 1.0;
  while (size > 0) {
    std::size_t n = size;
    if (size >= 2) {
      n = static_cast<std::size_t>(data[0] << 8 | data[1]);
      data += 2;
      size -= 2;
      if (n > size) n = size;
    }
    std::unique_ptr<char[]> frame(new char[n == 0 ? 1 : n]);
    if (n > 0) std::memcpy(frame.get(), data, n);
    const std::string_view bytes(frame.get(), n);
    Packet packet;
    if (decode(link, bytes, packet) == DecodeError::none) {
      require(packet.payload.empty() || (packet.payload.data() >= bytes.data() &&
                                         packet.payload.data() + packet.payload.size() <= bytes.data() + bytes.size()),
              "payload inside the frame");
      require(packet.payload.size() <= packet.payload_length, "captured payload within the announced length");
      require(packet.src.family == 4 || packet.src.family == 6, "an IP family");
      tracker.add(time, packet);
      for (const Connection& c : tracker.take_closed()) {
        require(c.segments.size() <= limits.max_segments_per_connection, "segment limit");
        (void)format_text(c);
        (void)format_json(c);
      }
    }
    time += 0.001;
    data += n;
    size -= n;
  }
  const auto all = tracker.take_all();
  require(all.size() <= limits.max_connections + tracker.connections_seen(), "connections");
  for (const Connection& c : all) {
    require(c.segments.size() <= limits.max_segments_per_connection, "segment limit");
    (void)format_text(c);
    (void)format_json(c);
  }
  return 0;
}
