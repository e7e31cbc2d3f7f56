#pragma once
// The HTTP/1.x response parser (RFC 9112 §4-§7): sans-I/O, zero-copy, strict. For the reverse
// proxy (and `nuri get`): an upstream's head is parsed as strictly as a client's request (the
// same line ends: CRLF or bare LF), the body framing is decided from the request method and the
// status (§6.3), and a body reader tells a complete body from one cut short by a closed
// connection.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/parser.h"

namespace nuri::http {

/// How the message after a response head is delimited (RFC 9112 §6.3).
enum class ResponseFraming : std::uint8_t {
  none,                 ///< no body: HEAD request, 204, 304
  content_length,       ///< exactly content_length bytes (0 included)
  chunked,              ///< chunked transfer coding, final
  until_close,          ///< no usable framing: the body ends when the upstream closes
  interim,              ///< a 1xx other than 101: no body, the final response follows
  switching_protocols,  ///< 101: the connection speaks another protocol after the head
  tunnel,               ///< 2xx to CONNECT: the connection is a tunnel after the head
};

/// Why a response head was refused. A proxy answers 502 to each of them.
enum class ResponseError : std::uint8_t {
  none,
  bad_status_line,        ///< malformed version, status code (not 100-599), separator,
                          ///< reason byte or line end
  unsupported_version,    ///< well-formed, but neither HTTP/1.0 nor HTTP/1.1
  bad_field,              ///< malformed field line: obs-fold, whitespace before the colon,
                          ///< byte outside the name or value grammar, bare CR
  head_too_large,         ///< no end of head within max_head_bytes
  too_many_fields,        ///< more than max_field_count field lines
  bad_content_length,     ///< not 1*DIGIT, past 2^63-1, or differing values
  bad_transfer_encoding,  ///< malformed or empty list, chunked twice, too many codings,
                          ///< or any Transfer-Encoding in HTTP/1.0 (§6.1: faulty framing)
  bad_connection,         ///< Connection is not a list of tokens
};

/// A short English description of `e`, for logs.
std::string_view describe(ResponseError e);

/// The most field lines a Response holds (a fixed array: parsing allocates nothing). More than
/// a request's kMaxHeaderCount: an application sets one cookie per Set-Cookie line, and a few
/// hundred lines fit in max_head_bytes.
inline constexpr std::size_t kMaxResponseFieldCount = 256;

struct ResponseLimits {
  std::size_t max_head_bytes = 16384;                    ///< status line to final empty line
  std::size_t max_field_count = kMaxResponseFieldCount;  ///< at most kMaxResponseFieldCount
};

/// At most this many transfer codings are kept; more is bad_transfer_encoding.
inline constexpr std::size_t kMaxTransferCodings = 8;

/// A parsed response head. Views point into the buffer given to the parser.
struct Response {
  int version_minor = 1;         ///< HTTP/1.<version_minor>: 0 or 1
  int status = 0;                ///< 100-599
  std::string_view reason;       ///< as sent, possibly empty
  Header headers[kMaxResponseFieldCount];
  std::size_t header_count = 0;
  bool connection_close = false;       ///< Connection names "close"
  bool connection_keep_alive = false;  ///< Connection names "keep-alive"
  bool has_content_length = false;     ///< a valid Content-Length was present (ignored for
  std::uint64_t content_length = 0;    ///< a 2xx to CONNECT, as §6.3 says)
  std::string_view transfer_codings[kMaxTransferCodings];  ///< coding names in order,
  std::size_t transfer_coding_count = 0;                   ///< parameters dropped
  ResponseFraming framing = ResponseFraming::none;
  /// Both Transfer-Encoding and Content-Length: the coding won (§6.3 item 3), but the message
  /// may be a smuggling attempt: drop Content-Length when forwarding, do not reuse the upstream.
  bool framing_conflict = false;
  /// The upstream connection may carry another request after this message: the version and
  /// Connection allow it, and the framing ends the message without closing (not until_close,
  /// switching_protocols, tunnel, nor a framing conflict).
  bool keep_alive = false;

  /// The value of the first field named `name` (ASCII case-insensitive), or nullopt.
  std::optional<std::string_view> find(std::string_view name) const;
};

struct ResponseResult {
  ParseState state = ParseState::incomplete;
  std::size_t consumed = 0;  ///< complete: length of the head with its final line end; else 0
  ResponseError error = ResponseError::none;
};

/// Parses response heads, resumably, like RequestParser: give it the bytes received so far of
/// the current response (from its first byte) and the method of the request it answers (the
/// same for every call of one response); call again with those bytes plus more while it says
/// incomplete. Errors are reported as soon as the bytes show them. A line ends with CRLF or a
/// bare LF, as in a request (RFC 9112 §2.2); a bare CR is an error.
/// After an interim (1xx) response, parse the bytes after `consumed` as the next response.
class ResponseParser {
 public:
  explicit ResponseParser(ResponseLimits limits = {}) : limits_(limits) {}

  /// After complete or error the next call starts afresh, as after reset().
  ResponseResult parse(std::string_view buffer, Method request_method, Response& out);
  void reset() { scanned_ = 0; }

 private:
  enum class Step : std::uint8_t {
    version, status, reason, status_line_cr, field_start, field_name, field_value, field_cr,
    final_cr,
  };
  // What the first scanned_ bytes said (meaningful while scanned_ > 0).
  struct Progress {
    Step step = Step::version;
    std::uint8_t version_minor = 1;
    std::uint16_t status = 0;
    bool close = false;
    bool keep_alive = false;
    bool has_content_length = false;
    bool has_transfer_encoding = false;
    bool chunked_final = false;  // the last coding so far is chunked
    bool chunked_seen = false;   // some coding so far is chunked
    std::size_t coding_count = 0;
    std::size_t start = 0;  // offset of the current field line
    std::size_t mark = 0;   // offset of the status code, the reason, or a field's colon
    std::size_t field_count = 0;
    std::uint64_t content_length = 0;
  };

  ResponseResult resume(std::string_view buffer, Method method, Response& out);
  ResponseError end_field(std::string_view name, std::string_view value, Method method,
                          Response& out);
  ResponseResult end_head(std::size_t consumed, Method method, Response& out) const;

  ResponseLimits limits_;
  std::size_t scanned_ = 0;
  Progress progress_;
};

/// Why a body could not be read whole.
enum class BodyError : std::uint8_t {
  none,
  bad_chunk,  ///< malformed chunked coding (or trailer)
  too_large,  ///< past max_body
  truncated,  ///< the connection closed before the framing said the body ended
};

/// Reads the body that follows a response head, by its framing, and says when it is complete.
/// For until_close, only the end of the connection completes it; for content_length and
/// chunked, the end of the connection before the end of the body is `truncated`: a proxy must
/// then close its client connection rather than end the body as if it were whole.
class BodyReader {
 public:
  struct Result {
    ParseState state = ParseState::incomplete;
    std::size_t consumed = 0;  ///< bytes of the input that belong to the body as sent (raw:
                               ///< chunk lines included). Chunked: an unfinished chunk-size or
                               ///< trailer line is left unconsumed, to be given again with
                               ///< more bytes. Bytes past the end of the body are not consumed.
                               ///< Error: where the bad bytes start (the data before them may
                               ///< already be in `body`).
    BodyError error = BodyError::none;
  };

  /// `max_body`: largest body (decoded, for chunked) allowed.
  explicit BodyReader(std::uint64_t max_body = UINT64_MAX) : max_body_(max_body), chunked_(max_body) {}

  /// Starts the body of `response`. Framings without a body (none, interim,
  /// switching_protocols, tunnel) are complete at once.
  void start(const Response& response);

  /// Reads the next bytes of the body. `body` (may be null) receives the data bytes (decoded,
  /// for chunked). After complete or error, further calls return the same and consume nothing.
  Result read(std::string_view input, std::string* body);

  /// The connection closed (after every byte was given to read()): complete for until_close
  /// and for a body already complete; truncated otherwise.
  Result end_of_input();

  /// Data bytes read so far.
  std::uint64_t body_size() const { return body_size_; }
  /// content_length: bytes still expected; otherwise 0.
  std::uint64_t remaining() const { return remaining_; }

 private:
  std::uint64_t max_body_;
  ChunkedDecoder chunked_;
  ResponseFraming framing_ = ResponseFraming::none;
  ParseState state_ = ParseState::complete;
  BodyError error_ = BodyError::none;
  std::uint64_t remaining_ = 0;
  std::uint64_t body_size_ = 0;
};

}  // namespace nuri::http
