#include "http/multipart.h"

#include <utility>

#include "http/chars.h"
#include "http/percent.h"

namespace nuri::http {
namespace {

/// bchars (RFC 2046 §5.1.1): DIGIT / ALPHA / "'()+_,-./:=? " and space.
bool is_bchar(char c) {
  if (chars::is(c, chars::kAlpha | chars::kDigit)) return true;
  for (const char b : std::string_view("'()+_,-./:=? ")) {
    if (c == b) return true;
  }
  return false;
}

/// A cursor over a header value with the pieces of RFC 9110's grammar that parameters use.
struct ParamReader {
  std::string_view s;
  std::size_t i = 0;

  bool at_end() const { return i == s.size(); }
  void ows() {
    while (i < s.size() && chars::is_ows(s[i])) ++i;
  }
  bool token(std::string_view& out) {
    const std::size_t start = i;
    while (i < s.size() && chars::is(s[i], chars::kTchar)) ++i;
    out = s.substr(start, i - start);
    return !out.empty();
  }
  /// quoted-string with quoted-pairs undone (RFC 9110 §5.6.4).
  bool quoted(std::string& out) {
    if (i == s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      const char c = s[i++];
      if (c == '"') return true;
      if (c == '\\') {
        if (i == s.size()) return false;
        const char q = s[i++];
        if (!chars::is(q, chars::kValue)) return false;
        out.push_back(q);
      } else if (chars::is(c, chars::kValue)) {
        out.push_back(c);
      } else {
        return false;
      }
    }
    return false;  // no closing DQUOTE
  }
  /// parameter-value = token / quoted-string
  bool value(std::string& out) {
    out.clear();
    if (i < s.size() && s[i] == '"') return quoted(out);
    std::string_view t;
    if (!token(t)) return false;
    out.assign(t);
    return true;
  }
};

/// Reads `*( OWS ";" OWS [ name "=" value ] ) OWS` to the end, calling on(name, value) for
/// each parameter; false when malformed or when `on` refuses.
template <typename F>
bool parameters(ParamReader& r, F&& on) {
  std::string value;
  for (;;) {
    r.ows();
    if (r.at_end()) return true;
    if (r.s[r.i] != ';') return false;
    ++r.i;
    r.ows();
    if (r.at_end() || r.s[r.i] == ';') continue;
    std::string_view name;
    if (!r.token(name) || r.at_end() || r.s[r.i] != '=') return false;
    ++r.i;
    if (!r.value(value)) return false;
    if (!on(name, value)) return false;
  }
}

/// `type "/" subtype`, compared case-insensitively with `want_type`/`want_subtype`.
bool media_type(ParamReader& r, std::string_view want_type, std::string_view want_subtype) {
  std::string_view type;
  std::string_view subtype;
  if (!r.token(type) || r.at_end() || r.s[r.i] != '/') return false;
  ++r.i;
  if (!r.token(subtype)) return false;
  return iequals(type, want_type) && iequals(subtype, want_subtype);
}

/// ext-value (RFC 8187 §3.2.1): charset "'" [ language ] "'" value-chars, as UTF-8.
bool decode_ext_value(std::string_view v, std::string& out) {
  const std::size_t q1 = v.find('\'');
  if (q1 == std::string_view::npos) return false;
  const std::size_t q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return false;
  const std::string_view charset = v.substr(0, q1);
  const std::string_view chars = v.substr(q2 + 1);
  std::string raw;
  if (!percent_decode_append(chars, raw)) return false;
  out.clear();
  if (iequals(charset, "UTF-8")) {
    out = std::move(raw);
    return true;
  }
  if (iequals(charset, "ISO-8859-1")) {  // each byte is the code point of the same value
    for (const char c : raw) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x80) {
        out.push_back(c);
      } else {
        out.push_back(static_cast<char>(0xC0 | (u >> 6)));
        out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
      }
    }
    return true;
  }
  return false;  // RFC 8187 only requires these two; guessing another would garble names
}

}  // namespace

Status multipart_boundary(std::string_view content_type, std::string& boundary) {
  boundary.clear();
  ParamReader r{content_type};
  r.ows();
  if (!media_type(r, "multipart", "form-data")) return Status::unsupported_media_type;
  bool seen = false;
  const bool ok = parameters(r, [&](std::string_view name, const std::string& value) {
    if (!iequals(name, "boundary")) return true;
    if (seen) return false;  // two boundaries: which one would another parser take?
    seen = true;
    boundary = value;
    return true;
  });
  bool valid = ok && seen && !boundary.empty() && boundary.size() <= 70 && boundary.back() != ' ';
  for (const char c : boundary) valid = valid && is_bchar(c);
  if (!valid) {
    boundary.clear();
    return Status::bad_request;
  }
  return Status::ok;
}

MultipartParser::MultipartParser(std::string_view boundary, MultipartHandler& handler,
                                 const MultipartLimits& limits)
    : handler_(handler), limits_(limits) {
  delimiter_ = "\r\n--";
  delimiter_ += boundary;
  // The first dash-boundary may open the body without a CRLF before it: a CRLF of our own in
  // front (not counted in total_) lets one search find both it and every later delimiter.
  buffer_ = "\r\n";
}

MultipartParser::Result MultipartParser::fail(Status s) {
  step_ = Step::error;
  status_ = s;
  buffer_.clear();
  buffer_.shrink_to_fit();
  field_.clear();
  return {ParseState::error, s};
}

MultipartParser::Result MultipartParser::feed(std::string_view bytes) {
  if (step_ == Step::error) return {ParseState::error, status_};
  if (step_ == Step::done) return {ParseState::complete, Status::none};
  // Only the bytes within max_total are parsed: if they finish the body, the rest is epilogue;
  // if not, 413. So the outcome never depends on how the body was split.
  const std::uint64_t room = limits_.max_total - total_;
  const bool over = bytes.size() > room;
  if (over) bytes = bytes.substr(0, static_cast<std::size_t>(room));
  total_ += bytes.size();
  buffer_.append(bytes);
  if (!run()) return {ParseState::error, status_};
  if (step_ == Step::done) {
    buffer_.clear();
    buffer_.shrink_to_fit();
    return {ParseState::complete, Status::none};
  }
  buffer_.erase(0, pos_);
  pos_ = 0;
  if (over) return fail(Status::content_too_large);
  return {ParseState::incomplete, Status::none};
}

MultipartParser::Result MultipartParser::finish() {
  if (step_ == Step::error) return {ParseState::error, status_};
  if (step_ == Step::done) return {ParseState::complete, Status::none};
  return fail(Status::bad_request);  // cut short: a truncated upload must not look whole
}

bool MultipartParser::emit(std::string_view bytes) {
  if (bytes.empty()) return true;
  if (part_.filename) {
    handler_.on_file_data(bytes);
    return true;
  }
  if (bytes.size() > limits_.max_field_size - field_.size()) {
    fail(Status::content_too_large);
    return false;
  }
  field_.append(bytes);
  return true;
}

bool MultipartParser::header_line(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view name = line.substr(0, colon);
  for (const char c : name) {
    if (!chars::is(c, chars::kTchar)) return false;  // also refuses obs-fold and "Name :"
  }
  if (name.empty()) return false;
  std::string_view value = line.substr(colon + 1);
  for (const char c : value) {
    if (!chars::is(c, chars::kValue)) return false;
  }
  while (!value.empty() && chars::is_ows(value.front())) value.remove_prefix(1);
  while (!value.empty() && chars::is_ows(value.back())) value.remove_suffix(1);

  if (iequals(name, "Content-Type")) {
    if (seen_type_) return false;
    seen_type_ = true;
    part_.content_type.assign(value);
    return true;
  }
  if (!iequals(name, "Content-Disposition")) return true;  // RFC 7578 §4.8: others ignored
  if (seen_disposition_) return false;
  seen_disposition_ = true;
  ParamReader r{value};
  std::string_view type;
  if (!r.token(type) || !iequals(type, "form-data")) return false;
  bool has_name = false;
  std::optional<std::string> plain;
  std::optional<std::string> extended;
  // A repeated parameter is refused: two readers could pick different ones.
  const bool ok = parameters(r, [&](std::string_view pname, const std::string& pvalue) {
    if (iequals(pname, "name")) {
      if (has_name) return false;
      has_name = true;
      part_.name = pvalue;
    } else if (iequals(pname, "filename")) {
      if (plain) return false;
      plain = pvalue;
    } else if (iequals(pname, "filename*")) {
      if (extended) return false;
      extended.emplace();
      if (!decode_ext_value(pvalue, *extended)) return false;
    }
    return true;
  });
  if (!ok || !has_name) return false;
  // RFC 7578 §4.2 via RFC 6266 §4.3: filename* is preferred when both are given.
  part_.filename = extended ? std::move(extended) : std::move(plain);
  return true;
}

bool MultipartParser::end_of_headers() {
  if (!seen_disposition_) return false;  // RFC 7578 §4.2: each part has one
  if (part_.filename) {
    handler_.on_file_begin(part_);
  } else {
    field_.clear();
  }
  return true;
}

bool MultipartParser::run() {
  for (;;) {
    const std::size_t avail = buffer_.size() - pos_;
    switch (step_) {
      case Step::preamble:
      case Step::data: {
        const std::size_t at = buffer_.find(delimiter_, pos_);
        if (at == std::string::npos) {
          // Keep what could be the start of a delimiter; the rest is preamble or data.
          if (avail >= delimiter_.size()) {
            const std::size_t keep_from = buffer_.size() - (delimiter_.size() - 1);
            if (step_ == Step::data &&
                !emit(std::string_view(buffer_).substr(pos_, keep_from - pos_))) {
              return false;
            }
            pos_ = keep_from;
          }
          return true;
        }
        if (step_ == Step::data) {
          if (!emit(std::string_view(buffer_).substr(pos_, at - pos_))) return false;
          if (part_.filename) {
            handler_.on_file_end();
          } else {
            handler_.on_field(part_, field_);
          }
        }
        pos_ = at + delimiter_.size();
        step_ = Step::after_delimiter;
        padding_ = false;
        break;
      }
      case Step::after_delimiter: {
        if (!padding_) {
          // close-delimiter = delimiter "--"; only right after the boundary.
          if (avail == 0 || (avail == 1 && buffer_[pos_] == '-')) return true;
          if (buffer_.compare(pos_, 2, "--") == 0) {
            pos_ += 2;
            step_ = Step::done;
            return true;
          }
          padding_ = true;
        }
        // transport-padding (LWSP, RFC 2046 §5.1.1), then the CRLF that opens a part.
        while (pos_ < buffer_.size() && chars::is_ows(buffer_[pos_])) ++pos_;
        if (buffer_.size() - pos_ < 2) {
          if (pos_ == buffer_.size() || buffer_[pos_] == '\r') return true;
          fail(Status::bad_request);
          return false;
        }
        if (buffer_.compare(pos_, 2, "\r\n") != 0) {
          fail(Status::bad_request);  // "--boundary" followed by other text
          return false;
        }
        pos_ += 2;
        if (++parts_ > limits_.max_parts) {
          fail(Status::content_too_large);
          return false;
        }
        step_ = Step::headers;
        header_bytes_ = 0;
        seen_disposition_ = false;
        seen_type_ = false;
        part_ = MultipartPart{};
        break;
      }
      case Step::headers: {
        const std::size_t eol = buffer_.find("\r\n", pos_);
        if (eol == std::string::npos) {
          // The line will need at least these bytes: past the limit already, whatever comes.
          if (avail > limits_.max_header_size - header_bytes_) {
            fail(Status::content_too_large);
            return false;
          }
          return true;
        }
        const std::size_t line_bytes = eol - pos_ + 2;
        if (line_bytes > limits_.max_header_size - header_bytes_) {
          fail(Status::content_too_large);
          return false;
        }
        header_bytes_ += line_bytes;
        const std::string_view line = std::string_view(buffer_).substr(pos_, eol - pos_);
        pos_ = eol + 2;
        if (line.empty() ? !end_of_headers() : !header_line(line)) {
          fail(Status::bad_request);
          return false;
        }
        if (line.empty()) step_ = Step::data;
        break;
      }
      case Step::done:
      case Step::error:
        return step_ == Step::done;
    }
  }
}

}  // namespace nuri::http
