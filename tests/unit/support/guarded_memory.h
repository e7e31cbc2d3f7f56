#pragma once
// A buffer for tests of code that reads bytes it is given: whatever it is handed ends exactly at
// a PROT_NONE page (picohttpparser's test trick), so reading one byte past the end faults at
// once instead of going unnoticed.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace nuri::test {

/// Memory whose last byte is followed by a PROT_NONE page. Owns the mapping; not copyable.
/// Aborts if the mapping cannot be made.
class GuardedMemory {
 public:
  /// Room for at least `capacity` bytes before the guard page.
  explicit GuardedMemory(std::size_t capacity) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    data_bytes_ = (capacity + page_ - 1) / page_ * page_;
    void* m = mmap(nullptr, data_bytes_ + page_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) std::abort();
    memory_ = static_cast<char*>(m);
    if (mprotect(memory_ + data_bytes_, page_, PROT_NONE) != 0) std::abort();
  }
  ~GuardedMemory() { munmap(memory_, data_bytes_ + page_); }
  GuardedMemory(const GuardedMemory&) = delete;
  GuardedMemory& operator=(const GuardedMemory&) = delete;

  /// Copies `bytes` so that they end right before the guard page and returns the copy, valid
  /// until the next place() or the end of this object. Aborts if they do not fit.
  std::string_view place(std::string_view bytes) {
    if (bytes.size() > data_bytes_) std::abort();
    char* begin = memory_ + data_bytes_ - bytes.size();
    if (!bytes.empty()) std::memcpy(begin, bytes.data(), bytes.size());
    return {begin, bytes.size()};
  }

 private:
  std::size_t page_ = 0;
  std::size_t data_bytes_ = 0;
  char* memory_ = nullptr;
};

}  // namespace nuri::test
