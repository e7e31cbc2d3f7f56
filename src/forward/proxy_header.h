#pragma once
// The PROXY protocol header (HAProxy's spec, versions 1 and 2): sent to the target first, it
// tells the server behind the forwarder who the client really is, which it would otherwise only
// see as the forwarder's own address.
#include <sys/socket.h>

#include <cstddef>

namespace nuri::forward {

enum class ProxyProtocol { none, v1, v2 };

/// Enough for either version with IPv6 addresses (v1 at most 107 bytes, v2 52).
constexpr std::size_t kProxyHeaderMax = 128;

/// Writes the header for a TCP connection from `client` to `local` (the address the client
/// connected to) into `out` and returns its length (0 for ProxyProtocol::none). Addresses of
/// different families are both given as IPv6 (IPv4-mapped); IPv4-mapped IPv6 on both sides
/// as IPv4.
std::size_t write_proxy_header(ProxyProtocol version, const sockaddr* client, const sockaddr* local,
                               char (&out)[kProxyHeaderMax]);

}  // namespace nuri::forward
