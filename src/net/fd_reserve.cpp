#include "net/fd_reserve.h"

#include <fcntl.h>
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
  // accept4 allocates the descriptor before it looks at the queue: EMFILE also comes when no
  // connection waits, so the answer of the second accept4 decides whether to go on.
  if (!remake()) return Taken::none;  // nothing to give up: the owner retries later
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
