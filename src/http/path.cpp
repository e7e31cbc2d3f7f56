#include "http/path.h"

#include <cstddef>

#include "http/percent.h"

namespace nuri::http {
namespace {

/// C0 controls and DEL: never part of a file name we serve (NUL would truncate the name for
/// the kernel; CR/LF would end up in logs and Location headers).
constexpr bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

/// Appends the decoded form of `in` to `out` ('+' stays '+' in a path).
bool decode_append(std::string_view in, std::string& out) {
  return percent_decode_append(in, out, /*plus_as_space=*/false);
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();  // keeps the capacity
  out.reserve(in.size());
  if (!decode_append(in, out)) {
    out.clear();
    return false;
  }
  return true;
}

Status normalize_path(std::string_view raw, std::string& out) {
  out.clear();
  if (raw.empty() || raw.front() != '/') return Status::bad_request;
  out.reserve(raw.size());
  // Decode first, so that "%2e%2e" is a ".." segment and "%2F" a separator below: the file
  // system sees the decoded bytes, so that is what must be normalized.
  if (!decode_append(raw, out)) {
    out.clear();
    return Status::bad_request;
  }
  for (const char c : out) {
    if (is_control(static_cast<unsigned char>(c))) {
      out.clear();
      return Status::bad_request;
    }
  }

  // RFC 3986 §5.2.4 (remove_dot_segments), done in place: the output is written at `w`, which
  // never overtakes the read position `r` because every segment written ("/" + name) was read
  // from at least as many bytes at or after `w`. Empty segments ("//") are dropped.
  const std::size_t n = out.size();
  char* const p = out.data();
  std::size_t w = 0;
  std::size_t r = 0;
  bool trailing_slash = false;
  while (r < n) {
    // p[r] == '/': the segment is p[r + 1, end).
    std::size_t end = r + 1;
    while (end < n && p[end] != '/') ++end;
    const std::size_t len = end - r - 1;
    const bool last = end == n;
    if (len == 0 || (len == 1 && p[r + 1] == '.')) {
      trailing_slash = last;
    } else if (len == 2 && p[r + 1] == '.' && p[r + 2] == '.') {
      if (w == 0) {  // ".." above the root: refuse rather than clamp, as the path is hostile
        out.clear();
        return Status::bad_request;
      }
      while (p[--w] != '/') {
      }
      trailing_slash = last;
    } else {
      for (std::size_t i = r; i < end; ++i) p[w++] = p[i];
      trailing_slash = false;
    }
    r = end;
  }
  // "/a/." → "/a/", "/a/.." → "/", "/" → "/". There is room: the final '/' read was not written.
  if (trailing_slash || w == 0) p[w++] = '/';
  out.resize(w);
  return Status::ok;
}

}  // namespace nuri::http
