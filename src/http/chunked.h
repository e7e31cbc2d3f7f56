#pragma once
// Decoder of the chunked transfer coding (RFC 9112 §7.1): sans-I/O and resumable.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace nuri::http {

/// Decodes a chunked body that arrives in pieces. Chunk data is appended to a caller's string
/// (or dropped when none is given). Strict: chunk-size lines and the CRLF after chunk data must
/// end with CRLF; extensions are checked for syntax and ignored; trailer fields are checked
/// like header fields and dropped.
class ChunkedDecoder {
 public:
  struct Result {
    ParseState state = ParseState::incomplete;  ///< complete once the last chunk and trailers are read
    std::size_t consumed = 0;  ///< bytes of `input` used; an unfinished chunk-size line, trailer
                               ///< line or CRLF after chunk data is left unconsumed, to be given
                               ///< again with more bytes. Error: where the bad line starts.
    Status status = Status::none;               ///< error: 400 (malformed) or 413 (over max_body)
  };

  /// `max_body`: the largest decoded body allowed (413 past it, as soon as a chunk size shows
  /// it). `max_line`: longest chunk-size line or trailer field without its CRLF (400 past it);
  /// the whole trailer section may hold 8 * max_line bytes (400 past it).
  explicit ChunkedDecoder(std::uint64_t max_body, std::size_t max_line = 4096)
      : max_body_(max_body), max_line_(max_line) {}

  /// Decodes as much of `input` as it can. `body` (may be null) receives the data bytes. Call
  /// again with the bytes that follow `consumed` (plus any new ones) while incomplete. Once
  /// complete, `consumed` says where the next request starts, and further calls return complete
  /// with nothing consumed until reset(). An error leaves the decoder as it was.
  Result decode(std::string_view input, std::string* body);

  /// Decoded bytes so far.
  std::uint64_t body_size() const { return body_size_; }

  /// Forgets the body; call before decoding the next one.
  void reset();

 private:
  enum class Step : std::uint8_t { size_line, data, data_crlf, trailer, done };
  std::uint64_t max_body_;
  std::size_t max_line_;
  Step step_ = Step::size_line;
  std::uint64_t chunk_left_ = 0;
  std::uint64_t body_size_ = 0;
  std::size_t trailer_bytes_ = 0;
};

}  // namespace nuri::http
