// libFuzzer target for the response parser and body reader (src/http/response_parser.cpp). The
// first byte picks the request method (GET, HEAD, CONNECT) and the limits; the rest is the
// upstream's bytes. Each is parsed at once and in two pieces split at a point derived from the
// data, through one parser (each piece an exact-size heap copy, so ASan sees any over-read and
// the bytes move between calls). Invariants: the two agree; results stay within the buffer;
// the framing follows from method and status; the body after a complete head reads the same
// in one piece and in two, and only until_close is complete at the end of input unless the
// framing said the body ended.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "http/response_parser.h"

using namespace nuri::http;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "response_parser_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

// An exact-size heap copy of the first n bytes.
struct Copy {
  Copy(const std::uint8_t* data, std::size_t n) : bytes(new char[n == 0 ? 1 : n]), size(n) {
    if (n > 0) std::memcpy(bytes.get(), data, n);
  }
  std::string_view view() const { return {bytes.get(), size}; }
  std::unique_ptr<char[]> bytes;
  std::size_t size;
};

struct Run {
  ResponseResult result;
  Response response;
  std::string_view buffer;
};

bool inside(std::string_view v, std::string_view head) {
  return v.empty() || (v.data() >= head.data() && v.data() + v.size() <= head.data() + head.size());
}

bool same_view(std::string_view a, std::string_view abuf, std::string_view b, std::string_view bbuf) {
  if (a.size() != b.size()) return false;
  return a.empty() || a.data() - abuf.data() == b.data() - bbuf.data();
}

bool same(const Run& a, const Run& b) {
  if (a.result.state != b.result.state || a.result.consumed != b.result.consumed ||
      a.result.error != b.result.error) {
    return false;
  }
  if (a.result.state != ParseState::complete) return true;
  const Response& x = a.response;
  const Response& y = b.response;
  const auto v = [&](std::string_view p, std::string_view q) {
    return same_view(p, a.buffer, q, b.buffer);
  };
  if (x.version_minor != y.version_minor || x.status != y.status || !v(x.reason, y.reason) ||
      x.header_count != y.header_count || x.connection_close != y.connection_close ||
      x.connection_keep_alive != y.connection_keep_alive ||
      x.has_content_length != y.has_content_length || x.content_length != y.content_length ||
      x.transfer_coding_count != y.transfer_coding_count || x.framing != y.framing ||
      x.framing_conflict != y.framing_conflict || x.keep_alive != y.keep_alive) {
    return false;
  }
  for (std::size_t i = 0; i < x.header_count; ++i) {
    if (!v(x.headers[i].name, y.headers[i].name) || !v(x.headers[i].value, y.headers[i].value)) {
      return false;
    }
  }
  for (std::size_t i = 0; i < x.transfer_coding_count; ++i) {
    if (!v(x.transfer_codings[i], y.transfer_codings[i])) return false;
  }
  return true;
}

void check(const Run& run, Method method, const ResponseLimits& limits) {
  const ResponseResult& r = run.result;
  if (r.state == ParseState::incomplete) {
    require(r.error == ResponseError::none && r.consumed == 0, "incomplete says nothing else");
    require(run.buffer.size() <= limits.max_head_bytes, "incomplete only below max_head_bytes");
    return;
  }
  if (r.state == ParseState::error) {
    require(r.error != ResponseError::none && r.consumed == 0, "error has a reason");
    return;
  }
  require(r.error == ResponseError::none, "complete has no error");
  require(r.consumed >= 15 && r.consumed <= run.buffer.size(), "head within the buffer");
  require(r.consumed <= limits.max_head_bytes, "head within max_head_bytes");
  const std::string_view head = run.buffer.substr(0, r.consumed);
  require(head.ends_with("\n\n") || head.ends_with("\n\r\n"), "head ends with an empty line");
  const Response& q = run.response;
  require(q.version_minor == 0 || q.version_minor == 1, "version 1.0 or 1.1");
  require(q.status >= 100 && q.status <= 599, "status 100-599");
  require(inside(q.reason, head), "reason inside the head");
  require(q.reason.find_first_of("\r\n") == std::string_view::npos, "no line end in reason");
  require(q.header_count <= limits.max_field_count && q.header_count <= kMaxResponseFieldCount,
          "field count within limits");
  for (std::size_t i = 0; i < q.header_count; ++i) {
    require(!q.headers[i].name.empty(), "field names not empty");
    require(inside(q.headers[i].name, head) && inside(q.headers[i].value, head), "fields inside");
  }
  require(q.transfer_coding_count <= kMaxTransferCodings, "coding count");
  require(q.content_length <= static_cast<std::uint64_t>(INT64_MAX), "content length range");
  require(q.has_content_length || q.content_length == 0, "length only when present");
  require(q.version_minor == 1 || q.transfer_coding_count == 0, "no Transfer-Encoding in 1.0");
  // The framing follows from method and status first (RFC 9112 §6.3).
  const int s = q.status;
  if (s == 101) {
    require(q.framing == ResponseFraming::switching_protocols, "101");
  } else if (s < 200) {
    require(q.framing == ResponseFraming::interim, "1xx");
  } else if (method == Method::connect && s < 300) {
    require(q.framing == ResponseFraming::tunnel, "tunnel");
    require(!q.has_content_length && q.transfer_coding_count == 0, "tunnel ignores framing fields");
  } else if (method == Method::head || s == 204 || s == 304) {
    require(q.framing == ResponseFraming::none, "no body");
  } else if (q.transfer_coding_count > 0) {
    const bool chunked = iequals(q.transfer_codings[q.transfer_coding_count - 1], "chunked");
    require(q.framing == (chunked ? ResponseFraming::chunked : ResponseFraming::until_close),
            "the final coding decides");
  } else if (q.has_content_length) {
    require(q.framing == ResponseFraming::content_length, "length decides");
  } else {
    require(q.framing == ResponseFraming::until_close, "until close");
  }
  require(!q.keep_alive || (q.framing != ResponseFraming::until_close &&
                            q.framing != ResponseFraming::tunnel &&
                            q.framing != ResponseFraming::switching_protocols &&
                            !q.framing_conflict && !q.connection_close),
          "keep_alive only with a framing that ends");
  require(q.version_minor == 1 || !q.keep_alive || q.connection_keep_alive, "1.0 keep-alive");
}

Run parse_fresh(const Copy& copy, Method method, const ResponseLimits& limits) {
  Run run;
  run.buffer = copy.view();
  ResponseParser parser(limits);
  run.result = parser.parse(run.buffer, method, run.response);
  check(run, method, limits);
  return run;
}

struct BodyRun {
  BodyReader::Result last;
  std::size_t consumed = 0;
  std::string body;
  std::uint64_t size = 0;
};

// Reads `rest` through a BodyReader in pieces ending at `cuts` (increasing, last = size),
// giving each call the unconsumed bytes, then reports the end of input.
BodyRun read_body(const Response& response, std::string_view rest, const std::size_t* cuts,
                  std::size_t ncuts, std::uint64_t max_body) {
  BodyRun out;
  BodyReader reader(max_body);
  reader.start(response);
  for (std::size_t i = 0; i < ncuts; ++i) {
    const Copy piece(reinterpret_cast<const std::uint8_t*>(rest.data()) + out.consumed,
                     cuts[i] - out.consumed);
    const std::size_t before = out.body.size();
    out.last = reader.read(piece.view(), &out.body);
    require(out.last.consumed <= piece.size, "body consumed within the input");
    require(out.body.size() - before <= out.last.consumed, "data no more than consumed");
    out.consumed += out.last.consumed;
    if (out.last.state == ParseState::error) {
      require(out.last.error != BodyError::none && out.last.error != BodyError::truncated,
              "read errors are about the bytes");
      break;
    }
    if (out.last.state == ParseState::complete) break;
  }
  if (out.last.state == ParseState::incomplete) {
    out.last = reader.end_of_input();
    const bool complete = out.last.state == ParseState::complete;
    require(complete == (response.framing == ResponseFraming::until_close),
            "only until_close completes at the end of input");
    require(complete || out.last.error == BodyError::truncated, "else truncated");
  }
  out.size = reader.body_size();
  require(out.size == out.body.size(), "body_size counts the data");
  if (response.framing == ResponseFraming::content_length && out.last.state == ParseState::complete) {
    require(out.size == response.content_length, "content-length body has its length");
  }
  return out;
}

std::uint64_t hash(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603u;  // FNV-1a
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Method methods[] = {Method::get, Method::head, Method::connect, Method::post};
  const Method method = methods[data[0] & 3];
  const ResponseLimits limits = (data[0] & 4) != 0
                                    ? ResponseLimits{.max_head_bytes = 200, .max_field_count = 4}
                                    : ResponseLimits{};
  const std::uint64_t max_body = (data[0] & 8) != 0 ? 64 : UINT64_MAX;
  ++data;
  --size;
  const std::uint64_t h = hash(data, size);

  const Copy full(data, size);
  const Run whole = parse_fresh(full, method, limits);

  // Two pieces through one parser: the first a prefix, the second all the bytes.
  const std::size_t cut = static_cast<std::size_t>(h % (size + 1));
  ResponseParser parser(limits);
  const Copy first(data, cut);
  Run a;
  a.buffer = first.view();
  a.result = parser.parse(a.buffer, method, a.response);
  check(a, method, limits);
  require(same(a, parse_fresh(first, method, limits)), "a prefix parses as a fresh parse does");
  if (a.result.state != ParseState::incomplete) {
    require(same(a, whole), "a decided prefix decides the whole the same way");
  } else {
    Run b;
    b.buffer = full.view();
    b.result = parser.parse(b.buffer, method, b.response);
    check(b, method, limits);
    require(same(b, whole), "two pieces parse as one");
  }

  if (whole.result.state != ParseState::complete) return 0;
  // The body: in one piece and in two must agree.
  const std::string_view rest = full.view().substr(whole.result.consumed);
  const std::size_t one[] = {rest.size()};
  const BodyRun x = read_body(whole.response, rest, one, 1, max_body);
  const std::size_t split = static_cast<std::size_t>((h >> 20) % (rest.size() + 1));
  const std::size_t two[] = {split, rest.size()};
  const BodyRun y = read_body(whole.response, rest, two, 2, max_body);
  require(x.last.state == y.last.state && x.last.error == y.last.error, "body state by pieces");
  if (x.last.state == ParseState::complete) {
    require(x.consumed == y.consumed && x.body == y.body, "body bytes by pieces");
  }
  return 0;
}
