#include "server/file_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "../support/no_free_descriptor.h"

namespace fs = std::filesystem;
using nuri::server::FileCache;
using nuri::server::LookupKind;

namespace {

class FileCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nuri-file-cache-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    fs::create_directories(base_ / "root" / "dir");
    write(base_ / "secret.txt", "secret");
    write(base_ / "root" / "a.txt", "hello");
    write(base_ / "root" / "dir" / "b.css", "body{}");
    fs::create_symlink(base_ / "secret.txt", base_ / "root" / "escape");
    fs::create_symlink("a.txt", base_ / "root" / "inside");
    fs::create_symlink(base_, base_ / "root" / "updir");
    root_fd_ = ::open((base_ / "root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd_, 0);
  }
  void TearDown() override {
    ::close(root_fd_);
    fs::remove_all(base_);
  }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  fs::path base_;
  int root_fd_ = -1;
};

}  // namespace

TEST_F(FileCacheTest, OpensFilesWithValidatorsAndContent) {
  FileCache cache(root_fd_);
  auto found = cache.open("/a.txt", 0);
  ASSERT_EQ(found.kind, LookupKind::file);
  EXPECT_EQ(found.file->size, 5u);
  EXPECT_TRUE(found.file->in_memory);
  EXPECT_EQ(found.file->content, "hello");
  EXPECT_EQ(found.file->content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(found.file->etag.front(), '"');
  EXPECT_EQ(found.file->etag.back(), '"');
  cache.release(found.file);
  EXPECT_EQ(cache.open("/dir", 0).kind, LookupKind::directory);
  EXPECT_EQ(cache.open("/", 0).kind, LookupKind::directory);
  auto css = cache.open("/dir/b.css", 0);
  EXPECT_EQ(css.file->content_type, "text/css; charset=utf-8");
  cache.release(css.file);
}

TEST_F(FileCacheTest, TheKernelRefusesEveryEscape) {
  FileCache cache(root_fd_);
  auto escape = cache.open("/escape", 0);  // symlink to a file beside the root
  EXPECT_EQ(escape.kind, LookupKind::error);
  EXPECT_EQ(escape.error, EXDEV);
  auto updir = cache.open("/updir/secret.txt", 0);  // symlink to the root's parent
  EXPECT_EQ(updir.kind, LookupKind::error);
  // Even an unnormalized path cannot climb out: RESOLVE_BENEATH checks "..", too.
  auto dotdot = cache.open("/../secret.txt", 0);
  EXPECT_EQ(dotdot.kind, LookupKind::error);
  EXPECT_EQ(dotdot.error, EXDEV);
  auto inside = cache.open("/inside", 0);  // a symlink that stays beneath the root is fine
  ASSERT_EQ(inside.kind, LookupKind::file);
  EXPECT_EQ(inside.file->content, "hello");
  cache.release(inside.file);
  EXPECT_EQ(cache.open("/missing", 0).error, ENOENT);
  EXPECT_EQ(cache.open("/a.txt/x", 0).error, ENOTDIR);
}

TEST_F(FileCacheTest, HitsAreSharedAndRecheckedAfterASecond) {
  FileCache cache(root_fd_);
  auto first = cache.open("/a.txt", 0);
  auto second = cache.open("/a.txt", 500);
  EXPECT_EQ(first.file, second.file);
  EXPECT_EQ(first.file->refs, 2u);
  cache.release(second.file);
  write(base_ / "root" / "a.txt", "changed!");
  // Within the second the cached entry is used; after it the change is seen.
  auto stale = cache.open("/a.txt", 900);
  EXPECT_EQ(stale.file, first.file);
  cache.release(stale.file);
  auto fresh = cache.open("/a.txt", 1500);
  ASSERT_EQ(fresh.kind, LookupKind::file);
  EXPECT_EQ(fresh.file->content, "changed!");
  // The old entry lives on while a response still uses it.
  EXPECT_EQ(first.file->content, "hello");
  cache.release(first.file);
  cache.release(fresh.file);
  fs::remove(base_ / "root" / "a.txt");
  EXPECT_EQ(cache.open("/a.txt", 3000).error, ENOENT);
}

TEST_F(FileCacheTest, MissingPathsAreRememberedForASecond) {
  FileCache cache(root_fd_, 4);
  EXPECT_EQ(cache.open("/new.txt", 0).error, ENOENT);
  EXPECT_EQ(cache.open("/a.txt/x", 0).error, ENOTDIR);
  write(base_ / "root" / "new.txt", "new");
  // Within the second the answer "missing" is trusted, as a found file is; after it the file is.
  EXPECT_EQ(cache.open("/new.txt", 900).error, ENOENT);
  EXPECT_EQ(cache.open("/a.txt/x", 900).error, ENOTDIR);
  auto found = cache.open("/new.txt", 1000);
  ASSERT_EQ(found.kind, LookupKind::file);
  EXPECT_EQ(found.file->content, "new");
  cache.release(found.file);

  // More distinct missing paths than entries: the oldest answers are forgotten, never kept
  // past the bound, and a file created meanwhile is found at once once its answer is gone.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(cache.open("/junk" + std::to_string(i), 2000).error, ENOENT);
  write(base_ / "root" / "junk0", "j");
  for (int i = 4; i < 8; ++i) EXPECT_EQ(cache.open("/junk" + std::to_string(i), 2000).error, ENOENT);
  auto junk = cache.open("/junk0", 2000);
  ASSERT_EQ(junk.kind, LookupKind::file);
  cache.release(junk.file);

  // Long paths are not remembered at all.
  std::string long_dir(200, 'd');
  std::string long_path = "/" + long_dir + "/" + std::string(100, 'f');
  fs::create_directory(base_ / "root" / long_dir);
  EXPECT_EQ(cache.open(long_path, 3000).error, ENOENT);
  write(base_ / "root" / long_path.substr(1), "long");
  auto long_found = cache.open(long_path, 3000);
  ASSERT_EQ(long_found.kind, LookupKind::file);
  cache.release(long_found.file);
}

TEST_F(FileCacheTest, NeverServesSpecialFiles) {
  ASSERT_EQ(::mkfifo((base_ / "root" / "fifo").c_str(), 0644), 0);
  FileCache cache(root_fd_);
  auto fifo = cache.open("/fifo", 0);  // must not block, must not serve
  EXPECT_EQ(fifo.kind, LookupKind::error);
  EXPECT_EQ(fifo.error, EACCES);
}

TEST_F(FileCacheTest, LargeFilesStayOnDisk) {
  std::string big(100 * 1024, 'x');
  write(base_ / "root" / "big.bin", big);
  FileCache cache(root_fd_, 1024, 32 * 1024);
  auto found = cache.open("/big.bin", 0);
  ASSERT_EQ(found.kind, LookupKind::file);
  EXPECT_FALSE(found.file->in_memory);
  EXPECT_GE(found.file->fd, 0);
  EXPECT_EQ(found.file->size, big.size());
  EXPECT_EQ(found.file->content_type, "application/octet-stream");
  cache.release(found.file);
}

// The 1-second recheck needs a descriptor. With none left (the soft limit lowered to the lowest
// free number) the cached file is still served, and checked again at a later request.
TEST_F(FileCacheTest, ServesACachedFileWhenNoDescriptorIsLeftToRecheckIt) {
  FileCache cache(root_fd_);
  auto first = cache.open("/a.txt", 0);
  ASSERT_EQ(first.kind, LookupKind::file);
  cache.release(first.file);

  nuri::server::Lookup again;
  {
    nuri::test::NoFreeDescriptor none;
    ASSERT_TRUE(none.lowered());
    again = cache.open("/a.txt", 5000);  // a recheck is due, and openat2 fails with EMFILE
    EXPECT_TRUE(none.full()) << "the limit did not bite";
  }
  ASSERT_EQ(again.kind, LookupKind::file);
  EXPECT_EQ(again.file, first.file);
  EXPECT_EQ(again.file->content, "hello");
  cache.release(again.file);

  // Descriptors again: the recheck runs, and a changed file is seen.
  write(base_ / "root" / "a.txt", "changed!");
  auto changed = cache.open("/a.txt", 5001);
  ASSERT_EQ(changed.kind, LookupKind::file);
  EXPECT_EQ(changed.file->content, "changed!");
  cache.release(changed.file);
}
