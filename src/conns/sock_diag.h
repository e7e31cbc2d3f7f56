#pragma once
// The kernel's own list of sockets, read through netlink NETLINK_SOCK_DIAG (inet_diag), the
// interface ss(8) uses: binary records instead of the /proc/net/tcp text netstat parses.
#include <cstdint>
#include <string>
#include <vector>

#include "net/address.h"

namespace nuri::conns {

enum class Protocol : std::uint8_t { tcp, udp };

/// TCP states as the kernel numbers them (include/net/tcp_states.h). UDP sockets use
/// established (connected) and close (unconnected, which ss calls UNCONN).
enum class TcpState : std::uint8_t {
  established = 1, syn_sent, syn_recv, fin_wait1, fin_wait2, time_wait, close, close_wait,
  last_ack, listen, closing, new_syn_recv,
};

/// What tcp_info says about one TCP connection (the -i columns).
struct TcpInfo {
  std::uint32_t rtt_us = 0;        ///< smoothed round-trip time
  std::uint32_t rttvar_us = 0;
  std::uint32_t retransmits = 0;   ///< segments retransmitted over the connection's life
  std::uint32_t lost = 0;
  std::uint32_t snd_cwnd = 0;      ///< congestion window, in segments
  std::uint32_t mss = 0;
};

/// One socket from the kernel's tables.
struct Socket {
  Protocol protocol = Protocol::tcp;
  TcpState state = TcpState::close;
  net::SocketAddress local;
  net::SocketAddress remote;       ///< all zeros (port 0) when not connected
  std::uint32_t inode = 0;         ///< 0 for TIME_WAIT (no process owns it any more)
  std::uint32_t uid = 0;
  std::uint32_t recv_q = 0;        ///< listening: accept queue; else bytes not yet read
  std::uint32_t send_q = 0;        ///< listening: backlog; else bytes not yet acknowledged
  std::uint32_t expires_ms = 0;    ///< TIME_WAIT: milliseconds until the kernel drops it
  bool v6only = false;             ///< IPv6 LISTEN/CLOSE socket with IPV6_V6ONLY: no IPv4 through it
  bool has_info = false;
  TcpInfo info;
};

/// Reads every TCP and/or UDP socket, IPv4 and IPv6, of this network namespace. `with_info`
/// asks for tcp_info too. On failure returns false with `error` set.
bool dump_sockets(bool tcp, bool udp, bool with_info, std::vector<Socket>& out, std::string& error);

/// Parses the records of one netlink answer (a buffer of nlmsghdr) into `out`. Returns 1 when
/// NLMSG_DONE was seen, 0 when more messages follow, -1 on an error message or a malformed
/// record (then `error` says why). Public for the unit tests; never trusts a length field.
int parse_diag_messages(const void* data, std::size_t size, Protocol protocol,
                        std::vector<Socket>& out, std::string& error);

}  // namespace nuri::conns
