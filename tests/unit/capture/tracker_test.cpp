#include "capture/tracker.h"

#include <gtest/gtest.h>

#include "capture/report.h"
#include "packets.h"

using namespace nuri::capture;
using nuri::test::SegmentSpec;

namespace {

// A conversation between client 127.0.0.2:40000 and server 127.0.0.1:80.
class Conversation {
 public:
  explicit Conversation(Tracker& t) : t_(t) {}
  void client(std::uint8_t flags, std::string data = "", std::int64_t seq_delta = 0) { send(true, flags, data, seq_delta); }
  void server(std::uint8_t flags, std::string data = "", std::int64_t seq_delta = 0) { send(false, flags, data, seq_delta); }
  double now = 100.0;

 private:
  void send(bool from_client, std::uint8_t flags, const std::string& data, std::int64_t seq_delta) {
    SegmentSpec x;
    x.src_last = from_client ? 2 : 1;
    x.dst_last = from_client ? 1 : 2;
    x.src_port = from_client ? 40000 : 80;
    x.dst_port = from_client ? 80 : 40000;
    std::uint32_t& mine = from_client ? cseq_ : sseq_;
    std::uint32_t& theirs = from_client ? sseq_ : cseq_;
    x.seq = static_cast<std::uint32_t>(mine + seq_delta);
    x.ack = (flags & kAck) ? theirs : 0;
    x.flags = flags;
    x.payload = data;
    std::string ip = nuri::test::ip_packet(x);
    Packet p;
    ASSERT_EQ(decode(kLinkRaw, ip, p), DecodeError::none);
    t_.add(now, p);
    now += 0.001;
    if (seq_delta == 0) mine += static_cast<std::uint32_t>(data.size()) + ((flags & (kSyn | kFin)) ? 1 : 0);
  }
  Tracker& t_;
  std::uint32_t cseq_ = 0xfffffff0u;  // wraps around 2^32 during the test
  std::uint32_t sseq_ = 5000;
};

TEST(CaptureTracker, AWholeHttpExchangeAlongTheStateDiagram) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.server(kSyn | kAck);
  c.client(kAck);
  c.client(kPsh | kAck, "GET /a HTTP/1.1\r\nHost: x\r\n");
  c.client(kPsh | kAck, "\r\n");
  c.server(kPsh | kAck, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel");
  c.server(kPsh | kAck, "lo");
  c.client(kFin | kAck);
  c.server(kAck);
  c.server(kFin | kAck);
  EXPECT_TRUE(t.take_closed().empty());
  c.client(kAck);
  auto closed = t.take_closed();
  ASSERT_EQ(closed.size(), 1u);
  const Connection& k = closed[0];
  EXPECT_EQ(k.client.to_string(), "127.0.0.2");
  EXPECT_EQ(k.server_port, 80);
  EXPECT_FALSE(k.mid_stream);
  EXPECT_EQ(k.end, EndReason::fin);
  EXPECT_NEAR(k.rtt_ms(), 1.0, 0.01);
  ASSERT_EQ(k.segments.size(), 11u);
  auto states = [&](std::size_t i) {
    return std::string(state_name(k.segments[i].client_after)) + "/" + std::string(state_name(k.segments[i].server_after));
  };
  EXPECT_EQ(states(0), "SYN_SENT/SYN_RECEIVED");
  EXPECT_EQ(states(1), "ESTABLISHED/SYN_RECEIVED");
  EXPECT_EQ(states(2), "ESTABLISHED/ESTABLISHED");
  EXPECT_EQ(states(7), "FIN_WAIT_1/CLOSE_WAIT");
  EXPECT_EQ(states(8), "FIN_WAIT_2/CLOSE_WAIT");
  EXPECT_EQ(states(9), "TIME_WAIT/LAST_ACK");
  EXPECT_EQ(states(10), "TIME_WAIT/CLOSED");
  // The separate ACK took the client to FIN_WAIT_2 on segment 8; the server's FIN then to TIME_WAIT.
  EXPECT_EQ(k.segments[8].client_path, std::vector<SideState>{SideState::fin_wait_2});
  EXPECT_EQ(k.segments[9].client_path, std::vector<SideState>{SideState::time_wait});
  EXPECT_TRUE(k.segments[3].client_path.empty() && k.segments[3].server_path.empty());
  EXPECT_EQ(k.segments[0].seq, 0u);
  EXPECT_EQ(k.segments[1].ack, 1u);
  EXPECT_EQ(k.segments[3].seq, 1u);
  // The request head spans two segments: it is complete on the second.
  EXPECT_TRUE(k.segments[3].http.empty());
  ASSERT_EQ(k.segments[4].http.size(), 1u);
  EXPECT_EQ(k.segments[4].http[0].start_line, "GET /a HTTP/1.1");
  ASSERT_EQ(k.segments[5].http.size(), 1u);
  EXPECT_EQ(k.segments[5].http[0].start_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(k.segments[5].http[0].headers[0].first, "Content-Length");
  EXPECT_EQ(k.to_server.bytes, 28u);
  EXPECT_EQ(k.to_client.bytes, 43u);
  EXPECT_EQ(k.to_server.packets, 6u);
  EXPECT_EQ(k.to_client.retransmissions, 0u);
  std::string text = format_text(k);
  EXPECT_NE(text.find("connection 1: 127.0.0.2:40000 (client) -> 127.0.0.1:80 (server)"), std::string::npos) << text;
  EXPECT_NE(text.find("[client CLOSED -> SYN_SENT, server LISTEN -> SYN_RECEIVED]"), std::string::npos) << text;
  EXPECT_NE(text.find("closed with FIN both ways; client TIME_WAIT, server CLOSED"), std::string::npos) << text;
  EXPECT_NE(format_json(k).find("\"start_line\":\"GET /a HTTP/1.1\""), std::string::npos);
}

TEST(CaptureTracker, FinAckTakesTheActiveCloserThroughFinWait2) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.server(kSyn | kAck);
  c.client(kAck);
  c.client(kFin | kAck);
  c.server(kFin | kAck);  // acknowledges the client's FIN and closes too
  c.client(kAck);
  auto closed = t.take_closed();
  ASSERT_EQ(closed.size(), 1u);
  const Segment& s = closed[0].segments[4];
  EXPECT_EQ(s.client_path, (std::vector<SideState>{SideState::fin_wait_2, SideState::time_wait}));
  EXPECT_EQ(s.server_path, std::vector<SideState>{SideState::last_ack});
  EXPECT_NE(format_text(closed[0]).find("[client FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT, server CLOSE_WAIT -> LAST_ACK]"),
            std::string::npos);
  EXPECT_NE(format_json(closed[0]).find("\"client_path\":[\"FIN_WAIT_2\",\"TIME_WAIT\"]"), std::string::npos);
}

TEST(CaptureTracker, KeepAliveRequestsAndBodiesAreSkipped) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.server(kSyn | kAck);
  c.client(kAck);
  c.client(kPsh | kAck, "POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /g HTTP/1.1\r\nHost: x\r\n\r\n");
  c.server(kPsh | kAck, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  auto all = t.take_all();
  ASSERT_EQ(all.size(), 1u);
  ASSERT_EQ(all[0].segments[3].http.size(), 2u);
  EXPECT_EQ(all[0].segments[3].http[1].start_line, "GET /g HTTP/1.1");
  ASSERT_EQ(all[0].segments[4].http.size(), 2u);
  EXPECT_EQ(all[0].segments[4].http[1].start_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(all[0].end, EndReason::open);
}

TEST(CaptureTracker, RetransmissionsAreCountedAndNotParsedTwice) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.client(kSyn, "", -1);  // the SYN again (same sequence number)
  c.server(kSyn | kAck);
  c.client(kAck);
  c.client(kPsh | kAck, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  c.client(kPsh | kAck, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", -27);  // retransmitted
  auto all = t.take_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].to_server.retransmissions, 2u);
  EXPECT_TRUE(all[0].segments[1].retransmission);
  EXPECT_TRUE(all[0].segments[5].retransmission);
  EXPECT_TRUE(all[0].segments[5].http.empty());
  EXPECT_EQ(all[0].segments[4].http.size(), 1u);
}

TEST(CaptureTracker, ANewSynOnTheSamePortsStartsAnotherConnection) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.server(kSyn | kAck);
  c.client(kAck);
  c.client(kSyn, "", 1000);  // another ISN: the end of the first was not captured
  auto closed = t.take_closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].end, EndReason::open);
  EXPECT_EQ(closed[0].segments.size(), 3u);
  auto all = t.take_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, 2u);
  EXPECT_EQ(all[0].client_state, SideState::syn_sent);
}

TEST(CaptureTracker, ResetEndsTheConnection) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.server(kRst | kAck);
  auto closed = t.take_closed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].end, EndReason::rst);
  EXPECT_EQ(closed[0].client_state, SideState::closed);
  EXPECT_NE(closed[0].segments[1].note.find("reset by the server"), std::string::npos);
}

TEST(CaptureTracker, JoinedMidStreamAndSimultaneousClose) {
  Tracker t;
  Conversation c(t);
  c.server(kAck, "xx");  // the server (port 80) speaks first: still the server
  c.client(kFin | kAck);
  c.server(kFin | kAck, "", 0);
  c.client(kAck);
  c.server(kAck);
  auto all = t.take_all();
  ASSERT_GE(all.size(), 1u);
  EXPECT_TRUE(all[0].mid_stream);
  EXPECT_EQ(all[0].server_port, 80);
  EXPECT_EQ(all[0].end, EndReason::fin);
}

TEST(CaptureTracker, NotHttpStopsParsingQuietly) {
  Tracker t;
  Conversation c(t);
  c.client(kSyn);
  c.server(kSyn | kAck);
  c.client(kAck);
  c.client(kPsh | kAck, std::string("\x16\x03\x01\x02\x00", 5));  // a TLS ClientHello
  c.client(kPsh | kAck, "GET / HTTP/1.1\r\n\r\n");
  auto all = t.take_all();
  ASSERT_EQ(all.size(), 1u);
  for (const auto& s : all[0].segments) EXPECT_TRUE(s.http.empty());
}

TEST(CaptureTracker, LimitsBoundMemory) {
  Tracker t({.max_connections = 2, .max_segments_per_connection = 3});
  for (std::uint16_t port = 1; port <= 5; ++port) {
    SegmentSpec x;
    x.src_port = static_cast<std::uint16_t>(40000 + port);
    std::string ip = nuri::test::ip_packet(x);
    Packet p;
    ASSERT_EQ(decode(kLinkRaw, ip, p), DecodeError::none);
    for (int i = 0; i < 5; ++i) t.add(1.0, p);
  }
  EXPECT_EQ(t.untracked_packets(), 15u);
  auto all = t.take_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].segments.size(), 3u);
  EXPECT_EQ(all[0].segments_omitted, 2u);
}

}  // namespace
