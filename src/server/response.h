#pragma once
// What a handler answers, before the connection frames it (status line, Date, Content-Length,
// Connection) and sends it. One Response per worker is reused, so steady state allocates nothing.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/status.h"
#include "server/file_cache.h"

namespace nuri::server {

/// A piece of the body: bytes of Response::body, or a range of Response::file.
struct BodySegment {
  bool from_file = false;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct Response {
  http::Status status = http::Status::ok;
  std::string headers;                 ///< extra fields, each "Name: value\r\n"
  std::string body;                    ///< bytes of the body (all of it when segments is empty)
  std::vector<BodySegment> segments;   ///< when not empty: the body, in order
  OpenFile* file = nullptr;            ///< the file segments read from; one reference held
  bool close = false;                  ///< end the connection after this response
  bool stream = false;                 ///< a deferred answer whose body follows in pieces

  void add_header(std::string_view name, std::string_view value) {
    headers.append(name);
    headers.append(": ");
    headers.append(value);
    headers.append("\r\n");
  }

  /// The length of the body as framed.
  std::uint64_t content_length() const {
    if (segments.empty()) return body.size();
    std::uint64_t n = 0;
    for (const auto& s : segments) n += s.length;
    return n;
  }

  void reset() {
    status = http::Status::ok;
    headers.clear();
    body.clear();
    segments.clear();
    file = nullptr;
    close = false;
    stream = false;
  }
};

/// The small HTML page nuri sends with an error status ("404 Not Found").
void append_error_page(std::string& out, int code);

}  // namespace nuri::server
