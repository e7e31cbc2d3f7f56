#include "server/file_cache.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "http/mime.h"
#include "net/socket.h"

namespace nuri::server {

namespace {

int openat2_beneath(int dir_fd, const char* path, std::uint64_t extra_flags = 0) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | extra_flags;  // O_NONBLOCK: never hang on a FIFO
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);  // RESOLVE_CACHED is not used, but be safe
  return static_cast<int>(fd);
}

}  // namespace

bool kernel_confines_lookups() {
  const int fd = openat2_beneath(AT_FDCWD, ".", O_DIRECTORY);
  if (fd >= 0) ::close(fd);
  return fd >= 0 || errno != ENOSYS;  // EACCES and the like say nothing about the kernel
}

namespace {

// How long a lookup's answer (a file, or that nothing is there) is trusted without asking the
// file system again: a changed or new file is served at most this much later.
constexpr std::int64_t kRecheckMs = 1000;
// Longer paths than this are not remembered as missing: they are not the repeated 404s this
// cache is for, and they would make its bound in memory large.
constexpr std::size_t kMaxMissingPath = 256;

bool same_file(const OpenFile& f, const struct stat& st) {
  return f.dev == st.st_dev && f.ino == st.st_ino && f.size == static_cast<std::uint64_t>(st.st_size) &&
         f.mtime == st.st_mtim.tv_sec && f.mtime_nsec == st.st_mtim.tv_nsec;
}

}  // namespace

OpenFile* open_standalone(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int error = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    ::close(fd);
    errno = error;
    return nullptr;
  }
  auto* f = new OpenFile;
  f->fd = fd;
  f->size = static_cast<std::uint64_t>(st.st_size);
  f->mtime = st.st_mtim.tv_sec;
  f->standalone = true;
  f->refs = 1;
  f->content_type = http::mime_type_for(path);
  f->compute_validators();
  return f;
}

void release_standalone(OpenFile* file) {
  if (--file->refs > 0) return;
  ::close(file->fd);
  delete file;
}

void OpenFile::compute_validators() {
  etag = fmt::format("\"{:x}-{:x}\"", static_cast<std::uint64_t>(mtime), size);
  http::format_http_date(mtime, last_modified);
}

FileCache::FileCache(int root_fd, std::size_t max_entries, std::size_t max_memory_file, std::size_t memory_budget)
    : root_fd_(root_fd), max_entries_(max_entries), max_memory_file_(max_memory_file), memory_budget_(memory_budget) {}

FileCache::~FileCache() {
  for (auto& [path, file] : entries_) {
    file->cached = false;
    if (file->refs == 0) drop(file);
  }
}

Lookup FileCache::open_uncached(std::string_view path, OpenFile*& out) {
  // "/a/b" is opened as "a/b" relative to the root; "/" as the root itself.
  std::string relative = path.size() > 1 ? std::string(path.substr(1)) : std::string(".");
  int fd = openat2_beneath(root_fd_, relative.c_str());
  if (fd < 0) return {LookupKind::error, nullptr, errno};
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return {LookupKind::error, nullptr, e};
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return {LookupKind::directory, nullptr, 0};
  }
  if (!S_ISREG(st.st_mode)) {  // devices, FIFOs, sockets are never served
    ::close(fd);
    return {LookupKind::error, nullptr, EACCES};
  }
  auto* f = new OpenFile;
  ++live_;
  f->owner = this;
  f->fd = fd;
  f->size = static_cast<std::uint64_t>(st.st_size);
  f->mtime = st.st_mtim.tv_sec;
  f->mtime_nsec = st.st_mtim.tv_nsec;
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  f->compute_validators();
  auto slash = path.rfind('/');
  f->content_type = http::mime_type_for(path.substr(slash + 1));
  if (f->size <= max_memory_file_ && memory_used_ + f->size <= memory_budget_) {
    f->content.resize(f->size);
    std::size_t got = 0;
    while (got < f->size) {
      ssize_t n = ::pread(fd, f->content.data() + got, f->size - got, static_cast<off_t>(got));
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got == f->size) {
      f->in_memory = true;
      memory_used_ += f->size;
    } else {
      f->content.clear();
    }
  }
  out = f;
  return {LookupKind::file, f, 0};
}

Lookup FileCache::open(std::string_view path, std::int64_t now_ms) {
  auto it = entries_.find(path);
  if (it != entries_.end()) {
    OpenFile* f = it->second;
    if (now_ms - f->checked_ms < kRecheckMs) {
      ++f->refs;
      return {LookupKind::file, f, 0};
    }
    // Check the path again: the file may have been replaced, changed or removed.
    std::string relative = path.size() > 1 ? std::string(path.substr(1)) : std::string(".");
    int fd = openat2_beneath(root_fd_, relative.c_str());
    if (fd < 0 && net::short_of_resources(errno)) {
      // No descriptor (or memory) to check with says nothing about the file: serve the one
      // held, and check at the next request. Dropping it would turn a full descriptor table
      // into 503s for files that were being served a moment ago.
      ++f->refs;
      return {LookupKind::file, f, 0};
    }
    struct stat st{};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && same_file(*f, st)) {
      ::close(fd);
      f->checked_ms = now_ms;
      ++f->refs;
      return {LookupKind::file, f, 0};
    }
    if (fd >= 0) ::close(fd);
    entries_.erase(it);
    f->cached = false;
    if (f->refs == 0) drop(f);
  }
  auto gone = missing_.find(path);
  if (gone != missing_.end()) {
    if (now_ms - gone->second.checked_ms < kRecheckMs) return {LookupKind::error, nullptr, gone->second.error};
    missing_.erase(gone);
  }
  OpenFile* f = nullptr;
  Lookup result = open_uncached(path, f);
  if (result.kind != LookupKind::file) {
    if ((result.error == ENOENT || result.error == ENOTDIR) && path.size() <= kMaxMissingPath) {
      if (missing_.size() >= max_entries_) forget_missing(now_ms);
      missing_.emplace(std::string(path), Missing{now_ms, result.error});
    }
    return result;
  }
  if (entries_.size() >= max_entries_) evict_unused();
  if (entries_.size() < max_entries_) {
    f->cached = true;
    f->checked_ms = now_ms;
    entries_.emplace(std::string(path), f);
  }
  f->refs = 1;
  return result;
}

int FileCache::open_directory(std::string_view path) const {
  std::string relative = path.size() > 1 ? std::string(path.substr(1)) : std::string(".");
  return openat2_beneath(root_fd_, relative.c_str(), O_DIRECTORY);
}

void FileCache::release(OpenFile* file) {
  if (--file->refs == 0 && !file->cached) drop(file);
}

void FileCache::drop(OpenFile* file) {
  if (file->in_memory) memory_used_ -= file->size;
  if (file->fd >= 0) ::close(file->fd);
  delete file;
  --live_;
}

bool FileCache::in_use() const {
  // Files out of the cache live only while a response holds them.
  if (live_ > entries_.size()) return true;
  for (const auto& [path, file] : entries_) {
    if (file->refs > 0) return true;
  }
  return false;
}

void FileCache::forget_missing(std::int64_t now_ms) {
  std::erase_if(missing_, [now_ms](const auto& entry) { return now_ms - entry.second.checked_ms >= kRecheckMs; });
  // All still fresh (a flood of distinct paths within a second): start over. Each of them then
  // costs one openat2 again, which is what it cost without this cache.
  if (missing_.size() >= max_entries_) missing_.clear();
}

void FileCache::evict_unused() {
  // Crude but bounded: when full, forget every entry no response is using.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->refs == 0) {
      drop(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace nuri::server
