#pragma once
// The access log in Apache's Combined Log Format. Each worker buffers its lines and writes them
// once per loop iteration with O_APPEND, so workers never interleave inside a line.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

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
  explicit AccessLog(int fd) : fd_(fd) {}

  bool enabled() const { return fd_ >= 0; }

  /// Adds one line.
  void add(const AccessRecord& record);

  /// Writes buffered lines.
  void flush();

 private:
  void refresh_time();

  int fd_;
  std::string buffer_;
  std::time_t second_ = -1;
  char time_[32] = {};
  std::size_t time_length_ = 0;
};

/// Appends `text` to `out` with '"', '\\' and bytes outside printable ASCII escaped as Apache does
/// (\" \\ \xHH), so that no request can forge or break a log line.
void append_log_escaped(std::string& out, std::string_view text);

}  // namespace nuri::server
