#pragma once
// A spare descriptor kept for the moment a process runs out of them. accept4 then fails with
// EMFILE while the connection stays in the listen queue, where edge-triggered epoll will not
// report it again: giving the spare up lets the worker take the connection, refuse it and close
// it, instead of leaving the client hanging. Used by `serve` and `forward` workers alike.
#include <sys/socket.h>

#include <cstdint>
#include <functional>

#include "base/log.h"
#include "net/socket.h"

namespace nuri::net {

class FdReserve {
 public:
  /// The spare is a duplicate of `source`, which its owner keeps open longer than this object
  /// (a worker's eventfd): any open descriptor would do, and a duplicate can also be made in
  /// place with dup3 (take_one).
  void copy_from(int source);
  /// Makes the spare again if it was lost (another worker took its number); true if one is held.
  bool remake();
  bool held() const { return static_cast<bool>(fd_); }

  enum class Taken { one, again, none };
  /// After accept4 failed with EMFILE or ENFILE: gives up the spare, accepts the next waiting
  /// connection (`peer`, `length` and `flags` as for accept4), lets `refuse` write to it (it must
  /// not close it; may be empty), then closes it and keeps its number as the spare in one step.
  /// `one`: a connection was taken and closed; `again`: accept4 was interrupted, try again;
  /// `none`: no connection waits, or no spare could be given up.
  Taken take_one(int listen_fd, sockaddr* peer, socklen_t* length, int flags,
                 const std::function<void(int)>& refuse);

  /// Counts a refused connection. Returns how many were refused since the last log line when a
  /// new line is due (the first one, then at most one a second), else 0: a flood must not flood
  /// the log.
  std::uint64_t count_refusal(std::int64_t now_ms) { return refusals_.add(now_ms); }
  /// The refusals held back, once their line is due (base::LogThrottle::due).
  std::uint64_t refusals_due(std::int64_t now_ms) { return refusals_.due(now_ms); }

 private:
  int source_ = -1;
  FileDescriptor fd_;
  base::LogThrottle refusals_;
};

}  // namespace nuri::net
