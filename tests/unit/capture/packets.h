#pragma once
// Builds captured frames for the capture tests: a TCP segment in IPv4 or IPv6, wrapped in one
// of the link layers the decoder reads.
#include <cstdint>
#include <string>

#include "capture/decode.h"

namespace nuri::test {

struct SegmentSpec {
  bool ipv6 = false;
  std::uint8_t src_last = 1;   // 127.0.0.<src_last> / ::<src_last>
  std::uint8_t dst_last = 1;
  std::uint16_t src_port = 40000;
  std::uint16_t dst_port = 80;
  std::uint32_t seq = 1000;
  std::uint32_t ack = 0;
  std::uint8_t flags = capture::kSyn;
  std::string options;         // raw option bytes (padded to 4 with NOPs)
  std::string payload;
};

inline void put16(std::string& s, std::size_t at, std::uint16_t v) {
  s[at] = static_cast<char>(v >> 8);
  s[at + 1] = static_cast<char>(v & 0xff);
}
inline void put32(std::string& s, std::size_t at, std::uint32_t v) {
  put16(s, at, static_cast<std::uint16_t>(v >> 16));
  put16(s, at + 2, static_cast<std::uint16_t>(v & 0xffff));
}

/// The IP packet (no link header).
inline std::string ip_packet(const SegmentSpec& x) {
  std::string options = x.options;
  while (options.size() % 4 != 0) options += '\x01';
  std::string tcp(20 + options.size(), '\0');
  put16(tcp, 0, x.src_port);
  put16(tcp, 2, x.dst_port);
  put32(tcp, 4, x.seq);
  put32(tcp, 8, x.ack);
  tcp[12] = static_cast<char>((tcp.size() / 4) << 4);
  tcp[13] = static_cast<char>(x.flags);
  put16(tcp, 14, 65535);
  tcp.replace(20, options.size(), options);
  tcp += x.payload;
  if (!x.ipv6) {
    std::string ip(20, '\0');
    ip[0] = 0x45;
    put16(ip, 2, static_cast<std::uint16_t>(20 + tcp.size()));
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 127, ip[15] = static_cast<char>(x.src_last);
    ip[16] = 127, ip[19] = static_cast<char>(x.dst_last);
    return ip + tcp;
  }
  std::string ip(40, '\0');
  ip[0] = 0x60;
  put16(ip, 4, static_cast<std::uint16_t>(tcp.size()));
  ip[6] = 6;
  ip[7] = 64;
  ip[23] = static_cast<char>(x.src_last);
  ip[39] = static_cast<char>(x.dst_last);
  return ip + tcp;
}

/// The frame for `link_type` around the IP packet.
inline std::string frame(int link_type, const SegmentSpec& x) {
  std::string ip = ip_packet(x);
  std::string type = x.ipv6 ? std::string("\x86\xdd", 2) : std::string("\x08\x00", 2);
  switch (link_type) {
    case capture::kLinkEthernet: return std::string(12, '\0') + type + ip;
    case capture::kLinkLinuxSll: return std::string(14, '\0') + type + ip;
    case capture::kLinkLinuxSll2: return type + std::string(18, '\0') + ip;
    case capture::kLinkNull: return std::string(x.ipv6 ? "\x0a\0\0\0" : "\x02\0\0\0", 4) + ip;
    case capture::kLinkLoop: return std::string(x.ipv6 ? "\0\0\0\x0a" : "\0\0\0\x02", 4) + ip;
    default: return ip;
  }
}

}  // namespace nuri::test
