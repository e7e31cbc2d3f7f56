// libFuzzer target for the client's cookie code (src/client/cookie_jar.cpp): the input as a
// Set-Cookie value from a server and as the lines of a Netscape cookie file. Invariants: a stored
// cookie has a name and a domain, no control byte, ';' or tab in its name or value (so neither
// the Cookie header nor the cookie file can be broken), a path starting with '/'; the file the
// jar writes reads back to the same cookies.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "client/cookie_jar.h"

using namespace nuri::client;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "cookie_jar_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

void check(const StoredCookie& c) {
  require(!c.name.empty() && !c.domain.empty(), "empty name or domain");
  require(!c.path.empty() && c.path[0] == '/', "path not starting with '/'");
  for (std::string_view s : {std::string_view(c.name), std::string_view(c.value)}) {
    for (char ch : s) {
      auto b = static_cast<unsigned char>(ch);
      require(b >= 0x20 && b != 0x7f && ch != ';', "control byte or ';' in name or value");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Url url;
  url.host = "www.example.test";
  url.target = "/a/b";
  CookieJar jar;
  jar.store(input, url, 1'700'000'000);
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    jar.load_line(input.substr(start, end - start));
    start = end + 1;
  }
  for (const auto& c : jar.cookies()) check(c);
  std::string header = jar.header_for(url, 1'700'000'000);
  require(header.find_first_of("\r\n") == std::string::npos, "line break in the Cookie header");

  // Write and read back.
  char path[] = "/tmp/cookie_jar_fuzz_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 0;
  close(fd);
  std::string error;
  if (jar.save(path, 1'700'000'000, error)) {
    CookieJar back;
    require(back.load(path, error), "cannot read its own file");
    std::size_t live = 0;
    for (const auto& c : jar.cookies()) live += c.expires == 0 || c.expires > 1'700'000'000;
    require(back.cookies().size() == live, "cookie count changed through the file");
  }
  unlink(path);
  return 0;
}
