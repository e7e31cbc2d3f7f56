#pragma once
// A per-worker cache of open files (nginx's open_file_cache): the descriptor, stat, validators,
// Content-Type and, for small files, the bytes themselves, so that a hit costs no system call.
// Entries are checked against the file system again once a second.
#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/date.h"

namespace nuri::server {

class FileCache;

/// An open regular file (or an embedded page, with fd -1) and what responses need about it.
struct OpenFile {
  FileCache* owner = nullptr;  ///< the cache to give it back to; null for embedded pages
  int fd = -1;
  std::uint64_t size = 0;
  std::time_t mtime = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  long mtime_nsec = 0;
  std::string etag;                              ///< strong: "\"<mtime hex>-<size hex>\""
  char last_modified[http::kHttpDateLength] = {};
  std::string_view content_type;
  std::string content;        ///< the bytes, when `in_memory`
  bool in_memory = false;
  std::uint32_t refs = 0;     ///< responses still sending it
  bool cached = false;        ///< still owned by the cache
  bool standalone = false;    ///< opened for one response (a back end's file): freed at refs 0
  std::int64_t checked_ms = 0;

  std::string_view last_modified_text() const { return {last_modified, http::kHttpDateLength}; }
  /// Fills etag and last_modified from size and mtime.
  void compute_validators();
  /// The file was seen to change under a response (it ended before its size): the cache checks
  /// the file system again at the next lookup instead of trusting this entry for up to a second.
  void mark_stale() { checked_ms = std::numeric_limits<std::int64_t>::min() / 2; }
};

/// Opens `path` (any regular file: the caller chose it, not a client) for one response, with one
/// reference; release_standalone() gives it back. Null with errno set when it cannot be opened
/// or is not a regular file (EISDIR, EINVAL).
OpenFile* open_standalone(const std::string& path);
void release_standalone(OpenFile* file);

/// Whether this kernel has openat2 (Linux 5.6), which every file lookup under a document root
/// uses to stay beneath it. Without it nuri must not serve files rather than serve them unconfined.
bool kernel_confines_lookups();

enum class LookupKind : std::uint8_t { file, directory, error };

struct Lookup {
  LookupKind kind = LookupKind::error;
  OpenFile* file = nullptr;  ///< kind == file: holds one reference; give it back with release()
  int error = 0;             ///< kind == error: errno (ENOENT, EACCES, EXDEV, ELOOP, EMFILE...)
};

class FileCache {
 public:
  /// `root_fd`: the document root, opened O_PATH|O_DIRECTORY; borrowed.
  FileCache(int root_fd, std::size_t max_entries = 1024, std::size_t max_memory_file = 32 * 1024,
            std::size_t memory_budget = 32 * 1024 * 1024);
  ~FileCache();
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;

  /// Opens `path` (normalized, starting with '/') beneath the root with openat2(RESOLVE_BENEATH):
  /// the kernel refuses anything that leaves the root, through ".." or a symlink. A file found,
  /// and a path found missing, are trusted for a second before the file system is asked again.
  Lookup open(std::string_view path, std::int64_t now_ms);

  /// Gives back a reference taken by open().
  void release(OpenFile* file);

  /// Opens the directory `path` beneath the root (same confinement as open()) for reading its
  /// entries; -1 with errno set on failure. The caller closes it.
  int open_directory(std::string_view path) const;

  /// Whether a response still holds one of its files (then it must outlive them).
  bool in_use() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  Lookup open_uncached(std::string_view path, OpenFile*& out);
  void drop(OpenFile* file);
  void evict_unused();
  void forget_missing(std::int64_t now_ms);

  int root_fd_;
  std::size_t max_entries_;
  std::size_t max_memory_file_;
  std::size_t memory_budget_;
  std::size_t memory_used_ = 0;
  std::size_t live_ = 0;  // OpenFiles not yet dropped, cached or not
  std::unordered_map<std::string, OpenFile*, Hash, std::equal_to<>> entries_;
  // Paths found missing (ENOENT, ENOTDIR) and when: trusted for as long as an open file is, so a
  // stream of 404s (a scanner, a missing favicon) costs a hash lookup instead of a path walk in
  // the kernel. Bounded in count and in key length: junk paths cannot grow it.
  struct Missing {
    std::int64_t checked_ms;
    int error;
  };
  std::unordered_map<std::string, Missing, Hash, std::equal_to<>> missing_;
};

}  // namespace nuri::server
