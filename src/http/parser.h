#pragma once
// The HTTP/1.x request parser: sans-I/O, zero-copy, strict (RFC 9112 §2-§7, RFC 9110).
// It never touches a socket: bytes in, a parsed request head (views into those bytes) out.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/status.h"

namespace nuri::http {

/// Request methods nuri knows (RFC 9110 §9 plus PATCH). Any other syntactically valid method is
/// `unknown`: the server answers 501.
enum class Method : std::uint8_t { get, head, post, put, delete_, connect, options, trace, patch, unknown };

/// A header field as it appeared: name as sent (compare case-insensitively), value without
/// leading and trailing whitespace.
struct Header {
  std::string_view name;
  std::string_view value;
};

/// How the request body is delimited (RFC 9112 §6.3).
enum class BodyFraming : std::uint8_t { none, content_length, chunked };

/// Which of the four request-target forms was used (RFC 9112 §3.2).
enum class TargetForm : std::uint8_t { origin, absolute, authority, asterisk };

/// Upper bounds on what one request head may contain. Past each the parser reports the status.
struct ParserLimits {
  std::size_t max_target_bytes = 8192;    ///< longer request-target: 414
  std::size_t max_head_bytes = 16384;     ///< longer head (from its first byte, leading empty
                                          ///< lines included, to its final empty line): 431
  std::size_t max_header_count = 100;     ///< more header fields: 431 (at most kMaxHeaderCount
                                          ///< whatever this says: Request holds no more)
};

inline constexpr std::size_t kMaxHeaderCount = 100;

/// A parsed request head. Every view points into the buffer given to the parser and is valid
/// while that buffer is unchanged.
struct Request {
  Method method = Method::unknown;
  std::string_view method_name;  ///< as sent, e.g. "GET"
  std::string_view target;       ///< the request-target as sent
  TargetForm form = TargetForm::origin;
  std::string_view path;         ///< path part of the target, before '?': "/a/b" ("/" for an
                                 ///< absolute-form target without path, "*" for asterisk-form,
                                 ///< empty for authority-form)
  std::string_view query;        ///< after '?', without it; empty when absent
  int version_minor = 1;         ///< HTTP/1.<version_minor>: 0 or 1
  std::string_view host;         ///< the authority of an absolute-form target if any, else the
                                 ///< Host field value (empty if absent, allowed on HTTP/1.0 only)
  Header headers[kMaxHeaderCount];
  std::size_t header_count = 0;
  BodyFraming framing = BodyFraming::none;
  std::uint64_t content_length = 0;  ///< meaningful when framing == content_length (which
                                     ///< "Content-Length: 0" also gives)
  bool keep_alive = true;        ///< persistence after this request (version + Connection)
  bool expect_continue = false;  ///< "Expect: 100-continue" on HTTP/1.1

  /// The value of the first field named `name` (ASCII case-insensitive), or nullopt.
  std::optional<std::string_view> find(std::string_view name) const;
  /// The values of every field named `name` as one comma-separated list, as RFC 9110 §5.3 says
  /// repeated lines of a list field mean: the value itself when there is one field line, else
  /// the values joined with ", " into `storage`. nullopt when there is none.
  std::optional<std::string_view> find_list(std::string_view name, std::string& storage) const;
};

enum class ParseState : std::uint8_t { complete, incomplete, error };

/// Outcome of one parse call.
struct ParseResult {
  ParseState state = ParseState::incomplete;
  std::size_t consumed = 0;       ///< complete: bytes of the head, including its final empty line
                                  ///< and any empty lines before the request line; else 0
  Status status = Status::none;   ///< error: the status to answer with (400, 414, 431, 501, 505...)
};

/// Parses request heads. Feed it the bytes received so far for the current request (starting
/// at the request's first byte); when it says incomplete, call again with the same bytes plus
/// more (the bytes may have moved in memory meanwhile). It remembers how far it scanned, so a
/// slowly arriving head costs O(n) in total. Errors are reported as soon as the bytes received
/// show them, without waiting for the end of the head. The result depends only on the bytes:
/// parsing in pieces gives what parsing them at once gives.
class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  /// Parses `buffer`. On complete, `out` holds the request and `consumed` says where the body or
  /// the next request starts. Views in `out` point into `buffer`. After complete or error the
  /// parser starts afresh on the next call, as after reset().
  ParseResult parse(std::string_view buffer, Request& out);

  /// Forgets progress; call before parsing the next request.
  void reset() { scanned_ = 0; }

  const ParserLimits& limits() const { return limits_; }

 private:
  // Where in the head the scan stopped (see parser.cpp).
  enum class Step : std::uint8_t {
    leading, leading_cr, method, target, version, request_line_cr,
    field_start, field_name, field_value, field_cr, final_cr,
  };
  // What the first scanned_ bytes said, so that a call resumes at the byte where the previous
  // one stopped. Meaningful only while scanned_ > 0: a call that finds scanned_ == 0 starts
  // from a fresh Progress, which is how reset() clears it.
  struct Progress {
    Step step = Step::leading;
    std::uint8_t empty_lines = 0;     // empty lines skipped before the request line
    std::uint8_t version_minor = 1;
    std::uint8_t host_fields = 0;
    Method method = Method::unknown;
    TargetForm form = TargetForm::origin;
    bool has_content_length = false;
    bool has_transfer_encoding = false;
    bool chunked = false;             // Transfer-Encoding named chunked
    bool other_coding = false;        // Transfer-Encoding named a coding before chunked
    bool close = false;               // Connection: close
    bool keep_alive = false;          // Connection: keep-alive
    bool expect_continue = false;
    std::size_t start = 0;            // offset of the request line or of the current field line
    std::size_t mark = 0;             // offset of the target or version; of a field's colon
    std::size_t field_count = 0;
    std::uint64_t content_length = 0;
  };

  ParseResult resume(std::string_view buffer, Request& out);
  const char* whole_request_line(const char* base, const char* end, Request& out);
  Status end_request_line(const char* version, Request& out);
  Status end_field(std::string_view name, std::string_view value, Request& out);
  Status end_special_field(std::string_view name, std::string_view value, Request& out);
  ParseResult end_head(std::size_t consumed, Request& out) const;

  ParserLimits limits_;
  std::size_t scanned_ = 0;  // bytes already scanned: no end of head and no error in them
  Progress progress_;
};

/// ASCII case-insensitive equality, as header names and many values compare.
bool iequals(std::string_view a, std::string_view b);

/// Method from its name (case-sensitive, RFC 9110 §9.1); unknown for any other name.
Method method_from_name(std::string_view name);

}  // namespace nuri::http
