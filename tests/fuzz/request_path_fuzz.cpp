// libFuzzer target for app::normalize_request_path (src/app/request_path.cpp), the path libnuri's
// hooks see and its router matches. Promises checked (request_path.h), against plain reference
// code here:
//  - nullopt only when the input holds "%00";
//  - a result is never longer than the input, and normalizing it again changes nothing;
//  - it decodes to the same bytes as the input, or neither decodes (a malformed escape): the
//    router sees the same segments through either;
//  - when the input decodes, no escape of an unreserved character (ALPHA DIGIT - . _ ~) is left,
//    and every other escape is kept as sent (its case too).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "app/request_path.h"
#include "http/path.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// Every '%' in `text` starts a well-formed escape; the escapes left must not name an
// unreserved character.
void check_no_unreserved_escape(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    check(i + 2 < text.size());
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    check(hi >= 0 && lo >= 0);
    check(!unreserved(static_cast<unsigned char>(hi * 16 + lo)));
    i += 2;
  }
}

// The escapes of `in` that do not name an unreserved character, in order, as sent.
std::string kept_escapes(std::string_view in) {
  std::string kept;
  for (std::size_t i = 0; i + 2 < in.size(); ++i) {
    if (in[i] != '%') continue;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) continue;
    if (!unreserved(static_cast<unsigned char>(hi * 16 + lo))) kept.append(in.substr(i, 3));
    i += 2;
  }
  return kept;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> path = nuri::app::normalize_request_path(raw);
  if (!path) {
    check(raw.find("%00") != std::string_view::npos);
    return 0;
  }
  check(path->size() <= raw.size());

  const std::optional<std::string> again = nuri::app::normalize_request_path(*path);
  check(again && *again == *path);

  std::string raw_decoded;
  std::string path_decoded;
  const bool raw_ok = nuri::http::percent_decode(raw, raw_decoded);
  const bool path_ok = nuri::http::percent_decode(*path, path_decoded);
  check(raw_ok == path_ok);
  if (raw_ok) {
    check(raw_decoded == path_decoded);
    // "%00" never gets through; a NUL in the decoded path is one sent as a raw byte.
    if (raw.find('\0') == std::string_view::npos) check(raw_decoded.find('\0') == std::string::npos);
    check_no_unreserved_escape(*path);
    check(kept_escapes(*path) == kept_escapes(raw));
  } else {
    check(*path == raw);
  }
  return 0;
}
