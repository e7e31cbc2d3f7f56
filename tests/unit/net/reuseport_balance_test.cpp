#include "net/reuseport_balance.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "net/address.h"

using nuri::net::FileDescriptor;

namespace {

// Connections waiting in `listener`'s queue (accepted and closed), after a short wait for the
// handshakes to land.
int drain(int listener) {
  int taken = 0;
  pollfd p{listener, POLLIN, 0};
  while (::poll(&p, 1, 200) > 0) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) break;
    ::close(fd);
    ++taken;
  }
  return taken;
}

// CAP_BPF (39) or CAP_SYS_ADMIN (21) in effect, or a kernel that lets anyone load the program.
bool may_load_bpf() {
  std::ifstream knob("/proc/sys/kernel/unprivileged_bpf_disabled");
  std::string value;
  if (knob >> value && value == "0") return true;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0) {
      unsigned long long effective = std::stoull(line.substr(7), nullptr, 16);
      return (effective >> 39 & 1) || (effective >> 21 & 1);
    }
  }
  return false;
}

}  // namespace

// Three sockets of one SO_REUSEPORT group on loopback, 30 clients: with the program attached
// each socket gets exactly 10. Without CAP_BPF the kernel refuses the program, and the call
// must say so rather than pretend. (CI runs as root, with the capability.)
TEST(ReuseportBalance, DealsConnectionsToTheSocketsInTurn) {
  std::string error;
  auto any_port = nuri::net::SocketAddress::parse("127.0.0.1:0");
  ASSERT_TRUE(any_port);
  std::vector<FileDescriptor> group;
  group.push_back(nuri::net::listen_tcp(*any_port, 64, error));
  ASSERT_TRUE(group[0]) << error;
  nuri::net::SocketAddress bound = nuri::net::local_address(group[0].get());
  for (int i = 1; i < 3; ++i) {
    group.push_back(nuri::net::listen_tcp(bound, 64, error, true));
    ASSERT_TRUE(group.back()) << error;
  }
  std::string why;
  bool in_turn = nuri::net::balance_round_robin(group[0].get(), 3, why);
  if (!may_load_bpf()) {
    EXPECT_FALSE(in_turn);
    EXPECT_NE(why.find("Operation not permitted"), std::string::npos) << why;
    return;  // the refusal is the behaviour under test here
  }
  ASSERT_TRUE(in_turn) << why;

  std::vector<FileDescriptor> clients;
  for (int i = 0; i < 30; ++i) {
    FileDescriptor c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(c.get(), bound.get(), bound.length()), 0);
    clients.push_back(std::move(c));
  }
  for (const FileDescriptor& l : group) EXPECT_EQ(drain(l.get()), 10);
}
