// libFuzzer target for the PROXY protocol reader (src/net/proxy_protocol.cpp). A connection's
// first bytes on a `proxy_protocol = true` listener come from whoever can reach the port, so:
// - a complete header never claims more bytes than it was given, nor more than the reader's limit;
// - every shorter prefix of a complete header is incomplete (reading in pieces agrees with
//   reading at once), and extra bytes after it change nothing;
// - addresses it reports are of the family it parsed, and writing them again in the same
//   version reads back to the same addresses.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "net/proxy_protocol.h"

using namespace nuri::net;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "proxy_protocol_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  std::size_t size = a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return std::memcmp(&a, &b, size) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ProxyHeader h = read_proxy_header(input);
  if (h.status != ProxyHeader::Status::complete) return 0;
  require(h.length > 0 && h.length <= input.size() && h.length <= kProxyHeaderReadMax, "length out of bounds");
  for (std::size_t n = 0; n < h.length; ++n) {
    require(read_proxy_header(input.substr(0, n)).status == ProxyHeader::Status::incomplete,
            "a prefix of a complete header is not incomplete");
  }
  ProxyHeader alone = read_proxy_header(input.substr(0, h.length));
  require(alone.status == h.status && alone.length == h.length && alone.has_addresses == h.has_addresses,
          "bytes after the header changed the result");
  if (!h.has_addresses) return 0;
  require(h.source.ss_family == h.destination.ss_family &&
              (h.source.ss_family == AF_INET || h.source.ss_family == AF_INET6),
          "addresses of a bad or mixed family");
  char out[kProxyHeaderMax];
  std::size_t n = write_proxy_header(h.version, reinterpret_cast<const sockaddr*>(&h.source),
                                     reinterpret_cast<const sockaddr*>(&h.destination), out);
  ProxyHeader again = read_proxy_header(std::string_view(out, n));
  require(again.status == ProxyHeader::Status::complete && again.has_addresses, "a written header does not read back");
  // IPv4-mapped IPv6 on both sides is written as IPv4: compare what survives that.
  if (again.source.ss_family == h.source.ss_family) {
    require(same_endpoint(again.source, h.source) && same_endpoint(again.destination, h.destination),
            "addresses changed on a round trip");
  }
  return 0;
}
