// Tests of the chunked decoder (src/http/chunked.cpp). Every input is decoded at once, in two
// pieces at every split point, and byte by byte, each piece right before a PROT_NONE page.
#include "http/chunked.h"

#include <gtest/gtest.h>

#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "../support/guarded_memory.h"

namespace nuri::http {
namespace {

using namespace std::string_literals;

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

using test::GuardedMemory;

struct Limits {
  std::uint64_t max_body = kNoLimit;
  std::size_t max_line = 4096;
};

// What decoding gave: consumed counts from the start of the whole input.
struct Decoded {
  ParseState state = ParseState::incomplete;
  std::size_t consumed = 0;
  Status status = Status::none;
  std::string body;

  bool operator==(const Decoded&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Decoded& d) {
  return os << "{state " << static_cast<int>(d.state) << ", consumed " << d.consumed << ", status "
            << code(d.status) << ", body " << testing::PrintToString(d.body) << "}";
}

// One decode call over guarded bytes, adding its outcome to `d`.
void decode_into(ChunkedDecoder& decoder, GuardedMemory& memory, std::string_view input, Decoded& d) {
  const std::string_view bytes = memory.place(input);
  const ChunkedDecoder::Result r = decoder.decode(bytes, &d.body);
  EXPECT_LE(r.consumed, input.size());
  EXPECT_EQ(r.state == ParseState::error, r.status != Status::none);
  EXPECT_EQ(decoder.body_size(), d.body.size());
  d.state = r.state;
  d.consumed += r.consumed;
  d.status = r.status;
}

Decoded decode_once(std::string_view input, Limits limits = {}) {
  GuardedMemory memory(input.size());
  ChunkedDecoder decoder(limits.max_body, limits.max_line);
  Decoded d;
  decode_into(decoder, memory, input, d);
  return d;
}

// Decodes at once, each prefix alone, in two pieces at every split point (the second piece being
// all that the first call left), and byte by byte; all must agree. Returns the one-shot result.
Decoded decode_all_ways(std::string_view input, Limits limits = {}) {
  const Decoded whole = decode_once(input, limits);
  GuardedMemory a(input.size());
  GuardedMemory b(input.size());

  for (std::size_t k = 0; k < input.size(); ++k) {
    ChunkedDecoder decoder(limits.max_body, limits.max_line);
    Decoded d;
    decode_into(decoder, a, input.substr(0, k), d);
    if (whole.state == ParseState::complete && k >= whole.consumed) {
      EXPECT_EQ(d, whole) << "prefix " << k;
    } else if (whole.state != ParseState::error) {
      EXPECT_EQ(d.state, ParseState::incomplete) << "prefix " << k;
    } else {
      EXPECT_NE(d.state, ParseState::complete) << "prefix " << k;
      if (d.state == ParseState::error) {
        EXPECT_EQ(d, whole) << "prefix " << k;
      }
    }
    EXPECT_EQ(d.body, whole.body.substr(0, d.body.size())) << "prefix " << k;
    if (d.state == ParseState::incomplete) {
      decode_into(decoder, b, input.substr(d.consumed), d);
      EXPECT_EQ(d, whole) << "split at " << k;
    }
  }

  ChunkedDecoder decoder(limits.max_body, limits.max_line);
  Decoded d;
  std::string pending;
  for (std::size_t k = 0; k < input.size() && d.state == ParseState::incomplete; ++k) {
    pending += input[k];
    const std::size_t before = d.consumed;
    decode_into(decoder, k % 2 == 0 ? a : b, pending, d);
    pending.erase(0, d.consumed - before);
  }
  EXPECT_EQ(d, whole) << "byte by byte";
  return whole;
}

// ---------------------------------------------------------------------------------------------
// Valid bodies

struct ValidBody {
  std::string name;
  std::string input;
  std::string body;
  std::size_t consumed = std::string::npos;  // npos: all of the input
  Limits limits = {};
};

std::vector<ValidBody> valid_bodies() {
  return {
      {"Empty", "0\r\n\r\n", ""},
      {"One_chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"Several_chunks", "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "hello world"},
      {"Hex_both_cases", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n",
       "0123456789abcdefghij"},
      {"Leading_zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
      {"Sixteen_digits", "0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n", "hello"},
      // 1*HEXDIG: zeros before the number do not make it longer (nginx takes them too).
      {"Leading_zeros_past_sixteen_digits", "00000000000000000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n",
       "hello"},
      {"Data_looks_like_framing", "9\r\n\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n0\r\n\r\n\r\n"},
      {"Binary_data", "4\r\n\0\xff\r\n\r\n0\r\n\r\n"s, "\0\xff\r\n"s},
      {"Extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello"},
      {"Extensions_with_spaces", "5 ; a = b ;c\t;\td\r\nhello\r\n0\r\n\r\n", "hello"},
      {"Extension_quoted", "5;a=\"x;y \\\" z\xe9\"\r\nhello\r\n0\r\n\r\n", "hello"},
      {"Extension_empty_quoted", "5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello"},
      {"Extension_name_only_then_more", "5;a;b=1\r\nhello\r\n0\r\n\r\n", "hello"},
      {"Trailers", "3\r\nabc\r\n0\r\nX-Checksum: 1f\r\nY:\r\nZ: caf\xc3\xa9 \t\r\n\r\n", "abc"},
      {"Next_request_follows", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "abc", 13},
      {"Next_body_follows", "0\r\n\r\n0\r\n\r\n", "", 5},
      {"Body_at_the_limit", "5\r\nhello\r\n0\r\n\r\n", "hello", std::string::npos, {5, 4096}},
      {"Line_at_the_limit", "5;abcdefg\r\nhello\r\n0;x=1234\r\n\r\n", "hello", std::string::npos,
       {kNoLimit, 9}},
      {"Trailer_at_the_limit", "0\r\nX:1234567\r\n\r\n", "", std::string::npos, {kNoLimit, 9}},
  };
}

void PrintTo(const ValidBody& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

class ChunkedValid : public testing::TestWithParam<ValidBody> {};

TEST_P(ChunkedValid, DecodesTheSameEveryWay) {
  const ValidBody& c = GetParam();
  const Decoded d = decode_all_ways(c.input, c.limits);
  EXPECT_EQ(d.state, ParseState::complete) << "status " << code(d.status);
  EXPECT_EQ(d.consumed, c.consumed == std::string::npos ? c.input.size() : c.consumed);
  EXPECT_EQ(d.body, c.body);
}

struct CaseName {
  template <class T>
  std::string operator()(const testing::TestParamInfo<T>& p) const {
    return p.param.name;
  }
};

INSTANTIATE_TEST_SUITE_P(Chunked, ChunkedValid, testing::ValuesIn(valid_bodies()), CaseName());

// ---------------------------------------------------------------------------------------------
// Malformed bodies

struct BadBody {
  std::string name;
  std::string input;
  Status status;
  Limits limits = {};
};

std::vector<BadBody> bad_bodies() {
  constexpr Status k400 = Status::bad_request;
  constexpr Status k413 = Status::content_too_large;
  const Limits max10{10, 4096};
  const Limits line8{kNoLimit, 8};
  std::string ten_trailers;  // 80 bytes: more than 8 lines of 8 bytes
  for (int i = 0; i < 10; ++i) ten_trailers += "X: 123\r\n";
  return {
      {"Size_not_hex", "g\r\n", k400},
      {"Size_empty", "\r\n", k400},
      {"Size_leading_space", " 5\r\nhello\r\n0\r\n\r\n", k400},
      {"Size_trailing_space", "5 \r\nhello\r\n0\r\n\r\n", k400},
      {"Size_minus", "-5\r\n", k400},
      {"Size_plus", "+5\r\n", k400},
      {"Size_hex_prefix", "0x5\r\nhello\r\n", k400},
      {"Size_bare_lf", "5\nhello\r\n0\r\n\r\n", k400},
      {"Size_bare_cr", "5\rhello\r\n", k400},
      {"Size_cr_cr_lf", "5\r\r\nhello\r\n", k400},
      {"Size_nul", "5\0\r\n"s, k400},
      {"Size_comma", "5,6\r\n", k400},
      {"Last_chunk_bare_lf", "0\n\r\n", k400},
      {"Data_missing_crlf", "5\r\nhelloX\r\n0\r\n\r\n", k400},
      {"Data_longer_than_size", "3\r\nhello\r\n0\r\n\r\n", k400},
      {"Data_then_bare_lf", "5\r\nhello\n0\r\n\r\n", k400},
      {"Data_then_bare_cr", "5\r\nhello\r0\r\n\r\n", k400},
      {"Data_then_lf_cr", "5\r\nhello\n\r0\r\n\r\n", k400},
      {"Size_overflow_2_63", "8000000000000000\r\n", k400},
      {"Size_overflow_max", "FFFFFFFFFFFFFFFF\r\n", k400},
      {"Size_seventeen_significant_digits", "00010000000000000000\r\nhello\r\n", k400},
      {"Size_way_too_long", "123456789abcdef0123456789\r\n", k400},
      {"Body_over_limit_one_chunk", "B\r\nhello world\r\n0\r\n\r\n", k413, max10},
      {"Body_over_limit_second_chunk", "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", k413, max10},
      {"Body_over_limit_huge_size", "FFFFFFFF\r\n", k413, max10},
      {"Body_over_limit_with_extension", "20;a=b\r\n", k413, max10},
      {"Size_line_too_long", "5;abcdefgh\r\nhello\r\n0\r\n\r\n", k400, line8},
      {"Size_line_too_long_no_end", "5;abcdefghijklmnop", k400, line8},
      {"Trailer_too_long", "0\r\nX: 1234567\r\n\r\n", k400, line8},
      {"Trailer_section_too_big", "0\r\n" + ten_trailers + "\r\n", k400, line8},
      {"Extension_no_name", "5;\r\nhello\r\n", k400},
      {"Extension_only_value", "5;=a\r\nhello\r\n", k400},
      {"Extension_empty_value", "5;a=\r\nhello\r\n", k400},
      {"Extension_unclosed_quote", "5;a=\"x\r\nhello\r\n", k400},
      {"Extension_control_in_quote", "5;a=\"\x01\"\r\nhello\r\n", k400},
      {"Extension_space_in_name", "5;a b\r\nhello\r\n", k400},
      {"Extension_space_in_value", "5;a=b c\r\nhello\r\n", k400},
      {"Extension_trailing_space", "5;a \r\nhello\r\n", k400},
      {"Extension_value_trailing_space", "5;a=b \r\nhello\r\n", k400},
      {"Extension_double_equals", "5;a==b\r\nhello\r\n", k400},
      {"Extension_trailing_semicolon", "5;a=b;\r\nhello\r\n", k400},
      {"Extension_bare_lf", "5;a=b\nhello\r\n", k400},
      {"Trailer_obs_fold", "0\r\nX: a\r\n b\r\n\r\n", k400},
      {"Trailer_space_before_colon", "0\r\nX : a\r\n\r\n", k400},
      {"Trailer_no_colon", "0\r\nX\r\n\r\n", k400},
      {"Trailer_empty_name", "0\r\n: a\r\n\r\n", k400},
      {"Trailer_nul", "0\r\nX: a\0b\r\n\r\n"s, k400},
      {"Trailer_del", "0\r\nX: \x7f\r\n\r\n", k400},
      {"Trailer_bare_lf", "0\r\nX: a\n\r\n", k400},
      {"Trailer_bare_cr", "0\r\nX: a\rb\r\n\r\n", k400},
      {"Final_line_bare_lf", "0\r\n\n", k400},
      {"Final_line_cr_cr", "0\r\n\r\r\n", k400},
  };
}

void PrintTo(const BadBody& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

class ChunkedMalformed : public testing::TestWithParam<BadBody> {};

TEST_P(ChunkedMalformed, FailsWithItsStatusEveryWay) {
  const BadBody& c = GetParam();
  const Decoded d = decode_all_ways(c.input, c.limits);
  EXPECT_EQ(d.state, ParseState::error);
  EXPECT_EQ(code(d.status), code(c.status));
}

INSTANTIATE_TEST_SUITE_P(Chunked, ChunkedMalformed, testing::ValuesIn(bad_bodies()), CaseName());

// ---------------------------------------------------------------------------------------------
// Behaviour

TEST(ChunkedDecoder, ErrorsShowBeforeTheLineEnds) {
  EXPECT_EQ(decode_once("z").status, Status::bad_request);
  EXPECT_EQ(decode_once("5;a b").status, Status::bad_request);
  EXPECT_EQ(decode_once("5 x").status, Status::bad_request);
  EXPECT_EQ(decode_once("5\n").status, Status::bad_request);
  EXPECT_EQ(decode_once("5\r\nhelloX").status, Status::bad_request);
  // 413 as soon as the digits exceed the limit, before the size line ends.
  EXPECT_EQ(decode_once("1", {10, 4096}).state, ParseState::incomplete);
  EXPECT_EQ(decode_once("10", {10, 4096}).status, Status::content_too_large);
  // A line is too long as soon as more bytes than max_line and CRLF are there without its end.
  EXPECT_EQ(decode_once("5;abcde", {kNoLimit, 8}).state, ParseState::incomplete);
  EXPECT_EQ(decode_once("5;abcdefg", {kNoLimit, 8}).state, ParseState::incomplete);
  EXPECT_EQ(decode_once("5;abcdefgh", {kNoLimit, 8}).state, ParseState::incomplete);
  EXPECT_EQ(decode_once("5;abcdefghi", {kNoLimit, 8}).status, Status::bad_request);
}

TEST(ChunkedDecoder, UnfinishedLinesAreLeftUnconsumed) {
  ChunkedDecoder decoder(kNoLimit);
  std::string body;
  auto r = decoder.decode("5;ext=", &body);
  EXPECT_EQ(r.state, ParseState::incomplete);
  EXPECT_EQ(r.consumed, 0u);
  r = decoder.decode("5;ext=1\r\nhel", &body);
  EXPECT_EQ(r.consumed, 12u);  // data is consumed as it comes
  EXPECT_EQ(body, "hel");
  r = decoder.decode("lo\r", &body);
  EXPECT_EQ(r.consumed, 2u);  // the lone CR waits for its LF
  r = decoder.decode("\r\n0\r\nTrailer: x", &body);
  EXPECT_EQ(r.consumed, 5u);
  r = decoder.decode("Trailer: x\r\n\r\nNEXT", &body);
  EXPECT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(r.consumed, 14u);
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(decoder.body_size(), 5u);
}

TEST(ChunkedDecoder, CompleteStaysComplete) {
  ChunkedDecoder decoder(kNoLimit);
  EXPECT_EQ(decoder.decode("0\r\n\r\n", nullptr).state, ParseState::complete);
  const auto r = decoder.decode("5\r\nhello\r\n", nullptr);
  EXPECT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(ChunkedDecoder, ErrorRepeatsOnTheSameBytes) {
  ChunkedDecoder decoder(kNoLimit);
  std::string body;
  const std::string input = "3\r\nabc\r\nzz\r\n";
  const auto first = decoder.decode(input, &body);
  EXPECT_EQ(first.state, ParseState::error);
  EXPECT_EQ(first.consumed, 8u);  // up to the bad line
  const auto again = decoder.decode(std::string_view(input).substr(first.consumed), &body);
  EXPECT_EQ(again.state, ParseState::error);
  EXPECT_EQ(again.status, Status::bad_request);
}

TEST(ChunkedDecoder, NullBodyDropsDataButCountsIt) {
  ChunkedDecoder decoder(kNoLimit);
  const auto r = decoder.decode("5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", nullptr);
  EXPECT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(decoder.body_size(), 8u);
}

TEST(ChunkedDecoder, ResetStartsANewBody) {
  ChunkedDecoder decoder(6);
  std::string body;
  EXPECT_EQ(decoder.decode("5\r\nhello\r\n0\r\n\r\n", &body).state, ParseState::complete);
  decoder.reset();
  EXPECT_EQ(decoder.body_size(), 0u);
  body.clear();
  // The limit is per body: 5 more bytes are fine after reset().
  EXPECT_EQ(decoder.decode("5\r\nworld\r\n0\r\n\r\n", &body).state, ParseState::complete);
  EXPECT_EQ(body, "world");
  decoder.reset();
  EXPECT_EQ(decoder.decode("7\r\n", &body).status, Status::content_too_large);
}

TEST(ChunkedDecoder, LimitCountsAllChunks) {
  ChunkedDecoder decoder(10);
  EXPECT_EQ(decoder.decode("5\r\nhello\r\n5\r\nworld\r\n1\r\n", nullptr).status,
            Status::content_too_large);
  EXPECT_EQ(decoder.body_size(), 10u);
}

TEST(ChunkedDecoder, LargestSizeIsAccepted) {
  ChunkedDecoder decoder(kNoLimit);
  const auto r = decoder.decode("7fffffffffffffff\r\nabc", nullptr);
  EXPECT_EQ(r.state, ParseState::incomplete);
  EXPECT_EQ(r.consumed, 21u);
}

TEST(ChunkedDecoder, WithTheRequestParserAndPipelining) {
  const std::string wire =
      "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6;part=1\r\nhello \r\n5\r\nworld\r\n0\r\nDigest: x\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  RequestParser parser;
  Request req;
  std::string_view rest = wire;
  auto head = parser.parse(rest, req);
  ASSERT_EQ(head.state, ParseState::complete);
  ASSERT_EQ(req.framing, BodyFraming::chunked);
  rest.remove_prefix(head.consumed);

  ChunkedDecoder decoder(1024);
  std::string body;
  const auto r = decoder.decode(rest, &body);
  ASSERT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(body, "hello world");
  rest.remove_prefix(r.consumed);

  head = parser.parse(rest, req);
  ASSERT_EQ(head.state, ParseState::complete);
  EXPECT_EQ(req.path, "/next");
  EXPECT_EQ(head.consumed, rest.size());
}

}  // namespace
}  // namespace nuri::http
