#pragma once
// TCP connection tracking for `nuri capture`: groups decoded segments per connection and tells
// the story the lecture's state diagram tells (RFC 9293 §3.3.2): the 3-way handshake with its
// round-trip time, the data (HTTP request and status lines and headers, decoded by nuri's own
// parsers), the teardown, and each side's state after every segment, as far as the wire shows
// it. Sans-I/O: packets in, connections out.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "capture/decode.h"

namespace nuri::capture {

/// A side's TCP state as the segments on the wire imply it.
enum class SideState : std::uint8_t {
  unknown, closed, listen, syn_sent, syn_received, established, fin_wait_1, fin_wait_2,
  close_wait, closing, last_ack, time_wait,
};

std::string_view state_name(SideState s);

/// An HTTP message head found in a connection's data.
struct HttpMessage {
  bool from_client = true;
  std::string start_line;  ///< "GET / HTTP/1.1" or "HTTP/1.1 200 OK"
  std::vector<std::pair<std::string, std::string>> headers;
};

/// One segment of a connection, with what it meant.
struct Segment {
  double time = 0;            ///< seconds (capture timestamp)
  bool from_client = true;
  std::uint8_t flags = 0;
  std::uint32_t seq = 0;      ///< relative to the sender's initial sequence number
  std::uint32_t ack = 0;      ///< relative to the receiver's initial sequence number (0 without ACK)
  std::uint32_t length = 0;   ///< payload bytes
  std::uint16_t window = 0;
  TcpOptions options;
  bool retransmission = false;
  std::string note;           ///< "handshake 1/3", "RTT 0.05 ms", "HTTP request", ...
  std::vector<HttpMessage> http;  ///< heads completed by this segment's bytes
  SideState client_before = SideState::unknown, client_after = SideState::unknown;
  SideState server_before = SideState::unknown, server_after = SideState::unknown;
  /// Every state a side passed through on this segment, after `*_before` (a FIN+ACK can take
  /// the active closer from FIN_WAIT_1 through FIN_WAIT_2 to TIME_WAIT at once).
  std::vector<SideState> client_path, server_path;
};

/// Byte and packet counts of one direction.
struct DirectionStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;           ///< TCP payload bytes, retransmissions included
  std::uint64_t retransmissions = 0;
};

enum class EndReason : std::uint8_t { open, fin, rst };

/// One TCP connection: the client is the side that sent the first SYN (or, joined mid-stream,
/// the side with the higher port).
struct Connection {
  std::uint64_t id = 0;
  IpAddress client;
  IpAddress server;
  std::uint16_t client_port = 0;
  std::uint16_t server_port = 0;
  bool mid_stream = false;      ///< the capture started after the handshake
  double first = 0;
  double last = 0;
  double syn_time = -1, synack_time = -1, ack_time = -1;
  DirectionStats to_server;
  DirectionStats to_client;
  SideState client_state = SideState::closed;
  SideState server_state = SideState::listen;
  EndReason end = EndReason::open;
  std::vector<Segment> segments;
  std::uint64_t segments_omitted = 0;  ///< past the per-connection limit

  /// SYN to SYN+ACK in milliseconds (-1 if not seen): the network's round trip as the client sees it.
  double rtt_ms() const { return syn_time >= 0 && synack_time >= 0 ? (synack_time - syn_time) * 1000 : -1; }
  bool closed() const { return end != EndReason::open; }
};

struct TrackerLimits {
  std::size_t max_connections = 4096;           ///< live ones; more are not tracked
  std::size_t max_segments_per_connection = 4096;
};

/// Groups segments into connections. Feed packets in capture order with add(); take the
/// connections that ended with take_closed(), and the rest at the end with take_all().
class Tracker {
 public:
  explicit Tracker(TrackerLimits limits = {});
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  /// One decoded TCP segment captured at `time` seconds.
  void add(double time, const Packet& packet);

  /// Connections that ended (FIN both ways and the last ACK, or RST) since the last call, in
  /// the order they ended. They leave the tracker (a later SYN on the same ports is a new one).
  std::vector<Connection> take_closed();
  /// Every connection still tracked, in the order they started.
  std::vector<Connection> take_all();

  std::uint64_t connections_seen() const { return next_id_ - 1; }
  std::uint64_t untracked_packets() const { return untracked_; }

 private:
  struct Flow;
  using Key = std::tuple<IpAddress, std::uint16_t, IpAddress, std::uint16_t>;
  Flow* find_or_start(double time, const Packet& packet, bool& from_client);

  TrackerLimits limits_;
  std::map<Key, std::unique_ptr<Flow>> flows_;  // keyed by (client, server) endpoints
  std::vector<Connection> closed_;
  std::uint64_t next_id_ = 1;
  std::uint64_t untracked_ = 0;
};

}  // namespace nuri::capture
