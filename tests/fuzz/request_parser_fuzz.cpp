// libFuzzer target for the request parser (src/http/parser.cpp). Each input is parsed at once and
// in pieces through one parser (each piece an exact-size heap copy, so ASan sees any over-read and
// the bytes move between calls), under the default limits and under small ones. Invariants:
// results stay within the buffer; a resumed call answers what a fresh parse of the same bytes
// answers; once a prefix is decided (complete or error), the whole input is decided the same way.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <string_view>

#include "http/parser.h"

using namespace nuri::http;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "request_parser_fuzz: invariant broken: %s\n", what);
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
  ParseResult result;
  Request request;
  std::string_view buffer;
};

bool inside(std::string_view v, std::string_view head) {
  return v.empty() || (v.data() >= head.data() && v.data() + v.size() <= head.data() + head.size());
}

// A view as (offset, size) in its buffer, so that runs over different copies compare.
bool same_view(std::string_view a, std::string_view abuf, std::string_view b, std::string_view bbuf) {
  if (a.size() != b.size()) return false;
  return a.empty() || a.data() - abuf.data() == b.data() - bbuf.data();
}

bool same(const Run& a, const Run& b) {
  if (a.result.state != b.result.state || a.result.consumed != b.result.consumed ||
      a.result.status != b.result.status) {
    return false;
  }
  if (a.result.state != ParseState::complete) return true;
  const Request& x = a.request;
  const Request& y = b.request;
  const auto v = [&](std::string_view p, std::string_view q) {
    return same_view(p, a.buffer, q, b.buffer);
  };
  if (x.method != y.method || x.form != y.form || x.version_minor != y.version_minor ||
      x.header_count != y.header_count || x.framing != y.framing || x.keep_alive != y.keep_alive ||
      x.expect_continue != y.expect_continue ||
      (x.framing == BodyFraming::content_length && x.content_length != y.content_length) ||
      !v(x.method_name, y.method_name) || !v(x.target, y.target) || !v(x.path, y.path) ||
      !v(x.query, y.query) || !v(x.host, y.host)) {
    return false;
  }
  for (std::size_t i = 0; i < x.header_count; ++i) {
    if (!v(x.headers[i].name, y.headers[i].name) || !v(x.headers[i].value, y.headers[i].value)) {
      return false;
    }
  }
  return true;
}

void check(const Run& run, const ParserLimits& limits) {
  const ParseResult& r = run.result;
  require(r.consumed <= run.buffer.size(), "consumed within the buffer");
  if (r.state == ParseState::incomplete) {
    require(r.status == Status::none && r.consumed == 0, "incomplete says nothing else");
    require(run.buffer.size() <= limits.max_head_bytes, "incomplete only below max_head_bytes");
    return;
  }
  if (r.state == ParseState::error) {
    const int c = code(r.status);
    require(c == 400 || c == 414 || c == 417 || c == 431 || c == 501 || c == 505,
            "error statuses");
    return;
  }
  require(r.status == Status::none && r.consumed > 0, "complete has no status");
  require(r.consumed <= limits.max_head_bytes, "complete head within max_head_bytes");
  const Request& q = run.request;
  const std::string_view head = run.buffer.substr(0, r.consumed);
  require(head.back() == '\n', "head ends with a line end");
  require(inside(q.method_name, head) && inside(q.target, head) && inside(q.path, head) &&
              inside(q.query, head) && inside(q.host, head),
          "views inside the head");
  require(!q.method_name.empty() && !q.target.empty(), "method and target present");
  require(method_from_name(q.method_name) == q.method, "method matches its name");
  require(q.target.size() <= limits.max_target_bytes, "target within max_target_bytes");
  require(q.version_minor == 0 || q.version_minor == 1, "version 1.0 or 1.1");
  require(q.header_count <= limits.max_header_count && q.header_count <= kMaxHeaderCount,
          "field count within limits");
  for (std::size_t i = 0; i < q.header_count; ++i) {
    require(!q.headers[i].name.empty(), "field names not empty");
    require(inside(q.headers[i].name, head) && inside(q.headers[i].value, head), "fields inside");
  }
  require(q.version_minor == 1 || q.framing != BodyFraming::chunked, "no chunked in HTTP/1.0");
  require(q.version_minor == 0 || q.find("host").has_value(), "Host in HTTP/1.1");
  require(q.framing != BodyFraming::content_length ||
              q.content_length <= static_cast<std::uint64_t>(INT64_MAX),
          "content length range");
  require(q.version_minor == 1 || !q.expect_continue, "no 100-continue in HTTP/1.0");
  switch (q.form) {
    case TargetForm::origin: require(q.target[0] == '/', "origin-form starts with '/'"); break;
    case TargetForm::asterisk: require(q.method == Method::options, "'*' with OPTIONS"); break;
    case TargetForm::authority: require(q.method == Method::connect, "authority with CONNECT"); break;
    case TargetForm::absolute: require(!q.host.empty(), "absolute-form has a host"); break;
  }
}

Run parse_fresh(const Copy& copy, const ParserLimits& limits) {
  Run run;
  run.buffer = copy.view();
  RequestParser parser(limits);
  run.result = parser.parse(run.buffer, run.request);
  check(run, limits);
  return run;
}

std::uint64_t hash(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603u;  // FNV-1a
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  return h;
}

void fuzz(const std::uint8_t* data, std::size_t size, const ParserLimits& limits, std::uint64_t h) {
  const Copy full(data, size);
  const Run whole = parse_fresh(full, limits);

  // Three pieces, at two splits derived from the data.
  std::size_t a = static_cast<std::size_t>(h % (size + 1));
  std::size_t b = static_cast<std::size_t>((h >> 24) % (size + 1));
  if (a > b) std::swap(a, b);
  RequestParser parser(limits);
  const std::size_t cuts[] = {a, b, size};
  for (const std::size_t cut : cuts) {
    const Copy piece(data, cut);
    Run run;
    run.buffer = piece.view();
    run.result = parser.parse(run.buffer, run.request);
    check(run, limits);
    const Run fresh = parse_fresh(piece, limits);
    require(same(run, fresh), "a resumed parse answers what a fresh one does");
    if (run.result.state != ParseState::incomplete) {
      require(same(run, whole), "a decided prefix decides the whole the same way");
    }
    if (cut == size) require(same(run, whole), "pieces end where the whole does");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint64_t h = hash(data, size);
  fuzz(data, size, ParserLimits{}, h);
  fuzz(data, size, ParserLimits{.max_target_bytes = 24, .max_head_bytes = 160, .max_header_count = 4},
       h >> 7);
  return 0;
}
