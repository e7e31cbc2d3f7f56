#pragma once
// The PROXY protocol (HAProxy's spec, versions 1 and 2): a header a proxy or forwarder sends
// first on a connection so that the server behind it learns who the client really is, which it
// would otherwise only see as the proxy's own address. `nuri forward` writes it; `nuri serve`
// reads it on listeners marked `proxy_protocol = true`.
#include <sys/socket.h>

#include <cstddef>
#include <string_view>

namespace nuri::net {

enum class ProxyProtocol { none, v1, v2 };

/// Enough for either version with IPv6 addresses (v1 at most 107 bytes, v2 52).
constexpr std::size_t kProxyHeaderMax = 128;

/// Writes the header for a TCP connection from `client` to `local` (the address the client
/// connected to) into `out` and returns its length (0 for ProxyProtocol::none). Addresses of
/// different families are both given as IPv6 (IPv4-mapped); IPv4-mapped IPv6 on both sides
/// as IPv4.
std::size_t write_proxy_header(ProxyProtocol version, const sockaddr* client, const sockaddr* local,
                               char (&out)[kProxyHeaderMax]);

/// The longest header read_proxy_header accepts: a v1 line (107 bytes) or a v2 header with up
/// to 1 KiB of addresses and TLVs. A sender that needs more is refused rather than buffered.
constexpr std::size_t kProxyHeaderReadMax = 16 + 1024;

struct ProxyHeader {
  enum class Status {
    incomplete,  ///< a prefix of a valid header: read more
    complete,    ///< `length` bytes are the header; the stream proper follows
    invalid,     ///< not a PROXY header, or a broken one: close the connection
  };
  Status status = Status::incomplete;
  std::size_t length = 0;
  ProxyProtocol version = ProxyProtocol::none;
  /// False for v1 "UNKNOWN" and v2 LOCAL or non-TCP families: the proxy speaks for itself
  /// (a health check), so the connection's own addresses stand.
  bool has_addresses = false;
  sockaddr_storage source{};       ///< the client, when has_addresses
  sockaddr_storage destination{};  ///< the address the client connected to, when has_addresses
};

/// Reads a header of either version from the first bytes of a connection (sans I/O: call again
/// with more bytes while it says incomplete). Strict: exact spacing, numeric addresses without
/// leading zeros, ports 0..65535, version and command nibbles checked.
ProxyHeader read_proxy_header(std::string_view bytes);

}  // namespace nuri::net
