#pragma once
// Listening sockets and the socket options nuri sets.
#include <cerrno>
#include <string>

#include "net/address.h"

namespace nuri::net {

/// Owns a file descriptor; closes it when destroyed.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// Whether a failed socket(), open() or the like was refused for want of a descriptor or of
/// kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): this process's or machine's shortage, which
/// says nothing about the file or the peer that was asked for.
inline bool short_of_resources(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

/// Opens a non-blocking TCP listening socket bound to `address` with SO_REUSEADDR and
/// SO_REUSEPORT (so that each worker can have its own socket on the same port). On failure
/// returns an invalid descriptor and sets `error` to one line a user understands.
/// `join` = false (the first socket of an address) first checks that no other program listens
/// there: SO_REUSEPORT alone would let a second server of the same user share the port silently.
/// `join` = true adds a socket to a group this process already bound.
FileDescriptor listen_tcp(const SocketAddress& address, int backlog, std::string& error, bool join = false);

/// The address a socket is bound to (the chosen port after binding port 0).
SocketAddress local_address(int fd);

}  // namespace nuri::net
