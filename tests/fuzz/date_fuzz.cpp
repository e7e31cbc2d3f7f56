// libFuzzer target for http::parse_http_date and http::format_http_date.
// Invariants: any parsed date formats to an IMF-fixdate that parses back to the same time; a
// valid IMF-fixdate (29 bytes) formats back to exactly its text, except for a leap second
// (":60"), which becomes the next second; and the first 8 bytes read as a time_t in years
// 0000-9999 survive format then parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include "http/date.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::int64_t kMinFormattable = -62167219200;  // 0000-01-01T00:00:00Z
constexpr std::int64_t kMaxFormattable = 253402300799;  // 9999-12-31T23:59:59Z

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  char buf[nuri::http::kHttpDateLength];

  if (const auto t = nuri::http::parse_http_date(text)) {
    nuri::http::format_http_date(*t, buf);
    const std::string_view formatted(buf, sizeof buf);
    check(nuri::http::parse_http_date(formatted) == t);
    if (size == nuri::http::kHttpDateLength && text.substr(23, 2) != "60") {
      check(formatted == text);
    }
  }

  if (size >= 8) {
    std::int64_t raw = 0;
    std::memcpy(&raw, data, sizeof raw);
    nuri::http::format_http_date(static_cast<std::time_t>(raw), buf);
    const auto back = nuri::http::parse_http_date(std::string_view(buf, sizeof buf));
    check(back.has_value());
    if (raw >= kMinFormattable && raw <= kMaxFormattable) check(*back == raw);
  }
  return 0;
}
