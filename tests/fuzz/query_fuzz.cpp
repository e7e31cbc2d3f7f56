// libFuzzer target for query-string / urlencoded-form parsing (src/http/query.cpp) and the
// shared percent-decoder (src/http/percent.cpp). Invariants: the decoder fails exactly when
// some '%' lacks two hex digits; a parse error leaves nothing; accepted pairs respect the limits
// and, encoded again, parse back to themselves.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/percent.h"
#include "http/query.h"

using namespace nuri::http;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "query_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Independent of the decoder: every '%' starts "%XX".
bool escapes_valid(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (s.size() - i < 3) return false;
    if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

// The form encoding of `s`: unreserved bytes as they are, space as '+', the rest as %XX.
void encode(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  for (const bool plus : {false, true}) {
    std::string decoded;
    const bool ok = percent_decode_append(input, decoded, plus);
    require(ok == escapes_valid(input), "decoder fails exactly on a malformed escape");
    if (ok) require(decoded.size() <= input.size(), "decoding never lengthens");
  }

  const QueryLimits limits{size % 7 == 0 ? std::size_t{3} : std::size_t{1000},
                           size % 5 == 0 ? size / 2 : std::size_t{64 * 1024}};
  QueryParams q;
  const Status s = q.parse(input, limits);
  require(s == Status::ok || s == Status::bad_request || s == Status::content_too_large,
          "ok, 400 or 413");
  if (s != Status::ok) {
    require(q.empty(), "an error leaves nothing");
    return 0;
  }
  require(q.size() <= limits.max_pairs && input.size() <= limits.max_size, "within limits");

  std::string again;
  for (const auto& p : q.pairs()) {
    require(q.first(p.name).has_value(), "every name is found");
    if (!again.empty()) again += '&';
    encode(p.name, again);
    again += '=';
    encode(p.value, again);
  }
  QueryParams q2;
  require(q2.parse(again, {limits.max_pairs, again.size()}) == Status::ok, "encoded pairs parse");
  // A name-only pair ("a") comes back as "a=" with the same empty value; empty names stay.
  require(q2.pairs() == q.pairs(), "encoded pairs parse back to themselves");
  return 0;
}
