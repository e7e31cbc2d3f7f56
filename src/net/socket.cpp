#include "net/socket.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nuri::net {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

void FileDescriptor::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

FileDescriptor bound_socket(const SocketAddress& address, bool reuse_port, std::string& error) {
  FileDescriptor fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = fmt::format("cannot create a socket for {}: {}", address.to_string(), std::strerror(errno));
    return {};
  }
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT does not block a restart
  if (reuse_port) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) {
    // [::] means IPv6 only; 0.0.0.0 is listed separately when IPv4 is wanted too.
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), address.get(), address.length()) != 0) {
    int e = errno;
    if (e == EADDRINUSE) {
      error = fmt::format("cannot listen on {}: the port is already in use by another program", address.to_string());
    } else if (e == EACCES) {
      error = fmt::format("cannot listen on {}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
                          address.to_string());
    } else if (e == EADDRNOTAVAIL) {
      error = fmt::format("cannot listen on {}: no interface of this machine has that address", address.to_string());
    } else {
      error = fmt::format("cannot listen on {}: {}", address.to_string(), std::strerror(e));
    }
    return {};
  }
  return fd;
}

}  // namespace

FileDescriptor listen_tcp(const SocketAddress& address, int backlog, std::string& error, bool join) {
  if (!join && address.port() != 0) {
    // A probe without SO_REUSEPORT conflicts with any listener on the port, a group of
    // SO_REUSEPORT sockets included; it is closed before it ever listens.
    if (!bound_socket(address, false, error)) return {};
  }
  FileDescriptor fd = bound_socket(address, true, error);
  if (!fd) return {};
  if (::listen(fd.get(), backlog) != 0) {
    error = fmt::format("cannot listen on {}: {}", address.to_string(), std::strerror(errno));
    return {};
  }
  return fd;
}

SocketAddress local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace nuri::net
