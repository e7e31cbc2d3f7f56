#include "capture/decode.h"

#include <cstring>

namespace nuri::capture {
namespace {

std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t be32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;

void parse_options(const unsigned char* p, std::size_t n, TcpOptions& o) {
  std::size_t i = 0;
  while (i < n) {
    const unsigned char kind = p[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= n || p[i + 1] < 2 || i + p[i + 1] > n) {
      o.malformed = true;
      return;
    }
    const std::size_t len = p[i + 1];
    const unsigned char* v = p + i + 2;
    switch (kind) {
      case 2:
        if (len == 4) o.mss = be16(v);
        break;
      case 3:
        if (len == 3) o.window_scale = v[0];
        break;
      case 4:
        if (len == 2) o.sack_permitted = true;
        break;
      case 5:
        if (len >= 10 && (len - 2) % 8 == 0) o.sack_blocks = static_cast<std::uint8_t>((len - 2) / 8);
        break;
      case 8:
        if (len == 10) {
          o.has_timestamps = true;
          o.ts_value = be32(v);
          o.ts_echo = be32(v + 4);
        }
        break;
      default:
        break;
    }
    i += len;
  }
}

// `p`/`n`: the TCP header and data as captured; `segment_length`: header plus data as the IP
// header announces it (n may be less when the snap length cut the packet).
DecodeError decode_tcp(const unsigned char* p, std::size_t n, std::size_t segment_length, Packet& out) {
  if (n < 20) return segment_length < 20 ? DecodeError::bad_tcp_header : DecodeError::truncated;
  const std::size_t header = static_cast<std::size_t>(p[12] >> 4) * 4;
  if (header < 20 || header > segment_length) return DecodeError::bad_tcp_header;
  if (header > n) return DecodeError::truncated;
  out.src_port = be16(p);
  out.dst_port = be16(p + 2);
  out.seq = be32(p + 4);
  out.ack = be32(p + 8);
  out.flags = p[13];
  out.window = be16(p + 14);
  out.options = {};
  parse_options(p + 20, header - 20, out.options);
  out.payload_length = static_cast<std::uint32_t>(segment_length - header);
  const std::size_t captured = n - header;
  out.payload = std::string_view(reinterpret_cast<const char*>(p + header),
                                 captured < out.payload_length ? captured : out.payload_length);
  return DecodeError::none;
}

DecodeError decode_ipv4(const unsigned char* p, std::size_t n, Packet& out) {
  if (n < 20) return DecodeError::truncated;
  if ((p[0] >> 4) != 4) return DecodeError::bad_ip_header;
  const std::size_t header = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  const std::size_t total = be16(p + 2);
  if (header < 20 || total < header) return DecodeError::bad_ip_header;
  if (header > n) return DecodeError::truncated;
  const std::uint16_t fragment = be16(p + 6);
  if ((fragment & 0x3fff) != 0) return DecodeError::fragment;  // MF set or offset non-zero
  if (p[9] != 6) return DecodeError::not_tcp;
  out.src = {};
  out.dst = {};
  out.src.family = out.dst.family = 4;
  std::memcpy(out.src.bytes, p + 12, 4);
  std::memcpy(out.dst.bytes, p + 16, 4);
  out.ttl = p[8];
  // Bytes past the total length are link-layer padding (Ethernet's 60-byte minimum).
  const std::size_t captured = (n < total ? n : total) - header;
  return decode_tcp(p + header, captured, total - header, out);
}

DecodeError decode_ipv6(const unsigned char* p, std::size_t n, Packet& out) {
  if (n < 40) return DecodeError::truncated;
  if ((p[0] >> 4) != 6) return DecodeError::bad_ip_header;
  const std::size_t payload = be16(p + 4);
  out.src = {};
  out.dst = {};
  out.src.family = out.dst.family = 6;
  std::memcpy(out.src.bytes, p + 8, 16);
  std::memcpy(out.dst.bytes, p + 24, 16);
  out.ttl = p[7];
  unsigned next = p[6];
  std::size_t offset = 40;
  const std::size_t end = 40 + payload;  // jumbograms (payload 0 + hop-by-hop option) not handled
  const std::size_t limit = n < end ? n : end;
  // Extension headers (RFC 8200 §4); a bounded walk so a chain of them cannot loop for long.
  for (int i = 0; i < 16; ++i) {
    if (next == 6) {
      // An extension header may end past what was captured (found by the fuzzer).
      if (offset > limit) return DecodeError::truncated;
      return decode_tcp(p + offset, limit - offset, end - offset, out);
    }
    std::size_t length = 0;
    if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
      if (offset + 2 > limit) return offset + 2 > end ? DecodeError::bad_ip_header : DecodeError::truncated;
      length = (static_cast<std::size_t>(p[offset + 1]) + 1) * 8;
    } else if (next == 44) {  // fragment
      if (offset + 8 > limit) return offset + 8 > end ? DecodeError::bad_ip_header : DecodeError::truncated;
      if ((be16(p + offset + 2) & 0xfff9) != 0) return DecodeError::fragment;  // offset or M flag
      length = 8;
    } else if (next == 51) {  // authentication header: length in 4-byte words minus 2
      if (offset + 2 > limit) return offset + 2 > end ? DecodeError::bad_ip_header : DecodeError::truncated;
      length = (static_cast<std::size_t>(p[offset + 1]) + 2) * 4;
    } else {
      return DecodeError::not_tcp;
    }
    if (offset + length > end) return DecodeError::bad_ip_header;
    next = p[offset];
    offset += length;
  }
  return DecodeError::bad_ip_header;
}

DecodeError decode_ip(const unsigned char* p, std::size_t n, Packet& out) {
  if (n < 1) return DecodeError::truncated;
  switch (p[0] >> 4) {
    case 4: return decode_ipv4(p, n, out);
    case 6: return decode_ipv6(p, n, out);
    default: return DecodeError::not_ip;
  }
}

DecodeError decode_ethertype(std::uint16_t type, const unsigned char* p, std::size_t n, Packet& out) {
  if (type == kEtherIpv4) return decode_ipv4(p, n, out);
  if (type == kEtherIpv6) return decode_ipv6(p, n, out);
  return DecodeError::not_ip;
}

}  // namespace

std::string IpAddress::to_string() const {
  char buf[48];
  if (family == 4) {
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
    return buf;
  }
  // RFC 5952 text: the longest run (of two or more) of zero groups becomes "::".
  std::uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<std::uint16_t>(bytes[2 * i] << 8 | bytes[2 * i + 1]);
  int best = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string text;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      text += "::";
      i += best_len - 1;
      continue;
    }
    if (!text.empty() && text.back() != ':') text += ':';
    std::snprintf(buf, sizeof(buf), "%x", g[i]);
    text += buf;
  }
  return text;
}

bool operator==(const IpAddress& a, const IpAddress& b) {
  return a.family == b.family && std::memcmp(a.bytes, b.bytes, 16) == 0;
}

bool operator<(const IpAddress& a, const IpAddress& b) {
  if (a.family != b.family) return a.family < b.family;
  return std::memcmp(a.bytes, b.bytes, 16) < 0;
}

std::string flags_text(std::uint8_t flags) {
  static const char* names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
  // Printed in the order people say them: SYN,ACK rather than bit order.
  static const int order[] = {1, 0, 2, 3, 4, 5, 6, 7};
  std::string text;
  for (int bit : order) {
    if ((flags & (1u << bit)) == 0) continue;
    if (!text.empty()) text += ',';
    text += names[bit];
  }
  return text.empty() ? "none" : text;
}

std::string_view describe(DecodeError e) {
  switch (e) {
    case DecodeError::none: return "ok";
    case DecodeError::unknown_link_type: return "unknown link type";
    case DecodeError::truncated: return "truncated";
    case DecodeError::not_ip: return "not IP";
    case DecodeError::bad_ip_header: return "bad IP header";
    case DecodeError::fragment: return "IP fragment";
    case DecodeError::not_tcp: return "not TCP";
    case DecodeError::bad_tcp_header: return "bad TCP header";
  }
  return "?";
}

DecodeError decode(int link_type, std::string_view data, Packet& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  switch (link_type) {
    case kLinkEthernet: {
      if (n < 14) return DecodeError::truncated;
      std::size_t offset = 12;
      std::uint16_t type = be16(p + offset);
      // 802.1Q / 802.1ad tags: at most two, as on real networks.
      for (int tags = 0; tags < 2 && (type == kEtherVlan || type == kEtherQinQ); ++tags) {
        offset += 4;
        if (offset + 2 > n) return DecodeError::truncated;
        type = be16(p + offset);
      }
      offset += 2;
      return decode_ethertype(type, p + offset, n - offset, out);
    }
    case kLinkLinuxSll:
      if (n < 16) return DecodeError::truncated;
      return decode_ethertype(be16(p + 14), p + 16, n - 16, out);
    case kLinkLinuxSll2:
      if (n < 20) return DecodeError::truncated;
      return decode_ethertype(be16(p), p + 20, n - 20, out);
    case kLinkNull:
    case kLinkLoop:
      // The family is in host order of the capturing machine (NULL) or network order (LOOP),
      // and its values differ between systems: the IP version nibble says the same reliably.
      if (n < 4) return DecodeError::truncated;
      return decode_ip(p + 4, n - 4, out);
    case kLinkRaw:
    case 12:
    case 14:
    case kLinkIpv4:
    case kLinkIpv6:
      return decode_ip(p, n, out);
    default:
      return DecodeError::unknown_link_type;
  }
}

}  // namespace nuri::capture
