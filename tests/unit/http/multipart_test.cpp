// Tests of the multipart/form-data parser (src/http/multipart.cpp). Every body is parsed at
// once, in two pieces at every split point, and byte by byte; all ways must agree.
#include "http/multipart.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "../support/guarded_memory.h"

namespace nuri::http {
namespace {

using namespace std::string_literals;
using test::GuardedMemory;

// Records what the handler sees; consecutive file data are merged, as splits may cut them.
struct Recorder : MultipartHandler {
  std::vector<std::string> events;
  void on_field(const MultipartPart& p, std::string_view value) override {
    events.push_back("field " + p.name + " [" + p.content_type + "] = " + std::string(value));
  }
  void on_file_begin(const MultipartPart& p) override {
    events.push_back("file " + p.name + " (" + p.filename.value_or("?") + ") [" + p.content_type +
                     "]");
  }
  void on_file_data(std::string_view bytes) override {
    EXPECT_FALSE(bytes.empty());
    if (!events.empty() && events.back().starts_with("data ")) {
      events.back().append(bytes);
    } else {
      events.push_back("data " + std::string(bytes));
    }
  }
  void on_file_end() override { events.push_back("end"); }
};

struct Parsed {
  ParseState state = ParseState::incomplete;
  Status status = Status::none;
  std::vector<std::string> events;
  bool operator==(const Parsed&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  os << "{state " << static_cast<int>(p.state) << ", status " << code(p.status) << ", events";
  for (const auto& e : p.events) os << "\n  " << testing::PrintToString(e);
  return os << "}";
}

constexpr std::string_view kBoundary = "AaB03x";

// Parses `body` fed in the pieces cut at `cuts` (increasing), then finish().
Parsed parse_pieces(std::string_view body, const std::vector<std::size_t>& cuts,
                    const MultipartLimits& limits, std::string_view boundary = kBoundary) {
  Recorder rec;
  MultipartParser parser(boundary, rec, limits);
  GuardedMemory memory(body.size());
  MultipartParser::Result r;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(body.size());
  for (const std::size_t to : ends) {
    r = parser.feed(memory.place(body.substr(from, to - from)));
    EXPECT_EQ(r.state == ParseState::error, r.status != Status::none);
    from = to;
  }
  r = parser.finish();
  EXPECT_EQ(parser.finish().state, r.state);  // stays decided
  return {r.state, r.status, rec.events};
}

Parsed parse_all_ways(std::string_view body, const MultipartLimits& limits = {},
                      std::string_view boundary = kBoundary) {
  const Parsed whole = parse_pieces(body, {}, limits, boundary);
  for (std::size_t k = 0; k <= body.size(); ++k) {
    EXPECT_EQ(parse_pieces(body, {k}, limits, boundary), whole) << "split at " << k;
  }
  std::vector<std::size_t> every;
  for (std::size_t k = 1; k < body.size(); ++k) every.push_back(k);
  EXPECT_EQ(parse_pieces(body, every, limits, boundary), whole) << "byte by byte";
  return whole;
}

Parsed ok(std::vector<std::string> events) {
  return {ParseState::complete, Status::none, std::move(events)};
}
Parsed error(Status s, std::vector<std::string> events = {}) {
  return {ParseState::error, s, std::move(events)};
}

// ---- boundary ----

std::pair<Status, std::string> boundary_of(std::string_view content_type) {
  std::string b = "junk";
  const Status s = multipart_boundary(content_type, b);
  return {s, b};
}

TEST(MultipartBoundary, TokenAndQuoted) {
  EXPECT_EQ(boundary_of("multipart/form-data; boundary=AaB03x"),
            std::pair(Status::ok, "AaB03x"s));
  EXPECT_EQ(boundary_of("Multipart/Form-Data;charset=utf-8;  BOUNDARY=\"a b:c?\" "),
            std::pair(Status::ok, "a b:c?"s));
  EXPECT_EQ(boundary_of("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
            std::pair(Status::ok, "----WebKitFormBoundary7MA4YWxkTrZu0gW"s));
}

TEST(MultipartBoundary, LengthExactlyAndOnePast) {
  const std::string b70(70, 'x');
  EXPECT_EQ(boundary_of("multipart/form-data; boundary=" + b70), std::pair(Status::ok, b70));
  EXPECT_EQ(boundary_of("multipart/form-data; boundary=" + b70 + "x").first, Status::bad_request);
  EXPECT_EQ(boundary_of("multipart/form-data; boundary=x"), std::pair(Status::ok, "x"s));
}

TEST(MultipartBoundary, OtherTypesAre415) {
  for (const char* t : {"", "text/plain; boundary=x", "multipart/mixed; boundary=x",
                        "application/x-www-form-urlencoded", "multipart", "multipart/"}) {
    EXPECT_EQ(boundary_of(t), std::pair(Status::unsupported_media_type, ""s)) << t;
  }
}

TEST(MultipartBoundary, MissingOrInvalidIs400) {
  for (const char* t :
       {"multipart/form-data", "multipart/form-data;", "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary=\"x \"",
        "multipart/form-data; boundary=\"a;b\"", "multipart/form-data; boundary=\"a",
        "multipart/form-data; boundary=a; boundary=b", "multipart/form-data; boundary = a",
        "multipart/form-data boundary=a", "multipart/form-data; boundary=a{b",
        "multipart/form-data; boundary=\"a\\\"b\"", "multipart/form-data; x; boundary=a"}) {
    EXPECT_EQ(boundary_of(t), std::pair(Status::bad_request, ""s)) << t;
  }
}

// ---- bodies ----

TEST(Multipart, Rfc7578FieldsAndFile) {
  const std::string body =
      "--AaB03x\r\n"
      "Content-Disposition: form-data; name=\"submit-name\"\r\n"
      "\r\n"
      "Larry\r\n"
      "--AaB03x\r\n"
      "Content-Disposition: form-data; name=\"files\"; filename=\"file1.txt\"\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "... contents of file1.txt ...\r\n"
      "--AaB03x--\r\n";
  EXPECT_EQ(parse_all_ways(body), ok({"field submit-name [] = Larry",
                                      "file files (file1.txt) [text/plain]",
                                      "data ... contents of file1.txt ...", "end"}));
}

TEST(Multipart, PreambleEpilogueAndPaddingIgnored) {
  const std::string body =
      "This is the preamble.\r\n--AaB03x is not it\r\n"
      "--AaB03x \t\r\n"
      "content-disposition: FORM-DATA; NAME=a\r\n"
      "X-Other: ignored\r\n"
      "\r\n"
      "1\r\n"
      "--AaB03x--  epilogue\r\n--AaB03x\r\nmore junk";
  // A preamble line starting with the boundary but not a delimiter is an error (see below), so
  // this preamble only mentions it mid-line.
  EXPECT_EQ(parse_all_ways(body).state, ParseState::error);
  const std::string good =
      "This is the preamble; --AaB03x mid-line.\r\n"
      "--AaB03x \t\r\n"
      "content-disposition: FORM-DATA; NAME=a\r\n"
      "X-Other: ignored\r\n"
      "\r\n"
      "1\r\n"
      "--AaB03x--  epilogue\r\n--AaB03x\r\nmore junk";
  EXPECT_EQ(parse_all_ways(good), ok({"field a [] = 1"}));
}

TEST(Multipart, EmptyFormAndEmptyValues) {
  EXPECT_EQ(parse_all_ways("--AaB03x--"), ok({}));
  EXPECT_EQ(parse_all_ways("--AaB03x--\r\n"), ok({}));
  const std::string body =
      "--AaB03x\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n"
      "--AaB03x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n\r\n"
      "--AaB03x--";
  EXPECT_EQ(parse_all_ways(body),
            ok({"field e [] = ", "file f () [application/octet-stream]", "end"}));
}

TEST(Multipart, DataThatLooksLikeFraming) {
  // Only CRLF "--AaB03x" delimits: a shorter boundary, a bare LF or CR, one dash less, another
  // boundary are all data.
  const std::string head = "--AaB03x\r\nContent-Disposition: form-data; name=f; filename=b\r\n\r\n";
  const std::string data = "\r\n--AaB03\r\n--AaB03y\n--AaB03x\r--\r\n\r\n-AaB03x-"s + "\0\xff"s;
  EXPECT_EQ(parse_all_ways(head + data + "\r\n--AaB03x--"),
            ok({"file f (b) []", "data " + data, "end"}));
  // The boundary inside data followed by anything but "--", padding or CRLF is malformed.
  EXPECT_EQ(parse_all_ways(head + "abc\r\n--AaB03xy\r\n--AaB03x--"),
            error(Status::bad_request, {"file f (b) []", "data abc", "end"}));
}

TEST(Multipart, FilenameStarWinsAndIsDecoded) {
  const std::string body =
      "--AaB03x\r\nContent-Disposition: form-data; name=f; filename=\"plain.txt\"; "
      "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\nx\r\n"
      "--AaB03x\r\nContent-Disposition: form-data; name=g; filename*=iso-8859-1'en'%E9t%E9\r\n"
      "\r\ny\r\n--AaB03x--";
  EXPECT_EQ(parse_all_ways(body), ok({"file f (\xe2\x82\xac rates.txt) []", "data x", "end",
                                      "file g (\xc3\xa9t\xc3\xa9) []", "data y", "end"}));
}

TEST(Multipart, QuotedParametersUnescaped) {
  const std::string body =
      "--AaB03x\r\nContent-Disposition: form-data; name=\"a\\\"b;c\"; filename=\"x y.txt\"\r\n"
      "\r\nz\r\n--AaB03x--";
  EXPECT_EQ(parse_all_ways(body), ok({"file a\"b;c (x y.txt) []", "data z", "end"}));
}

TEST(Multipart, MalformedPartsAre400) {
  const std::vector<std::string> heads = {
      "",                                                     // no Content-Disposition
      "Content-Type: text/plain\r\n",                          // idem
      "Content-Disposition: form-data\r\n",                    // no name
      "Content-Disposition: attachment; name=a\r\n",           // not form-data
      "Content-Disposition: form-data; name=a; name=b\r\n",    // repeated name
      "Content-Disposition: form-data; name=a; filename=x; filename=y\r\n",
      "Content-Disposition: form-data; name=\"a\r\n",          // unclosed quote
      "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n",
      "Content-Disposition: form-data; name=a\r\nContent-Type: a\r\nContent-Type: b\r\n",
      "Content-Disposition: form-data; name=a\r\n folded\r\n",  // obs-fold
      "Content-Disposition : form-data; name=a\r\n",          // space before colon
      "Content-Disposition: form-data; name=a\r\nno colon\r\n",
      "Content-Disposition: form-data; name=a\r\nX: a\x01z\r\n",
      "Content-Disposition: form-data; name=a\nX: y\r\n",     // bare LF
      "Content-Disposition: form-data; name=a; filename*=UTF-8''%zz\r\n",
      "Content-Disposition: form-data; name=a; filename*=KOI8-R''%E9\r\n",
      "Content-Disposition: form-data; name=a; filename*=noquotes\r\n",
  };
  for (const std::string& head : heads) {
    const std::string body = "--AaB03x\r\n" + head + "\r\nv\r\n--AaB03x--";
    EXPECT_EQ(parse_all_ways(body), error(Status::bad_request)) << head;
  }
}

TEST(Multipart, BadFramingIs400) {
  const std::vector<std::string> bodies = {
      "",                                  // no delimiter at all
      "--AaB03x",                          // ends after the boundary
      "--AaB03x\r\n",                      // ends in the headers
      "--AaB03x\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue",  // no close delimiter
      "--AaB03x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--AaB03x",
      "--AaB03x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--AaB03x-",
      "--AaB03x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--AaB03x \t",
      "--AaB03xyz\r\n",                    // boundary followed by text
      "--AaB03x\n",                        // bare LF after the boundary
      "--AaB03x \r\r\n",
      "--AaB03x --\r\n",                   // "--" after padding closes nothing
      "preamble only\r\n",
      "--aab03x--",                        // boundaries are case-sensitive
  };
  for (const std::string& body : bodies) {
    const Parsed p = parse_all_ways(body);
    EXPECT_EQ(p.state, ParseState::error) << testing::PrintToString(body);
    EXPECT_EQ(p.status, Status::bad_request) << testing::PrintToString(body);
  }
}

TEST(Multipart, FileBeganThenTruncatedGetsNoEnd) {
  const std::string body =
      "--AaB03x\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n0123456789abcdef";
  // All but the bytes that could still begin a delimiter ("\r\n--AaB03x" less one) came out.
  EXPECT_EQ(parse_all_ways(body), error(Status::bad_request, {"file f (a) []", "data 0123456"}));
}

std::string field_body(std::size_t n_parts, std::size_t value_size = 1) {
  std::string body;
  for (std::size_t i = 0; i < n_parts; ++i) {
    body += "--AaB03x\r\nContent-Disposition: form-data; name=n\r\n\r\n" +
            std::string(value_size, 'v') + "\r\n";
  }
  return body + "--AaB03x--";
}

TEST(Multipart, PartLimitExactlyAndOnePast) {
  MultipartLimits limits;
  limits.max_parts = 3;
  EXPECT_EQ(parse_all_ways(field_body(3), limits).state, ParseState::complete);
  EXPECT_EQ(parse_all_ways(field_body(4), limits),
            error(Status::content_too_large, {"field n [] = v", "field n [] = v",
                                              "field n [] = v"}));
}

TEST(Multipart, FieldLimitExactlyAndOnePast) {
  MultipartLimits limits;
  limits.max_field_size = 5;
  EXPECT_EQ(parse_all_ways(field_body(1, 5), limits), ok({"field n [] = vvvvv"}));
  EXPECT_EQ(parse_all_ways(field_body(1, 6), limits), error(Status::content_too_large));
  // Files are not fields: only the total bounds them.
  const std::string file =
      "--AaB03x\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n0123456789\r\n"
      "--AaB03x--";
  EXPECT_EQ(parse_all_ways(file, limits), ok({"file f (a) []", "data 0123456789", "end"}));
}

TEST(Multipart, HeaderLimitExactlyAndOnePast) {
  const std::string head = "Content-Disposition: form-data; name=n\r\n\r\n";  // 42 bytes
  const std::string body = "--AaB03x\r\n" + head + "v\r\n--AaB03x--";
  MultipartLimits limits;
  limits.max_header_size = head.size();
  EXPECT_EQ(parse_all_ways(body, limits), ok({"field n [] = v"}));
  limits.max_header_size = head.size() - 1;
  EXPECT_EQ(parse_all_ways(body, limits), error(Status::content_too_large));
  // A header line that never ends is refused once it is longer than the limit.
  limits.max_header_size = 100;
  EXPECT_EQ(parse_all_ways("--AaB03x\r\nX: " + std::string(200, 'a'), limits),
            error(Status::content_too_large));
}

TEST(Multipart, TotalLimitExactlyAndOnePast) {
  const std::string body = field_body(2);
  MultipartLimits limits;
  limits.max_total = body.size();
  EXPECT_EQ(parse_all_ways(body, limits).state, ParseState::complete);
  EXPECT_EQ(parse_all_ways(body + "\r\nepilogue not counted", limits).state,
            ParseState::complete);
  limits.max_total = body.size() - 1;
  EXPECT_EQ(parse_all_ways(body, limits),
            error(Status::content_too_large, {"field n [] = v", "field n [] = v"}));
}

TEST(Multipart, HugePartCountIsRefusedEarly) {
  const std::string body = field_body(5000);
  Recorder rec;
  MultipartParser parser(kBoundary, rec);
  const auto r = parser.feed(body);
  EXPECT_EQ(r.status, Status::content_too_large);
  EXPECT_EQ(rec.events.size(), 100u);
  EXPECT_EQ(parser.feed("more").status, Status::content_too_large);
}

TEST(Multipart, LargeFileStreamsInPieces) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>('a' + i % 26);
  const std::string body = "--AaB03x\r\nContent-Disposition: form-data; name=f; filename=big\r\n\r\n" +
                           data + "\r\n--AaB03x--\r\n";
  Recorder rec;
  MultipartParser parser(kBoundary, rec);
  for (std::size_t i = 0; i < body.size(); i += 4096) {
    ASSERT_NE(parser.feed(std::string_view(body).substr(i, 4096)).state, ParseState::error);
  }
  EXPECT_EQ(parser.finish().state, ParseState::complete);
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[1], "data " + data);
}

TEST(Multipart, SeventyCharBoundary) {
  const std::string b(70, '-');
  const std::string body = "--" + b + "\r\nContent-Disposition: form-data; name=n\r\n\r\nv\r\n--" +
                           b + "--";
  EXPECT_EQ(parse_all_ways(body, {}, b), ok({"field n [] = v"}));
}

}  // namespace
}  // namespace nuri::http
