// The response-head parser (RFC 9112 §4-§7) and body reader. Same design as the request parser
// (src/http/parser.cpp): one table lookup per byte, resumable where the bytes ran out, the
// resume state a cache of what the bytes before `scanned_` said, so results depend on the bytes
// alone. Line ends are the request parser's: CRLF, or a bare LF (RFC 9112 §2.2 lets a recipient
// take one, as nginx and the request parser do; a proxy writes the head anew, so the client never
// sees it); a bare CR is an error. It has to decide framings a server never sees (§6.3: until
// close, tunnel, 1xx).
#include "http/response_parser.h"

#include <algorithm>
#include <limits>

#include "http/chars.h"
#include "http/field_values.h"

namespace nuri::http {
namespace {

using chars::is;
using chars::is_ows;
using fields::for_each_coding;
using fields::parse_content_length;
using fields::trim_ows;
using chars::kDigit;
using chars::kTchar;
using chars::kValue;
using chars::is_token;
using chars::skip;
using chars::version_byte_ok;

bool is_tunnel(Method method, int status) {
  return method == Method::connect && status >= 200 && status < 300;
}

ResponseResult error(ResponseError e) { return {ParseState::error, 0, e}; }

}  // namespace

std::string_view describe(ResponseError e) {
  switch (e) {
    case ResponseError::none: return "no error";
    case ResponseError::bad_status_line: return "malformed status line";
    case ResponseError::unsupported_version: return "HTTP version other than 1.x";
    case ResponseError::bad_field: return "malformed header field line";
    case ResponseError::head_too_large: return "response head too large";
    case ResponseError::too_many_fields: return "too many header fields";
    case ResponseError::bad_content_length: return "invalid or conflicting Content-Length";
    case ResponseError::bad_transfer_encoding: return "invalid Transfer-Encoding";
    case ResponseError::bad_connection: return "invalid Connection field";
  }
  return "unknown error";
}

std::optional<std::string_view> Response::find(std::string_view name) const {
  for (std::size_t i = 0; i < header_count; ++i) {
    if (iequals(headers[i].name, name)) return headers[i].value;
  }
  return std::nullopt;
}

ResponseResult ResponseParser::parse(std::string_view buffer, Method request_method,
                                     Response& out) {
  if (scanned_ > buffer.size()) scanned_ = 0;  // not the bytes of last time: start afresh
  const bool resumed = scanned_ != 0;
  if (!resumed) progress_ = Progress{};
  ResponseResult r = resume(buffer, request_method, out);
  if (r.state == ParseState::complete && resumed) {
    // Views stored by earlier calls may point into an older copy of the bytes: fill `out`
    // again from the start, once per response, so the total stays O(n).
    progress_ = Progress{};
    scanned_ = 0;
    r = resume(buffer, request_method, out);
  }
  if (r.state != ParseState::incomplete) scanned_ = 0;
  return r;
}

ResponseResult ResponseParser::resume(std::string_view buffer, Method method, Response& out) {
  Progress& g = progress_;
  const char* const base = buffer.data();
  const char* const end = base + std::min(buffer.size(), limits_.max_head_bytes);
  const char* p = base + scanned_;
  const auto at = [base](const char* q) { return static_cast<std::size_t>(q - base); };
  if (p == base) {
    out.header_count = 0;
    out.transfer_coding_count = 0;
    out.reason = {};
  }

  while (p < end) {
    switch (g.step) {
      case Step::version:  // RFC 9112 §4: HTTP-version SP status-code SP [ reason-phrase ]
        for (; p < end; ++p) {
          const std::size_t k = at(p);
          if (k < 8) {
            if (!version_byte_ok(k, *p)) return error(ResponseError::bad_status_line);
            continue;
          }
          if (*p != ' ') return error(ResponseError::bad_status_line);
          // RFC 9110 §6.2: another major version is one we do not speak; a later 1.x is read
          // as HTTP/1.1, the highest minor version we conform to.
          if (base[5] != '1') return error(ResponseError::unsupported_version);
          g.version_minor = base[7] == '0' ? 0 : 1;
          ++p;
          g.mark = at(p);
          g.step = Step::status;
          break;
        }
        break;

      case Step::status:  // 3DIGIT, 100-599 (RFC 9110 §15: values outside are invalid), SP
        for (; p < end; ++p) {
          const std::size_t k = at(p) - g.mark;
          if (k < 3) {
            const bool ok = k == 0 ? (*p >= '1' && *p <= '5') : is(*p, kDigit);
            if (!ok) return error(ResponseError::bad_status_line);
            g.status = static_cast<std::uint16_t>(g.status * 10 + (*p - '0'));
            continue;
          }
          // RFC 9112 §4: the SP after the code is there even when the reason is empty.
          if (*p != ' ') return error(ResponseError::bad_status_line);
          ++p;
          g.mark = at(p);
          g.step = Step::reason;
          break;
        }
        break;

      case Step::reason:  // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
        p = skip(p, end, kValue);
        if (p == end) break;
        if (*p != '\r' && *p != '\n') return error(ResponseError::bad_status_line);  // NUL, DEL...
        out.reason = std::string_view(base + g.mark, at(p) - g.mark);
        g.step = *p == '\r' ? Step::status_line_cr : Step::field_start;
        ++p;
        break;

      case Step::status_line_cr:
        if (*p != '\n') return error(ResponseError::bad_status_line);
        ++p;
        g.step = Step::field_start;
        break;

      case Step::field_start:
        if (*p == '\r') {
          ++p;
          g.step = Step::final_cr;
        } else if (*p == '\n') {
          return end_head(at(p) + 1, method, out);
        } else if (!is(*p, kTchar)) {
          // RFC 9112 §5.2 obs-fold, or any other byte no field name starts with.
          return error(ResponseError::bad_field);
        } else {
          g.start = at(p);
          g.step = Step::field_name;
        }
        break;

      case Step::field_name:
        p = skip(p, end, kTchar);
        if (p == end) break;
        // RFC 9112 §5.1: no whitespace between name and colon.
        if (*p != ':') return error(ResponseError::bad_field);
        g.mark = at(p);
        ++p;
        g.step = Step::field_value;
        break;

      case Step::field_value:
        p = skip(p, end, kValue);
        if (p == end) break;
        if (*p == '\r') {
          ++p;
          g.step = Step::field_cr;
          break;
        }
        if (*p != '\n') return error(ResponseError::bad_field);  // NUL, DEL...
        [[fallthrough]];

      case Step::field_cr: {
        if (*p != '\n') return error(ResponseError::bad_field);  // bare CR
        const std::size_t value_end = g.step == Step::field_cr ? at(p) - 1 : at(p);
        const std::string_view name(base + g.start, g.mark - g.start);
        const std::string_view value =
            trim_ows(std::string_view(base + g.mark + 1, value_end - g.mark - 1));
        if (const ResponseError e = end_field(name, value, method, out); e != ResponseError::none) {
          return error(e);
        }
        ++p;
        g.step = Step::field_start;
        break;
      }

      case Step::final_cr:
        if (*p != '\n') return error(ResponseError::bad_field);
        return end_head(at(p) + 1, method, out);
    }
  }
  if (buffer.size() > limits_.max_head_bytes) return error(ResponseError::head_too_large);
  scanned_ = at(p);
  return {};
}

ResponseError ResponseParser::end_field(std::string_view name, std::string_view value,
                                        Method method, Response& out) {
  Progress& g = progress_;
  if (g.field_count >= std::min(limits_.max_field_count, kMaxResponseFieldCount)) {
    return ResponseError::too_many_fields;
  }
  out.headers[g.field_count++] = {name, value};

  switch (name.size()) {
    case 10:
      if (iequals(name, "connection")) {  // RFC 9110 §7.6.1: a list of tokens
        std::size_t i = 0;
        while (i <= value.size()) {
          const std::size_t comma = std::min(value.find(',', i), value.size());
          const std::string_view e = trim_ows(value.substr(i, comma - i));
          if (!e.empty()) {
            if (!is_token(e)) return ResponseError::bad_connection;
            if (iequals(e, "close")) g.close = true;
            if (iequals(e, "keep-alive")) g.keep_alive = true;
          }
          i = comma + 1;
        }
      }
      break;
    case 14:
      // RFC 9112 §6.3: a client MUST ignore Content-Length and Transfer-Encoding in a 2xx to
      // CONNECT. Elsewhere they are checked even without a body (HEAD, 304), since a proxy
      // forwards them.
      if (iequals(name, "content-length") && !is_tunnel(method, g.status)) {
        std::uint64_t n = g.content_length;
        if (!parse_content_length(value, n) || (g.has_content_length && n != g.content_length)) {
          return ResponseError::bad_content_length;
        }
        g.has_content_length = true;
        g.content_length = n;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding") && !is_tunnel(method, g.status)) {
        // RFC 9112 §6.1: in HTTP/1.0 the framing is faulty; a proxy refuses it.
        if (g.version_minor == 0) return ResponseError::bad_transfer_encoding;
        g.has_transfer_encoding = true;
        bool too_many = false;
        const bool ok = for_each_coding(value, [&](std::string_view coding) {
          const bool chunked = iequals(coding, "chunked");
          if (chunked && g.chunked_seen) return false;  // §6.1: chunked is applied once
          if (g.coding_count == kMaxTransferCodings) {
            too_many = true;
            return false;
          }
          out.transfer_codings[g.coding_count++] = coding;
          g.chunked_final = chunked;
          g.chunked_seen = g.chunked_seen || chunked;
          return true;
        });
        if (!ok || too_many) return ResponseError::bad_transfer_encoding;
      }
      break;
    default:
      break;
  }
  return ResponseError::none;
}

ResponseResult ResponseParser::end_head(std::size_t consumed, Method method, Response& out) const {
  const Progress& g = progress_;
  // An empty list ("Transfer-Encoding:" or ", ,") names no coding at all: no framing to trust.
  if (g.has_transfer_encoding && g.coding_count == 0) {
    return error(ResponseError::bad_transfer_encoding);
  }
  out.version_minor = g.version_minor;
  out.status = g.status;
  out.header_count = g.field_count;
  out.transfer_coding_count = g.coding_count;
  out.connection_close = g.close;
  out.connection_keep_alive = g.keep_alive;
  out.has_content_length = g.has_content_length;
  out.content_length = g.has_content_length ? g.content_length : 0;
  out.framing_conflict = g.has_content_length && g.has_transfer_encoding;

  // RFC 9112 §6.3, in its order.
  const int s = g.status;
  bool reusable = true;  // whether the framing lets the connection carry another message
  if (s == 101) {
    out.framing = ResponseFraming::switching_protocols;
    reusable = false;
  } else if (s < 200) {
    out.framing = ResponseFraming::interim;
  } else if (is_tunnel(method, s)) {
    // Item 2 (before item 1 here: a 204 to CONNECT has no body, like any 204, but RFC 9110
    // §9.3.6 still makes the connection a tunnel after it).
    out.framing = ResponseFraming::tunnel;
    reusable = false;
  } else if (method == Method::head || s == 204 || s == 304) {  // item 1
    out.framing = ResponseFraming::none;
  } else if (g.has_transfer_encoding) {  // items 3 and 4: the coding wins over a length
    out.framing = g.chunked_final ? ResponseFraming::chunked : ResponseFraming::until_close;
    reusable = g.chunked_final;
  } else if (g.has_content_length) {  // item 6
    out.framing = ResponseFraming::content_length;
  } else {  // item 8
    out.framing = ResponseFraming::until_close;
    reusable = false;
  }
  // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
  out.keep_alive = reusable && !out.framing_conflict && !g.close &&
                   (g.version_minor == 1 || g.keep_alive);
  return {ParseState::complete, consumed, ResponseError::none};
}

// ---------------------------------------------------------------------------------------------

void BodyReader::start(const Response& response) {
  framing_ = response.framing;
  error_ = BodyError::none;
  remaining_ = 0;
  body_size_ = 0;
  chunked_.reset();
  switch (framing_) {
    case ResponseFraming::content_length:
      remaining_ = response.content_length;
      state_ = ParseState::incomplete;
      if (remaining_ > max_body_) {
        state_ = ParseState::error;
        error_ = BodyError::too_large;
      } else if (remaining_ == 0) {
        state_ = ParseState::complete;
      }
      break;
    case ResponseFraming::chunked:
    case ResponseFraming::until_close:
      state_ = ParseState::incomplete;
      break;
    default:
      state_ = ParseState::complete;
      break;
  }
}

BodyReader::Result BodyReader::read(std::string_view input, std::string* body) {
  if (state_ != ParseState::incomplete) return {state_, 0, error_};
  switch (framing_) {
    case ResponseFraming::content_length: {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
      if (body != nullptr) body->append(input.data(), n);
      remaining_ -= n;
      body_size_ += n;
      if (remaining_ == 0) state_ = ParseState::complete;
      return {state_, n, BodyError::none};
    }
    case ResponseFraming::chunked: {
      const ChunkedDecoder::Result r = chunked_.decode(input, body);
      body_size_ = chunked_.body_size();
      if (r.state == ParseState::error) {
        state_ = ParseState::error;
        error_ = r.status == Status::content_too_large ? BodyError::too_large : BodyError::bad_chunk;
        return {state_, r.consumed, error_};
      }
      state_ = r.state;
      return {state_, r.consumed, BodyError::none};
    }
    default: {  // until_close: everything until the end of the connection
      if (input.size() > max_body_ - body_size_) {
        state_ = ParseState::error;
        error_ = BodyError::too_large;
        return {state_, 0, error_};
      }
      if (body != nullptr) body->append(input);
      body_size_ += input.size();
      return {state_, input.size(), BodyError::none};
    }
  }
}

BodyReader::Result BodyReader::end_of_input() {
  if (state_ == ParseState::incomplete) {
    if (framing_ == ResponseFraming::until_close) {
      state_ = ParseState::complete;
    } else {
      state_ = ParseState::error;
      error_ = BodyError::truncated;
    }
  }
  return {state_, 0, error_};
}

}  // namespace nuri::http
