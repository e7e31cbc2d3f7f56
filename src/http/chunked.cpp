// The chunked transfer coding (RFC 9112 §7.1), decoded strictly: every line ends with CRLF, the
// syntax of extensions and trailer fields is checked, nothing is guessed.
#include "http/chunked.h"

#include <algorithm>
#include <limits>

#include "http/chars.h"

namespace nuri::http {
namespace {

// The whole trailer section may hold this many max_line's worth of bytes (400 past it).
constexpr std::size_t kTrailerLines = 8;

using chars::is;
using chars::is_ows;
using chars::kHex;
using chars::kTchar;
using chars::kValue;

// The value of a hex digit (a byte in kHex).
inline unsigned hex_value(char c) {
  if (c <= '9') return static_cast<unsigned>(c - '0');
  return static_cast<unsigned>((c | 0x20) - 'a' + 10);
}

enum class Scan : std::uint8_t { line, more, bad, too_big };

struct Line {
  Scan scan = Scan::more;
  std::size_t length = 0;  // with its CRLF, when scan == line
  std::uint64_t size = 0;  // chunk-size, for a chunk-size line
};

// Walks one line of input. Reading past the available bytes yields `more`, so every check is
// made on the bytes that have arrived, however few. Lines whose content exceeds max_line are bad.
class Cursor {
 public:
  Cursor(std::string_view input, std::size_t max_line)
      : p_(input.data()),
        begin_(input.data()),
        // max_line bytes of content plus CRLF: a line that needs more is too long.
        end_(input.data() + (max_line < input.size() ? std::min(input.size(), max_line + 2)
                                                     : input.size())),
        truncated_(end_ != input.data() + input.size()) {}

  bool at_end() const { return p_ == end_; }
  char peek() const { return *p_; }
  void next() { ++p_; }
  void skip_ows() {
    while (p_ < end_ && is_ows(*p_)) ++p_;
  }
  bool skip_class(std::uint8_t cls) {  // true if it skipped one byte or more
    const char* const from = p_;
    while (p_ < end_ && is(*p_, cls)) ++p_;
    return p_ != from;
  }
  // At end: more bytes are needed, unless the line is already too long.
  Line need_more() const { return {truncated_ ? Scan::bad : Scan::more}; }
  // At a CR: the line ends here if LF follows (RFC 9112 §7.1: CRLF, no bare LF or CR).
  Line end_line(std::uint64_t size = 0) {
    if (at_end() || *p_ != '\r') return at_end() ? need_more() : Line{Scan::bad};
    ++p_;
    if (at_end()) return need_more();
    if (*p_ != '\n') return {Scan::bad};
    ++p_;
    return {Scan::line, static_cast<std::size_t>(p_ - begin_), size};
  }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;
  bool truncated_;
};

// quoted-string (RFC 9110 §5.6.4) at the cursor, which is on its DQUOTE.
Scan skip_quoted_string(Cursor& c) {
  c.next();
  while (true) {
    if (c.at_end()) return Scan::more;
    const char ch = c.peek();
    c.next();
    if (ch == '"') return Scan::line;
    if (ch == '\\') {
      if (c.at_end()) return Scan::more;
      if (!is(c.peek(), kValue)) return Scan::bad;
      c.next();
    } else if (!is(ch, kValue)) {
      return Scan::bad;
    }
  }
}

// chunk-size [ chunk-ext ] CRLF, where chunk-ext = *( BWS ";" BWS ext-name
// [ BWS "=" BWS ( token / quoted-string ) ] ) (RFC 9112 §7.1.1). `room` is how many more body
// bytes are allowed: a size past it is too_big as soon as its digits show it.
Line scan_size_line(std::string_view input, std::size_t max_line, std::uint64_t room) {
  Cursor c(input, max_line);
  std::uint64_t size = 0;
  int digits = 0;
  int significant = 0;  // leading zeros are allowed (1*HEXDIG), however many: max_line bounds them
  for (; !c.at_end() && is(c.peek(), kHex); c.next()) {
    ++digits;
    if (size != 0 || c.peek() != '0') ++significant;
    // Sizes past 2^63-1 are refused like Content-Length's; so are more than 16 digits.
    if (significant > 16 || size > (std::numeric_limits<std::int64_t>::max() >> 4)) {
      return {Scan::bad};
    }
    size = size * 16 + hex_value(c.peek());
    if (size > room) return {Scan::too_big};
  }
  if (c.at_end()) return c.need_more();
  if (digits == 0) return {Scan::bad};
  while (true) {
    const bool space = !c.at_end() && is_ows(c.peek());
    c.skip_ows();
    if (c.at_end()) return c.need_more();
    if (c.peek() != ';') return space ? Line{Scan::bad} : c.end_line(size);
    c.next();
    c.skip_ows();
    const bool named = c.skip_class(kTchar);
    if (c.at_end()) return c.need_more();
    if (!named) return {Scan::bad};
    const bool space_after_name = is_ows(c.peek());
    c.skip_ows();
    if (c.at_end()) return c.need_more();
    if (c.peek() != '=') {
      if (space_after_name && c.peek() != ';') return {Scan::bad};  // BWS leads to "=" or ";"
      continue;
    }
    c.next();
    c.skip_ows();
    if (c.at_end()) return c.need_more();
    if (c.peek() == '"') {
      const Scan s = skip_quoted_string(c);
      if (s == Scan::more) return c.need_more();
      if (s == Scan::bad) return {Scan::bad};
    } else if (!c.skip_class(kTchar)) {
      return {Scan::bad};
    }
  }
}

// A trailer field line, field-name ":" OWS field-value OWS CRLF, or the empty line that ends
// the trailer section (length 2). Checked like a header field (RFC 9112 §5, §7.1.2).
Line scan_trailer_line(std::string_view input, std::size_t max_line) {
  Cursor c(input, max_line);
  if (c.at_end()) return c.need_more();
  if (c.peek() == '\r') return c.end_line();
  const bool named = c.skip_class(kTchar);
  if (c.at_end()) return c.need_more();
  if (!named || c.peek() != ':') return {Scan::bad};  // obs-fold, space before colon, ...
  c.next();
  c.skip_class(kValue);
  return c.end_line();
}

}  // namespace

void ChunkedDecoder::reset() {
  step_ = Step::size_line;
  chunk_left_ = 0;
  body_size_ = 0;
  trailer_bytes_ = 0;
}

ChunkedDecoder::Result ChunkedDecoder::decode(std::string_view input, std::string* body) {
  std::size_t pos = 0;
  const auto fail = [&pos](Status s) { return Result{ParseState::error, pos, s}; };
  while (true) {
    const std::string_view rest = input.substr(pos);
    switch (step_) {
      case Step::size_line: {
        const Line line = scan_size_line(rest, max_line_, max_body_ - body_size_);
        if (line.scan == Scan::more) return {ParseState::incomplete, pos, Status::none};
        if (line.scan == Scan::too_big) return fail(Status::content_too_large);
        if (line.scan == Scan::bad) return fail(Status::bad_request);
        pos += line.length;
        chunk_left_ = line.size;
        step_ = line.size == 0 ? Step::trailer : Step::data;
        break;
      }

      case Step::data: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, rest.size()));
        if (body != nullptr) body->append(rest.data(), n);
        pos += n;
        chunk_left_ -= n;
        body_size_ += n;
        if (chunk_left_ > 0) return {ParseState::incomplete, pos, Status::none};
        step_ = Step::data_crlf;
        break;
      }

      case Step::data_crlf:  // chunk-data CRLF: exactly these two bytes
        if (!rest.empty() && rest[0] != '\r') return fail(Status::bad_request);
        if (rest.size() > 1 && rest[1] != '\n') return fail(Status::bad_request);
        if (rest.size() < 2) return {ParseState::incomplete, pos, Status::none};
        pos += 2;
        step_ = Step::size_line;
        break;

      case Step::trailer: {
        const Line line = scan_trailer_line(rest, max_line_);
        if (line.scan == Scan::more) return {ParseState::incomplete, pos, Status::none};
        if (line.scan == Scan::bad) return fail(Status::bad_request);
        const std::size_t cap = max_line_ > std::numeric_limits<std::size_t>::max() / kTrailerLines
                                    ? std::numeric_limits<std::size_t>::max()
                                    : kTrailerLines * max_line_;
        if (line.length > cap - trailer_bytes_) {
          return fail(Status::bad_request);
        }
        trailer_bytes_ += line.length;
        pos += line.length;
        if (line.length == 2) step_ = Step::done;
        break;
      }

      case Step::done:
        return {ParseState::complete, pos, Status::none};
    }
  }
}

}  // namespace nuri::http
