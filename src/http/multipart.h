#pragma once
// Streaming multipart/form-data parser (RFC 7578 on RFC 2046's framing): sans-I/O, fed the body
// in pieces of any size, with every limit a status. Fields are kept in memory; files stream out.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace nuri::http {

/// Reads the boundary parameter of a Content-Type value ("multipart/form-data; boundary=xyz",
/// quoted or a token, 1..70 bchars not ending in a space, RFC 2046 §5.1.1) into `boundary`.
/// Returns Status::ok; unsupported_media_type (415) when the type is not multipart/form-data;
/// bad_request when the boundary is missing, repeated or invalid, or the parameters malformed.
Status multipart_boundary(std::string_view content_type, std::string& boundary);

struct MultipartLimits {
  std::size_t max_parts = 100;               ///< parts in the body
  std::size_t max_header_size = 8 * 1024;    ///< one part's header lines with their CRLFs
  std::size_t max_field_size = 64 * 1024;    ///< one field's value (parts without filename)
  std::uint64_t max_total = 16 * 1024 * 1024;  ///< bytes up to the end of the close delimiter
};

/// The headers of one part.
struct MultipartPart {
  std::string name;                     ///< Content-Disposition name (required)
  std::optional<std::string> filename;  ///< filename, or filename* decoded to UTF-8 (which wins);
                                        ///< set (even empty) means a file part. Not sanitized:
                                        ///< never use it as a path as it is.
  std::string content_type;             ///< the part's Content-Type, empty when absent (RFC
                                        ///< 7578 §4.4: text/plain for fields)
};

/// Receives what the parser finds, in body order. Views are valid only during the call. After
/// an error no more calls come; a file that was begun then gets no on_file_end.
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  /// A part without filename, with its whole value.
  virtual void on_field(const MultipartPart& part, std::string_view value) = 0;
  /// A part with a filename starts; its bytes follow in on_file_data calls (any number, each
  /// non-empty, split anywhere), then on_file_end.
  virtual void on_file_begin(const MultipartPart& part) = 0;
  virtual void on_file_data(std::string_view bytes) = 0;
  virtual void on_file_end() = 0;
};

/// One multipart/form-data body. Whatever the split of the body into feed() calls, the handler
/// sees the same fields, files and file bytes, and the same final result.
class MultipartParser {
 public:
  struct Result {
    ParseState state = ParseState::incomplete;  ///< complete once the close delimiter is read
    Status status = Status::none;  ///< error: 400 (malformed) or 413 (past a limit)
  };

  /// `boundary` as multipart_boundary() gives it; `handler` must outlive the parser.
  MultipartParser(std::string_view boundary, MultipartHandler& handler,
                  const MultipartLimits& limits = {});

  /// Parses the next bytes of the body; all of them are taken (some kept until what follows
  /// shows whether they start a delimiter). Once complete, the rest (epilogue) is ignored;
  /// after an error, the error is returned again.
  Result feed(std::string_view bytes);

  /// The body ended: complete if the close delimiter was read, else an error (400).
  Result finish();

 private:
  enum class Step : std::uint8_t { preamble, after_delimiter, headers, data, done, error };

  Result fail(Status s);
  bool run();  // false on error
  bool end_of_headers();
  bool header_line(std::string_view line);
  bool emit(std::string_view bytes);

  MultipartHandler& handler_;
  MultipartLimits limits_;
  std::string delimiter_;  // CRLF "--" boundary
  std::string buffer_;     // bytes received and not yet parsed
  std::size_t pos_ = 0;    // parse position in buffer_
  std::uint64_t total_ = 0;
  Step step_ = Step::preamble;
  Status status_ = Status::none;
  std::size_t parts_ = 0;
  std::size_t header_bytes_ = 0;
  bool seen_disposition_ = false;
  bool seen_type_ = false;
  bool padding_ = false;  // past the boundary's first byte: no close "--" any more
  MultipartPart part_;
  std::string field_;
};

}  // namespace nuri::http
