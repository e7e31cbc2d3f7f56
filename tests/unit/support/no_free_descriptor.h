#pragma once
// Runs out of file descriptors for a while: the soft RLIMIT_NOFILE is lowered to the lowest free
// number, so that the next open, socket or dup fails with EMFILE, as in a server whose table is
// full. The limit comes back when the object goes.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace nuri::test {

class NoFreeDescriptor {
 public:
  NoFreeDescriptor() {
    int lowest_free = ::dup(0);
    if (lowest_free < 0 || ::getrlimit(RLIMIT_NOFILE, &saved_) != 0) return;
    ::close(lowest_free);
    rlimit none = saved_;
    none.rlim_cur = static_cast<rlim_t>(lowest_free);
    lowered_ = ::setrlimit(RLIMIT_NOFILE, &none) == 0;
  }
  ~NoFreeDescriptor() {
    if (lowered_) ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  NoFreeDescriptor(const NoFreeDescriptor&) = delete;
  NoFreeDescriptor& operator=(const NoFreeDescriptor&) = delete;

  /// Whether the limit could be lowered (getrlimit and setrlimit succeeded).
  bool lowered() const { return lowered_; }

  /// Whether the table is full now: a dup fails with EMFILE. Asked after the code under test
  /// ran, it shows the limit did bite (a test that could not lower it proves nothing).
  bool full() const {
    int fd = ::dup(0);
    if (fd >= 0) ::close(fd);
    return lowered_ && fd < 0 && errno == EMFILE;
  }

 private:
  rlimit saved_{};
  bool lowered_ = false;
};

}  // namespace nuri::test
