#include "app/request_path.h"

#include "http/chars.h"
#include "http/percent.h"

namespace nuri::app {
namespace {

bool is_unreserved(char c) {
  return http::chars::is(c, http::chars::kAlpha | http::chars::kDigit) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// The byte that the escape at the start of `text` ("%61...") stands for; nullopt if `text` does
// not start with a well-formed one.
std::optional<char> escaped_byte(std::string_view text) {
  std::string byte;
  if (text.size() < 3 || !http::percent_decode_append(text.substr(0, 3), byte)) return std::nullopt;
  return byte[0];
}

}  // namespace

std::optional<std::string> normalize_request_path(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out += raw[i];
      continue;
    }
    std::optional<char> byte = escaped_byte(raw.substr(i));
    // Decoding around a stray '%' could make a new escape of it ("%6%61" → "%6a"): the path
    // stays as sent, and the router, which refuses malformed escapes, matches no route.
    if (!byte) return std::string(raw);
    if (*byte == '\0') return std::nullopt;
    if (is_unreserved(*byte)) {
      out += *byte;
    } else {
      out.append(raw, i, 3);
    }
    i += 2;
  }
  return out;
}

}  // namespace nuri::app
