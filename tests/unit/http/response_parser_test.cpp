// Tests of the response-head parser and body reader (src/http/response_parser.cpp). Every input
// is parsed at once, at every split point through one parser, byte by byte (the bytes moving in
// memory between calls), and right before a PROT_NONE page, so that an over-read crashes at once.
#include "http/response_parser.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "../support/guarded_memory.h"

namespace nuri::http {
namespace {

using namespace std::string_literals;
using test::GuardedMemory;

// ---------------------------------------------------------------------------------------------
// Harness

// A parse outcome owning its strings, so that outcomes over different copies compare.
struct Parsed {
  ParseState state = ParseState::incomplete;
  std::size_t consumed = 0;
  ResponseError error = ResponseError::none;
  int version_minor = 0;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> codings;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  ResponseFraming framing = ResponseFraming::none;
  bool framing_conflict = false;
  bool keep_alive = false;

  bool operator==(const Parsed&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  os << "{state " << static_cast<int>(p.state) << ", consumed " << p.consumed << ", error "
     << describe(p.error);
  if (p.state == ParseState::complete) {
    os << ", 1." << p.version_minor << " " << p.status << " [" << p.reason << "], "
       << p.headers.size() << " fields, framing " << static_cast<int>(p.framing) << " length "
       << p.content_length << ", conflict " << p.framing_conflict << ", keep_alive "
       << p.keep_alive;
  }
  return os << "}";
}

bool inside(std::string_view view, std::string_view buffer) {
  return view.empty() ||
         (view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size());
}

Parsed snapshot(const ResponseResult& r, const Response& res, std::string_view buffer) {
  Parsed p;
  p.state = r.state;
  p.consumed = r.consumed;
  p.error = r.error;
  EXPECT_LE(r.consumed, buffer.size());
  EXPECT_EQ(r.state == ParseState::error, r.error != ResponseError::none);
  if (r.state != ParseState::complete) {
    EXPECT_EQ(r.consumed, 0u);
    return p;
  }
  const std::string_view head = buffer.substr(0, r.consumed);
  EXPECT_TRUE(inside(res.reason, head));
  for (std::size_t i = 0; i < res.header_count; ++i) {
    EXPECT_TRUE(inside(res.headers[i].name, head));
    EXPECT_TRUE(inside(res.headers[i].value, head));
    p.headers.emplace_back(res.headers[i].name, res.headers[i].value);
  }
  for (std::size_t i = 0; i < res.transfer_coding_count; ++i) {
    EXPECT_TRUE(inside(res.transfer_codings[i], head));
    p.codings.emplace_back(res.transfer_codings[i]);
  }
  p.version_minor = res.version_minor;
  p.status = res.status;
  p.reason = res.reason;
  p.connection_close = res.connection_close;
  p.connection_keep_alive = res.connection_keep_alive;
  p.has_content_length = res.has_content_length;
  p.content_length = res.content_length;
  p.framing = res.framing;
  p.framing_conflict = res.framing_conflict;
  p.keep_alive = res.keep_alive;
  return p;
}

Parsed parse_once(std::string_view input, Method method = Method::get, ResponseLimits limits = {}) {
  GuardedMemory memory(input.size());
  const std::string_view bytes = memory.place(input);
  ResponseParser parser(limits);
  Response res;
  return snapshot(parser.parse(bytes, method, res), res, bytes);
}

// Parses `input` at once, then each prefix alone, then in two pieces through one parser at every
// split point, then growing byte by byte through one parser, the bytes moving between calls.
// Everything must agree with the one-shot result, which it returns.
Parsed parse_all_ways(std::string_view input, Method method = Method::get,
                      ResponseLimits limits = {}, bool every_prefix = true) {
  const Parsed whole = parse_once(input, method, limits);
  GuardedMemory a(input.size());
  GuardedMemory b(input.size());
  Response res;

  const auto expect_prefix = [&](std::size_t k, const Parsed& got) {
    if (whole.state == ParseState::complete) {
      if (k < whole.consumed) {
        EXPECT_EQ(got.state, ParseState::incomplete) << "prefix " << k << ": " << got;
      } else {
        EXPECT_EQ(got, whole) << "prefix " << k;
      }
    } else if (whole.state == ParseState::error) {
      EXPECT_NE(got.state, ParseState::complete) << "prefix " << k << ": " << got;
      if (got.state == ParseState::error) {
        EXPECT_EQ(got.error, whole.error) << "prefix " << k;
      }
    } else {
      EXPECT_EQ(got.state, ParseState::incomplete) << "prefix " << k << ": " << got;
    }
  };

  const std::size_t step = every_prefix ? 1 : std::max<std::size_t>(1, input.size() / 97);
  for (std::size_t k = 0; k < input.size(); k += step) {
    ResponseParser parser(limits);
    const std::string_view prefix = a.place(input.substr(0, k));
    expect_prefix(k, snapshot(parser.parse(prefix, method, res), res, prefix));
    const std::string_view full = b.place(input);
    Response other;
    EXPECT_EQ(snapshot(parser.parse(full, method, other), other, full), whole) << "split at " << k;
  }

  if (every_prefix) {
    ResponseParser parser(limits);
    Parsed last;
    for (std::size_t k = 1; k <= input.size(); ++k) {
      const std::string_view bytes = (k % 2 == 0 ? a : b).place(input.substr(0, k));
      last = snapshot(parser.parse(bytes, method, res), res, bytes);
      if (last.state != ParseState::incomplete) {
        if (whole.state == ParseState::complete) {
          EXPECT_EQ(k, whole.consumed);
        }
        break;
      }
    }
    EXPECT_EQ(last, whole) << "byte by byte";
  }
  return whole;
}

// "HTTP/1.1 200 OK" with the given field lines (each ending CRLF) and the final CRLF.
std::string ok(std::string_view fields, std::string_view status_line = "HTTP/1.1 200 OK") {
  return std::string(status_line) + "\r\n" + std::string(fields) + "\r\n";
}

std::string field(const Parsed& p, std::string_view name) {
  for (const auto& [n, v] : p.headers) {
    if (iequals(n, name)) return v;
  }
  return "<absent>";
}

// Names each parameterized test after its case.
struct CaseName {
  template <class T>
  std::string operator()(const testing::TestParamInfo<T>& p) const {
    return p.param.name;
  }
};

// ---------------------------------------------------------------------------------------------
// Malformed heads

struct BadCase {
  std::string name;
  std::string input;
  ResponseError error;
  Method method = Method::get;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

std::vector<BadCase> bad_cases() {
  constexpr auto line = ResponseError::bad_status_line;
  constexpr auto version = ResponseError::unsupported_version;
  constexpr auto fld = ResponseError::bad_field;
  constexpr auto cl = ResponseError::bad_content_length;
  constexpr auto te = ResponseError::bad_transfer_encoding;
  constexpr auto conn = ResponseError::bad_connection;
  const auto sl = [](std::string_view status_line) { return ok("", status_line); };
  const auto f = [](std::string_view fields) { return ok(fields); };
  return {
      // Status line: version
      {"Version_lowercase", sl("http/1.1 200 OK"), line},
      {"Version_mixed_case", sl("Http/1.1 200 OK"), line},
      {"Version_missing", sl("200 OK"), line},
      {"Version_no_minor", sl("HTTP/1 200 OK"), line},
      {"Version_two_digit_minor", sl("HTTP/1.10 200 OK"), line},
      {"Version_two_digit_major", sl("HTTP/10.1 200 OK"), line},
      {"Version_letter", sl("HTTP/1.x 200 OK"), line},
      {"Version_comma", sl("HTTP/1,1 200 OK"), line},
      {"Version_other_protocol", sl("ICY 200 OK"), line},
      {"Version_2_0", sl("HTTP/2.0 200 OK"), version},
      {"Version_2", sl("HTTP/2 200 OK"), line},
      {"Version_0_9", sl("HTTP/0.9 200 OK"), version},
      {"Version_3_0", sl("HTTP/3.0 200 OK"), version},
      {"Http09_body", "<html>hello</html>", line},
      {"Leading_empty_line", "\r\n" + sl("HTTP/1.1 200 OK"), line},
      {"Leading_space", " " + sl("HTTP/1.1 200 OK"), line},
      // Status line: separators and code
      {"Tab_after_version", sl("HTTP/1.1\t200 OK"), line},
      {"Two_spaces_after_version", sl("HTTP/1.1  200 OK"), line},
      {"Code_two_digits", sl("HTTP/1.1 20 OK"), line},
      {"Code_four_digits", sl("HTTP/1.1 2000 OK"), line},
      {"Code_letter", sl("HTTP/1.1 2x0 OK"), line},
      {"Code_sign", sl("HTTP/1.1 +20 OK"), line},
      {"Code_000", sl("HTTP/1.1 000 OK"), line},
      {"Code_099", sl("HTTP/1.1 099 OK"), line},
      {"Code_600", sl("HTTP/1.1 600 OK"), line},
      {"Code_999", sl("HTTP/1.1 999 OK"), line},
      {"Code_missing", sl("HTTP/1.1 OK"), line},
      {"Code_without_space", sl("HTTP/1.1 200"), line},
      {"Code_then_tab", sl("HTTP/1.1 200\tOK"), line},
      {"Code_then_letter", sl("HTTP/1.1 200OK"), line},
      {"Code_nothing_after_version", sl("HTTP/1.1"), line},
      // Status line: reason and line end
      {"Reason_nul", sl("HTTP/1.1 200 O\0K"s), line},
      {"Reason_del", sl("HTTP/1.1 200 OK\x7f"), line},
      {"Reason_control", sl("HTTP/1.1 200 O\x01K"), line},
      {"Reason_escape", sl("HTTP/1.1 200 \x1b[31mOK"), line},
      {"Reason_bare_cr", "HTTP/1.1 200 O\rK\r\n\r\n", line},
      {"Status_line_cr_cr_lf", "HTTP/1.1 200 OK\r\r\n\r\n", line},
      {"Status_line_lf_cr", "HTTP/1.1 200 OK\n\r\r\n", fld},
      {"Code_then_lf", "HTTP/1.1 200\n\n", line},
      // Field lines
      {"Space_before_colon", f("X-A : b\r\n"), fld},
      {"Tab_before_colon", f("X-A\t: b\r\n"), fld},
      {"Cl_space_before_colon", f("Content-Length : 5\r\n"), fld},
      {"Te_space_before_colon", f("Transfer-Encoding : chunked\r\n"), fld},
      {"No_colon", f("X-A b\r\n"), fld},
      {"No_colon_at_line_end", f("X-A\r\n"), fld},
      {"Empty_name", f(": b\r\n"), fld},
      {"Obs_fold_space", f("X-A: b\r\n c\r\n"), fld},
      {"Obs_fold_tab", f("X-A: b\r\n\tc\r\n"), fld},
      {"Whitespace_before_first_field", "HTTP/1.1 200 OK\r\n X: y\r\n\r\n", fld},
      {"Whitespace_line", f(" \r\n"), fld},
      {"Obs_fold_after_lf", "HTTP/1.1 200 OK\nX: y\n z\n\n", fld},
      {"Whitespace_line_lf", "HTTP/1.1 200 OK\n \n\n", fld},
      {"Field_lf_then_bare_cr", "HTTP/1.1 200 OK\nX: y\n\rX", fld},
      {"Value_bare_cr", f("X-A: b\rc\r\n"), fld},
      {"Value_cr_cr_lf", f("X-A: b\r\r\n"), fld},
      {"Value_nul", f("X-A: b\0c\r\n"s), fld},
      {"Value_del", f("X-A: b\x7f\r\n"), fld},
      {"Value_control", f("X-A: b\x01\r\n"), fld},
      {"Value_vertical_tab", f("X-A: b\x0b\r\n"), fld},
      {"Value_form_feed", f("X-A: \x0c\r\n"), fld},
      {"Name_nul", f("X-\0A: b\r\n"s), fld},
      {"Name_del", f("X-\x7f: b\r\n"), fld},
      {"Name_high_byte", f("X-\xc3\xa9: b\r\n"), fld},
      {"Name_slash", f("X/A: b\r\n"), fld},
      {"Name_bare_cr", f("X\rA: b\r\n"), fld},
      {"Name_starts_with_nul", f("\0X: b\r\n"s), fld},
      {"Final_line_bare_cr", "HTTP/1.1 200 OK\r\nX: y\r\n\rX", fld},
      {"Final_line_cr_cr", "HTTP/1.1 200 OK\r\n\r\r\n", fld},
      // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3)
      {"Cl_plus", f("Content-Length: +5\r\n"), cl},
      {"Cl_minus", f("Content-Length: -1\r\n"), cl},
      {"Cl_inner_space", f("Content-Length: 5 5\r\n"), cl},
      {"Cl_list_differs", f("Content-Length: 5, 6\r\n"), cl},
      {"Cl_fields_differ", f("Content-Length: 5\r\nContent-Length: 6\r\n"), cl},
      {"Cl_list_then_field_differs", f("Content-Length: 5, 5\r\nContent-Length: 6\r\n"), cl},
      {"Cl_over_int64", f("Content-Length: 9223372036854775808\r\n"), cl},
      {"Cl_twenty_digits", f("Content-Length: 10000000000000000000\r\n"), cl},
      {"Cl_hex", f("Content-Length: 0x10\r\n"), cl},
      {"Cl_decimal_point", f("Content-Length: 5.0\r\n"), cl},
      {"Cl_empty", f("Content-Length:\r\n"), cl},
      {"Cl_trailing_comma", f("Content-Length: 5,\r\n"), cl},
      {"Cl_empty_element", f("Content-Length: 5,,5\r\n"), cl},
      {"Cl_invalid_on_head", f("Content-Length: x\r\n"), cl, Method::head},
      {"Cl_invalid_on_304", ok("Content-Length: x\r\n", "HTTP/1.1 304 Not Modified"), cl},
      {"Cl_differs_on_204", ok("Content-Length: 0\r\nContent-Length: 1\r\n", "HTTP/1.1 204 "), cl},
      {"Cl_invalid_on_connect_error", ok("Content-Length: x\r\n", "HTTP/1.1 407 Auth"), cl,
       Method::connect},
      // Transfer-Encoding (RFC 9112 §6.1)
      {"Te_chunked_twice", f("Transfer-Encoding: chunked, chunked\r\n"), te},
      {"Te_chunked_twice_fields", f("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), te},
      {"Te_chunked_gzip_chunked", f("Transfer-Encoding: chunked, gzip, chunked\r\n"), te},
      {"Te_empty", f("Transfer-Encoding:\r\n"), te},
      {"Te_commas_only", f("Transfer-Encoding: , ,\r\n"), te},
      {"Te_http10", ok("Transfer-Encoding: chunked\r\n", "HTTP/1.0 200 OK"), te},
      {"Te_http10_with_cl", ok("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "HTTP/1.0 200 OK"), te},
      {"Te_bad_char", f("Transfer-Encoding: chunked@\r\n"), te},
      {"Te_space_separated", f("Transfer-Encoding: gzip chunked\r\n"), te},
      {"Te_param_without_value", f("Transfer-Encoding: chunked;q\r\n"), te},
      {"Te_param_empty_value", f("Transfer-Encoding: chunked;q=\r\n"), te},
      {"Te_param_unclosed_quote", f("Transfer-Encoding: chunked;q=\"x\r\n"), te},
      {"Te_quoted_coding", f("Transfer-Encoding: \"chunked\"\r\n"), te},
      {"Te_nine_codings", f("Transfer-Encoding: a, b, c, d, e, f, g, h, chunked\r\n"), te},
      {"Te_chunked_twice_on_head", f("Transfer-Encoding: chunked, chunked\r\n"), te, Method::head},
      // Connection (RFC 9110 §7.6.1)
      {"Connection_not_token", f("Connection: clo se\r\n"), conn},
      {"Connection_quoted", f("Connection: \"close\"\r\n"), conn},
      {"Connection_slash", f("Connection: keep/alive\r\n"), conn},
  };
}

class ResponseBad : public testing::TestWithParam<BadCase> {};

TEST_P(ResponseBad, IsRefusedTheSameEveryWay) {
  const BadCase& c = GetParam();
  const Parsed p = parse_all_ways(c.input, c.method);
  EXPECT_EQ(p.state, ParseState::error);
  EXPECT_EQ(p.error, c.error) << describe(p.error);
}

INSTANTIATE_TEST_SUITE_P(Response, ResponseBad, testing::ValuesIn(bad_cases()), CaseName());

// RFC 9110 §6.2: an upstream's HTTP/1.2 response is read as HTTP/1.1 (persistent by default).
TEST(ResponseParserVersion, LaterMinorIsHttp11) {
  const Parsed p = parse_all_ways("HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\n");
  ASSERT_EQ(p.state, ParseState::complete);
  EXPECT_EQ(p.version_minor, 1);
  EXPECT_TRUE(p.keep_alive);
  EXPECT_EQ(p.content_length, 2u);
  EXPECT_EQ(parse_all_ways("HTTP/2.1 200 OK\r\n\r\n").error, ResponseError::unsupported_version);
}

TEST(ResponseBadTable, HasAtLeastSixtyCases) { EXPECT_GE(bad_cases().size(), 60u); }

// ---------------------------------------------------------------------------------------------
// Valid heads

struct ValidCase {
  std::string name;
  std::string input;
  std::function<void(const Parsed&)> check;
  Method method = Method::get;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

std::vector<ValidCase> valid_cases() {
  std::vector<ValidCase> c;
  const auto add = [&](std::string name, std::string input, std::function<void(const Parsed&)> check,
                       Method method = Method::get) {
    c.push_back({std::move(name), std::move(input), std::move(check), method});
  };
  add("Simple", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", [](const Parsed& p) {
    EXPECT_EQ(p.version_minor, 1);
    EXPECT_EQ(p.status, 200);
    EXPECT_EQ(p.reason, "OK");
    EXPECT_EQ(p.headers.size(), 1u);
    EXPECT_TRUE(p.has_content_length);
    EXPECT_EQ(p.content_length, 5u);
    EXPECT_EQ(p.framing, ResponseFraming::content_length);
    EXPECT_TRUE(p.keep_alive);
  });
  add("Empty_reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", [](const Parsed& p) {
    EXPECT_EQ(p.status, 404);
    EXPECT_EQ(p.reason, "");
    EXPECT_EQ(p.content_length, 0u);
  });
  add("Reason_with_spaces_tabs_and_obs_text", "HTTP/1.1 200  Fine\t\xc3\xa9 ok \r\n\r\n",
      [](const Parsed& p) { EXPECT_EQ(p.reason, " Fine\t\xc3\xa9 ok "); });
  add("Reason_with_every_visible_byte", "HTTP/1.1 500 !\"#:;<>?@[\\]^_`{|}~\r\n\r\n",
      [](const Parsed& p) { EXPECT_EQ(p.reason, "!\"#:;<>?@[\\]^_`{|}~"); });
  add("No_fields", "HTTP/1.1 200 OK\r\n\r\n", [](const Parsed& p) {
    EXPECT_EQ(p.headers.size(), 0u);
    EXPECT_EQ(p.framing, ResponseFraming::until_close);
    EXPECT_FALSE(p.keep_alive);
  });
  add("Lowest_status", "HTTP/1.1 100 Continue\r\n\r\n", [](const Parsed& p) { EXPECT_EQ(p.status, 100); });
  add("Highest_status", "HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n",
      [](const Parsed& p) { EXPECT_EQ(p.status, 599); });
  add("Http10_closes_by_default", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", [](const Parsed& p) {
    EXPECT_EQ(p.version_minor, 0);
    EXPECT_EQ(p.framing, ResponseFraming::content_length);
    EXPECT_FALSE(p.keep_alive);
  });
  add("Http10_keep_alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n",
      [](const Parsed& p) {
        EXPECT_TRUE(p.connection_keep_alive);
        EXPECT_TRUE(p.keep_alive);
      });
  add("Http10_keep_alive_and_close",
      "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n",
      [](const Parsed& p) { EXPECT_FALSE(p.keep_alive); });
  add("Http10_keep_alive_until_close", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
      [](const Parsed& p) {
        EXPECT_EQ(p.framing, ResponseFraming::until_close);
        EXPECT_FALSE(p.keep_alive);  // without a length, only the close ends the body
      });
  add("Http10_python_http_server", "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n"
      "Date: Fri, 27 Nov 2026 03:00:00 GMT\r\nContent-type: text/html\r\nContent-Length: 10\r\n"
      "Last-Modified: Thu, 26 Nov 2026 10:00:00 GMT\r\n\r\n",
      [](const Parsed& p) {
        EXPECT_EQ(p.headers.size(), 5u);
        EXPECT_EQ(field(p, "content-type"), "text/html");
        EXPECT_FALSE(p.keep_alive);
      });
  add("Http11_close", ok("Connection: close\r\nContent-Length: 0\r\n"), [](const Parsed& p) {
    EXPECT_TRUE(p.connection_close);
    EXPECT_FALSE(p.keep_alive);
  });
  add("Http11_close_in_list", ok("Connection: Upgrade, CLOSE\r\nContent-Length: 0\r\n"),
      [](const Parsed& p) { EXPECT_FALSE(p.keep_alive); });
  add("Http11_connection_empty_elements", ok("Connection: , keep-alive ,,\r\nContent-Length: 0\r\n"),
      [](const Parsed& p) {
        EXPECT_TRUE(p.connection_keep_alive);
        EXPECT_TRUE(p.keep_alive);
      });
  add("Http11_closed_is_not_close", ok("Connection: closed\r\nContent-Length: 0\r\n"),
      [](const Parsed& p) { EXPECT_TRUE(p.keep_alive); });
  add("Ows_trimmed", ok("A: \t a \t b \t \r\nB:c\r\nC:   \r\nD:\r\n"), [](const Parsed& p) {
    EXPECT_EQ(field(p, "a"), "a \t b");
    EXPECT_EQ(field(p, "b"), "c");
    EXPECT_EQ(field(p, "c"), "");
    EXPECT_EQ(field(p, "d"), "");
  });
  add("Name_every_tchar", ok("!#$%&'*+-.^_`|~09azAZ: v\r\n"),
      [](const Parsed& p) { EXPECT_EQ(field(p, "!#$%&'*+-.^_`|~09AZaz"), "v"); });
  add("Obs_text_value", ok("X: caf\xc3\xa9 \x80\xff\r\n"),
      [](const Parsed& p) { EXPECT_EQ(field(p, "x"), "caf\xc3\xa9 \x80\xff"); });
  add("Set_cookie_repeated", ok("Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n"),
      [](const Parsed& p) {
        ASSERT_EQ(p.headers.size(), 3u);
        EXPECT_EQ(p.headers[0].second, "a=1; Path=/");
        EXPECT_EQ(p.headers[1].second, "b=2");
      });
  add("Cl_identical_list_and_fields", ok("Content-Length: 42 , 42\r\nCONTENT-LENGTH: 42\r\n"),
      [](const Parsed& p) { EXPECT_EQ(p.content_length, 42u); });
  add("Cl_leading_zeros", ok("Content-Length: 007\r\n"), [](const Parsed& p) { EXPECT_EQ(p.content_length, 7u); });
  add("Cl_largest", ok("Content-Length: 9223372036854775807\r\n"),
      [](const Parsed& p) { EXPECT_EQ(p.content_length, 9223372036854775807u); });
  add("Te_case_and_params", ok("transfer-encoding: , gzip ; a=b;c = \"d,e\\\"\" , Chunked\r\n"),
      [](const Parsed& p) {
        EXPECT_EQ(p.codings, (std::vector<std::string>{"gzip", "Chunked"}));
        EXPECT_EQ(p.framing, ResponseFraming::chunked);
        EXPECT_TRUE(p.keep_alive);
      });
  add("Te_across_fields", ok("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
      [](const Parsed& p) {
        EXPECT_EQ(p.codings, (std::vector<std::string>{"gzip", "chunked"}));
        EXPECT_EQ(p.framing, ResponseFraming::chunked);
      });
  add("Te_eight_codings", ok("Transfer-Encoding: a, b, c, d, e, f, g, chunked\r\n"),
      [](const Parsed& p) { EXPECT_EQ(p.codings.size(), 8u); });
  // RFC 9112 §2.2: a bare LF ends a line, as in a request.
  add("Bare_lf_everywhere", "HTTP/1.1 200 OK\nX-A: a\nContent-Length: 2\n\n", [](const Parsed& p) {
    EXPECT_EQ(p.reason, "OK");
    EXPECT_EQ(field(p, "x-a"), "a");
    EXPECT_EQ(p.framing, ResponseFraming::content_length);
    EXPECT_EQ(p.content_length, 2u);
    EXPECT_TRUE(p.keep_alive);
  });
  add("Bare_lf_mixed_with_crlf", "HTTP/1.1 404 \nA: 1 \t\r\nB:\nC: 3\t\n\r\n", [](const Parsed& p) {
    EXPECT_EQ(p.status, 404);
    EXPECT_EQ(p.reason, "");
    EXPECT_EQ(p.headers, (std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", ""}, {"C", "3"}}));
  });
  add("Bare_lf_no_fields", "HTTP/1.1 204 No Content\n\n", [](const Parsed& p) {
    EXPECT_EQ(p.reason, "No Content");
    EXPECT_EQ(p.headers.size(), 0u);
    EXPECT_EQ(p.framing, ResponseFraming::none);
  });
  std::string hundred = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 99; ++i) hundred += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
  hundred += "Content-Length: 0\r\n\r\n";
  add("Hundred_fields", hundred, [](const Parsed& p) {
    EXPECT_EQ(p.headers.size(), 100u);
    EXPECT_EQ(p.framing, ResponseFraming::content_length);
  });
  add("Nginx", "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 03:00:00 GMT\r\n"
      "Content-Type: text/html\r\nContent-Length: 615\r\nLast-Modified: Tue, 13 Jun 2026 15:08:10 GMT\r\n"
      "Connection: keep-alive\r\nETag: \"64888a1a-267\"\r\nAccept-Ranges: bytes\r\n\r\n",
      [](const Parsed& p) {
        EXPECT_EQ(p.headers.size(), 8u);
        EXPECT_EQ(p.content_length, 615u);
        EXPECT_TRUE(p.keep_alive);
      });
  return c;
}

class ResponseValid : public testing::TestWithParam<ValidCase> {};

TEST_P(ResponseValid, ParsesTheSameEveryWay) {
  const ValidCase& c = GetParam();
  const Parsed p = parse_all_ways(c.input, c.method);
  ASSERT_EQ(p.state, ParseState::complete) << describe(p.error);
  EXPECT_EQ(p.consumed, c.input.size());
  c.check(p);
}

INSTANTIATE_TEST_SUITE_P(Response, ResponseValid, testing::ValuesIn(valid_cases()), CaseName());

// ---------------------------------------------------------------------------------------------
// Framing (RFC 9112 §6.3)

struct FramingCase {
  std::string name;
  Method method;
  std::string input;
  ResponseFraming framing;
  bool keep_alive;
  bool conflict = false;
};

void PrintTo(const FramingCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

std::vector<FramingCase> framing_cases() {
  using F = ResponseFraming;
  const Method get = Method::get;
  const std::string cl = "Content-Length: 10\r\n";
  const std::string chunked = "Transfer-Encoding: chunked\r\n";
  return {
      {"Head_with_length", Method::head, ok(cl), F::none, true},
      {"Head_with_chunked", Method::head, ok(chunked), F::none, true},
      {"Head_without_framing", Method::head, ok(""), F::none, true},
      {"Head_404", Method::head, ok(cl, "HTTP/1.1 404 Not Found"), F::none, true},
      {"Status_204", get, ok("", "HTTP/1.1 204 No Content"), F::none, true},
      {"Status_204_with_length", get, ok("Content-Length: 0\r\n", "HTTP/1.1 204 No Content"), F::none, true},
      {"Status_304_with_length", get, ok(cl, "HTTP/1.1 304 Not Modified"), F::none, true},
      {"Status_304_with_chunked", get, ok(chunked, "HTTP/1.1 304 Not Modified"), F::none, true},
      {"Status_304_http10", get, ok("", "HTTP/1.0 304 Not Modified"), F::none, false},
      {"Status_100", Method::post, ok("", "HTTP/1.1 100 Continue"), F::interim, true},
      {"Status_102", get, ok("", "HTTP/1.1 102 Processing"), F::interim, true},
      {"Status_103", get, ok("Link: </a.css>; rel=preload\r\n", "HTTP/1.1 103 Early Hints"), F::interim, true},
      {"Status_103_with_length", get, ok(cl, "HTTP/1.1 103 Early Hints"), F::interim, true},
      {"Status_199", get, ok("", "HTTP/1.1 199 Odd"), F::interim, true},
      {"Status_101", get, ok("Upgrade: websocket\r\nConnection: Upgrade\r\n", "HTTP/1.1 101 Switching Protocols"),
       F::switching_protocols, false},
      {"Status_101_to_head", Method::head, ok("", "HTTP/1.1 101 Switching Protocols"), F::switching_protocols, false},
      {"Connect_200", Method::connect, ok("", "HTTP/1.1 200 Connection Established"), F::tunnel, false},
      {"Connect_200_length_ignored", Method::connect, ok(cl, "HTTP/1.1 200 OK"), F::tunnel, false},
      {"Connect_200_bad_length_ignored", Method::connect, ok("Content-Length: x\r\n", "HTTP/1.1 200 OK"),
       F::tunnel, false},
      {"Connect_204_is_a_tunnel", Method::connect, ok(chunked, "HTTP/1.1 204 OK"), F::tunnel, false},
      {"Connect_299_te_ignored", Method::connect, ok("Transfer-Encoding: x, chunked, chunked\r\n", "HTTP/1.1 299 OK"),
       F::tunnel, false},
      {"Connect_407", Method::connect, ok(cl, "HTTP/1.1 407 Proxy Authentication Required"), F::content_length, true},
      {"Connect_502_no_framing", Method::connect, ok("", "HTTP/1.1 502 Bad Gateway"), F::until_close, false},
      {"Chunked", get, ok(chunked), F::chunked, true},
      {"Chunked_after_gzip", get, ok("Transfer-Encoding: gzip, chunked\r\n"), F::chunked, true},
      {"Chunked_closes", get, ok(chunked + "Connection: close\r\n"), F::chunked, false},
      {"Te_gzip_only", get, ok("Transfer-Encoding: gzip\r\n"), F::until_close, false},
      {"Te_chunked_then_gzip", get, ok("Transfer-Encoding: chunked, gzip\r\n"), F::until_close, false},
      {"Te_identity", get, ok("Transfer-Encoding: identity\r\n"), F::until_close, false},
      {"Te_chunked_x", get, ok("Transfer-Encoding: chunked-x\r\n"), F::until_close, false},
      {"Te_gzip_with_length", get, ok(cl + "Transfer-Encoding: gzip\r\n"), F::until_close, false, true},
      {"Te_and_cl", get, ok(cl + chunked), F::chunked, false, true},
      {"Cl_and_te", get, ok(chunked + cl), F::chunked, false, true},
      {"Te_and_cl_on_head", Method::head, ok(cl + chunked), F::none, false, true},
      {"Te_and_cl_on_304", get, ok(cl + chunked, "HTTP/1.1 304 Not Modified"), F::none, false, true},
      {"Content_length", get, ok(cl), F::content_length, true},
      {"Content_length_zero", get, ok("Content-Length: 0\r\n"), F::content_length, true},
      {"Content_length_post_201", Method::post, ok(cl, "HTTP/1.1 201 Created"), F::content_length, true},
      {"Content_length_500", get, ok(cl, "HTTP/1.1 500 Internal Server Error"), F::content_length, true},
      {"No_framing", get, ok("Content-Type: text/plain\r\n"), F::until_close, false},
      {"No_framing_http10", get, ok("", "HTTP/1.0 200 OK"), F::until_close, false},
      {"No_framing_keep_alive_asked", get, ok("Connection: keep-alive\r\n"), F::until_close, false},
      {"No_framing_404", get, ok("", "HTTP/1.1 404 Not Found"), F::until_close, false},
  };
}

class ResponseFramingTest : public testing::TestWithParam<FramingCase> {};

TEST_P(ResponseFramingTest, FollowsRfc9112Section6_3) {
  const FramingCase& c = GetParam();
  const Parsed p = parse_all_ways(c.input, c.method);
  ASSERT_EQ(p.state, ParseState::complete) << describe(p.error);
  EXPECT_EQ(p.framing, c.framing);
  EXPECT_EQ(p.keep_alive, c.keep_alive);
  EXPECT_EQ(p.framing_conflict, c.conflict);
}

INSTANTIATE_TEST_SUITE_P(Response, ResponseFramingTest, testing::ValuesIn(framing_cases()), CaseName());

TEST(ResponseFramingFields, TunnelIgnoresTheFramingFields) {
  const Parsed p = parse_once(ok("Content-Length: 7\r\nTransfer-Encoding: chunked\r\n"), Method::connect);
  EXPECT_EQ(p.framing, ResponseFraming::tunnel);
  EXPECT_FALSE(p.has_content_length);
  EXPECT_TRUE(p.codings.empty());
  EXPECT_FALSE(p.framing_conflict);
  EXPECT_EQ(p.headers.size(), 2u);  // still there, for the proxy to drop
}

TEST(ResponseFramingFields, HeadKeepsTheLengthForForwarding) {
  const Parsed p = parse_once(ok("Content-Length: 1234\r\n"), Method::head);
  EXPECT_EQ(p.framing, ResponseFraming::none);
  EXPECT_TRUE(p.has_content_length);
  EXPECT_EQ(p.content_length, 1234u);
}

// ---------------------------------------------------------------------------------------------
// Interim responses, pipelining, where the head ends

TEST(ResponseInterim, HundredContinueThenFinalInOneBuffer) {
  const std::string first = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string second = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
  const std::string final_head = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n";
  const std::string buffer = first + second + final_head + "ok";
  ResponseParser parser;
  Response res;
  std::string_view rest = buffer;
  std::vector<int> statuses;
  while (true) {
    const ResponseResult r = parser.parse(rest, Method::post, res);
    ASSERT_EQ(r.state, ParseState::complete) << describe(r.error);
    statuses.push_back(res.status);
    rest.remove_prefix(r.consumed);
    if (res.framing != ResponseFraming::interim) break;
  }
  EXPECT_EQ(statuses, (std::vector<int>{100, 103, 201}));
  EXPECT_EQ(res.framing, ResponseFraming::content_length);
  EXPECT_EQ(rest, "ok");
}

TEST(ResponseInterim, EverySplitOfASequence) {
  const std::string buffer =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const Parsed p = parse_all_ways(buffer, Method::post);
  EXPECT_EQ(p.status, 100);
  EXPECT_EQ(p.consumed, 25u);
  const Parsed q = parse_all_ways(buffer.substr(25), Method::post);
  EXPECT_EQ(q.status, 200);
  EXPECT_EQ(q.framing, ResponseFraming::content_length);
}

TEST(ResponseInterim, SwitchingProtocolsLeavesTheRestToTheCaller) {
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  const Parsed p = parse_once(head + "\x81\x05hello");
  EXPECT_EQ(p.framing, ResponseFraming::switching_protocols);
  EXPECT_EQ(p.consumed, head.size());
}

TEST(ResponseHeadEnd, ConsumedStopsAtTheFinalEmptyLine) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
  const Parsed p = parse_all_ways(head + "body");
  EXPECT_EQ(p.consumed, head.size());
  // A body that looks like a head does not matter.
  EXPECT_EQ(parse_once(head + "HTTP/1.1 200 OK\r\n\r\n").consumed, head.size());
}

// ---------------------------------------------------------------------------------------------
// Errors as soon as the bytes show them

ResponseError error_of(std::string_view input, Method method = Method::get, ResponseLimits limits = {}) {
  const Parsed p = parse_once(input, method, limits);
  EXPECT_EQ(p.state, ParseState::error) << testing::PrintToString(std::string(input));
  return p.error;
}

TEST(ResponseEarly, StatusLineErrorsAtTheirByte) {
  EXPECT_EQ(error_of("H"s + "X"), ResponseError::bad_status_line);
  EXPECT_EQ(error_of("HTTP/1.1 6"), ResponseError::bad_status_line);
  EXPECT_EQ(error_of("HTTP/1.1 20x"), ResponseError::bad_status_line);
  EXPECT_EQ(error_of("HTTP/1.1 200\r"), ResponseError::bad_status_line);
  EXPECT_EQ(error_of("HTTP/2.0 "), ResponseError::unsupported_version);
  EXPECT_EQ(parse_once("HTTP/2.0").state, ParseState::incomplete);
  EXPECT_EQ(parse_once("HTTP/1.1 200").state, ParseState::incomplete);
  EXPECT_EQ(parse_once("HTTP/1.1 200 OK\r").state, ParseState::incomplete);
}

TEST(ResponseEarly, FieldErrorsBeforeTheHeadEnds) {
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX "), ResponseError::bad_field);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\n "), ResponseError::bad_field);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX: a\0"s), ResponseError::bad_field);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX: a\rb"), ResponseError::bad_field);
  EXPECT_EQ(parse_once("HTTP/1.1 200 OK\r\nX: a\n").state, ParseState::incomplete);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length: x\r\n"), ResponseError::bad_content_length);
  EXPECT_EQ(error_of("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"),
            ResponseError::bad_transfer_encoding);
}

TEST(ResponseEarly, EmptyTransferEncodingOnlyAtTheEnd) {
  // More fields could still name a coding.
  EXPECT_EQ(parse_once("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n").state, ParseState::incomplete);
  EXPECT_EQ(parse_once("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            ResponseFraming::chunked);
}

// ---------------------------------------------------------------------------------------------
// Limits

std::string head_of_size(std::size_t size) {
  std::string head = "HTTP/1.1 200 OK\r\nX: ";
  head += std::string(size - head.size() - 4, 'v');
  return head + "\r\n\r\n";
}

TEST(ResponseLimitsTest, HeadAtTheLimitIsAccepted) {
  const std::string head = head_of_size(16384);
  const Parsed p = parse_all_ways(head, Method::get, {}, false);
  EXPECT_EQ(p.state, ParseState::complete);
  EXPECT_EQ(p.consumed, 16384u);
}

TEST(ResponseLimitsTest, HeadOverTheLimitIsRefusedBeforeItEnds) {
  const std::string head = head_of_size(16385);
  EXPECT_EQ(parse_all_ways(head, Method::get, {}, false).error, ResponseError::head_too_large);
  EXPECT_EQ(error_of(head.substr(0, 16385)), ResponseError::head_too_large);
  EXPECT_EQ(parse_once(head.substr(0, 16384)).state, ParseState::incomplete);
}

TEST(ResponseLimitsTest, LongReasonCountsInTheHead) {
  EXPECT_EQ(error_of("HTTP/1.1 200 " + std::string(20000, 'r')), ResponseError::head_too_large);
}

std::string with_n_fields(std::size_t n) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (std::size_t i = 0; i < n; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

TEST(ResponseLimitsTest, FieldCount) {
  // More than a request may have: a page can set a cookie per field line.
  EXPECT_EQ(parse_once(with_n_fields(256)).state, ParseState::complete);
  const std::string over = with_n_fields(257);
  EXPECT_EQ(parse_all_ways(over, Method::get, {}, false).error, ResponseError::too_many_fields);
  EXPECT_EQ(error_of(over.substr(0, over.size() - 2)), ResponseError::too_many_fields);
  EXPECT_EQ(error_of(with_n_fields(257), Method::get, {.max_field_count = 1000}),
            ResponseError::too_many_fields);  // clamped to what Response holds
  const ResponseLimits small{.max_head_bytes = 60, .max_field_count = 2};
  EXPECT_EQ(parse_all_ways(with_n_fields(2), Method::get, small).state, ParseState::complete);
  EXPECT_EQ(parse_all_ways(with_n_fields(3), Method::get, small).error, ResponseError::too_many_fields);
}

TEST(ResponseLimitsTest, SmallHeadLimitInEveryPiece) {
  const ResponseLimits limits{.max_head_bytes = 30};
  const std::string at = "HTTP/1.1 200 OK\r\nA: bcdefg\r\n\r\n";
  ASSERT_EQ(at.size(), 30u);
  EXPECT_EQ(parse_all_ways(at, Method::get, limits).state, ParseState::complete);
  EXPECT_EQ(parse_all_ways("HTTP/1.1 200 OK\r\nA: bcdefgh\r\n\r\n", Method::get, limits).error,
            ResponseError::head_too_large);
}

// ---------------------------------------------------------------------------------------------
// Reuse, guard pages, every byte

TEST(ResponseReuse, SameParserAfterAnErrorAndAfterShorterBytes) {
  ResponseParser parser;
  Response res;
  EXPECT_EQ(parser.parse("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", Method::get, res).state, ParseState::error);
  EXPECT_EQ(parser.parse("HTTP/1.1 200 OK\r\n\r\n", Method::get, res).state, ParseState::complete);
  EXPECT_EQ(parser.parse("HTTP/1.1 200 OK\r\nAAAAAAAAAAAAAAAAAAAAA", Method::get, res).state,
            ParseState::incomplete);
  // Breaks the contract (not the same bytes), but must not read out of bounds.
  EXPECT_EQ(parser.parse("HTTP/1.1 204 \r\n\r\n", Method::get, res).state, ParseState::complete);
}

TEST(ResponseReuse, ResumedParseFillsANewResponseObject) {
  const std::string input = "HTTP/1.1 200 OK\r\nA: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
  ResponseParser parser;
  Response first;
  EXPECT_EQ(parser.parse(std::string_view(input).substr(0, 30), Method::get, first).state,
            ParseState::incomplete);
  const std::string copy = input;
  Response second;
  ASSERT_EQ(parser.parse(copy, Method::get, second).state, ParseState::complete);
  EXPECT_EQ(second.reason.data(), copy.data() + 13);
  EXPECT_EQ(second.transfer_codings[0].data(), copy.data() + input.find("chunked"));
  EXPECT_EQ(second.find("a"), "1");
  EXPECT_EQ(second.find("missing"), std::nullopt);
}

TEST(ResponseGuard, EveryPrefixEndsAtAGuardPage) {
  // parse_all_ways places every prefix right before a PROT_NONE page; these add the prefixes
  // that stop inside each step of the scan.
  const std::string inputs[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
      "HTTP/1.0 404 \r\nTransfer-Encoding: gzip;q=\"a\\\"\", chunked\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade, keep-alive\r\n\r\n",
  };
  for (const std::string& input : inputs) parse_all_ways(input, Method::get);
  GuardedMemory memory(64);
  ResponseParser parser;
  Response res;
  for (const std::string_view tail : {"H", "HTTP/1.1", "HTTP/1.1 ", "HTTP/1.1 2", "HTTP/1.1 200",
                                      "HTTP/1.1 200 O", "HTTP/1.1 200 OK\r", "HTTP/1.1 200 OK\r\nX",
                                      "HTTP/1.1 200 OK\r\nX:", "HTTP/1.1 200 OK\r\nX: v\r"}) {
    parser.reset();
    EXPECT_EQ(parser.parse(memory.place(tail), Method::get, res).state, ParseState::incomplete) << tail;
  }
}

constexpr std::size_t kPositions[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23};

std::string filler(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

TEST(ResponseBytes, EveryByteInAReasonAndAFieldValue) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = b == '\t' || b == ' ' || (b >= 0x21 && b != 0x7f);
    for (const std::size_t pos : kPositions) {
      const std::string text = "v" + filler(pos) + c + filler(9);
      const Parsed reason = parse_once("HTTP/1.1 200 " + text + "\r\n\r\n");
      EXPECT_EQ(reason.state, allowed ? ParseState::complete : ParseState::error) << b << " at " << pos;
      if (allowed) {
        EXPECT_EQ(reason.reason, text);
      }
      const Parsed value = parse_once(ok("X: " + text + "\r\n"));
      EXPECT_EQ(value.state, allowed ? ParseState::complete : ParseState::error) << b << " at " << pos;
      if (allowed) {
        EXPECT_EQ(field(value, "x"), text);
      }
    }
  }
}

TEST(ResponseBytes, EveryByteInAFieldName) {
  for (int b = 0; b < 256; ++b) {
    if (b == ':') continue;
    if (b == '\n') continue;  // first on a line, it is an empty line: the end of the head
    const bool allowed = b < 128 && (std::isalnum(b) != 0 || std::strchr("!#$%&'*+-.^_`|~", b) != nullptr) &&
                         b != 0;
    for (const std::size_t pos : {0, 1, 8}) {
      const std::string name = filler(pos) + static_cast<char>(b) + "y";
      EXPECT_EQ(parse_once(ok(name + ": v\r\n")).state, allowed ? ParseState::complete : ParseState::error)
          << b << " at " << pos;
    }
  }
}

TEST(ResponseBytes, EveryStatusCode) {
  for (int s = 0; s < 1000; ++s) {
    std::string code = std::to_string(s);
    code.insert(0, 3 - code.size(), '0');
    const Parsed p = parse_once("HTTP/1.1 " + code + " X\r\n\r\n");
    if (s >= 100 && s <= 599) {
      ASSERT_EQ(p.state, ParseState::complete) << s;
      EXPECT_EQ(p.status, s);
    } else {
      EXPECT_EQ(p.error, ResponseError::bad_status_line) << s;
    }
  }
}

TEST(ResponseDescribe, EveryErrorHasText) {
  for (int e = 0; e <= static_cast<int>(ResponseError::bad_connection); ++e) {
    EXPECT_NE(describe(static_cast<ResponseError>(e)), "unknown error") << e;
  }
}

// ---------------------------------------------------------------------------------------------
// Body reader

// The head of `input`. Its views dangle after the next call; the body reader reads only the
// framing and the length.
Response head_of(std::string_view input, Method method = Method::get) {
  static std::string storage;
  storage = input;
  ResponseParser parser;
  Response res;
  EXPECT_EQ(parser.parse(storage, method, res).state, ParseState::complete);
  return res;
}

struct BodyOutcome {
  ParseState state = ParseState::incomplete;
  BodyError error = BodyError::none;
  std::size_t consumed = 0;
  std::string body;
  bool operator==(const BodyOutcome&) const = default;
};

// Feeds `bytes` to a reader for `res` in pieces split at `split` (or at once), keeping the
// unconsumed bytes as a connection buffer would, then says whether the connection closes.
BodyOutcome read_body(const Response& res, std::string_view bytes, std::size_t split, bool closes,
                      std::uint64_t max_body = UINT64_MAX) {
  BodyReader reader(max_body);
  reader.start(res);
  BodyOutcome out;
  GuardedMemory memory(bytes.size() + 1);
  for (const std::size_t end : {split, bytes.size()}) {
    const std::string_view piece = memory.place(bytes.substr(out.consumed, end - out.consumed));
    const BodyReader::Result r = reader.read(piece, &out.body);
    out.consumed += r.consumed;
    out.state = r.state;
    out.error = r.error;
    if (r.state != ParseState::incomplete) break;
  }
  if (closes && out.state == ParseState::incomplete) {
    const BodyReader::Result r = reader.end_of_input();
    out.state = r.state;
    out.error = r.error;
  }
  EXPECT_EQ(reader.body_size(), out.body.size());
  if (out.error == BodyError::bad_chunk || out.error == BodyError::too_large) {
    // How much was read before the bad bytes depends on the pieces; the verdict does not.
    out.consumed = 0;
    out.body.clear();
  }
  return out;
}

BodyOutcome read_every_way(const Response& res, std::string_view bytes, bool closes,
                           std::uint64_t max_body = UINT64_MAX) {
  const BodyOutcome whole = read_body(res, bytes, bytes.size(), closes, max_body);
  for (std::size_t k = 0; k <= bytes.size(); ++k) {
    EXPECT_EQ(read_body(res, bytes, k, closes, max_body), whole) << "split at " << k;
  }
  return whole;
}

TEST(ResponseBody, ContentLengthCompleteAndTheRestLeft) {
  const Response res = head_of(ok("Content-Length: 5\r\n"));
  const BodyOutcome b = read_every_way(res, "helloHTTP/1.1", false);
  EXPECT_EQ(b.state, ParseState::complete);
  EXPECT_EQ(b.body, "hello");
  EXPECT_EQ(b.consumed, 5u);
}

TEST(ResponseBody, ContentLengthCutShortIsTruncated) {
  const Response res = head_of(ok("Content-Length: 10\r\n"));
  const BodyOutcome b = read_every_way(res, "hello", true);
  EXPECT_EQ(b.state, ParseState::error);
  EXPECT_EQ(b.error, BodyError::truncated);
  EXPECT_EQ(b.body, "hello");
  BodyReader reader;
  reader.start(res);
  reader.read("hel", nullptr);
  EXPECT_EQ(reader.remaining(), 7u);
  EXPECT_EQ(reader.read("", nullptr).state, ParseState::incomplete);  // no bytes is not the end
}

TEST(ResponseBody, ContentLengthZeroIsCompleteAtOnce) {
  BodyReader reader;
  reader.start(head_of(ok("Content-Length: 0\r\n")));
  EXPECT_EQ(reader.end_of_input().state, ParseState::complete);
  reader.start(head_of(ok("Content-Length: 0\r\n")));
  const BodyReader::Result r = reader.read("next", nullptr);
  EXPECT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(ResponseBody, ContentLengthOverTheLimit) {
  const Response res = head_of(ok("Content-Length: 65\r\n"));
  EXPECT_EQ(read_body(res, "x", 1, false, 64).error, BodyError::too_large);
  EXPECT_EQ(read_body(head_of(ok("Content-Length: 64\r\n")), std::string(64, 'x'), 10, false, 64).state,
            ParseState::complete);
}

TEST(ResponseBody, ChunkedComplete) {
  const Response res = head_of(ok("Transfer-Encoding: chunked\r\n"));
  const std::string wire = "5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: v\r\n\r\n";
  const BodyOutcome b = read_every_way(res, wire + "HTTP/1.1", false);
  EXPECT_EQ(b.state, ParseState::complete);
  EXPECT_EQ(b.body, "hello world");
  EXPECT_EQ(b.consumed, wire.size());
}

TEST(ResponseBody, ChunkedCutAnywhereIsTruncated) {
  const Response res = head_of(ok("Transfer-Encoding: chunked\r\n"));
  const std::string wire = "5\r\nhello\r\n0\r\n\r\n";
  for (std::size_t k = 0; k < wire.size(); ++k) {
    const BodyOutcome b = read_every_way(res, wire.substr(0, k), true);
    EXPECT_EQ(b.state, ParseState::error) << "cut at " << k;
    EXPECT_EQ(b.error, BodyError::truncated) << "cut at " << k;
  }
  EXPECT_EQ(read_every_way(res, wire, true).state, ParseState::complete);
}

TEST(ResponseBody, ChunkedMalformedAndTooLarge) {
  const Response res = head_of(ok("Transfer-Encoding: chunked\r\n"));
  EXPECT_EQ(read_every_way(res, "5\r\nhelloX\r\n", true).error, BodyError::bad_chunk);
  EXPECT_EQ(read_every_way(res, "zz\r\n", true).error, BodyError::bad_chunk);
  EXPECT_EQ(read_every_way(res, "5\nhello\r\n", true).error, BodyError::bad_chunk);
  EXPECT_EQ(read_every_way(res, "41\r\n", true, 64).error, BodyError::too_large);
  EXPECT_EQ(read_every_way(res, "40\r\n" + std::string(64, 'x') + "\r\n0\r\n\r\n", true, 64).state,
            ParseState::complete);
}

TEST(ResponseBody, UntilCloseCompletesOnlyAtTheClose) {
  const Response res = head_of(ok(""));
  ASSERT_EQ(res.framing, ResponseFraming::until_close);
  EXPECT_EQ(read_every_way(res, "all of it", false).state, ParseState::incomplete);
  const BodyOutcome b = read_every_way(res, "all of it", true);
  EXPECT_EQ(b.state, ParseState::complete);
  EXPECT_EQ(b.body, "all of it");
  EXPECT_EQ(read_body(res, "0123456789", 5, true, 8).error, BodyError::too_large);
}

TEST(ResponseBody, NoBodyFramingsAreCompleteAtOnce) {
  const std::pair<std::string, Method> heads[] = {
      {ok("Content-Length: 5\r\n"), Method::head},
      {ok("", "HTTP/1.1 204 No Content"), Method::get},
      {ok("", "HTTP/1.1 100 Continue"), Method::post},
      {ok("", "HTTP/1.1 101 Switching Protocols"), Method::get},
      {ok("", "HTTP/1.1 200 Connection Established"), Method::connect},
  };
  for (const auto& [head, method] : heads) {
    BodyReader reader;
    reader.start(head_of(head, method));
    const BodyReader::Result r = reader.read("bytes after", nullptr);
    EXPECT_EQ(r.state, ParseState::complete) << head;
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(reader.end_of_input().state, ParseState::complete);
  }
}

TEST(ResponseBody, ErrorSaysWhereTheBadBytesStart) {
  // Found by the fuzzer: a bad trailer line after data already delivered to `body`; the error
  // said "nothing consumed" while the data had been handed out.
  BodyReader reader;
  reader.start(head_of(ok("Transfer-Encoding: chunked\r\n")));
  std::string body;
  const BodyReader::Result r = reader.read("5;x=y\r\nhello\r\n0\r\n\xaa\xc5\r\n\r\n", &body);
  EXPECT_EQ(r.error, BodyError::bad_chunk);
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(r.consumed, 17u);  // the bad trailer line starts there
  EXPECT_GE(r.consumed, body.size());
}

TEST(ResponseBody, ReaderIsReusableAfterAnError) {
  BodyReader reader;
  reader.start(head_of(ok("Transfer-Encoding: chunked\r\n")));
  EXPECT_EQ(reader.read("x\r\n", nullptr).error, BodyError::bad_chunk);
  EXPECT_EQ(reader.read("0\r\n\r\n", nullptr).error, BodyError::bad_chunk);  // stays failed
  reader.start(head_of(ok("Transfer-Encoding: chunked\r\n")));
  EXPECT_EQ(reader.read("0\r\n\r\n", nullptr).state, ParseState::complete);
}

}  // namespace
}  // namespace nuri::http
