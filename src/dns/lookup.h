#pragma once
// Asking DNS servers, with c-ares as the transport (UDP, TCP when a reply is truncated) and
// nuri's own decoder (message.h) for the replies, so that every record, TTL and response code is
// seen as the server sent it. Blocking: for the command line (`nuri resolve`, `nuri get`), not
// for the event loop.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/message.h"
#include "net/address.h"

namespace nuri::dns {

/// Why an exchange with the DNS servers gave no reply.
enum class Failure : std::uint8_t {
  none,
  timeout,      ///< no server answered in time
  unreachable,  ///< every server refused the datagram (ICMP port unreachable) or the network failed
  bad_reply,    ///< a reply came but could not be decoded
  other,
};

/// One query and what came back.
struct Exchange {
  Failure failure = Failure::none;
  std::string error;    ///< why, when failure != none
  std::string server;   ///< "ADDR:PORT" of the server that answered (or was asked last)
  double ms = 0;        ///< from sending the query to the reply (or the failure)
  std::optional<Message> reply;
};

struct Attempt;  // one query sent once, watched on its sockets (lookup.cpp)

/// A c-ares channel bound to the DNS servers to ask.
class Client {
 public:
  /// `server`: "IP", "IP:PORT" (port 1-65535), "[IPv6]:PORT", or nullopt for /etc/resolv.conf's
  /// servers. Each server is sent the query up to `tries` times, each time waiting `timeout_ms`
  /// for its reply.
  Client(const std::optional<std::string>& server, int timeout_ms, int tries);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Empty when the channel works, else why not (a bad --server...).
  const std::string& error() const { return error_; }

  /// The servers that will be asked, in order ("127.0.0.53:53").
  const std::vector<std::string>& servers() const { return servers_; }

  /// Sends one query for `name` (as build_query reads it) and `type` to each server in turn
  /// until one replies (whatever its response code: NXDOMAIN and SERVFAIL are replies).
  /// Recursion desired.
  Exchange query(const std::string& name, std::uint16_t type);

 private:
  void ask(const std::string& packet, Exchange& ex);
  void send_once(const std::string& packet);

  void* channel_ = nullptr;  // ares_channel, kept out of this header
  std::unique_ptr<Attempt> attempt_;
  std::string error_;
  std::vector<std::string> servers_;
  int timeout_ms_;
  int tries_;
};

/// What the hosts file (/etc/hosts, as c-ares and glibc read it) says about `name`: its
/// addresses of `family` (AF_INET or AF_INET6), empty when it has none.
std::vector<std::string> hosts_addresses(const std::string& name, int family);

/// The name /etc/hosts gives the address `address`, or nullopt.
std::optional<std::string> hosts_name(const std::string& address);

/// The addresses of a host name for a TCP connection, as the system resolver would find them:
/// a numeric address as it is, else /etc/hosts, else DNS (A and AAAA through c-ares).
struct HostLookup {
  std::vector<net::SocketAddress> addresses;  ///< with the port set; IPv4 first
  enum class Source : std::uint8_t { numeric, hosts_file, dns } source = Source::dns;
  Failure failure = Failure::none;  ///< timeout or other (not found) when addresses is empty
  std::string error;
  double ms = 0;
};
HostLookup lookup_host(const std::string& host, std::uint16_t port, int timeout_ms);

}  // namespace nuri::dns
