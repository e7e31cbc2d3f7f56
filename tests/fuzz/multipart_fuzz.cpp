// libFuzzer target for the multipart/form-data parser (src/http/multipart.cpp).
// Input: when it starts with "multipart/", its first line is a Content-Type whose boundary is
// used (multipart_boundary must then give 1..70 bchars); otherwise the boundary is "AaB03x".
// The rest is the body, parsed at once and in two pieces split where a hash of the input says
// (each an exact-size heap copy, so ASan sees over-reads); both must give the same events (file
// data merged), state and status. Events must nest (begin, data..., end), fields respect the
// limit, and errors are 400 or 413.
// Then the input, cut at NUL bytes, becomes the values of fields and files (alternately) of a
// body encoded here: parsing it must give back exactly those parts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/multipart.h"

using namespace nuri::http;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "multipart_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

struct Recorder : MultipartHandler {
  explicit Recorder(std::size_t max_field) : max_field_(max_field) {}
  std::vector<std::string> events;
  bool in_file = false;
  std::size_t max_field_;

  void on_field(const MultipartPart& p, std::string_view value) override {
    require(!in_file && !p.filename, "a field is no file");
    require(value.size() <= max_field_, "field within the limit");
    events.push_back("F" + p.name + '\0' + p.content_type + '\0' + std::string(value));
  }
  void on_file_begin(const MultipartPart& p) override {
    require(!in_file && p.filename.has_value(), "a file has a filename and does not nest");
    in_file = true;
    events.push_back("B" + p.name + '\0' + *p.filename + '\0' + p.content_type);
  }
  void on_file_data(std::string_view bytes) override {
    require(in_file && !bytes.empty(), "data inside a file, never empty");
    if (events.back()[0] == 'D') {
      events.back().append(bytes);
    } else {
      events.push_back("D" + std::string(bytes));
    }
  }
  void on_file_end() override {
    require(in_file, "end after begin");
    in_file = false;
    events.push_back("E");
  }
};

struct Outcome {
  MultipartParser::Result result;
  std::vector<std::string> events;
};

MultipartParser::Result feed_copy(MultipartParser& parser, std::string_view piece) {
  std::unique_ptr<char[]> copy(new char[piece.empty() ? 1 : piece.size()]);
  if (!piece.empty()) std::memcpy(copy.get(), piece.data(), piece.size());
  const auto r = parser.feed({copy.get(), piece.size()});
  require((r.state == ParseState::error) == (r.status != Status::none), "status iff error");
  require(r.state != ParseState::error || r.status == Status::bad_request ||
              r.status == Status::content_too_large,
          "400 or 413");
  return r;
}

Outcome run(std::string_view boundary, std::string_view body, std::size_t cut,
            const MultipartLimits& limits) {
  Recorder rec(limits.max_field_size);
  MultipartParser parser(boundary, rec, limits);
  const auto first = feed_copy(parser, body.substr(0, cut));
  const auto second = feed_copy(parser, body.substr(cut));
  if (first.state != ParseState::incomplete) {
    require(second.state == first.state && second.status == first.status, "decided stays");
  }
  const auto end = parser.finish();
  require(end.state != ParseState::incomplete, "finish decides");
  if (end.state == ParseState::complete) require(!rec.in_file, "complete closes every file");
  return {end, rec.events};
}

// Encodes the NUL-separated pieces of `input` as parts and parses them back.
void round_trip(std::string_view input, std::uint64_t h) {
  const std::string boundary = "x-" + std::to_string(h % 1000) + "-bound'ary";
  const std::string delimiter = "\r\n--" + boundary;
  std::string body = (h & 2) ? "preamble\r\n" : "";
  std::vector<std::string> expected;
  std::size_t i = 0;
  std::size_t from = 0;
  while (from <= input.size()) {
    std::size_t end = input.find('\0', from);
    if (end == std::string_view::npos) end = input.size();
    const std::string value(input.substr(from, end - from));
    from = end + 1;
    // A value may not hold the delimiter. Nothing else can end it early: the delimiter has a CR
    // only at its start, so no match can begin inside a value and end in the next delimiter.
    if (value.find(delimiter) != std::string::npos) return;
    if (i == 64) return;  // enough parts to test; thousands only slow the fuzzer down
    const std::string name = "n" + std::to_string(i);
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"";
    if (i % 2 == 1) {
      body += "; filename=\"f" + name + ".bin\"\r\nContent-Type: application/octet-stream";
      expected.push_back("B" + name + '\0' + "f" + name + ".bin" + '\0' +
                         "application/octet-stream");
      if (!value.empty()) expected.push_back("D" + value);
      expected.push_back("E");
    } else {
      expected.push_back("F" + name + '\0' + '\0' + value);
    }
    body += "\r\n\r\n" + value + "\r\n";
    ++i;
  }
  body += "--" + boundary + "--";
  MultipartLimits limits;  // every limit exactly at what the body needs
  limits.max_parts = i;
  limits.max_field_size = input.size();
  limits.max_total = body.size();
  if (h & 4) body += "\r\nepilogue, not counted";
  const std::size_t cut = static_cast<std::size_t>((h >> 32) % (body.size() + 1));
  const Outcome o = run(boundary, body, cut, limits);
  require(o.result.state == ParseState::complete, "an encoded body parses");
  require(o.events == expected, "parsing gives back the parts");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 1469598103934665603u;  // FNV-1a
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string boundary = "AaB03x";
  if (body.starts_with("multipart/")) {
    const std::size_t eol = body.find('\n');
    const std::string_view type = body.substr(0, eol);
    body = eol == std::string_view::npos ? std::string_view{} : body.substr(eol + 1);
    std::string b;
    const Status s = multipart_boundary(type, b);
    require(s == Status::ok || s == Status::bad_request || s == Status::unsupported_media_type,
            "boundary status");
    if (s != Status::ok) return 0;
    require(!b.empty() && b.size() <= 70 && b.back() != ' ', "boundary length");
    boundary = b;
  }

  MultipartLimits limits;
  if (h & 1) {
    limits.max_parts = 1 + (h >> 1) % 4;
    limits.max_header_size = 8 + (h >> 3) % 120;
    limits.max_field_size = (h >> 10) % 40;
    limits.max_total = (h >> 16) % (size + 2);
  }
  const Outcome whole = run(boundary, body, body.size(), limits);
  const std::size_t cut = static_cast<std::size_t>((h >> 24) % (body.size() + 1));
  const Outcome split = run(boundary, body, cut, limits);
  require(split.result.state == whole.result.state && split.result.status == whole.result.status,
          "split gives the same result");
  require(split.events == whole.events, "split gives the same events");
  round_trip(std::string_view(reinterpret_cast<const char*>(data), size), h);
  return 0;
}
