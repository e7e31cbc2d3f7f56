#include "conns/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nuri::conns {
namespace {

net::SocketAddress make_address(int family, const std::uint32_t* words, std::uint16_t port_be) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = port_be;
    std::memcpy(&sin->sin_addr, words, 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = port_be;
    std::memcpy(&sin6->sin6_addr, words, 16);
    len = sizeof(sockaddr_in6);
  }
  return net::SocketAddress::from(reinterpret_cast<const sockaddr*>(&ss), len);
}

// Closes the netlink socket however dump_sockets returns.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool dump_one(int fd, int family, int protocol, bool with_info, std::vector<Socket>& out,
              std::string& error) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = 1;
  message.request.sdiag_family = static_cast<std::uint8_t>(family);
  message.request.sdiag_protocol = static_cast<std::uint8_t>(protocol);
  message.request.idiag_states = ~0u;  // every state, TIME_WAIT and NEW_SYN_RECV included
  if (with_info) message.request.idiag_ext = 1u << (INET_DIAG_INFO - 1);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &message, sizeof(message), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    error = std::string("netlink send: ") + std::strerror(errno);
    return false;
  }
  const Protocol proto = protocol == IPPROTO_UDP ? Protocol::udp : Protocol::tcp;
  // 32 KiB per read, as ss uses: the kernel fills it with as many records as fit.
  alignas(nlmsghdr) static char buffer[32768];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::string("netlink receive: ") + std::strerror(errno);
      return false;
    }
    if (n == 0) {
      error = "netlink: the kernel closed the socket";
      return false;
    }
    int r = parse_diag_messages(buffer, static_cast<std::size_t>(n), proto, out, error);
    if (r < 0) return false;
    if (r > 0) return true;
  }
}

}  // namespace

int parse_diag_messages(const void* data, std::size_t size, Protocol protocol,
                        std::vector<Socket>& out, std::string& error) {
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left >= sizeof(nlmsghdr)) {
    nlmsghdr header;
    std::memcpy(&header, p, sizeof(header));
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > left) {
      error = "netlink: malformed message length";
      return -1;
    }
    if (header.nlmsg_type == NLMSG_DONE) return 1;
    if (header.nlmsg_type == NLMSG_ERROR) {
      nlmsgerr e{};
      if (header.nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) std::memcpy(&e, p + NLMSG_HDRLEN, sizeof(e));
      error = std::string("netlink: ") + std::strerror(e.error < 0 ? -e.error : EPROTO);
      return -1;
    }
    if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY && header.nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      inet_diag_msg msg;
      std::memcpy(&msg, p + NLMSG_HDRLEN, sizeof(msg));
      if (msg.idiag_family == AF_INET || msg.idiag_family == AF_INET6) {
        Socket s;
        s.protocol = protocol;
        s.state = static_cast<TcpState>(msg.idiag_state);
        s.local = make_address(msg.idiag_family, msg.id.idiag_src, msg.id.idiag_sport);
        s.remote = make_address(msg.idiag_family, msg.id.idiag_dst, msg.id.idiag_dport);
        s.inode = msg.idiag_inode;
        s.uid = msg.idiag_uid;
        s.recv_q = msg.idiag_rqueue;
        s.send_q = msg.idiag_wqueue;
        // idiag_timer 3 is the TIME_WAIT timer; idiag_expires is then the ms left.
        if (msg.idiag_state == static_cast<std::uint8_t>(TcpState::time_wait)) s.expires_ms = msg.idiag_expires;
        // Attributes (rtattr) follow the fixed message, each padded to 4 bytes.
        std::size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(inet_diag_msg));
        while (offset + sizeof(rtattr) <= header.nlmsg_len) {
          rtattr attr;
          std::memcpy(&attr, p + offset, sizeof(attr));
          if (attr.rta_len < sizeof(rtattr) || offset + attr.rta_len > header.nlmsg_len) break;
          if (attr.rta_type == INET_DIAG_INFO && protocol == Protocol::tcp) {
            // Older kernels send a shorter struct: copy what is there, zeros for the rest.
            tcp_info info{};
            std::memcpy(&info, p + offset + RTA_LENGTH(0),
                        std::min<std::size_t>(attr.rta_len - RTA_LENGTH(0), sizeof(info)));
            s.has_info = true;
            s.info.rtt_us = info.tcpi_rtt;
            s.info.rttvar_us = info.tcpi_rttvar;
            s.info.retransmits = info.tcpi_total_retrans;
            s.info.lost = info.tcpi_lost;
            s.info.snd_cwnd = info.tcpi_snd_cwnd;
            s.info.mss = info.tcpi_snd_mss;
          }
          // Sent unasked for IPv6 sockets in LISTEN or CLOSE: whether [::] also takes IPv4.
          if (attr.rta_type == INET_DIAG_SKV6ONLY && attr.rta_len >= RTA_LENGTH(1)) {
            s.v6only = p[offset + RTA_LENGTH(0)] != 0;
          }
          offset += RTA_ALIGN(attr.rta_len);
        }
        out.push_back(s);
      }
    }
    std::size_t step = NLMSG_ALIGN(header.nlmsg_len);
    if (step >= left) break;
    p += step;
    left -= step;
  }
  return 0;
}

bool dump_sockets(bool tcp, bool udp, bool with_info, std::vector<Socket>& out, std::string& error) {
  Fd fd{::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)};
  if (fd.fd < 0) {
    error = std::string("netlink socket: ") + std::strerror(errno);
    return false;
  }
  for (int protocol : {IPPROTO_TCP, IPPROTO_UDP}) {
    if ((protocol == IPPROTO_TCP && !tcp) || (protocol == IPPROTO_UDP && !udp)) continue;
    for (int family : {AF_INET, AF_INET6}) {
      if (!dump_one(fd.fd, family, protocol, with_info, out, error)) return false;
    }
  }
  return true;
}

}  // namespace nuri::conns
