#pragma once
// A blocking HTTP/1.1 client for the command line (`nuri get`): one request at a time over one
// kept-alive connection, responses read strictly by nuri's own parser (http/response_parser.h),
// every step optionally traced with its time. Not for the event loop.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/url.h"

namespace nuri::client {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  Url url;
  Fields headers;          ///< the user's: replace a default of the same name; an empty value removes it
  std::string body;
  bool has_body = false;   ///< send Content-Length (even 0) and the body
};

/// The request head as it goes on the wire: request line, Host, User-Agent, Accept, the
/// user's fields (replacing defaults of the same name, or removing them when empty), and
/// Content-Length for a body; CRLF line ends.
std::string build_head(const Request& request);

/// A response head, copied out of the read buffer.
struct Head {
  int version_minor = 1;
  int status = 0;
  std::string reason;
  Fields headers;   ///< names and values as received
  std::string raw;  ///< status line to the empty line, CRLFs included, exactly as received

  std::optional<std::string> find(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
};

/// Where a response goes. Return false from either call on a write error.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool on_head(const Head& head) = 0;
  virtual bool on_data(std::string_view bytes) = 0;
};

enum class Error : std::uint8_t {
  none,
  resolve,       ///< the host name has no address
  connect,       ///< every address refused or was unreachable
  timeout,       ///< the deadline passed
  empty_reply,   ///< the server closed without sending a byte
  bad_response,  ///< not a valid HTTP/1.x response head, or a malformed chunked body
  truncated,     ///< a read failed (a reset), or the connection ended before the body did
  write,         ///< the sink refused the bytes
};

/// Milliseconds from the start of the fetch to the end of each step; 0 for a step that did
/// not happen (a reused connection has no DNS or connect step).
struct Timing {
  double dns = 0;
  double connect = 0;
  double first_byte = 0;
  double total = 0;
};

struct Outcome {
  Error error = Error::none;
  std::string message;         ///< one line, when error != none
  Head head;                   ///< the final (non-1xx) response head
  std::uint64_t body_bytes = 0;
  Timing timing;
  bool reused = false;         ///< went over a connection kept alive from an earlier request
  int connection_number = 0;   ///< 1 for the first connection opened, 2 for the next...
  std::string peer;            ///< "127.0.0.1:8080"
};

class Client {
 public:
  /// `trace`: where --trace lines go (nullptr: nowhere); `color`: paint them with the
  /// terminal palette (notes dim, the request cyan, the status by its class).
  explicit Client(std::FILE* trace, bool color = false) : trace_(trace), color_(color) {}
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Every step from now on must end within `ms` milliseconds (0: no limit).
  void set_deadline_in(int ms);

  /// Sends `request` and reads its response into `sink`, reusing the open connection when it
  /// goes to the same host and port and the last response allowed it.
  Outcome fetch(const Request& request, Sink& sink);

  /// Closes the kept-alive connection, if any.
  void close();

 private:
  struct Io;
  Outcome attempt(const Request& request, Sink& sink, bool& retry);
  bool connect_to(const Request& request, Outcome& out);
  void trace(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void trace_request_line(std::string_view line);
  void trace_response_line(std::string_view line, bool status_line);
  /// One `<` line per line of `head` (a status line and its fields, without the empty line).
  void trace_response_head(std::string_view head);
  double elapsed_ms() const;
  int remaining_ms() const;  // -1: no deadline

  std::FILE* trace_;
  bool color_ = false;
  int fd_ = -1;
  std::string key_;   // "host:port" of the open connection
  std::string peer_;
  int connections_ = 0;
  std::int64_t start_ns_ = 0;     // of the current fetch
  std::int64_t deadline_ns_ = 0;  // 0: none
};

/// Monotonic nanoseconds.
std::int64_t now_ns();

}  // namespace nuri::client
