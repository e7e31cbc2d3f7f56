#include "server/directory_listing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nuri::server::kMaxListingEntries;
using nuri::server::ListingFormat;
using nuri::server::render_directory_listing;

namespace {

class DirectoryListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nuri-dirlist-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    fs::remove_all(base_);
  }

  void file(const std::string& name, std::size_t size = 0, std::time_t mtime = 0) {
    std::ofstream(base_ / name, std::ios::binary) << std::string(size, 'x');
    if (mtime != 0) set_mtime(name, mtime);
  }
  void dir(const std::string& name) { fs::create_directory(base_ / name); }
  void set_mtime(const std::string& name, std::time_t mtime) {
    timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (base_ / name).c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  }

  int open_dir(int flags = O_RDONLY) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(base_.c_str(), flags | O_DIRECTORY | O_CLOEXEC);
    return fd_;
  }

  std::string render(ListingFormat format, std::string_view url = "/docs/", bool dots = false) {
    std::string out = "stale";
    EXPECT_TRUE(render_directory_listing(open_dir(), url, format, dots, out));
    return out;
  }
  std::string html(std::string_view url = "/docs/", bool dots = false) {
    return render(ListingFormat::html, url, dots);
  }
  nlohmann::json json(std::string_view url = "/docs/", bool dots = false) {
    return nlohmann::json::parse(render(ListingFormat::json, url, dots));
  }
  static std::vector<std::string> names(const nlohmann::json& doc) {
    std::vector<std::string> result;
    for (const auto& e : doc.at("entries")) result.push_back(e.at("name").get<std::string>());
    return result;
  }
  static std::size_t count(std::string_view hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto pos = hay.find(needle); pos != hay.npos; pos = hay.find(needle, pos + 1)) ++n;
    return n;
  }

  fs::path base_;
  int fd_ = -1;
};

TEST_F(DirectoryListingTest, HtmlPageShape) {
  file("a.txt", 5, 1'700'000'000);
  std::string page = html();
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_NE(page.find("<title>Index of /docs/</title>"), std::string::npos);
  EXPECT_NE(page.find("<a href=\"../\">"), std::string::npos);
  EXPECT_NE(page.find(">Name</th>"), std::string::npos);
  EXPECT_NE(page.find(">Size</th>"), std::string::npos);
  EXPECT_NE(page.find(">Last modified</th>"), std::string::npos);
  EXPECT_NE(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  // No external resources.
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("http"), std::string::npos);
  EXPECT_NE(page.find("<a href=\"a.txt\">a.txt</a>"), std::string::npos);
  EXPECT_NE(page.find("data-sort=\"5\">5 B</td>"), std::string::npos);
  EXPECT_NE(page.find("data-sort=\"1700000000\"><time>2023-11-14T22:13:20Z</time>"),
            std::string::npos);
}

TEST_F(DirectoryListingTest, RootHasNoParentLink) {
  file("a.txt");
  std::string page = html("/");
  EXPECT_EQ(page.find("../"), std::string::npos);
  EXPECT_NE(page.find("<title>Index of /</title>"), std::string::npos);
}

TEST_F(DirectoryListingTest, DirectoriesFirstThenByteOrder) {
  file("b");
  file("B");
  file("a");
  file("\xC3\xA9");  // é sorts after ASCII
  dir("zdir");
  dir("adir");
  EXPECT_EQ(names(json()),
            (std::vector<std::string>{"adir", "zdir", "B", "a", "b", "\xC3\xA9"}));
  std::string page = html();
  auto adir = page.find("href=\"adir/\">adir/</a>");
  auto zdir = page.find("href=\"zdir/\">zdir/</a>");
  auto big_b = page.find("href=\"B\">B</a>");
  auto a = page.find("href=\"a\">a</a>");
  ASSERT_NE(adir, std::string::npos);
  ASSERT_NE(zdir, std::string::npos);
  ASSERT_NE(big_b, std::string::npos);
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(adir, zdir);
  EXPECT_LT(zdir, big_b);
  EXPECT_LT(big_b, a);
  EXPECT_NE(page.find("data-sort=\"-1\">-</td>"), std::string::npos);  // a directory's size
}

TEST_F(DirectoryListingTest, HumanReadableSizes) {
  file("zero", 0);
  file("small", 1023);
  file("kib", 1536);
  file("big", 20 * 1024 * 1024 + 1);
  std::string page = html();
  EXPECT_NE(page.find("data-sort=\"0\">0 B</td>"), std::string::npos);
  EXPECT_NE(page.find("data-sort=\"1023\">1023 B</td>"), std::string::npos);
  EXPECT_NE(page.find("data-sort=\"1536\">1.5 KiB</td>"), std::string::npos);
  EXPECT_NE(page.find("data-sort=\"20971521\">20 MiB</td>"), std::string::npos);
}

TEST_F(DirectoryListingTest, HostileNamesAreEscapedInTextAndEncodedInLinks) {
  file("<script>alert(1)<\\script>");
  file("a&b");
  file("q\"uote's");
  file("with space");
  file("100%");
  file("x#y");
  file("what?.txt");
  file("caf\xC3\xA9");
  dir("d<i>r");
  std::string page = html();
  // The only <script> is the page's own sorting script.
  EXPECT_EQ(count(page, "<script"), 1u);
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find(">&lt;script&gt;alert(1)&lt;\\script&gt;</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"%3Cscript%3Ealert%281%29%3C%5Cscript%3E\""), std::string::npos);
  EXPECT_NE(page.find("href=\"a%26b\">a&amp;b</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"q%22uote%27s\">q&quot;uote&#39;s</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"with%20space\">with space</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"100%25\">100%</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"x%23y\">x#y</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"what%3F.txt\">what?.txt</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"caf%C3%A9\">caf\xC3\xA9</a>"), std::string::npos);
  EXPECT_NE(page.find("href=\"d%3Ci%3Er/\">d&lt;i&gt;r/</a>"), std::string::npos);
  EXPECT_EQ(page.find("<i>"), std::string::npos);
}

TEST_F(DirectoryListingTest, UrlPathIsEscaped) {
  std::string page = html("/<b>&/");
  EXPECT_NE(page.find("<title>Index of /&lt;b&gt;&amp;/</title>"), std::string::npos);
  EXPECT_EQ(page.find("<b>"), std::string::npos);
}

TEST_F(DirectoryListingTest, InvalidUtf8Names) {
  file("bad\xFF\xFEname");
  file("overlong\xC0\xAF");
  file("cut\xE2\x82");
  std::string page = html();
  // Links keep the raw bytes, so the request names the same file.
  EXPECT_NE(page.find("href=\"bad%FF%FEname\""), std::string::npos);
  EXPECT_NE(page.find("href=\"overlong%C0%AF\""), std::string::npos);
  EXPECT_NE(page.find("href=\"cut%E2%82\""), std::string::npos);
  // Text shows U+FFFD in their place.
  EXPECT_NE(page.find(">bad\xEF\xBF\xBD\xEF\xBF\xBDname</a>"), std::string::npos);
  EXPECT_EQ(page.find('\xFF'), std::string::npos);
  EXPECT_EQ(page.find('\xC0'), std::string::npos);

  std::string text;
  ASSERT_TRUE(render_directory_listing(open_dir(), "/docs/", ListingFormat::json, false, text));
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(text));
  ASSERT_EQ(doc["entries"].size(), 3u);
  for (const auto& e : doc["entries"]) {
    EXPECT_NE(e["name"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
  }
}

TEST_F(DirectoryListingTest, DotfilesHiddenOrShown) {
  file(".hidden");
  dir(".git");
  file("visible");
  EXPECT_EQ(names(json("/docs/", false)), std::vector<std::string>{"visible"});
  EXPECT_EQ(names(json("/docs/", true)), (std::vector<std::string>{".git", ".hidden", "visible"}));
  std::string page = html("/docs/", false);
  EXPECT_EQ(page.find(".hidden"), std::string::npos);
  EXPECT_NE(html("/docs/", true).find("href=\".hidden\""), std::string::npos);
  // "." and ".." are never entries, even with dotfiles shown.
  for (const auto& name : names(json("/docs/", true))) {
    EXPECT_NE(name, ".");
    EXPECT_NE(name, "..");
  }
}

TEST_F(DirectoryListingTest, SymlinksAreNotFollowed) {
  file("target", 100);
  dir("realdir");
  fs::create_symlink("target", base_ / "link");
  fs::create_symlink("realdir", base_ / "dirlink");
  fs::create_symlink("/nonexistent/nowhere", base_ / "dangling");
  nlohmann::json doc = json();
  ASSERT_EQ(doc["entries"].size(), 5u);
  std::map<std::string, std::string> types;
  for (const auto& e : doc["entries"]) types[e["name"]] = e["type"];
  EXPECT_EQ(types["target"], "file");
  EXPECT_EQ(types["realdir"], "directory");
  EXPECT_EQ(types["link"], "symlink");
  EXPECT_EQ(types["dirlink"], "symlink");
  EXPECT_EQ(types["dangling"], "symlink");
  for (const auto& e : doc["entries"]) {
    if (e["name"] == "link") {
      EXPECT_EQ(e["size"], 6);  // lstat: the target's length, not 100
    }
  }
  std::string page = html();
  EXPECT_NE(page.find("href=\"dirlink\">dirlink</a>"), std::string::npos);  // no trailing '/'
}

TEST_F(DirectoryListingTest, OtherTypes) {
  ASSERT_EQ(::mkfifo((base_ / "fifo").c_str(), 0600), 0);
  nlohmann::json doc = json();
  ASSERT_EQ(doc["entries"].size(), 1u);
  EXPECT_EQ(doc["entries"][0]["type"], "other");
}

TEST_F(DirectoryListingTest, EmptyDirectory) {
  nlohmann::json doc = json();
  EXPECT_EQ(doc["path"], "/docs/");
  EXPECT_TRUE(doc["entries"].is_array());
  EXPECT_TRUE(doc["entries"].empty());
  EXPECT_FALSE(doc.contains("truncated"));
  std::string page = html();
  EXPECT_NE(page.find("<tbody>\n</tbody>"), std::string::npos);
}

TEST_F(DirectoryListingTest, JsonRoundTrip) {
  file("a.txt", 1234, 1'800'000'000);
  dir("sub");
  set_mtime("sub", 0 + 86400);
  file("<&\"'>");
  nlohmann::json doc = json("/d\"ocs/");
  EXPECT_EQ(doc["path"], "/d\"ocs/");
  ASSERT_EQ(doc["entries"].size(), 3u);
  const auto& sub = doc["entries"][0];
  EXPECT_EQ(sub["name"], "sub");
  EXPECT_EQ(sub["type"], "directory");
  EXPECT_EQ(sub["mtime"], 86400);
  EXPECT_EQ(sub["modified"], "1970-01-02T00:00:00Z");
  const auto& odd = doc["entries"][1];
  EXPECT_EQ(odd["name"], "<&\"'>");
  const auto& a = doc["entries"][2];
  EXPECT_EQ(a["name"], "a.txt");
  EXPECT_EQ(a["type"], "file");
  EXPECT_EQ(a["size"], 1234);
  EXPECT_EQ(a["mtime"], 1'800'000'000);
  EXPECT_EQ(a["modified"], "2027-01-15T08:00:00Z");
  for (const auto& e : doc["entries"]) {
    EXPECT_EQ(e.size(), 5u);
    EXPECT_TRUE(e["size"].is_number_unsigned());
    EXPECT_TRUE(e["mtime"].is_number_integer());
  }
}

TEST_F(DirectoryListingTest, WorksOnPathDescriptorWithoutMovingIt) {
  file("a");
  file("b");
  int fd = open_dir(O_PATH);
  ASSERT_GE(fd, 0);
  std::string out;
  ASSERT_TRUE(render_directory_listing(fd, "/", ListingFormat::json, false, out));
  EXPECT_EQ(names(nlohmann::json::parse(out)), (std::vector<std::string>{"a", "b"}));
  // Twice on the same descriptor gives the same listing.
  std::string again;
  ASSERT_TRUE(render_directory_listing(fd, "/", ListingFormat::json, false, again));
  EXPECT_EQ(out, again);
}

TEST_F(DirectoryListingTest, UnreadableDirectoryFails) {
  std::string out = "stale";
  EXPECT_FALSE(render_directory_listing(-1, "/", ListingFormat::html, false, out));
  EXPECT_TRUE(out.empty());

  // A regular file is not a directory.
  file("plain");
  int fd = ::open((base_ / "plain").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  out = "stale";
  EXPECT_FALSE(render_directory_listing(fd, "/", ListingFormat::json, false, out));
  EXPECT_TRUE(out.empty());
  ::close(fd);

  if (::geteuid() != 0) {  // root reads anything
    dir("locked");
    ::chmod((base_ / "locked").c_str(), 0);
    fd = ::open((base_ / "locked").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    out = "stale";
    EXPECT_FALSE(render_directory_listing(fd, "/locked/", ListingFormat::html, false, out));
    EXPECT_TRUE(out.empty());
    ::close(fd);
    ::chmod((base_ / "locked").c_str(), 0700);
  }
}

TEST_F(DirectoryListingTest, CapKeepsTheSmallestNames) {
  constexpr std::size_t kCap = 5;
  for (const char* name : {"f3", "f1", "f5", "f2", "f4"}) file(name);
  auto capped = [&](ListingFormat format) {
    std::string out;
    EXPECT_TRUE(render_directory_listing(open_dir(), "/docs/", format, false, out, kCap));
    return out;
  };
  nlohmann::json doc = nlohmann::json::parse(capped(ListingFormat::json));
  EXPECT_EQ(names(doc), (std::vector<std::string>{"f1", "f2", "f3", "f4", "f5"}));
  EXPECT_FALSE(doc.contains("truncated"));  // exactly at the cap
  EXPECT_EQ(capped(ListingFormat::html).find("listing truncated"), std::string::npos);

  // Past the cap, the listing is the first names in byte order whatever readdir's order:
  // larger names are dropped and smaller ones push out the largest kept so far.
  for (const char* name : {"g", "f6", "e", "f0"}) file(name);
  doc = nlohmann::json::parse(capped(ListingFormat::json));
  EXPECT_EQ(names(doc), (std::vector<std::string>{"e", "f0", "f1", "f2", "f3"}));
  EXPECT_EQ(doc["truncated"], true);
  EXPECT_EQ(doc["note"], "listing truncated");
  EXPECT_NE(capped(ListingFormat::html).find("listing truncated"), std::string::npos);

  // Dotfiles left out do not count against the cap.
  for (const char* name : {".a", ".b", ".c", ".d", ".e", ".f"}) file(name);
  EXPECT_EQ(names(nlohmann::json::parse(capped(ListingFormat::json))),
            (std::vector<std::string>{"e", "f0", "f1", "f2", "f3"}));

  std::string out;
  ASSERT_TRUE(render_directory_listing(open_dir(), "/", ListingFormat::json, false, out, 0));
  doc = nlohmann::json::parse(out);
  EXPECT_TRUE(doc["entries"].empty());
  EXPECT_EQ(doc["truncated"], true);
}

TEST_F(DirectoryListingTest, DoesNotLeakDescriptors) {
  auto open_fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  file("a");
  int fd = open_dir();
  std::size_t before = open_fds();
  std::string out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(render_directory_listing(fd, "/", ListingFormat::html, false, out));
    EXPECT_FALSE(render_directory_listing(-1, "/", ListingFormat::html, false, out));
  }
  EXPECT_EQ(open_fds(), before);
}

TEST_F(DirectoryListingTest, DefaultCapIsTenThousand) {
  EXPECT_EQ(kMaxListingEntries, 10'000u);
}

}  // namespace
