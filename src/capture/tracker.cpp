#include "capture/tracker.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "http/parser.h"
#include "http/response_parser.h"

namespace nuri::capture {
namespace {

// RFC 9293 §3.4: sequence numbers compare modulo 2^32.
bool seq_before(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }

// Bytes of one direction kept while a head is incomplete; heads past the parsers' own limit
// (16 KiB) are errors before this is reached.
constexpr std::size_t kMaxBuffered = 65536;

}  // namespace

// Named, not anonymous: Tracker::Flow holds these, and a member of an internal type in a
// class with external linkage is an error under -Wsubobject-linkage once the file is part of a
// unity build (GCC only exempts the main file).
namespace tracker_detail {

// One direction's byte stream, reassembled in order and read as HTTP/1.x messages.
class HttpStream {
 public:
  explicit HttpStream(bool from_client) : from_client_(from_client) {}

  bool active() const { return state_ != State::off; }

  // `seq`: the absolute sequence number of the first payload byte; `data`: the captured bytes;
  // `announced`: the segment's payload length per the IP header (more when the snap length cut
  // the packet). Completed heads are appended to `out`.
  void feed(std::uint32_t seq, std::string_view data, std::uint32_t announced,
            std::deque<http::Method>& methods, std::vector<HttpMessage>& out) {
    if (state_ == State::off || announced == 0) return;
    if (!started_) {
      started_ = true;
      next_ = seq;
    }
    if (seq_before(seq, next_)) {  // some or all of it seen already (a retransmission)
      std::uint32_t skip = next_ - seq;
      if (skip >= announced) return;
      if (skip >= data.size()) return stop();
      data.remove_prefix(skip);
      announced -= skip;
      seq = next_;
    }
    if (seq != next_ || data.size() < announced) return stop();  // a gap: lost or cut bytes
    next_ = seq + announced;
    buffer_.append(data);
    parse(methods, out);
    if (buffer_.size() > kMaxBuffered) stop();
  }

 private:
  enum class State : std::uint8_t { head, body, off };

  void stop() {
    state_ = State::off;
    buffer_.clear();
    buffer_.shrink_to_fit();
  }

  void parse(std::deque<http::Method>& methods, std::vector<HttpMessage>& out) {
    std::size_t used = 0;
    while (state_ != State::off && used < buffer_.size()) {
      std::string_view rest(buffer_.data() + used, buffer_.size() - used);
      if (state_ == State::body) {
        auto r = body_.read(rest, nullptr);
        used += r.consumed;
        if (r.state == http::ParseState::error) {
          stop();
          return;
        }
        if (r.state == http::ParseState::incomplete) break;
        state_ = State::head;
        continue;
      }
      HttpMessage message;
      message.from_client = from_client_;
      http::Response framing;
      if (from_client_) {
        http::Request request;
        auto r = request_parser_.parse(rest, request);
        if (r.state == http::ParseState::incomplete) break;
        if (r.state == http::ParseState::error) {
          stop();
          return;
        }
        message.start_line = fmt::format("{} {} HTTP/1.{}", request.method_name, request.target, request.version_minor);
        for (std::size_t i = 0; i < request.header_count; ++i) {
          message.headers.emplace_back(request.headers[i].name, request.headers[i].value);
        }
        methods.push_back(request.method);
        if (methods.size() > 64) methods.pop_front();
        // A request body is framed like a response body of the same kind (RFC 9112 §6.3).
        framing.framing = request.framing == http::BodyFraming::chunked          ? http::ResponseFraming::chunked
                          : request.framing == http::BodyFraming::content_length ? http::ResponseFraming::content_length
                                                                                 : http::ResponseFraming::none;
        framing.content_length = request.content_length;
        framing.has_content_length = request.framing == http::BodyFraming::content_length;
        used += r.consumed;
      } else {
        const http::Method method = methods.empty() ? http::Method::get : methods.front();
        http::Response response;
        auto r = response_parser_.parse(rest, method, response);
        if (r.state == http::ParseState::incomplete) break;
        if (r.state == http::ParseState::error) {
          stop();
          return;
        }
        message.start_line = fmt::format("HTTP/1.{} {} {}", response.version_minor, response.status, response.reason);
        for (std::size_t i = 0; i < response.header_count; ++i) {
          message.headers.emplace_back(response.headers[i].name, response.headers[i].value);
        }
        if (response.framing != http::ResponseFraming::interim && !methods.empty()) methods.pop_front();
        framing = response;
        used += r.consumed;
        if (response.framing == http::ResponseFraming::switching_protocols ||
            response.framing == http::ResponseFraming::tunnel) {
          out.push_back(std::move(message));
          stop();  // no longer HTTP
          return;
        }
      }
      out.push_back(std::move(message));
      body_ = http::BodyReader();
      body_.start(framing);
      state_ = State::body;
    }
    buffer_.erase(0, used);
  }

  bool from_client_;
  State state_ = State::head;
  bool started_ = false;
  std::uint32_t next_ = 0;  // absolute sequence number of the next byte expected
  std::string buffer_;      // bytes not yet consumed by a parser
  http::RequestParser request_parser_;
  http::ResponseParser response_parser_;
  http::BodyReader body_;
};

struct Side {
  bool have_isn = false;
  std::uint32_t isn = 0;
  bool have_next = false;
  std::uint32_t next = 0;  // highest sequence number sent so far, plus one
  bool syn_sent = false;
  bool fin_sent = false;
  std::uint32_t fin_seq = 0;
  bool fin_acked = false;
  bool syn_acked = false;
};

}  // namespace tracker_detail
namespace {

std::string options_text(const TcpOptions& o) {
  std::string text;
  auto add = [&](const std::string& s) {
    if (!text.empty()) text += ", ";
    text += s;
  };
  if (o.mss != 0) add(fmt::format("MSS {}", o.mss));
  if (o.window_scale >= 0) add(fmt::format("window scale {}", o.window_scale));
  if (o.sack_permitted) add("SACK permitted");
  if (o.has_timestamps) add("timestamps");
  return text;
}

}  // namespace

struct Tracker::Flow {
  Connection conn;
  tracker_detail::Side client;
  tracker_detail::Side server;
  tracker_detail::HttpStream to_server{true};
  tracker_detail::HttpStream to_client{false};
  std::deque<http::Method> methods;  // requests whose response has not been seen yet
};

std::string_view state_name(SideState s) {
  switch (s) {
    case SideState::unknown: return "?";
    case SideState::closed: return "CLOSED";
    case SideState::listen: return "LISTEN";
    case SideState::syn_sent: return "SYN_SENT";
    case SideState::syn_received: return "SYN_RECEIVED";
    case SideState::established: return "ESTABLISHED";
    case SideState::fin_wait_1: return "FIN_WAIT_1";
    case SideState::fin_wait_2: return "FIN_WAIT_2";
    case SideState::close_wait: return "CLOSE_WAIT";
    case SideState::closing: return "CLOSING";
    case SideState::last_ack: return "LAST_ACK";
    case SideState::time_wait: return "TIME_WAIT";
  }
  return "?";
}

Tracker::Tracker(TrackerLimits limits) : limits_(limits) {}
Tracker::~Tracker() = default;

Tracker::Flow* Tracker::find_or_start(double time, const Packet& p, bool& from_client) {
  Key forward{p.src, p.src_port, p.dst, p.dst_port};
  Key backward{p.dst, p.dst_port, p.src, p.src_port};
  const bool pure_syn = (p.flags & (kSyn | kAck)) == kSyn;
  for (const Key* key : {&forward, &backward}) {
    auto it = flows_.find(*key);
    if (it == flows_.end()) continue;
    from_client = key == &forward;
    Flow& flow = *it->second;
    // A new SYN (another initial sequence number) on the ports of a connection whose end the
    // capture missed starts another connection; the old one is reported as it was.
    if (!(pure_syn && from_client && flow.client.syn_sent && p.seq != flow.client.isn)) return &flow;
    closed_.push_back(std::move(flow.conn));
    flows_.erase(it);
    break;
  }
  if (flows_.size() >= limits_.max_connections) return nullptr;
  auto flow = std::make_unique<Flow>();
  Connection& c = flow->conn;
  c.id = next_id_++;
  c.first = c.last = time;
  // Who is the client: the sender of a SYN; the receiver of a SYN+ACK; else (joined
  // mid-stream) the side with the higher port, as servers usually have the lower one.
  if ((p.flags & kSyn) != 0) {
    from_client = (p.flags & kAck) == 0;
  } else {
    from_client = p.src_port > p.dst_port || (p.src_port == p.dst_port && p.dst < p.src);
    c.mid_stream = true;
    c.client_state = c.server_state = SideState::established;
  }
  if ((p.flags & (kSyn | kAck)) == (kSyn | kAck)) {
    c.client_state = SideState::syn_sent;
    c.server_state = SideState::syn_received;
    c.mid_stream = true;
  }
  c.client = from_client ? p.src : p.dst;
  c.server = from_client ? p.dst : p.src;
  c.client_port = from_client ? p.src_port : p.dst_port;
  c.server_port = from_client ? p.dst_port : p.src_port;
  Flow* raw = flow.get();
  flows_[Key{c.client, c.client_port, c.server, c.server_port}] = std::move(flow);
  return raw;
}

void Tracker::add(double time, const Packet& p) {
  bool from_client = true;
  Flow* flow = find_or_start(time, p, from_client);
  if (flow == nullptr) {
    ++untracked_;
    return;
  }
  Connection& c = flow->conn;
  tracker_detail::Side& me = from_client ? flow->client : flow->server;
  tracker_detail::Side& peer = from_client ? flow->server : flow->client;
  SideState& my_state = from_client ? c.client_state : c.server_state;
  SideState& peer_state = from_client ? c.server_state : c.client_state;
  DirectionStats& stats = from_client ? c.to_server : c.to_client;

  Segment s;
  s.time = time;
  s.from_client = from_client;
  s.flags = p.flags;
  s.length = p.payload_length;
  s.window = p.window;
  s.options = p.options;
  s.client_before = c.client_state;
  s.server_before = c.server_state;
  std::vector<std::string> notes;
  // Every state change goes through here, so the path of each side is kept.
  auto go = [&](SideState& state, SideState to) {
    if (state == to) return;
    state = to;
    (&state == &c.client_state ? s.client_path : s.server_path).push_back(to);
  };

  const bool syn = (p.flags & kSyn) != 0;
  const bool fin = (p.flags & kFin) != 0;
  const bool ack = (p.flags & kAck) != 0;
  const bool rst = (p.flags & kRst) != 0;

  if (syn && !me.have_isn) {
    me.have_isn = true;
    me.isn = p.seq;
  } else if (!me.have_isn) {
    // Joined mid-stream: count from the first byte seen.
    me.have_isn = true;
    me.isn = p.seq - 1;
  }
  s.seq = p.seq - me.isn;
  s.ack = ack && peer.have_isn ? p.ack - peer.isn : 0;

  // Retransmission: the segment carries sequence space (data, SYN or FIN) that this side has
  // already sent. Pure ACKs carry none and are never retransmissions.
  const std::uint32_t space = p.payload_length + (syn ? 1 : 0) + (fin ? 1 : 0);
  const std::uint32_t end = p.seq + space;
  if (space > 0 && me.have_next && !seq_before(me.next, end)) {
    s.retransmission = true;
    ++stats.retransmissions;
    notes.emplace_back("retransmission");
  }
  if (space > 0 && (!me.have_next || seq_before(me.next, end))) {
    me.have_next = true;
    me.next = end;
  }
  ++stats.packets;
  stats.bytes += p.payload_length;

  if (rst) {
    notes.emplace_back(fmt::format("reset by the {}: the connection is aborted", from_client ? "client" : "server"));
    go(c.client_state, SideState::closed);
    go(c.server_state, SideState::closed);
    c.end = EndReason::rst;
  } else {
    // The 3-way handshake (RFC 9293 §3.5).
    if (syn && !ack && !s.retransmission) {
      me.syn_sent = true;
      if (c.syn_time < 0) c.syn_time = time;
      if (my_state == SideState::closed) go(my_state, SideState::syn_sent);
      if (peer_state == SideState::listen) go(peer_state, SideState::syn_received);
      std::string opts = options_text(p.options);
      notes.emplace_back("handshake 1/3: the client asks to connect" + (opts.empty() ? "" : " (" + opts + ")"));
    } else if (syn && ack && !s.retransmission) {
      me.syn_sent = true;
      if (c.synack_time < 0) c.synack_time = time;
      if (my_state == SideState::listen) go(my_state, SideState::syn_received);
      std::string opts = options_text(p.options);
      std::string text = "handshake 2/3: the server accepts" + (opts.empty() ? "" : " (" + opts + ")");
      if (c.rtt_ms() >= 0) text += fmt::format("; RTT {:.3f} ms (SYN to SYN+ACK)", c.rtt_ms());
      notes.push_back(std::move(text));
    }
    // What this segment acknowledges of the peer's SYN and FIN.
    if (ack && peer.syn_sent && !peer.syn_acked && peer.have_isn && !seq_before(p.ack, peer.isn + 1)) {
      peer.syn_acked = true;
      if (peer_state == SideState::syn_received || peer_state == SideState::syn_sent) {
        go(peer_state, SideState::established);
      }
      if (from_client && !syn) {
        c.ack_time = time;
        notes.emplace_back(c.syn_time >= 0
                               ? fmt::format("handshake 3/3: connected, {:.3f} ms after the SYN", (time - c.syn_time) * 1000)
                               : std::string("handshake 3/3: connected"));
      }
    }
    if (ack && peer.fin_sent && !peer.fin_acked && !seq_before(p.ack, peer.fin_seq + 1)) {
      peer.fin_acked = true;
      notes.emplace_back(fmt::format("acknowledges the {}'s FIN", from_client ? "server" : "client"));
      if (peer_state == SideState::fin_wait_1) go(peer_state, SideState::fin_wait_2);
      else if (peer_state == SideState::closing) go(peer_state, SideState::time_wait);
      else if (peer_state == SideState::last_ack) go(peer_state, SideState::closed);
    }
    // The teardown (RFC 9293 §3.6): the first FIN is the active close.
    if (fin && !me.fin_sent) {
      me.fin_sent = true;
      me.fin_seq = p.seq + p.payload_length + (syn ? 1 : 0);
      const bool first = !peer.fin_sent;
      notes.emplace_back(fmt::format("FIN: the {} has no more to send ({} close)", from_client ? "client" : "server",
                                     first ? "active" : "passive"));
      if (my_state == SideState::close_wait) {
        go(my_state, SideState::last_ack);
      } else if (my_state == SideState::established || my_state == SideState::syn_received) {
        go(my_state, SideState::fin_wait_1);
      }
      if (peer_state == SideState::established) {
        go(peer_state, SideState::close_wait);
      } else if (peer_state == SideState::fin_wait_1) {
        go(peer_state, SideState::closing);
      } else if (peer_state == SideState::fin_wait_2) {
        go(peer_state, SideState::time_wait);
      }
    }
    if (c.client_state == SideState::time_wait || c.server_state == SideState::time_wait) {
      if (s.client_before != SideState::time_wait && s.server_before != SideState::time_wait) {
        notes.emplace_back("the active closer waits in TIME_WAIT (2 MSL, 60 s on Linux) before its port pair is reused");
      }
    }
    const bool done = [](SideState a) { return a == SideState::closed || a == SideState::time_wait; }(c.client_state) &&
                      [](SideState a) { return a == SideState::closed || a == SideState::time_wait; }(c.server_state);
    if (done && me.fin_sent && peer.fin_sent) c.end = EndReason::fin;
  }

  // Data: HTTP heads, decoded by nuri's own parsers.
  if (p.payload_length > 0) {
    tracker_detail::HttpStream& stream = from_client ? flow->to_server : flow->to_client;
    stream.feed(p.seq + (syn ? 1 : 0), p.payload, p.payload_length, flow->methods, s.http);
    for (const HttpMessage& m : s.http) {
      notes.emplace_back(m.from_client ? "HTTP request" : "HTTP response");
    }
  }

  s.client_after = c.client_state;
  s.server_after = c.server_state;
  for (const std::string& n : notes) {
    if (!s.note.empty()) s.note += "; ";
    s.note += n;
  }
  c.last = time;
  if (c.segments.size() < limits_.max_segments_per_connection) {
    c.segments.push_back(std::move(s));
  } else {
    ++c.segments_omitted;
  }
  if (c.closed()) {
    Key key{c.client, c.client_port, c.server, c.server_port};
    closed_.push_back(std::move(c));
    flows_.erase(key);
  }
}

std::vector<Connection> Tracker::take_closed() {
  std::vector<Connection> out = std::move(closed_);
  closed_.clear();
  return out;
}

std::vector<Connection> Tracker::take_all() {
  std::vector<Connection> out = take_closed();
  std::vector<Connection> open;
  for (auto& [key, flow] : flows_) open.push_back(std::move(flow->conn));
  flows_.clear();
  std::sort(open.begin(), open.end(), [](const Connection& a, const Connection& b) { return a.id < b.id; });
  for (Connection& c : open) out.push_back(std::move(c));
  return out;
}

}  // namespace nuri::capture
