#include "net/fd_reserve.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace nuri::net {

void FdReserve::copy_from(int source) {
  source_ = source;
  remake();
}

bool FdReserve::remake() {
  if (!fd_) fd_.reset(::fcntl(source_, F_DUPFD_CLOEXEC, 0));
  return held();
}

FdReserve::Taken FdReserve::take_one(int listen_fd, sockaddr* peer, socklen_t* length, int flags,
                                     const std::function<void(int)>& refuse) {
  if (!remake()) return Taken::none;  // nothing to give up: the owner retries later
  // accept4 allocates the descriptor before it looks at the queue, so EMFILE also comes when no
  // connection waits: at the end of every accept loop while the table is full. The spare is not
  // given up for that. Its number would be free for a moment, and another worker's accept4 (the
  // threads share one table) could take it: a connection served past the limit, and this worker
  // left without a spare, its next client hanging in the queue. CI saw both with two workers.
  pollfd waiting{listen_fd, POLLIN, 0};
  int ready = ::poll(&waiting, 1, 0);
  if (ready < 0) return errno == EINTR ? Taken::again : Taken::none;
  if (ready == 0) return Taken::none;
  fd_.reset();
  int taken = ::accept4(listen_fd, peer, length, flags);
  int accept_errno = errno;
  if (taken >= 0) {
    if (refuse) refuse(taken);
    // dup3 closes the connection and keeps its number as the new spare in one step. A close
    // and then an open would leave a moment in which another worker's accept4 takes the number:
    // that connection would be served, and this worker left without a spare.
    if (::dup3(source_, taken, O_CLOEXEC) >= 0) {
      fd_.reset(taken);
    } else {
      ::close(taken);
    }
  }
  remake();  // another worker may have taken the freed number first
  if (taken >= 0) return Taken::one;
  return accept_errno == EINTR || accept_errno == ECONNABORTED ? Taken::again : Taken::none;
}

}  // namespace nuri::net
