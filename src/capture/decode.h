#pragma once
// The packet decoder of `nuri capture`: link layer (Ethernet with VLAN tags, Linux cooked SLL and
// SLL2, BSD/OpenBSD loopback, raw IP), IPv4, IPv6 (with extension headers) and TCP with its
// options. Sans-I/O and defensive: it reads captured bytes, which anyone on the wire chose, and
// every length field is checked against what was captured before it is used.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nuri::capture {

/// libpcap link-layer types the decoder understands (the DLT_/LINKTYPE_ numbers of pcap files).
enum LinkType : int {
  kLinkNull = 0,        ///< BSD loopback: 4-byte address family in host order
  kLinkEthernet = 1,
  kLinkRaw = 101,       ///< LINKTYPE_RAW: IPv4 or IPv6 without link header (DLT_RAW 12/14 too)
  kLinkLoop = 108,      ///< OpenBSD loopback: 4-byte family in network order
  kLinkLinuxSll = 113,  ///< Linux cooked capture v1 (the "any" device)
  kLinkIpv4 = 228,
  kLinkIpv6 = 229,
  kLinkLinuxSll2 = 276,
};

/// An IPv4 or IPv6 address as captured.
struct IpAddress {
  std::uint8_t family = 0;  ///< 4 or 6
  std::uint8_t bytes[16] = {};
  std::string to_string() const;
  friend bool operator==(const IpAddress& a, const IpAddress& b);
  friend bool operator<(const IpAddress& a, const IpAddress& b);
};

/// TCP header flags (RFC 9293 §3.1).
enum TcpFlag : std::uint8_t {
  kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20, kEce = 0x40, kCwr = 0x80,
};

/// "SYN,ACK"-style text of a flags byte (empty flags: "none").
std::string flags_text(std::uint8_t flags);

/// The TCP options nuri shows (RFC 9293 §3.2, RFC 7323, RFC 2018).
struct TcpOptions {
  std::uint16_t mss = 0;          ///< 0: absent
  int window_scale = -1;          ///< -1: absent
  bool sack_permitted = false;
  bool has_timestamps = false;
  std::uint32_t ts_value = 0;
  std::uint32_t ts_echo = 0;
  std::uint8_t sack_blocks = 0;   ///< SACK blocks present
  bool malformed = false;         ///< an option's length ran past the header: the rest ignored
};

/// What `decode` found. `payload` points into the bytes given to decode.
struct Packet {
  IpAddress src;
  IpAddress dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  TcpOptions options;
  std::string_view payload;     ///< the TCP data as captured (may be cut short by the snap length)
  std::uint32_t payload_length = 0;  ///< the TCP data length the IP header announces
  std::uint8_t ttl = 0;         ///< IPv4 TTL or IPv6 hop limit
};

/// Why a packet was not decoded into a TCP segment.
enum class DecodeError : std::uint8_t {
  none,
  unknown_link_type,
  truncated,       ///< the capture ends inside a header
  not_ip,          ///< ARP, LLDP, ...
  bad_ip_header,   ///< version, header length or total length inconsistent
  fragment,        ///< an IP fragment other than the first (no TCP header in it)
  not_tcp,         ///< UDP, ICMP, ...
  bad_tcp_header,  ///< data offset below 5 words or past the segment
};

std::string_view describe(DecodeError e);

/// Decodes one captured frame of link type `link_type`. `data` is what was captured
/// (caplen bytes). Returns none and fills `out` for a TCP segment.
DecodeError decode(int link_type, std::string_view data, Packet& out);

}  // namespace nuri::capture
