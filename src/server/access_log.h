#pragma once
// The access log: Apache's Combined or Common Log Format, or one JSON object per line. Each
// worker buffers its lines and writes them once per loop iteration with O_APPEND, so workers
// never interleave inside a line. A log that cannot be written (a full disk) costs requests
// nothing: their lines are dropped, and the server says so once, then once more when it can write
// again.
#include <atomic>
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
  std::string_view user;          ///< the user Basic authentication admitted; empty: "-"
};

/// Whether the access log can be written, shared by every worker that writes to it, so that a
/// failure is reported once for the server, not once per worker or per request.
struct AccessLogHealth {
  std::atomic<bool> failing{false};
  std::atomic<std::uint64_t> dropped{0};  ///< lines lost since it began failing
  std::atomic<bool> torn{false};          ///< the last write left part of a line in the file
};

class AccessLog {
 public:
  /// `fd`: where lines go (borrowed), or -1 for no log. `health`: shared with the other writers of
  /// the same log (borrowed); null: this log's own.
  explicit AccessLog(int fd, config::LogFormat format = config::LogFormat::combined,
                     AccessLogHealth* health = nullptr)
      : fd_(fd), format_(format), health_(health ? health : &own_health_) {}
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  /// Replaces the log at a reload (flush first): a failure stays reported until a write succeeds.
  void reset(int fd, config::LogFormat format) {
    fd_ = fd;
    format_ = format;
  }

  bool enabled() const { return fd_ >= 0; }

  /// Adds one line.
  void add(const AccessRecord& record);

  /// Writes buffered lines. If they cannot be written they are dropped; the first failure
  /// (and the first success after failures) is reported on the error log.
  void flush();

 private:
  void refresh_time();
  void write_failed(std::size_t written, std::size_t prefix, int error);
  void write_resumed();

  void add_json(const AccessRecord& record);

  int fd_;
  config::LogFormat format_;
  AccessLogHealth own_health_;
  AccessLogHealth* health_;
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
