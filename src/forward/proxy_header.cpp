#include "forward/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace nuri::forward {

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

}  // namespace nuri::forward
