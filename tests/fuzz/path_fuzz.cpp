// libFuzzer target for http::normalize_path and http::percent_decode.
// Invariants: an accepted path starts with '/', has no empty, "." or ".." segment (no "//",
// "/./", "/../", no trailing "/." or "/.."), no control byte (NUL included), is no longer than
// its input, and is a fixed point when it contains no '%'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/path.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_normalized(std::string_view out) {
  check(!out.empty() && out.front() == '/');
  for (const char c : out) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u != 0x7F);
  }
  // Every segment between slashes is non-empty and neither "." nor ".."; only the last one
  // may be empty (a kept trailing slash).
  std::size_t pos = 1;
  while (pos <= out.size()) {
    std::size_t end = out.find('/', pos);
    if (end == std::string_view::npos) end = out.size();
    const std::string_view seg = out.substr(pos, end - pos);
    check(seg != "." && seg != "..");
    check(!seg.empty() || end == out.size());
    pos = end + 1;
  }
  check(out.find("//") == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  std::string decoded;
  if (nuri::http::percent_decode(raw, decoded)) check(decoded.size() <= raw.size());

  std::string out;
  if (nuri::http::normalize_path(raw, out) != nuri::http::Status::ok) {
    check(out.empty());
    return 0;
  }
  check(out.size() <= raw.size());
  check_normalized(out);
  if (out.find('%') == std::string::npos) {
    std::string again;
    check(nuri::http::normalize_path(out, again) == nuri::http::Status::ok);
    check(again == out);
  }
  return 0;
}
