#pragma once
// Socket addresses: parsing "127.0.0.1:8080" / "[::1]:8080", printing, and what they mean.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nuri::net {

/// An IPv4 or IPv6 address with a port.
class SocketAddress {
 public:
  SocketAddress() = default;

  /// Parses a numeric "ADDR:PORT" ("0.0.0.0:80", "[::]:8080", "[::1]:0"). nullopt if invalid.
  static std::optional<SocketAddress> parse(std::string_view text);

  /// From what accept(2) or getsockname(2) filled in.
  static SocketAddress from(const sockaddr* sa, socklen_t len);

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }

  std::uint16_t port() const;
  void set_port(std::uint16_t port);

  /// The address alone: "127.0.0.1", "::1".
  std::string host() const;
  /// "127.0.0.1:8080" or "[::1]:8080".
  std::string to_string() const;
  /// The base of a URL: "http://127.0.0.1:8080/" or "http://[::1]:8080/".
  std::string url() const;

  bool is_loopback() const;
  bool is_unspecified() const;  ///< 0.0.0.0 or ::

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

/// Writes the numeric host of `sa` into `out` (at least INET6_ADDRSTRLEN bytes); returns its length.
std::size_t format_host(const sockaddr* sa, char* out, std::size_t size);

/// The addresses of this machine's interfaces that are up, for one family ("192.168.1.5 (eth0)").
std::vector<std::string> interface_addresses(int family);

}  // namespace nuri::net
