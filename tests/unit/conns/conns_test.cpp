#include "conns/conns.h"

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include <cstring>
#include <sstream>

using namespace nuri::conns;

namespace {

Row row(TcpState state, const char* local, const char* remote, Protocol proto = Protocol::tcp) {
  Row r;
  r.socket.protocol = proto;
  r.socket.state = state;
  r.socket.local = *nuri::net::SocketAddress::parse(local);
  r.socket.remote = *nuri::net::SocketAddress::parse(remote);
  return r;
}

TEST(Conns, StateNames) {
  EXPECT_EQ(parse_state("time-wait"), TcpState::time_wait);
  EXPECT_EQ(parse_state("TIME_WAIT"), TcpState::time_wait);
  EXPECT_EQ(parse_state("Fin-Wait-1"), TcpState::fin_wait1);
  EXPECT_EQ(parse_state("listen"), TcpState::listen);
  EXPECT_EQ(parse_state("unconn"), TcpState::close);
  EXPECT_FALSE(parse_state("sleepy"));
  EXPECT_FALSE(parse_state(""));
  EXPECT_EQ(state_name(Protocol::tcp, TcpState::close_wait), "CLOSE_WAIT");
  EXPECT_EQ(state_name(Protocol::udp, TcpState::close), "UNCONN");
  EXPECT_EQ(state_name(Protocol::tcp, static_cast<TcpState>(99)), "UNKNOWN");
}

TEST(Conns, WhoCanReachAListener) {
  EXPECT_NE(reach_note(*nuri::net::SocketAddress::parse("0.0.0.0:80")).find("every interface (0.0.0.0)"), std::string::npos);
  EXPECT_NE(reach_note(*nuri::net::SocketAddress::parse("[::]:80")).find("every interface (::)"), std::string::npos);
  EXPECT_NE(reach_note(*nuri::net::SocketAddress::parse("127.0.0.1:80")).find("this machine only"), std::string::npos);
  EXPECT_NE(reach_note(*nuri::net::SocketAddress::parse("[::1]:80")).find("this machine only"), std::string::npos);
  EXPECT_NE(reach_note(*nuri::net::SocketAddress::parse("192.168.17.17:80")).find("only via 192.168.17.17"), std::string::npos);
}

TEST(Conns, Filters) {
  Row listen = row(TcpState::listen, "127.0.0.1:8080", "0.0.0.0:0");
  Row est = row(TcpState::established, "127.0.0.1:50000", "127.0.0.1:8080");
  est.owners.push_back({42, "curl"});
  Filter f;
  EXPECT_TRUE(matches(f, listen) && matches(f, est));
  f.ports = {8080};
  EXPECT_TRUE(matches(f, listen) && matches(f, est));
  f.ports = {50000};
  EXPECT_FALSE(matches(f, listen));
  EXPECT_TRUE(matches(f, est));
  f = {};
  f.listening = true;
  EXPECT_TRUE(matches(f, listen));
  EXPECT_FALSE(matches(f, est));
  EXPECT_TRUE(matches(f, row(TcpState::close, "0.0.0.0:53", "0.0.0.0:0", Protocol::udp)));
  f = {};
  f.states = {TcpState::established};
  EXPECT_FALSE(matches(f, listen));
  EXPECT_TRUE(matches(f, est));
  f = {};
  f.pids = {42};
  EXPECT_FALSE(matches(f, listen));
  EXPECT_TRUE(matches(f, est));
}

TEST(Conns, WatchDiffAndLines) {
  std::map<Key, Row> a, b;
  Row est = row(TcpState::established, "127.0.0.1:50000", "127.0.0.1:8080");
  Row gone = row(TcpState::close_wait, "127.0.0.1:8080", "127.0.0.1:50001");
  Row fresh = row(TcpState::syn_sent, "127.0.0.1:50002", "127.0.0.1:8080");
  a[key_of(est.socket)] = est;
  a[key_of(gone.socket)] = gone;
  Row tw = est;
  tw.socket.state = TcpState::time_wait;
  tw.socket.expires_ms = 59001;
  b[key_of(tw.socket)] = tw;
  b[key_of(fresh.socket)] = fresh;
  auto changes = diff(a, b);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind, Change::Kind::gone);
  EXPECT_EQ(changes[1].kind, Change::Kind::changed);
  EXPECT_EQ(changes[2].kind, Change::Kind::added);
  std::string line = format_change(changes[1], "12:00:00.000");
  EXPECT_EQ(line.rfind("12:00:00.000 tcp 127.0.0.1:50000 -> 127.0.0.1:8080", 0), 0u) << line;
  EXPECT_NE(line.find("ESTABLISHED -> TIME_WAIT (60 s left) [via FIN_WAIT1, FIN_WAIT2 between two polls]"), std::string::npos) << line;
  EXPECT_NE(format_change(changes[0], "t").find("gone (was CLOSE_WAIT)"), std::string::npos);
  EXPECT_NE(format_change(changes[2], "t").find("new SYN_SENT"), std::string::npos);
  EXPECT_TRUE(diff(b, b).empty());
}

TEST(Conns, TableAndJson) {
  Row listen = row(TcpState::listen, "0.0.0.0:8080", "0.0.0.0:0");
  listen.owners.push_back({7, "nuri"});
  listen.socket.send_q = 511;
  Row tw = row(TcpState::time_wait, "[::1]:50000", "[::1]:8080");
  tw.socket.expires_ms = 1;
  std::string table = format_table({listen, tw}, false);
  EXPECT_NE(table.find("tcp   LISTEN      0.0.0.0:8080                 0.0.0.0:*                    7/nuri"), std::string::npos) << table;
  EXPECT_NE(table.find("1 s left"), std::string::npos) << table;
  std::string json = format_json({listen, tw}, true);
  EXPECT_NE(json.find("\"time_wait_ms_left\": 1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"reachable_from\""), std::string::npos);
}

TEST(Conns, ProgramNamesAreEscapedAndTheColumnsStayAligned) {
  Row evil = row(TcpState::listen, "127.0.0.1:8080", "0.0.0.0:0");
  evil.owners.push_back({4242, "e\x1b[2J\x1b]0;X\x07"});
  Row plain = row(TcpState::listen, "127.0.0.1:8081", "0.0.0.0:0");
  plain.owners.push_back({7, "nuri"});
  const std::string table = format_table({evil, plain}, false);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_NE(table.find("4242/e\\x1b[2J\\x1b]0;X\\x07"), std::string::npos) << table;
  // Every row's Note starts under the title's.
  std::istringstream lines(table);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(first.find("this machine only"), header.find("Note")) << table;
  EXPECT_EQ(second.find("this machine only"), header.find("Note")) << table;
  Change change{Change::Kind::added, evil, TcpState::close};
  EXPECT_EQ(format_change(change, "t").find('\x1b'), std::string::npos);
}

// A netlink answer built by hand: one IPv4 socket with a tcp_info attribute, then DONE.
TEST(SockDiag, ParsesRecordsAndRefusesBadLengths) {
  alignas(nlmsghdr) char buf[1024] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  inet_diag_msg msg{};
  msg.idiag_family = AF_INET;
  msg.idiag_state = 6;  // TIME_WAIT
  msg.idiag_expires = 4321;
  msg.id.idiag_sport = htons(8080);
  msg.id.idiag_dport = htons(50000);
  msg.id.idiag_src[0] = htonl(0x7f000001);
  msg.id.idiag_dst[0] = htonl(0x7f000002);
  std::memcpy(buf + NLMSG_HDRLEN, &msg, sizeof(msg));
  std::size_t len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(msg));
  h->nlmsg_len = static_cast<std::uint32_t>(len);
  h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  auto* done = reinterpret_cast<nlmsghdr*>(buf + len);
  done->nlmsg_len = NLMSG_HDRLEN + 4;
  done->nlmsg_type = NLMSG_DONE;
  std::vector<Socket> out;
  std::string error;
  EXPECT_EQ(parse_diag_messages(buf, len + done->nlmsg_len, Protocol::tcp, out, error), 1) << error;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, TcpState::time_wait);
  EXPECT_EQ(out[0].expires_ms, 4321u);
  EXPECT_EQ(out[0].local.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(out[0].remote.to_string(), "127.0.0.2:50000");
  // Only the first record, without DONE: more to come.
  out.clear();
  EXPECT_EQ(parse_diag_messages(buf, len, Protocol::tcp, out, error), 0);
  // A length past the buffer.
  h->nlmsg_len = 5000;
  EXPECT_EQ(parse_diag_messages(buf, len, Protocol::tcp, out, error), -1);
  EXPECT_FALSE(error.empty());
  h->nlmsg_len = 3;
  EXPECT_EQ(parse_diag_messages(buf, len, Protocol::tcp, out, error), -1);
  // A short tail is ignored rather than read.
  out.clear();
  EXPECT_EQ(parse_diag_messages(buf, 7, Protocol::tcp, out, error), 0);
  EXPECT_TRUE(out.empty());
}

TEST(SockDiag, ReadsTheV6OnlyAttributeOfAnIpv6Listener) {
  alignas(nlmsghdr) char buf[512] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  inet_diag_msg msg{};
  msg.idiag_family = AF_INET6;
  msg.idiag_state = 10;  // LISTEN
  msg.id.idiag_sport = htons(8080);
  std::memcpy(buf + NLMSG_HDRLEN, &msg, sizeof(msg));
  std::size_t len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(msg));
  rtattr attr{};
  attr.rta_len = RTA_LENGTH(1);
  attr.rta_type = INET_DIAG_SKV6ONLY;
  std::memcpy(buf + len, &attr, sizeof(attr));
  buf[len + RTA_LENGTH(0)] = 1;
  len += RTA_ALIGN(attr.rta_len);
  h->nlmsg_len = static_cast<std::uint32_t>(len);
  h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  std::vector<Socket> out;
  std::string error;
  ASSERT_EQ(parse_diag_messages(buf, len, Protocol::tcp, out, error), 0) << error;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].v6only);
  EXPECT_EQ(out[0].local.to_string(), "[::]:8080");
  // The same record without the attribute: [::] takes IPv4 too.
  h->nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(msg)));
  out.clear();
  ASSERT_EQ(parse_diag_messages(buf, h->nlmsg_len, Protocol::tcp, out, error), 0) << error;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].v6only);
}

}  // namespace
