// libFuzzer target for the client's URL code (src/client/url.cpp): the input as a URL typed by a
// user and, split at its first NUL, as a Location received from a server resolved against it.
// Invariants: an accepted URL has a host, a port 1-65535, and a target that starts with '/' and
// holds only bytes a request line can carry (no CR, LF, space, control or '#'); parsing its own
// to_string() gives the same URL back; remove_dot_segments never lengthens a path.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "client/url.h"

using namespace nuri::client;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "url_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

void check(const Url& u) {
  require(!u.host.empty(), "empty host");
  require(u.port != 0, "port 0");
  require(!u.target.empty() && u.target[0] == '/', "target not starting with '/'");
  for (char c : u.target) {
    auto b = static_cast<unsigned char>(c);
    require(b > 0x20 && b < 0x7f && c != '#', "a byte a request line cannot carry");
  }
  for (char c : u.host) require(c != '/' && c != '@' && c != ' ' && c != '\r' && c != '\n', "bad byte in host");
  UrlError kind;
  std::string error;
  auto again = parse_url(u.to_string(), kind, error);
  require(again.has_value(), "to_string() does not parse");
  require(again->host == u.host && again->port == u.port && again->target == u.target, "to_string() round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view first = input.substr(0, nul);
  UrlError kind;
  std::string error;
  auto url = parse_url(first, kind, error);
  if (url) {
    check(*url);
  } else {
    require(!error.empty() && kind != UrlError::none, "failure without a reason");
  }
  if (nul != std::string_view::npos) {
    Url base;
    base.host = "example.test";
    if (url) base = *url;
    auto next = resolve_reference(base, input.substr(nul + 1), kind, error);
    if (next) check(*next);
  }
  std::string path(first);
  require(remove_dot_segments(path).size() <= path.size(), "remove_dot_segments lengthened the path");
  return 0;
}
