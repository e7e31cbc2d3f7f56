#include "net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace nuri::net {

namespace {

constexpr unsigned char kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// An address as the header needs it: family, raw bytes (network order), port (host order).
struct Endpoint {
  int family = AF_INET;
  std::array<std::uint8_t, 16> bytes{};
  std::uint16_t port = 0;
};

Endpoint endpoint(const sockaddr* sa) {
  Endpoint e;
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    e.family = AF_INET6;
    std::memcpy(e.bytes.data(), &in6->sin6_addr, 16);
    e.port = ntohs(in6->sin6_port);
  } else {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(e.bytes.data(), &in4->sin_addr, 4);
    e.port = ntohs(in4->sin_port);
  }
  return e;
}

bool is_v4_mapped(const Endpoint& e) {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return e.family == AF_INET6 && std::memcmp(e.bytes.data(), prefix, 12) == 0;
}

void to_v4(Endpoint& e) {
  std::memmove(e.bytes.data(), e.bytes.data() + 12, 4);
  std::memset(e.bytes.data() + 4, 0, 12);
  e.family = AF_INET;
}

void to_v6(Endpoint& e) {
  if (e.family == AF_INET6) return;
  std::memmove(e.bytes.data() + 12, e.bytes.data(), 4);
  std::memset(e.bytes.data(), 0, 10);
  e.bytes[10] = e.bytes[11] = 0xff;
  e.family = AF_INET6;
}

}  // namespace

std::size_t write_proxy_header(ProxyProtocol version, const sockaddr* client, const sockaddr* local,
                               char (&out)[kProxyHeaderMax]) {
  if (version == ProxyProtocol::none) return 0;
  Endpoint src = endpoint(client);
  Endpoint dst = endpoint(local);
  if (is_v4_mapped(src) && is_v4_mapped(dst)) {
    to_v4(src);
    to_v4(dst);
  } else if (src.family != dst.family) {
    to_v6(src);
    to_v6(dst);
  }
  const bool v6 = src.family == AF_INET6;
  const std::size_t address_length = v6 ? 16 : 4;
  if (version == ProxyProtocol::v1) {
    char src_text[INET6_ADDRSTRLEN];
    char dst_text[INET6_ADDRSTRLEN];
    inet_ntop(src.family, src.bytes.data(), src_text, sizeof src_text);
    inet_ntop(dst.family, dst.bytes.data(), dst_text, sizeof dst_text);
    auto result = fmt::format_to_n(out, kProxyHeaderMax, "PROXY {} {} {} {} {}\r\n", v6 ? "TCP6" : "TCP4", src_text,
                                   dst_text, src.port, dst.port);
    return result.size;
  }
  auto* p = reinterpret_cast<unsigned char*>(out);
  std::memcpy(p, kV2Signature, sizeof kV2Signature);
  p[12] = 0x21;                  // version 2, command PROXY
  p[13] = v6 ? 0x21 : 0x11;      // AF_INET6 or AF_INET, over STREAM
  const std::size_t body = 2 * address_length + 4;
  p[14] = static_cast<unsigned char>(body >> 8);
  p[15] = static_cast<unsigned char>(body & 0xff);
  unsigned char* q = p + 16;
  std::memcpy(q, src.bytes.data(), address_length);
  std::memcpy(q + address_length, dst.bytes.data(), address_length);
  q += 2 * address_length;
  q[0] = static_cast<unsigned char>(src.port >> 8);
  q[1] = static_cast<unsigned char>(src.port & 0xff);
  q[2] = static_cast<unsigned char>(dst.port >> 8);
  q[3] = static_cast<unsigned char>(dst.port & 0xff);
  return 16 + body;
}

namespace {

constexpr std::size_t kV1Max = 107;  // the spec's longest line, CRLF included
constexpr std::string_view kV1Prefix = "PROXY ";

ProxyHeader broken(ProxyHeader h) {
  h.status = ProxyHeader::Status::invalid;
  return h;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// inet_pton wants a terminated string, and is strict already (no leading zeros in IPv4 parts).
bool parse_address(int family, std::string_view text, std::uint16_t port, sockaddr_storage& out) {
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buffer) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  std::memset(&out, 0, sizeof out);
  if (family == AF_INET) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&out);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    return inet_pton(AF_INET, buffer, &in4->sin_addr) == 1;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  return inet_pton(AF_INET6, buffer, &in6->sin6_addr) == 1;
}

ProxyHeader read_v1(std::string_view bytes) {
  ProxyHeader h;
  h.version = ProxyProtocol::v1;
  std::size_t prefix = std::min(bytes.size(), kV1Prefix.size());
  if (bytes.substr(0, prefix) != kV1Prefix.substr(0, prefix)) return broken(h);
  std::size_t cr = bytes.substr(0, kV1Max).find('\r');
  if (cr == std::string_view::npos) {
    h.status = bytes.size() >= kV1Max ? ProxyHeader::Status::invalid : ProxyHeader::Status::incomplete;
    return h;
  }
  if (cr + 1 >= bytes.size()) return h;  // the LF is still to come
  if (bytes[cr + 1] != '\n') return broken(h);
  std::string_view line = bytes.substr(kV1Prefix.size(), cr - kV1Prefix.size());
  if (line.find('\n') != std::string_view::npos) return broken(h);
  h.length = cr + 2;

  std::size_t space = line.find(' ');
  std::string_view protocol = line.substr(0, space);
  if (protocol == "UNKNOWN") {
    // The proxy could not tell (or speaks for itself): the rest of the line is to be ignored.
    h.status = ProxyHeader::Status::complete;
    return h;
  }
  int family = protocol == "TCP4" ? AF_INET : protocol == "TCP6" ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC || space == std::string_view::npos) return broken(h);
  // Exactly four fields, one space apart: source, destination, source port, destination port.
  std::string_view fields[4];
  std::size_t count = 0;
  for (std::string_view rest = line.substr(space + 1);;) {
    if (count == 4) return broken(h);
    std::size_t next = rest.find(' ');
    fields[count++] = rest.substr(0, next);
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  if (count != 4 || !parse_port(fields[2], source_port) || !parse_port(fields[3], destination_port) ||
      !parse_address(family, fields[0], source_port, h.source) ||
      !parse_address(family, fields[1], destination_port, h.destination)) {
    return broken(h);
  }
  h.has_addresses = true;
  h.status = ProxyHeader::Status::complete;
  return h;
}

ProxyHeader read_v2(std::string_view bytes) {
  ProxyHeader h;
  h.version = ProxyProtocol::v2;
  std::size_t prefix = std::min(bytes.size(), sizeof kV2Signature);
  if (std::memcmp(bytes.data(), kV2Signature, prefix) != 0) return broken(h);
  if (bytes.size() < 16) return h;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  unsigned version = p[12] >> 4;
  unsigned command = p[12] & 0x0f;
  unsigned family = p[13] >> 4;
  unsigned transport = p[13] & 0x0f;
  std::size_t length = (static_cast<std::size_t>(p[14]) << 8) | p[15];
  if (version != 2 || command > 1 || family > 3 || transport > 2 || 16 + length > kProxyHeaderReadMax) {
    return broken(h);
  }
  if (bytes.size() < 16 + length) return h;
  h.length = 16 + length;
  h.status = ProxyHeader::Status::complete;
  // LOCAL (the proxy's own health check), UNSPEC, UNIX and UDP: the connection's own addresses
  // stand. TLVs after the addresses are skipped.
  if (command == 0 || transport != 1 || (family != 1 && family != 2)) return h;
  const unsigned char* a = p + 16;
  if (family == 1) {
    if (length < 12) return broken(h);
    auto* src = reinterpret_cast<sockaddr_in*>(&h.source);
    auto* dst = reinterpret_cast<sockaddr_in*>(&h.destination);
    src->sin_family = dst->sin_family = AF_INET;
    std::memcpy(&src->sin_addr, a, 4);
    std::memcpy(&dst->sin_addr, a + 4, 4);
    std::memcpy(&src->sin_port, a + 8, 2);  // both in network order already
    std::memcpy(&dst->sin_port, a + 10, 2);
  } else {
    if (length < 36) return broken(h);
    auto* src = reinterpret_cast<sockaddr_in6*>(&h.source);
    auto* dst = reinterpret_cast<sockaddr_in6*>(&h.destination);
    src->sin6_family = dst->sin6_family = AF_INET6;
    std::memcpy(&src->sin6_addr, a, 16);
    std::memcpy(&dst->sin6_addr, a + 16, 16);
    std::memcpy(&src->sin6_port, a + 32, 2);
    std::memcpy(&dst->sin6_port, a + 34, 2);
  }
  h.has_addresses = true;
  return h;
}

}  // namespace

ProxyHeader read_proxy_header(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (bytes[0] == 'P') return read_v1(bytes);
  if (bytes[0] == '\r') return read_v2(bytes);
  return broken({});
}

}  // namespace nuri::net
