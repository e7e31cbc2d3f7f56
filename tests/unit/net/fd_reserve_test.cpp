#include "net/fd_reserve.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "net/address.h"

using nuri::net::FdReserve;
using nuri::net::FileDescriptor;

namespace {

// Both descriptors open the same file (the spare is a duplicate of its source).
bool same_file(int a, int b) {
  struct stat sa {}, sb {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

TEST(FdReserve, CountsRefusalsIntoOneLineASecond) {
  FdReserve reserve;
  EXPECT_EQ(reserve.count_refusal(5000), 1u);  // the first one is logged at once
  EXPECT_EQ(reserve.count_refusal(5100), 0u);
  EXPECT_EQ(reserve.count_refusal(5999), 0u);
  EXPECT_EQ(reserve.count_refusal(6000), 3u);  // the three since the last line
  EXPECT_EQ(reserve.count_refusal(6500), 0u);
  EXPECT_EQ(reserve.count_refusal(7200), 2u);
}

// A real listener on loopback: the waiting client is accepted, answered by `refuse`, and closed;
// the spare is held again afterwards, under the accepted connection's number, and an empty
// queue says `none` without losing it.
TEST(FdReserve, TakesTheWaitingConnectionAndKeepsItsNumberAsTheSpare) {
  FileDescriptor source(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(source);
  FdReserve reserve;
  reserve.copy_from(source.get());
  ASSERT_TRUE(reserve.held());

  std::string error;
  auto address = nuri::net::SocketAddress::parse("127.0.0.1:0");
  ASSERT_TRUE(address);
  FileDescriptor listener = nuri::net::listen_tcp(*address, 16, error);
  ASSERT_TRUE(listener) << error;
  sockaddr_in bound{};
  socklen_t bound_length = sizeof bound;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length), 0);
  FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&bound), bound_length), 0);

  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  int refused = -1;
  auto taken = reserve.take_one(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_CLOEXEC,
                                [&](int fd) {
                                  refused = fd;
                                  ASSERT_EQ(::write(fd, "503", 3), 3);
                                });
  EXPECT_EQ(taken, FdReserve::Taken::one);
  ASSERT_GE(refused, 0);
  EXPECT_EQ(peer.ss_family, AF_INET);
  EXPECT_TRUE(reserve.held());
  EXPECT_TRUE(same_file(refused, source.get())) << "the connection's number is the spare now";

  char buffer[8];
  EXPECT_EQ(::read(client.get(), buffer, sizeof buffer), 3);
  EXPECT_EQ(std::string(buffer, 3), "503");
  EXPECT_EQ(::read(client.get(), buffer, sizeof buffer), 0) << "closed after the answer";

  EXPECT_EQ(reserve.take_one(listener.get(), nullptr, nullptr, SOCK_CLOEXEC, {}), FdReserve::Taken::none);
  EXPECT_TRUE(reserve.held());
}
