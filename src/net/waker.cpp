#include "net/waker.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace nuri::net {

Waker::Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

void Waker::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof one);
}

void Waker::on_event(std::uint32_t) {
  std::uint64_t value;
  [[maybe_unused]] auto n = ::read(fd_.get(), &value, sizeof value);  // resets the counter
}

}  // namespace nuri::net
