#pragma once
// The access log: Apache's Combined or Common Log Format, or one JSON object per line. Each
// worker buffers its lines and writes them once per loop iteration with O_APPEND, so workers
// never interleave inside a line.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "config/config.h"

namespace nuri::server {

/// One finished request, as the access log needs it.
struct AccessRecord {
  std::string_view client;        ///< "127.0.0.1"
  std::string_view request_line;  ///< "GET / HTTP/1.1", raw bytes (escaped when written)
  int status = 0;
  std::uint64_t bytes = 0;        ///< body bytes
  std::string_view referer;       ///< empty: "-"
  std::string_view user_agent;    ///< empty: "-"
};

class AccessLog {
 public:
  /// `fd`: where lines go (borrowed), or -1 for no log.
  explicit AccessLog(int fd, config::LogFormat format = config::LogFormat::combined) : fd_(fd), format_(format) {}

  bool enabled() const { return fd_ >= 0; }

  /// Adds one line.
  void add(const AccessRecord& record);

  /// Writes buffered lines.
  void flush();

 private:
  void refresh_time();

  void add_json(const AccessRecord& record);

  int fd_;
  config::LogFormat format_;
  std::string buffer_;
  std::time_t second_ = -1;
  char time_[32] = {};
  std::size_t time_length_ = 0;
  char iso_time_[32] = {};
  std::size_t iso_time_length_ = 0;
};

/// Appends `text` to `out` with '"', '\\' and bytes outside printable ASCII escaped as Apache does
/// (\" \\ \xHH), so that no request can forge or break a log line.
void append_log_escaped(std::string& out, std::string_view text);

/// Appends `text` as a JSON string (with quotes). Bytes that are not printable ASCII become
/// \u00XX, so the line is valid JSON whatever the client sent.
void append_json_string(std::string& out, std::string_view text);

}  // namespace nuri::server
