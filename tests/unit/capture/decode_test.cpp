#include "capture/decode.h"

#include <gtest/gtest.h>

#include "../support/guarded_memory.h"
#include "packets.h"

using namespace nuri::capture;
using nuri::test::frame;
using nuri::test::SegmentSpec;

namespace {

const std::string kSynOptions = std::string("\x02\x04\xff\xd7", 4) + std::string("\x04\x02", 2) +
                                std::string("\x08\x0a\x00\x00\x00\x07\x00\x00\x00\x00", 10) + "\x01" +
                                std::string("\x03\x03\x07", 3);

TEST(CaptureDecode, EveryLinkTypeAndBothIpVersions) {
  for (int link : {kLinkEthernet, kLinkLinuxSll, kLinkLinuxSll2, kLinkNull, kLinkLoop, kLinkRaw, kLinkIpv4, kLinkIpv6}) {
    for (bool v6 : {false, true}) {
      if ((link == kLinkIpv4 && v6) || (link == kLinkIpv6 && !v6)) continue;
      SegmentSpec x;
      x.ipv6 = v6;
      x.src_last = 2;
      x.flags = kSyn;
      x.options = kSynOptions;
      Packet p;
      ASSERT_EQ(decode(link, frame(link, x), p), DecodeError::none) << link << " " << v6;
      EXPECT_EQ(p.src.to_string(), v6 ? "::2" : "127.0.0.2");
      EXPECT_EQ(p.dst.to_string(), v6 ? "::1" : "127.0.0.1");
      EXPECT_EQ(p.src_port, 40000);
      EXPECT_EQ(p.dst_port, 80);
      EXPECT_EQ(p.seq, 1000u);
      EXPECT_EQ(p.flags, kSyn);
      EXPECT_EQ(p.options.mss, 65495);
      EXPECT_TRUE(p.options.sack_permitted);
      EXPECT_TRUE(p.options.has_timestamps);
      EXPECT_EQ(p.options.ts_value, 7u);
      EXPECT_EQ(p.options.window_scale, 7);
      EXPECT_FALSE(p.options.malformed);
      EXPECT_EQ(p.payload_length, 0u);
    }
  }
}

TEST(CaptureDecode, PayloadAndEthernetPadding) {
  SegmentSpec x;
  x.flags = kPsh | kAck;
  x.payload = "GET / HTTP/1.1\r\n\r\n";
  std::string f = frame(kLinkEthernet, x) + std::string(6, '\0');  // padding past the IP length
  Packet p;
  ASSERT_EQ(decode(kLinkEthernet, f, p), DecodeError::none);
  EXPECT_EQ(p.payload, x.payload);
  EXPECT_EQ(p.payload_length, x.payload.size());
}

TEST(CaptureDecode, SnapLengthCutsThePayloadNotTheAnnouncedLength) {
  SegmentSpec x;
  x.flags = kAck;
  x.payload = std::string(100, 'x');
  std::string f = frame(kLinkRaw, x);
  Packet p;
  ASSERT_EQ(decode(kLinkRaw, f.substr(0, 20 + 20 + 30), p), DecodeError::none);
  EXPECT_EQ(p.payload.size(), 30u);
  EXPECT_EQ(p.payload_length, 100u);
}

TEST(CaptureDecode, VlanTagsAndIpv6ExtensionHeaders) {
  SegmentSpec x;
  std::string ip = nuri::test::ip_packet(x);
  std::string vlan = std::string(12, '\0') + std::string("\x81\x00\x00\x05\x08\x00", 6) + ip;
  Packet p;
  EXPECT_EQ(decode(kLinkEthernet, vlan, p), DecodeError::none);
  // IPv6 with a hop-by-hop header (8 bytes) before TCP.
  x.ipv6 = true;
  std::string v6 = nuri::test::ip_packet(x);
  std::string hop("\x06\x00\x01\x04\x00\x00\x00\x00", 8);  // next: TCP
  v6[6] = 0;
  nuri::test::put16(v6, 4, static_cast<std::uint16_t>(v6.size() - 40 + 8));
  v6.insert(40, hop);
  EXPECT_EQ(decode(kLinkRaw, v6, p), DecodeError::none);
  EXPECT_EQ(p.dst_port, 80);
  // Regression (fuzzer): an extension header that ends past the captured bytes, inside the
  // announced payload, was followed by a TCP header read out of bounds.
  nuri::test::GuardedMemory memory(4096);
  std::string long_hop = v6;
  long_hop[41] = 10;  // 88 bytes of options, within the payload length below, past the capture
  nuri::test::put16(long_hop, 4, 200);
  EXPECT_EQ(decode(kLinkRaw, memory.place(long_hop.substr(0, 60)), p), DecodeError::truncated);
}

TEST(CaptureDecode, RefusesWhatIsNotATcpSegment) {
  SegmentSpec x;
  std::string ip = nuri::test::ip_packet(x);
  Packet p;
  std::string udp = ip;
  udp[9] = 17;
  EXPECT_EQ(decode(kLinkRaw, udp, p), DecodeError::not_tcp);
  std::string frag = ip;
  frag[6] = 0x20;  // more fragments
  EXPECT_EQ(decode(kLinkRaw, frag, p), DecodeError::fragment);
  std::string bad_ihl = ip;
  bad_ihl[0] = 0x44;
  EXPECT_EQ(decode(kLinkRaw, bad_ihl, p), DecodeError::bad_ip_header);
  std::string short_total = ip;
  nuri::test::put16(short_total, 2, 10);
  EXPECT_EQ(decode(kLinkRaw, short_total, p), DecodeError::bad_ip_header);
  std::string bad_offset = ip;
  bad_offset[20 + 12] = 0x40;  // 16-byte TCP header
  EXPECT_EQ(decode(kLinkRaw, bad_offset, p), DecodeError::bad_tcp_header);
  std::string big_offset = ip;
  big_offset[20 + 12] = static_cast<char>(0xf0);  // 60 bytes, past the segment
  EXPECT_EQ(decode(kLinkRaw, big_offset, p), DecodeError::bad_tcp_header);
  EXPECT_EQ(decode(kLinkEthernet, std::string(12, '\0') + "\x08\x06" + ip, p), DecodeError::not_ip);
  EXPECT_EQ(decode(147, ip, p), DecodeError::unknown_link_type);
}

TEST(CaptureDecode, MalformedOptionsAreFlaggedNotFollowed) {
  SegmentSpec x;
  x.options = std::string("\x02\x28\x05\xb4", 4);  // MSS claiming 40 bytes
  Packet p;
  ASSERT_EQ(decode(kLinkRaw, nuri::test::ip_packet(x), p), DecodeError::none);
  EXPECT_TRUE(p.options.malformed);
  EXPECT_EQ(p.options.mss, 0);
}

// Every prefix of every frame, placed against a guard page: no read past the end, and a
// prefix shorter than the headers is never a segment.
TEST(CaptureDecode, EveryTruncationAgainstAGuardPage) {
  nuri::test::GuardedMemory memory(4096);
  for (int link : {kLinkEthernet, kLinkLinuxSll, kLinkLinuxSll2, kLinkNull, kLinkRaw}) {
    for (bool v6 : {false, true}) {
      SegmentSpec x;
      x.ipv6 = v6;
      x.options = kSynOptions;
      x.payload = "hello";
      const std::string f = frame(link, x);
      const std::size_t link_len = f.size() - nuri::test::ip_packet(x).size();
      const std::size_t headers = link_len + (v6 ? 40 : 20) + 20 + 20;
      for (std::size_t n = 0; n <= f.size(); ++n) {
        Packet p;
        DecodeError e = decode(link, memory.place(f.substr(0, n)), p);
        if (n < headers) {
          EXPECT_NE(e, DecodeError::none) << link << " " << n;
        } else {
          ASSERT_EQ(e, DecodeError::none) << link << " " << n;
          EXPECT_EQ(p.payload, std::string_view("hello").substr(0, n - headers));
        }
      }
    }
  }
}

TEST(CaptureDecode, Texts) {
  EXPECT_EQ(flags_text(kSyn | kAck), "SYN,ACK");
  EXPECT_EQ(flags_text(kFin | kPsh | kAck), "FIN,PSH,ACK");
  EXPECT_EQ(flags_text(0), "none");
  IpAddress a;
  a.family = 6;
  a.bytes[0] = 0x20, a.bytes[1] = 0x01, a.bytes[2] = 0x0d, a.bytes[3] = 0xb8, a.bytes[15] = 1;
  EXPECT_EQ(a.to_string(), "2001:db8::1");
  a.bytes[15] = 0;
  EXPECT_EQ(a.to_string(), "2001:db8::");
  IpAddress zero;
  zero.family = 6;
  EXPECT_EQ(zero.to_string(), "::");
}

}  // namespace
