// libFuzzer target for cookies (src/http/cookie.cpp), two ways:
// - the input as a Cookie header: every pair found has a token name and a value without ';',
//   control bytes or '"', both lying inside the input, and no more than the limit;
// - the input split at NUL bytes into name, value, path and domain of a Set-Cookie (flags from
//   a hash): an accepted one has no control byte at all, starts with exactly name=value, and
//   reads back as that one cookie.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/cookie.h"

using namespace nuri::http;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "cookie_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_header(std::string_view input, std::uint64_t h) {
  const std::size_t max = (h & 1) ? 3 : 200;
  std::vector<CookiePair> out;
  const Status s = parse_cookie_header(input, out, max);
  require(s == Status::ok || s == Status::header_fields_too_large, "ok or 431");
  require(out.size() <= max, "count within the limit");
  for (const CookiePair& c : out) {
    require(!c.name.empty() && inside(c.name, input) && inside(c.value, input), "views inside");
    for (const char ch : c.name) require(is_tchar(ch), "name is a token");
    for (const char ch : c.value) {
      const auto u = static_cast<unsigned char>(ch);
      require(u >= 0x20 && u != 0x7F && ch != ';' && ch != '"' && ch != '\\', "value bytes");
    }
    require(find_cookie(out, c.name).has_value(), "found by name");
  }
}

void check_set_cookie(std::string_view input, std::uint64_t h) {
  std::string fields[4];
  std::size_t k = 0;
  for (const char c : input) {
    if (c == '\0' && k < 3) {
      ++k;
    } else {
      fields[k] += c;
    }
  }
  SetCookie c;
  c.name = fields[0];
  c.value = fields[1];
  c.path = fields[2];
  c.domain = fields[3];
  if (h & 2) c.max_age = static_cast<std::int64_t>(h >> 8) - (1LL << 40);
  if (h & 4) c.expires = static_cast<std::time_t>(static_cast<std::int64_t>(h >> 1));
  c.secure = (h & 8) != 0;
  c.http_only = (h & 16) != 0;
  c.same_site = static_cast<SameSite>((h >> 5) & 3);

  std::string out;
  const SetCookieError e = format_set_cookie(c, out);
  require(describe(e) != "unknown", "described");
  if (e != SetCookieError::ok) {
    require(out.empty(), "an error writes nothing");
    return;
  }
  for (const char ch : out) {
    const auto u = static_cast<unsigned char>(ch);
    require(u >= 0x20 && u < 0x7F, "printable ASCII only: no header can be injected");
  }
  const std::string head = c.name + "=" + c.value;
  require(out.compare(0, head.size(), head) == 0, "starts with name=value");
  require(out.size() == head.size() || out[head.size()] == ';', "attributes follow a ';'");
  std::vector<CookiePair> back;
  require(parse_cookie_header(std::string_view(out).substr(0, head.size()), back) == Status::ok,
          "reads back");
  std::string_view value = c.value;
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  require(back.size() == 1 && back[0].name == c.name && back[0].value == value,
          "reads back as the same cookie");
  require(!(c.same_site == SameSite::none && !c.secure), "SameSite=None only with Secure");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603u;  // FNV-1a
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_header(input, h);
  check_set_cookie(input, h);
  return 0;
}
