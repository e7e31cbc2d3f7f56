// Tests of the request-head parser (src/http/parser.cpp). Every input is parsed at once, at every
// split point, byte by byte through one parser (the bytes moving in memory between calls), and
// right before a PROT_NONE page, so that an over-read crashes at once.
#include "http/parser.h"

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

// ---------------------------------------------------------------------------------------------
// Harness

using test::GuardedMemory;

// A parse outcome owning its strings, so that outcomes over different copies of the bytes compare.
struct Parsed {
  ParseState state = ParseState::incomplete;
  std::size_t consumed = 0;
  Status status = Status::none;
  Method method = Method::unknown;
  std::string method_name, target, path, query, host;
  TargetForm form = TargetForm::origin;
  int version_minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  BodyFraming framing = BodyFraming::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  bool expect_continue = false;

  bool operator==(const Parsed&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  os << "{state " << static_cast<int>(p.state) << ", consumed " << p.consumed << ", status "
     << code(p.status);
  if (p.state == ParseState::complete) {
    os << ", " << p.method_name << " [" << p.target << "] path [" << p.path << "] query ["
       << p.query << "] host [" << p.host << "] 1." << p.version_minor << ", "
       << p.headers.size() << " fields, framing " << static_cast<int>(p.framing) << " length "
       << p.content_length << ", keep_alive " << p.keep_alive << ", expect "
       << p.expect_continue;
  }
  return os << "}";
}

bool inside(std::string_view view, std::string_view buffer) {
  return view.empty() ||
         (view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size());
}

// Checks what must hold of every result over `buffer`, and snapshots it.
Parsed snapshot(const ParseResult& r, const Request& req, std::string_view buffer) {
  Parsed p;
  p.state = r.state;
  p.consumed = r.consumed;
  p.status = r.status;
  EXPECT_LE(r.consumed, buffer.size());
  if (r.state == ParseState::error) {
    EXPECT_NE(r.status, Status::none);
  } else {
    EXPECT_EQ(r.status, Status::none);
  }
  if (r.state != ParseState::complete) {
    EXPECT_EQ(r.consumed, 0u);
    return p;
  }
  const std::string_view head = buffer.substr(0, r.consumed);
  for (const std::string_view v : {req.method_name, req.target, req.path, req.query, req.host}) {
    EXPECT_TRUE(inside(v, head)) << "view outside the head: " << v;
  }
  EXPECT_LE(req.header_count, kMaxHeaderCount);
  for (std::size_t i = 0; i < req.header_count; ++i) {
    EXPECT_TRUE(inside(req.headers[i].name, head));
    EXPECT_TRUE(inside(req.headers[i].value, head));
    p.headers.emplace_back(req.headers[i].name, req.headers[i].value);
  }
  p.method = req.method;
  p.method_name = req.method_name;
  p.target = req.target;
  p.path = req.path;
  p.query = req.query;
  p.host = req.host;
  p.form = req.form;
  p.version_minor = req.version_minor;
  p.framing = req.framing;
  p.content_length = req.framing == BodyFraming::content_length ? req.content_length : 0;
  p.keep_alive = req.keep_alive;
  p.expect_continue = req.expect_continue;
  return p;
}

Parsed parse_once(std::string_view input, ParserLimits limits = {}) {
  GuardedMemory memory(input.size());
  const std::string_view bytes = memory.place(input);
  RequestParser parser(limits);
  Request req;
  const ParseResult r = parser.parse(bytes, req);
  return snapshot(r, req, bytes);
}

// Parses `input` at once, then each prefix alone, then in two pieces through one parser at every
// split point, then growing byte by byte through one parser; the bytes move between calls (two
// guarded copies used in turn), so views kept from an earlier call would dangle. Everything
// must agree with the one-shot result, which it returns. `every_prefix` off for large inputs.
Parsed parse_all_ways(std::string_view input, ParserLimits limits = {}, bool every_prefix = true) {
  const Parsed whole = parse_once(input, limits);
  GuardedMemory a(input.size());
  GuardedMemory b(input.size());
  Request req;

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
        EXPECT_EQ(got.status, whole.status) << "prefix " << k;
      }
    } else {
      EXPECT_EQ(got.state, ParseState::incomplete) << "prefix " << k << ": " << got;
    }
  };

  const std::size_t step = every_prefix ? 1 : std::max<std::size_t>(1, input.size() / 97);
  for (std::size_t k = 0; k < input.size(); k += step) {
    const std::string_view prefix = a.place(input.substr(0, k));
    RequestParser parser(limits);
    expect_prefix(k, snapshot(parser.parse(prefix, req), req, prefix));
  }

  for (std::size_t k = 0; k < input.size(); k += step) {
    RequestParser parser(limits);
    const std::string_view prefix = a.place(input.substr(0, k));
    expect_prefix(k, snapshot(parser.parse(prefix, req), req, prefix));
    const std::string_view full = b.place(input);
    Request other;
    EXPECT_EQ(snapshot(parser.parse(full, other), other, full), whole) << "split at " << k;
  }

  if (every_prefix) {
    RequestParser parser(limits);
    Parsed last;
    for (std::size_t k = 1; k <= input.size(); ++k) {
      const std::string_view bytes = (k % 2 == 0 ? a : b).place(input.substr(0, k));
      last = snapshot(parser.parse(bytes, req), req, bytes);
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

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// A request with a Host field and the given extra field lines (each ending CRLF).
std::string with_fields(std::string_view fields, std::string_view request_line = "GET / HTTP/1.1") {
  return std::string(request_line) + "\r\nHost: example.com\r\n" + std::string(fields) + "\r\n";
}

// ---------------------------------------------------------------------------------------------
// Valid requests

struct ValidCase {
  std::string name;
  std::string input;
  std::function<void(const Request&)> check;
  std::size_t head_length = std::string::npos;  // npos: all of the input
};

std::string field(const Request& r, std::string_view name) {
  const auto v = r.find(name);
  return v ? std::string(*v) : "<absent>";
}

std::vector<ValidCase> valid_cases() {
  std::vector<ValidCase> cases;
  const auto add = [&](std::string name, std::string input, std::function<void(const Request&)> check,
                       std::size_t head_length = std::string::npos) {
    cases.push_back({std::move(name), std::move(input), std::move(check), head_length});
  };

  add("SimpleGet", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.method, Method::get);
    EXPECT_EQ(r.method_name, "GET");
    EXPECT_EQ(r.target, "/");
    EXPECT_EQ(r.form, TargetForm::origin);
    EXPECT_EQ(r.path, "/");
    EXPECT_EQ(r.query, "");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_EQ(r.host, "example.com");
    EXPECT_EQ(r.header_count, 1u);
    EXPECT_EQ(r.framing, BodyFraming::none);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_FALSE(r.expect_continue);
  });

  const std::pair<const char*, Method> methods[] = {
      {"GET", Method::get},         {"HEAD", Method::head},       {"POST", Method::post},
      {"PUT", Method::put},         {"DELETE", Method::delete_},  {"OPTIONS", Method::options},
      {"TRACE", Method::trace},     {"PATCH", Method::patch},     {"BREW", Method::unknown},
      {"get", Method::unknown},     {"Get", Method::unknown},     {"M-SEARCH", Method::unknown},
      {"!#$%&'*+-.^_`|~09azAZ", Method::unknown},
  };
  for (const auto& [name, method] : methods) {
    std::string id = std::string("Method_") + name;
    for (char& c : id) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    if (std::string_view(name) == "Get") id = "Method_Get_mixed_case";
    if (std::string_view(name).size() > 8) id = "Method_every_tchar";
    const Method m = method;
    const std::string n = name;
    add(id, std::string(name) + " /x HTTP/1.1\r\nHost: h\r\n\r\n", [m, n](const Request& r) {
      EXPECT_EQ(r.method, m);
      EXPECT_EQ(r.method_name, n);
      EXPECT_EQ(r.path, "/x");
    });
  }

  add("Connect_authority_form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.method, Method::connect);
        EXPECT_EQ(r.form, TargetForm::authority);
        EXPECT_EQ(r.target, "example.com:443");
        EXPECT_EQ(r.path, "");
        EXPECT_EQ(r.query, "");
        EXPECT_EQ(r.host, "example.com:443");
      });
  add("Connect_ipv6", "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.form, TargetForm::authority);
        EXPECT_EQ(r.target, "[2001:db8::1]:8443");
      });
  add("Connect_ipv4", "CONNECT 10.0.0.1:80 HTTP/1.0\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.form, TargetForm::authority);
    EXPECT_EQ(r.host, "");
  });
  add("Options_asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.method, Method::options);
    EXPECT_EQ(r.form, TargetForm::asterisk);
    EXPECT_EQ(r.target, "*");
    EXPECT_EQ(r.path, "*");
    EXPECT_EQ(r.query, "");
  });
  add("Options_origin", "OPTIONS /a HTTP/1.1\r\nHost: h\r\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.form, TargetForm::origin); });

  add("Absolute_form", "GET http://example.org/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.form, TargetForm::absolute);
        EXPECT_EQ(r.path, "/a/b");
        EXPECT_EQ(r.query, "x=1");
        EXPECT_EQ(r.host, "example.org");  // RFC 9112 §3.2.2: the target's authority wins
        EXPECT_EQ(field(r, "host"), "other");
      });
  add("Absolute_form_host_field_after", "GET http://a.example HTTP/1.1\r\nX: 1\r\nHost: b\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.host, "a.example");
        EXPECT_EQ(r.path, "/");
        EXPECT_EQ(r.query, "");
      });
  add("Absolute_form_query_without_path", "GET http://a:8080?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.host, "a:8080");
        EXPECT_EQ(r.path, "/");
        EXPECT_EQ(r.query, "q=1");
      });
  add("Absolute_form_uppercase_scheme", "GET HTTPS://A.EXAMPLE:443/P HTTP/1.1\r\nHost: a\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.form, TargetForm::absolute);
        EXPECT_EQ(r.host, "A.EXAMPLE:443");
        EXPECT_EQ(r.path, "/P");
      });
  add("Absolute_form_odd_scheme", "GET a1+b-c.d://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.form, TargetForm::absolute); });
  add("Absolute_form_ipv6", "GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.host, "[::1]:80");
        EXPECT_EQ(r.path, "/x");
      });
  add("Absolute_form_http10_without_host", "GET http://h/ HTTP/1.0\r\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.host, "h"); });

  add("Query_split", "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.path, "/a/b");
    EXPECT_EQ(r.query, "x=1&y=2");
  });
  add("Query_empty", "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.path, "/a");
    EXPECT_EQ(r.query, "");
  });
  add("Query_with_question_marks", "GET /a?b?c/d HTTP/1.1\r\nHost: h\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.path, "/a");
    EXPECT_EQ(r.query, "b?c/d");
  });
  add("Target_every_visible_byte",
      "GET /!$&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~%20\"? HTTP/1.1\r\nHost: h\r\n\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.path, "/!$&'()*+,-./09:;<=>");
        EXPECT_EQ(r.query, "@AZ[\\]^_`az{|}~%20\"?");
      });
  add("Target_double_slash", "GET //a//b HTTP/1.1\r\nHost: h\r\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.path, "//a//b"); });

  add("Http10_closes_by_default", "GET / HTTP/1.0\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.version_minor, 0);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(r.host, "");
  });
  add("Http10_keep_alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
      [](const Request& r) { EXPECT_TRUE(r.keep_alive); });
  add("Http10_keep_alive_and_close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
      [](const Request& r) { EXPECT_FALSE(r.keep_alive); });
  add("Http10_with_host", "GET / HTTP/1.0\r\nHost: h\r\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.host, "h"); });
  add("Http11_close", with_fields("Connection: close\r\n"),
      [](const Request& r) { EXPECT_FALSE(r.keep_alive); });
  add("Http11_close_in_list", with_fields("Connection: Upgrade, CLOSE\r\n"),
      [](const Request& r) { EXPECT_FALSE(r.keep_alive); });
  add("Http11_close_in_second_field", with_fields("Connection: upgrade\r\nConnection: close\r\n"),
      [](const Request& r) { EXPECT_FALSE(r.keep_alive); });
  add("Http11_connection_list_empty_elements", with_fields("Connection: , keep-alive ,,\r\n"),
      [](const Request& r) { EXPECT_TRUE(r.keep_alive); });
  add("Http11_closed_not_close", with_fields("Connection: closed\r\n"),
      [](const Request& r) { EXPECT_TRUE(r.keep_alive); });

  add("Expect_100_continue", with_fields("Expect: 100-continue\r\nContent-Length: 3\r\n",
                                         "POST /up HTTP/1.1"),
      [](const Request& r) { EXPECT_TRUE(r.expect_continue); });
  add("Expect_100_continue_case", with_fields("Expect:100-Continue \r\n"),
      [](const Request& r) { EXPECT_TRUE(r.expect_continue); });
  add("Expect_100_continue_http10_ignored", "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
      [](const Request& r) { EXPECT_FALSE(r.expect_continue); });
  add("Expect_empty", with_fields("Expect:\r\n"),
      [](const Request& r) { EXPECT_FALSE(r.expect_continue); });

  add("Content_length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
      [](const Request& r) {
        EXPECT_EQ(r.framing, BodyFraming::content_length);
        EXPECT_EQ(r.content_length, 5u);
      },
      47);
  add("Content_length_zero", with_fields("Content-Length: 0\r\n", "POST / HTTP/1.1"),
      [](const Request& r) {
        EXPECT_EQ(r.framing, BodyFraming::content_length);
        EXPECT_EQ(r.content_length, 0u);
      });
  add("Content_length_identical_list", with_fields("content-length: 42 , 42,42\r\n"),
      [](const Request& r) { EXPECT_EQ(r.content_length, 42u); });
  add("Content_length_identical_fields",
      with_fields("Content-Length: 42\r\nX: y\r\nCONTENT-LENGTH: 42\r\n"),
      [](const Request& r) { EXPECT_EQ(r.content_length, 42u); });
  add("Content_length_leading_zeros", with_fields("Content-Length: 007\r\n"),
      [](const Request& r) { EXPECT_EQ(r.content_length, 7u); });
  add("Content_length_leading_zeros_past_nineteen_digits",
      with_fields("Content-Length: 000000000000000000000000000007\r\n"),
      [](const Request& r) { EXPECT_EQ(r.content_length, 7u); });
  add("Content_length_largest", with_fields("Content-Length: 9223372036854775807\r\n"),
      [](const Request& r) { EXPECT_EQ(r.content_length, 9223372036854775807u); });

  add("Transfer_encoding_chunked", with_fields("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.1"),
      [](const Request& r) { EXPECT_EQ(r.framing, BodyFraming::chunked); });
  add("Transfer_encoding_case_and_params",
      with_fields("transfer-encoding: , Chunked ; a=b;c = \"d,e\\\"\" ,\r\n"),
      [](const Request& r) { EXPECT_EQ(r.framing, BodyFraming::chunked); });
  add("Transfer_encoding_across_fields",
      with_fields("Transfer-Encoding:\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: chunked\r\n"),
      [](const Request& r) { EXPECT_EQ(r.framing, BodyFraming::chunked); });

  add("Lf_only", "GET /lf HTTP/1.1\nHost: h\nX: y\n\n", [](const Request& r) {
    EXPECT_EQ(r.path, "/lf");
    EXPECT_EQ(field(r, "x"), "y");
  });
  add("Mixed_line_endings", "GET / HTTP/1.1\nHost: h\r\nX: y\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.header_count, 2u); });
  add("Leading_empty_lines", "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", [](const Request& r) {
    EXPECT_EQ(r.method_name, "GET");
  });
  add("Leading_empty_lines_most", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      [](const Request& r) { EXPECT_EQ(r.method, Method::get); });

  add("Obs_text_in_value", with_fields("X-Name: caf\xc3\xa9 \x80\xff\r\n"),
      [](const Request& r) { EXPECT_EQ(field(r, "x-name"), "caf\xc3\xa9 \x80\xff"); });
  add("Ows_trimmed", with_fields("A: \t a \t b \t \r\nB:c\r\nC:   \r\nD:\r\n"), [](const Request& r) {
    EXPECT_EQ(field(r, "a"), "a \t b");
    EXPECT_EQ(field(r, "b"), "c");
    EXPECT_EQ(field(r, "c"), "");
    EXPECT_EQ(field(r, "d"), "");
  });
  add("Value_with_colons_and_quotes", with_fields("X: \"a:b\" ; c=d, (e)\r\n"),
      [](const Request& r) { EXPECT_EQ(field(r, "X"), "\"a:b\" ; c=d, (e)"); });
  add("Name_every_tchar", with_fields("!#$%&'*+-.^_`|~09azAZ: v\r\n"),
      [](const Request& r) { EXPECT_EQ(field(r, "!#$%&'*+-.^_`|~09AZaz"), "v"); });
  add("Duplicate_fields_kept", with_fields("Cookie: a=1\r\nCookie: b=2\r\n"), [](const Request& r) {
    EXPECT_EQ(r.header_count, 3u);
    EXPECT_EQ(field(r, "cookie"), "a=1");
    EXPECT_EQ(r.headers[2].value, "b=2");
  });

  const char* hosts[] = {"h",         "example.com:8080", "127.0.0.1",        "[::1]",
                         "[::1]:443", "[2001:db8:0:0:1:0:0:1]", "[::ffff:192.0.2.1]",
                         "[1:2:3:4:5:6:7:8]", "[v1.fe:80]",   "a_b~c-d.e",        "x%41y",
                         "!$&'()*+,;=", "h:0",   "h:65535"};
  int host_index = 0;
  for (const char* h : hosts) {
    const std::string value = h;
    add("Host_valid_" + std::to_string(host_index++),
        "GET / HTTP/1.1\r\nHost: " + value + "\r\n\r\n",
        [value](const Request& r) { EXPECT_EQ(r.host, value); });
  }

  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 99; ++i) many += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
  many += "Host: h\r\n\r\n";
  add("Hundred_fields", many, [](const Request& r) {
    EXPECT_EQ(r.header_count, 100u);
    EXPECT_EQ(field(r, "x-98"), "98");
    EXPECT_EQ(r.host, "h");
  });

  add("Full_browser_request",
      "GET /shop/cart?id=7 HTTP/1.1\r\n"
      "Host: localhost:8080\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n"
      "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
      "Accept-Language: ko-KR,ko;q=0.9\r\n"
      "Accept-Encoding: gzip, deflate, br\r\n"
      "Cookie: session=abc; theme=dark\r\n"
      "Connection: keep-alive\r\n"
      "\r\n",
      [](const Request& r) {
        EXPECT_EQ(r.header_count, 7u);
        EXPECT_EQ(field(r, "cookie"), "session=abc; theme=dark");
        EXPECT_EQ(r.query, "id=7");
        EXPECT_TRUE(r.keep_alive);
      });
  return cases;
}

void PrintTo(const ValidCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

class ParserValid : public testing::TestWithParam<ValidCase> {};

TEST_P(ParserValid, ParsesTheSameEveryWay) {
  const ValidCase& c = GetParam();
  const std::size_t head_length = c.head_length == std::string::npos ? c.input.size() : c.head_length;
  GuardedMemory memory(c.input.size());
  const std::string_view bytes = memory.place(c.input);
  RequestParser parser;
  Request req;
  const ParseResult r = parser.parse(bytes, req);
  ASSERT_EQ(r.state, ParseState::complete) << "status " << code(r.status);
  EXPECT_EQ(r.consumed, head_length);
  c.check(req);
  const Parsed all = parse_all_ways(c.input);
  EXPECT_EQ(all, snapshot(r, req, bytes));
}

// Names each parameterized test after its case.
struct CaseName {
  template <class T>
  std::string operator()(const testing::TestParamInfo<T>& p) const {
    return p.param.name;
  }
};

INSTANTIATE_TEST_SUITE_P(Parser, ParserValid, testing::ValuesIn(valid_cases()), CaseName());

// ---------------------------------------------------------------------------------------------
// Malformed requests

struct BadCase {
  std::string name;
  std::string input;
  Status status;
  bool needs_end = false;  // the error can only show at the end of the head
};

std::vector<BadCase> bad_cases() {
  constexpr Status k400 = Status::bad_request;
  constexpr Status k501 = Status::not_implemented;
  const auto f = [](std::string_view fields) { return with_fields(fields); };
  const auto post = [](std::string_view fields) { return with_fields(fields, "POST / HTTP/1.1"); };
  const auto line = [](std::string_view request_line) {
    return std::string(request_line) + "\r\nHost: h\r\n\r\n";
  };
  std::vector<BadCase> c = {
      // Request line: method
      {"Method_invalid_char", line("G@T / HTTP/1.1"), k400},
      {"Method_colon", line("GE:T / HTTP/1.1"), k400},
      {"Method_paren", line("GET( / HTTP/1.1"), k400},
      {"Method_nul", line("G\0T / HTTP/1.1"s), k400},
      {"Method_high_byte", line("G\xc3\x89T / HTTP/1.1"), k400},
      {"Method_tab_separator", line("GET\t/ HTTP/1.1"), k400},
      {"Method_empty", line(" / HTTP/1.1"), k400},
      {"Method_bare_cr", line("GE\rT / HTTP/1.1"), k400},
      {"Method_line_ends", "GET\r\nHost: h\r\n\r\n", k400},
      {"Request_line_spaces_only", "   \r\n\r\n", k400},
      {"Request_line_empty_after_leading_lines", "\r\n\r\n\r\n\r\n\r\n", k400, true},
      {"Too_many_leading_empty_lines", "\r\n\r\n\r\n\r\n\r\n" + line("GET / HTTP/1.1"), k400},
      {"Leading_bare_cr", "\r" + line("GET / HTTP/1.1"), k400},
      {"Leading_lf_then_bare_cr", "\n\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", k400},
      // Request line: separators and version
      {"Double_space_after_method", line("GET  / HTTP/1.1"), k400},
      {"Double_space_before_version", line("GET /  HTTP/1.1"), k400},
      {"Missing_version", line("GET /"), k400},
      {"Missing_version_lf", "GET /\n\n", k400},
      {"Http09", "GET /\r\n", k400},
      {"Missing_version_after_space", line("GET / "), k400},
      {"Version_trailing_space", line("GET / HTTP/1.1 "), k400},
      {"Version_trailing_tab", line("GET / HTTP/1.1\t"), k400},
      {"Version_lowercase", line("GET / http/1.1"), k400},
      {"Version_mixed_case", line("GET / Http/1.1"), k400},
      {"Version_two_digit_minor", line("GET / HTTP/1.10"), k400},
      {"Version_two_digit_major", line("GET / HTTP/10.1"), k400},
      {"Version_no_minor", line("GET / HTTP/1"), k400},
      {"Version_no_dot", line("GET / HTTP/11"), k400},
      {"Version_letter", line("GET / HTTP/1.x"), k400},
      {"Version_other_protocol", line("GET / XTTP/1.1"), k400},
      {"Version_extra_byte", line("GET / HTTP/1.1x"), k400},
      {"Version_2_0", line("GET / HTTP/2.0"), Status::http_version_not_supported},
      {"Version_0_9", line("GET / HTTP/0.9"), Status::http_version_not_supported},
      {"Version_3_0", line("GET / HTTP/3.0"), Status::http_version_not_supported},
      {"Http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", k400},  // '*' is OPTIONS only
      {"Request_line_bare_cr", "GET / HTTP/1.1\rHost: h\r\n\r\n", k400},
      {"Request_line_cr_cr_lf", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", k400},
      // Request target
      {"Target_bare_cr", line("GET /a\rb HTTP/1.1"), k400},
      {"Target_nul", line("GET /a\0b HTTP/1.1"s), k400},
      {"Target_del", line("GET /a\x7f HTTP/1.1"), k400},
      {"Target_high_byte", line("GET /caf\xc3\xa9 HTTP/1.1"), k400},
      {"Target_tab", line("GET /a\tb HTTP/1.1"), k400},
      {"Target_control", line("GET /a\x01 HTTP/1.1"), k400},
      {"Target_fragment", line("GET /a#frag HTTP/1.1"), k400},
      {"Target_relative", line("GET index.html HTTP/1.1"), k400},
      {"Target_query_only", line("GET ?a=1 HTTP/1.1"), k400},
      {"Asterisk_with_get", line("GET * HTTP/1.1"), k400},
      {"Asterisk_with_post", line("POST * HTTP/1.1"), k400},
      {"Asterisk_with_more", line("OPTIONS *x HTTP/1.1"), k400},
      {"Asterisk_with_connect", line("CONNECT * HTTP/1.1"), k400},
      {"Authority_with_get", line("GET example.com:80 HTTP/1.1"), k400},
      {"Authority_with_options", line("OPTIONS example.com:80 HTTP/1.1"), k400},
      {"Connect_origin_form", line("CONNECT / HTTP/1.1"), k400},
      {"Connect_absolute_form", line("CONNECT http://a:80/ HTTP/1.1"), k400},
      {"Connect_without_port", line("CONNECT example.com HTTP/1.1"), k400},
      {"Connect_empty_port", line("CONNECT example.com: HTTP/1.1"), k400},
      {"Connect_port_too_big", line("CONNECT a:65536 HTTP/1.1"), k400},
      {"Connect_port_too_long", line("CONNECT a:000080 HTTP/1.1"), k400},
      {"Connect_userinfo", line("CONNECT u@a:80 HTTP/1.1"), k400},
      {"Connect_empty_host", line("CONNECT :80 HTTP/1.1"), k400},
      {"Absolute_userinfo", line("GET http://user:pw@example.com/ HTTP/1.1"), k400},
      {"Absolute_userinfo_empty", line("GET http://@example.com/ HTTP/1.1"), k400},
      {"Absolute_empty_authority", line("GET http:/// HTTP/1.1"), k400},
      {"Absolute_empty_host_with_port", line("GET http://:80/ HTTP/1.1"), k400},
      {"Absolute_no_slashes", line("GET http:example.com/ HTTP/1.1"), k400},
      {"Absolute_one_slash", line("GET http:/example.com/ HTTP/1.1"), k400},
      {"Absolute_scheme_digit_first", line("GET 1http://a/ HTTP/1.1"), k400},
      {"Absolute_scheme_bad_char", line("GET ht_tp://a/ HTTP/1.1"), k400},
      {"Absolute_bad_port", line("GET http://a:8x/ HTTP/1.1"), k400},
      {"Absolute_bad_ipv6", line("GET http://[::g]/ HTTP/1.1"), k400},
      {"Absolute_unclosed_bracket", line("GET http://[::1/ HTTP/1.1"), k400},
      {"Absolute_bad_percent", line("GET http://a%zz/ HTTP/1.1"), k400},
      // Field lines
      {"Space_before_colon", f("X-A : b\r\n"), k400},
      {"Tab_before_colon", f("X-A\t: b\r\n"), k400},
      {"Te_space_before_colon", post("Transfer-Encoding : chunked\r\n"), k400},
      {"Cl_space_before_colon", post("Content-Length : 5\r\n"), k400},
      {"No_colon", f("X-A b\r\n"), k400},
      {"No_colon_lf", f("X-A\n"), k400},
      {"Empty_name", f(": b\r\n"), k400},
      {"Obs_fold_space", f("X-A: b\r\n c\r\n"), k400},
      {"Obs_fold_tab", f("X-A: b\r\n\tc\r\n"), k400},
      {"Whitespace_before_first_field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", k400},
      {"Whitespace_line", f(" \r\n"), k400},
      {"Value_bare_cr", f("X-A: b\rc\r\n"), k400},
      {"Value_cr_cr_lf", f("X-A: b\r\r\n"), k400},
      {"Value_nul", f("X-A: b\0c\r\n"s), k400},
      {"Value_del", f("X-A: b\x7f\r\n"), k400},
      {"Value_control", f("X-A: b\x01\r\n"), k400},
      {"Value_vertical_tab", f("X-A: b\x0b\r\n"), k400},
      {"Value_form_feed", f("X-A: \x0c\r\n"), k400},
      {"Value_escape", f("X-A: \x1b[0m\r\n"), k400},
      {"Name_nul", f("X-\0A: b\r\n"s), k400},
      {"Name_del", f("X-\x7f: b\r\n"), k400},
      {"Name_high_byte", f("X-\xc3\xa9: b\r\n"), k400},
      {"Name_slash", f("X/A: b\r\n"), k400},
      {"Name_at", f("X@A: b\r\n"), k400},
      {"Name_bare_cr", f("X\rA: b\r\n"), k400},
      {"Final_line_bare_cr", "GET / HTTP/1.1\r\nHost: h\r\n\rX", k400},
      {"Final_line_cr_cr", "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", k400},
      // Content-Length (RFC 9110 §8.6, RFC 9112 §6.3)
      {"Cl_plus", post("Content-Length: +5\r\n"), k400},
      {"Cl_minus", post("Content-Length: -1\r\n"), k400},
      {"Cl_inner_space", post("Content-Length: 5 5\r\n"), k400},
      {"Cl_list_differs", post("Content-Length: 5, 6\r\n"), k400},
      {"Cl_fields_differ", post("Content-Length: 5\r\nContent-Length: 6\r\n"), k400},
      {"Cl_list_then_field_differs", post("Content-Length: 5, 5\r\nContent-Length: 6\r\n"), k400},
      {"Cl_twenty_digits", post("Content-Length: 10000000000000000000\r\n"), k400},
      {"Cl_over_int64", post("Content-Length: 9223372036854775808\r\n"), k400},
      {"Cl_max_uint64", post("Content-Length: 18446744073709551615\r\n"), k400},
      {"Cl_huge", post("Content-Length: 99999999999999999999999999999\r\n"), k400},
      {"Cl_hex", post("Content-Length: 0x10\r\n"), k400},
      {"Cl_decimal_point", post("Content-Length: 5.0\r\n"), k400},
      {"Cl_letters", post("Content-Length: five\r\n"), k400},
      {"Cl_empty", post("Content-Length:\r\n"), k400},
      {"Cl_spaces_only", post("Content-Length:   \r\n"), k400},
      {"Cl_trailing_comma", post("Content-Length: 5,\r\n"), k400},
      {"Cl_empty_element", post("Content-Length: 5,,5\r\n"), k400},
      {"Cl_then_te", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), k400},
      {"Te_then_cl", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), k400},
      {"Te_then_cl_zero", post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"), k400},
      // Transfer-Encoding (RFC 9112 §6.1, §6.3)
      {"Te_chunked_twice", post("Transfer-Encoding: chunked, chunked\r\n"), k400},
      {"Te_chunked_twice_fields", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), k400},
      {"Te_xchunked", post("Transfer-Encoding: xchunked\r\n"), k400, true},
      {"Te_chunked_x", post("Transfer-Encoding: chunked-x\r\n"), k400, true},
      {"Te_chunked_then_gzip", post("Transfer-Encoding: chunked, gzip\r\n"), k400},
      {"Te_chunked_then_gzip_fields", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), k400},
      {"Te_gzip_only", post("Transfer-Encoding: gzip\r\n"), k400, true},
      {"Te_identity", post("Transfer-Encoding: identity\r\n"), k400, true},
      {"Te_empty", post("Transfer-Encoding:\r\n"), k400, true},
      {"Te_commas_only", post("Transfer-Encoding: , ,\r\n"), k400, true},
      {"Te_gzip_chunked", post("Transfer-Encoding: gzip, chunked\r\n"), k501, true},
      {"Te_deflate_chunked", post("Transfer-Encoding: deflate,chunked\r\n"), k501, true},
      {"Te_compress_chunked", post("Transfer-Encoding: compress, chunked\r\n"), k501, true},
      {"Te_unknown_chunked", post("Transfer-Encoding: foo;a=1, chunked\r\n"), k501, true},
      {"Te_gzip_then_chunked_fields", post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), k501, true},
      {"Te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", k400},
      {"Te_bad_char", post("Transfer-Encoding: chunked@\r\n"), k400},
      {"Te_space_separated", post("Transfer-Encoding: gzip chunked\r\n"), k400},
      {"Te_param_without_value", post("Transfer-Encoding: chunked;q\r\n"), k400},
      {"Te_param_empty_value", post("Transfer-Encoding: chunked;q=\r\n"), k400},
      {"Te_param_unclosed_quote", post("Transfer-Encoding: chunked;q=\"x\r\n"), k400},
      {"Te_semicolon_alone", post("Transfer-Encoding: chunked;\r\n"), k400},
      {"Te_quoted_coding", post("Transfer-Encoding: \"chunked\"\r\n"), k400},
      // Host (RFC 9112 §3.2, RFC 9110 §7.2)
      {"Host_missing_http11", "GET / HTTP/1.1\r\nX: y\r\n\r\n", k400, true},
      {"Host_missing_absolute_form", "GET http://h/ HTTP/1.1\r\n\r\n", k400, true},
      {"Host_missing_connect", "CONNECT h:443 HTTP/1.1\r\n\r\n", k400, true},
      {"Host_twice", f("Host: example.com\r\n"), k400},
      {"Host_twice_different", f("host: other.example\r\n"), k400},
      {"Host_empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", k400},
      {"Host_empty_http10", "GET / HTTP/1.0\r\nHost: \r\n\r\n", k400},
      {"Host_space_inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", k400},
      {"Host_list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", k400},
      {"Host_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", k400},
      {"Host_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", k400},
      {"Host_bad_port", "GET / HTTP/1.1\r\nHost: a:http\r\n\r\n", k400},
      {"Host_port_too_big", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", k400},
      {"Host_empty_port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", k400},
      {"Host_two_ports", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", k400},
      {"Host_only_port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", k400},
      {"Host_ipv6_unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", k400},
      {"Host_ipv6_unbracketed", "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", k400},
      {"Host_ipv6_too_many_pieces", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n", k400},
      {"Host_ipv6_two_elisions", "GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n", k400},
      {"Host_ipv6_long_piece", "GET / HTTP/1.1\r\nHost: [12345::]\r\n\r\n", k400},
      {"Host_ipv6_bad_ipv4", "GET / HTTP/1.1\r\nHost: [::1.2.3.256]\r\n\r\n", k400},
      {"Host_ipv6_zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", k400},
      {"Host_ipv6_trailing_junk", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", k400},
      {"Host_bad_percent", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", k400},
      {"Host_quote", "GET / HTTP/1.1\r\nHost: \"a\"\r\n\r\n", k400},
      {"Host_high_byte", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", k400},
      // Expect (RFC 9110 §10.1.1)
      {"Expect_unknown", f("Expect: foo\r\n"), Status::expectation_failed},
      {"Expect_continue_and_unknown", f("Expect: 100-continue, foo\r\n"), Status::expectation_failed},
      {"Expect_continue_with_param", f("Expect: 100-continue;a=b\r\n"), Status::expectation_failed},
      {"Expect_102", f("Expect: 102-processing\r\n"), Status::expectation_failed},
      {"Expect_unknown_http10", "GET / HTTP/1.0\r\nExpect: foo\r\n\r\n", Status::expectation_failed},
      // Connection (RFC 9110 §7.6.1)
      {"Connection_bad_token", f("Connection: close@\r\n"), k400},
      {"Connection_quoted", f("Connection: \"close\"\r\n"), k400},
      {"Connection_space_in_element", f("Connection: keep alive\r\n"), k400},
  };
  return c;
}

void PrintTo(const BadCase& c, std::ostream* os) { *os << testing::PrintToString(c.input); }

class ParserMalformed : public testing::TestWithParam<BadCase> {};

TEST_P(ParserMalformed, FailsWithItsStatusEveryWay) {
  const BadCase& c = GetParam();
  const Parsed whole = parse_all_ways(c.input);
  EXPECT_EQ(whole.state, ParseState::error);
  EXPECT_EQ(code(whole.status), code(c.status));
  if (!c.needs_end) {
    // Errors show before the head's end: drop the final empty line and the error is still there.
    std::string_view early = c.input;
    if (early.ends_with("\r\n\r\n")) early.remove_suffix(2);
    else if (early.ends_with("\n\n")) early.remove_suffix(1);
    const Parsed before_end = parse_once(early);
    EXPECT_EQ(before_end.state, ParseState::error) << "not seen before the end of the head";
    EXPECT_EQ(code(before_end.status), code(c.status));
  }
}

INSTANTIATE_TEST_SUITE_P(Parser, ParserMalformed, testing::ValuesIn(bad_cases()), CaseName());

TEST(ParserMalformedTable, HasAtLeastAHundredCases) { EXPECT_GE(bad_cases().size(), 100u); }

// ---------------------------------------------------------------------------------------------
// Errors reported as soon as the bytes show them

Status status_of(std::string_view input, ParserLimits limits = {}) {
  const Parsed p = parse_once(input, limits);
  EXPECT_EQ(p.state, ParseState::error) << "for " << testing::PrintToString(std::string(input));
  return p.status;
}

TEST(ParserEarly, BadMethodByteBeforeTheLineEnds) {
  EXPECT_EQ(status_of("G@"), Status::bad_request);
  EXPECT_EQ(status_of("GET\r"), Status::bad_request);
  EXPECT_EQ(parse_once("GET").state, ParseState::incomplete);
}

TEST(ParserEarly, BadTargetByteBeforeTheLineEnds) {
  EXPECT_EQ(status_of("GET /a\x01"), Status::bad_request);
  EXPECT_EQ(status_of("GET /a#"), Status::bad_request);
  EXPECT_EQ(status_of("GET  "), Status::bad_request);
}

TEST(ParserEarly, BadTargetFormAtTheSpaceAfterIt) {
  EXPECT_EQ(parse_once("GET *").state, ParseState::incomplete);
  EXPECT_EQ(status_of("GET * "), Status::bad_request);
  EXPECT_EQ(status_of("CONNECT / "), Status::bad_request);
}

TEST(ParserEarly, BadVersionAtItsFirstWrongByte) {
  EXPECT_EQ(status_of("GET / h"), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/x"), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1 "), Status::bad_request);
  EXPECT_EQ(parse_once("GET / HTTP/2.0").state, ParseState::incomplete);
  EXPECT_EQ(status_of("GET / HTTP/2.0\n"), Status::http_version_not_supported);
}

TEST(ParserEarly, FieldErrorsBeforeTheNextLine) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX "), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n "), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\0"s), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\rb"), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nContent-Length: x\r\n"), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n"), Status::bad_request);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nExpect: foo\n"), Status::expectation_failed);
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(ParserLimits, TargetAtTheLimitIsAccepted) {
  const std::string target = "/" + std::string(8191, 'a');
  const Parsed p = parse_all_ways("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n", {}, false);
  EXPECT_EQ(p.state, ParseState::complete);
  EXPECT_EQ(p.path.size(), 8192u);
}

TEST(ParserLimits, TargetOverTheLimitIs414BeforeTheLineEnds) {
  const std::string target = "/" + std::string(8192, 'a');  // 8193 bytes
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
  const Parsed p = parse_all_ways(request, {}, false);
  EXPECT_EQ(p.status, Status::uri_too_long);
  // As soon as the 8193rd byte of the target is there, without its end.
  EXPECT_EQ(status_of(request.substr(0, 4 + 8193)), Status::uri_too_long);
  EXPECT_EQ(parse_once(request.substr(0, 4 + 8192)).state, ParseState::incomplete);
}

TEST(ParserLimits, LongTargetIs414EvenPastTheHeadLimit) {
  const std::string request = "GET /" + std::string(20000, 'a');
  EXPECT_EQ(status_of(request), Status::uri_too_long);
}

TEST(ParserLimits, SmallTargetLimit) {
  const ParserLimits limits{.max_target_bytes = 4};
  EXPECT_EQ(parse_once("GET /abc HTTP/1.1\r\nHost: h\r\n\r\n", limits).state, ParseState::complete);
  EXPECT_EQ(status_of("GET /abcd", limits), Status::uri_too_long);
  EXPECT_EQ(status_of("GET /abcd HTTP/1.1\r\nHost: h\r\n\r\n", limits), Status::uri_too_long);
}

std::string head_of_size(std::size_t size) {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  const std::size_t rest = size - head.size() - 4;
  head += std::string(rest, 'v');
  head += "\r\n\r\n";
  return head;
}

TEST(ParserLimits, HeadAtTheLimitIsAccepted) {
  const std::string head = head_of_size(16384);
  ASSERT_EQ(head.size(), 16384u);
  const Parsed p = parse_all_ways(head, {}, false);
  EXPECT_EQ(p.state, ParseState::complete);
  EXPECT_EQ(p.consumed, 16384u);
}

TEST(ParserLimits, HeadOverTheLimitIs431) {
  const std::string head = head_of_size(16385);
  EXPECT_EQ(parse_all_ways(head, {}, false).status, Status::header_fields_too_large);
  // Before the head ends: as soon as more bytes than the limit are there.
  EXPECT_EQ(status_of(head.substr(0, 16385)), Status::header_fields_too_large);
  EXPECT_EQ(parse_once(head.substr(0, 16384)).state, ParseState::incomplete);
}

TEST(ParserLimits, LeadingEmptyLinesCountInTheHead) {
  const std::string head = "\r\n" + head_of_size(16383);
  EXPECT_EQ(status_of(head), Status::header_fields_too_large);
}

TEST(ParserLimits, HeadLimitWithManyFields) {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 90; ++i) head += "X: " + std::string(200, 'y') + "\r\n";
  head += "\r\n";
  EXPECT_EQ(status_of(head), Status::header_fields_too_large);
}

std::string with_n_fields(std::size_t n) {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 1; i < n; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

TEST(ParserLimits, HundredFieldsAccepted) {
  const Parsed p = parse_once(with_n_fields(100));
  EXPECT_EQ(p.state, ParseState::complete);
  EXPECT_EQ(p.headers.size(), 100u);
}

TEST(ParserLimits, HundredAndOneFieldsIs431BeforeTheHeadEnds) {
  const std::string head = with_n_fields(101);
  EXPECT_EQ(parse_all_ways(head).status, Status::header_fields_too_large);
  EXPECT_EQ(status_of(head.substr(0, head.size() - 2)), Status::header_fields_too_large);
}

TEST(ParserLimits, FieldCountLimitIsClampedToWhatRequestHolds) {
  const ParserLimits limits{.max_header_count = 1000};
  EXPECT_EQ(status_of(with_n_fields(101), limits), Status::header_fields_too_large);
  const ParserLimits small{.max_header_count = 2};
  EXPECT_EQ(parse_once(with_n_fields(2), small).state, ParseState::complete);
  EXPECT_EQ(status_of(with_n_fields(3), small), Status::header_fields_too_large);
}

TEST(ParserLimits, SmallHeadLimitInEveryPiece) {
  const ParserLimits limits{.max_target_bytes = 8, .max_head_bytes = 40, .max_header_count = 3};
  const std::string ok = "GET /1234567 HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";  // 40 bytes
  ASSERT_EQ(ok.size(), 40u);
  EXPECT_EQ(parse_all_ways(ok, limits).state, ParseState::complete);
  const std::string over = "GET /1234567 HTTP/1.1\r\nHost: h\r\nA: bc\r\n\r\n";  // 41 bytes
  EXPECT_EQ(parse_all_ways(over, limits).status, Status::header_fields_too_large);
  EXPECT_EQ(status_of(with_n_fields(4), {.max_header_count = 3}), Status::header_fields_too_large);
}

// ---------------------------------------------------------------------------------------------
// Pipelining and reuse

TEST(ParserPipelined, TwoRequestsInOneBuffer) {
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
  const std::string buffer = first + second;
  RequestParser parser;
  Request req;
  ParseResult r = parser.parse(buffer, req);
  ASSERT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(req.path, "/1");
  parser.reset();
  r = parser.parse(std::string_view(buffer).substr(r.consumed), req);
  ASSERT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(req.method, Method::post);
  EXPECT_EQ(req.path, "/2");
}

TEST(ParserPipelined, ThreeRequestsWithBodiesAndLeadingEmptyLine) {
  const std::string buffer =
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /c HTTP/1.0\n\n";
  RequestParser parser;
  Request req;
  std::string_view rest = buffer;
  std::vector<std::string> paths;
  while (!rest.empty()) {
    const ParseResult r = parser.parse(rest, req);  // no reset(): complete starts afresh
    ASSERT_EQ(r.state, ParseState::complete) << rest;
    paths.emplace_back(req.path);
    rest.remove_prefix(r.consumed);
    if (req.framing == BodyFraming::content_length) rest.remove_prefix(req.content_length);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_FALSE(req.keep_alive);
}

TEST(ParserPipelined, EveryRequestOfABatchAtEverySplit) {
  const std::string one = "GET /x?y HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n";
  const std::string batch = repeat(one, 3);
  const Parsed p = parse_all_ways(batch);
  EXPECT_EQ(p.consumed, one.size());
}

TEST(ParserReuse, SameParserAfterAnError) {
  RequestParser parser;
  Request req;
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n", req).state, ParseState::error);
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n", req).state, ParseState::complete);
}

TEST(ParserReuse, ShorterBufferThanLastTimeStartsAfresh) {
  RequestParser parser;
  Request req;
  EXPECT_EQ(parser.parse("GET /aaaaaaaaaaaaaaaaaaaaaaa", req).state, ParseState::incomplete);
  // Breaks the contract (not the same bytes), but must not read out of bounds.
  EXPECT_EQ(parser.parse("GET / HTTP/1.0\n\n", req).state, ParseState::complete);
}

TEST(ParserReuse, ResumedParseFillsANewRequestObject) {
  const std::string input = "GET /p?q HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
  RequestParser parser;
  Request first;
  EXPECT_EQ(parser.parse(std::string_view(input).substr(0, 30), first).state, ParseState::incomplete);
  const std::string copy = input;  // the bytes moved
  Request second;
  ASSERT_EQ(parser.parse(copy, second).state, ParseState::complete);
  EXPECT_EQ(second.header_count, 3u);
  EXPECT_EQ(second.path.data(), copy.data() + 4);
  EXPECT_EQ(second.headers[0].value.data(), copy.data() + 25);
  EXPECT_EQ(second.find("b"), "2");
}

TEST(ParserLinear, LargeHeadByteByByte) {
  // Correctness of resuming over a large head; scanned_ keeps it linear.
  std::string head = "GET /" + std::string(4000, 'p') + " HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 90; ++i) head += "X-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
  head += "\r\n";
  ASSERT_LT(head.size(), 16384u);
  RequestParser parser;
  Request req;
  std::string buffer;
  ParseResult r;
  for (const char c : head) {
    buffer += c;
    r = parser.parse(buffer, req);
    if (r.state != ParseState::incomplete) break;
  }
  ASSERT_EQ(r.state, ParseState::complete);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(req.header_count, 91u);
  EXPECT_EQ(req.path.size(), 4001u);
  EXPECT_EQ(req.find("X-89")->size(), 100u);
}

// ---------------------------------------------------------------------------------------------
// Every byte value at many positions (the long runs are checked eight bytes at a time)

constexpr std::size_t kPositions[] = {0, 1, 6, 7, 8, 9, 15, 16, 17, 23, 31, 40};

std::string filler(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

TEST(ParserBytes, EveryByteInATarget) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = b >= 0x21 && b <= 0x7e && b != '#';
    for (const std::size_t pos : kPositions) {
      const std::string target = "/" + filler(pos) + c + filler(19);
      const Parsed p = parse_once("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
      EXPECT_EQ(p.state, allowed ? ParseState::complete : ParseState::error)
          << "byte " << b << " at " << pos;
      if (allowed) {
        EXPECT_EQ(p.target, target);
      }
    }
  }
}

TEST(ParserBytes, EveryByteInAFieldValue) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = b == '\t' || b == ' ' || (b >= 0x21 && b != 0x7f);
    for (const std::size_t pos : kPositions) {
      const std::string value = "v" + filler(pos) + c + filler(19);
      const Parsed p = parse_once(with_fields("X: " + value + "\r\n"));
      EXPECT_EQ(p.state, allowed ? ParseState::complete : ParseState::error)
          << "byte " << b << " at " << pos;
      if (allowed) {
        ASSERT_EQ(p.headers.size(), 2u);
        EXPECT_EQ(p.headers[1].second, value);
      }
    }
  }
}

bool is_tchar(int b) {  // RFC 9110 §5.6.2, written differently from the parser's table
  if (b == 0 || b >= 128) return false;
  return std::isalnum(b) != 0 || std::strchr("!#$%&'*+-.^_`|~", b) != nullptr;
}

TEST(ParserBytes, EveryByteInAFieldName) {
  for (int b = 0; b < 256; ++b) {
    if (b == ':') continue;  // ends the name: "Xa:y: v" is valid
    const bool allowed = is_tchar(b);
    for (const std::size_t pos : {0, 1, 8, 20}) {
      const std::string name = "X" + filler(static_cast<std::size_t>(pos)) + static_cast<char>(b) + "y";
      const Parsed p = parse_once(with_fields(name + ": v\r\n"));
      EXPECT_EQ(p.state, allowed ? ParseState::complete : ParseState::error)
          << "byte " << b << " at " << pos;
    }
  }
}

TEST(ParserBytes, EveryByteInAMethod) {
  for (int b = 0; b < 256; ++b) {
    for (const std::size_t pos : {0, 1, 8}) {
      const bool allowed = is_tchar(b) || (b == '\n' && pos == 0);  // an empty line first
      const std::string method = filler(pos) + static_cast<char>(b) + "X";
      const Parsed p = parse_once(method + " / HTTP/1.1\r\nHost: h\r\n\r\n");
      EXPECT_EQ(p.state, allowed ? ParseState::complete : ParseState::error)
          << "byte " << b << " at " << pos;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The 16-byte scans (src/http/scan.h) and the request line's one-pass path: a byte at each
// position of a block and of the tail read, runs ending at a block's edge, heads cut inside a
// block. Every case goes through parse_all_ways (every split, byte by byte, guard page behind).

// Bytes the scans stop on inside a field value or a target, each an error there.
constexpr char kControlBytes[] = {'\0', '\x01', '\x08', '\x0b', '\x0c', '\x1f', '\x7f'};

TEST(ParserBlocks, ControlByteAtEachPositionOfAValue) {
  for (const char c : kControlBytes) {
    for (std::size_t pos = 0; pos < 34; ++pos) {
      const std::string value = filler(pos) + c + filler(40 - pos);
      const Parsed p = parse_all_ways(with_fields("X-Long: " + value + "\r\n"), {}, pos % 8 == 0);
      EXPECT_EQ(p.state, ParseState::error) << "byte " << int(c) << " at " << pos;
      EXPECT_EQ(code(p.status), 400) << "byte " << int(c) << " at " << pos;
    }
  }
}

TEST(ParserBlocks, ControlByteAtEachPositionOfATarget) {
  for (const char c : {'\0', '\x01', '\x09', '\x1f', '\x7f', '#', '\x80', '\xff'}) {
    for (std::size_t pos = 0; pos < 34; ++pos) {
      const std::string target = "/" + filler(pos) + c + filler(40 - pos);
      const Parsed p = parse_all_ways("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n", {}, pos % 8 == 0);
      EXPECT_EQ(p.state, ParseState::error) << "byte " << int(c) << " at " << pos;
      EXPECT_EQ(code(p.status), 400) << "byte " << int(c) << " at " << pos;
    }
  }
}

TEST(ParserBlocks, ControlByteRightAfterTheTarget) {
  // The byte that ends the target decides: SP goes on, anything else the scan stops on is 400.
  for (const char c : {'\0', '\t', '\r', '\n', '\x7f', '#'}) {
    for (const std::size_t length : {1u, 14u, 15u, 16u, 17u, 31u, 32u}) {
      const std::string input = "GET /" + filler(length - 1) + c + " HTTP/1.1\r\nHost: h\r\n\r\n";
      EXPECT_EQ(code(parse_all_ways(input).status), 400) << "byte " << int(c) << ", length " << length;
    }
  }
}

TEST(ParserBlocks, ValuesEndingAtABlockEdge) {
  for (std::size_t length = 1; length <= 50; ++length) {
    for (const char* eol : {"\r\n", "\n"}) {
      const std::string value = filler(length);
      const Parsed p = parse_all_ways(with_fields("X-Long: " + value + eol + "X-Next: n\r\n"));
      ASSERT_EQ(p.state, ParseState::complete) << "length " << length;
      ASSERT_EQ(p.headers.size(), 3u);
      EXPECT_EQ(p.headers[1].second, value);
      EXPECT_EQ(p.headers[2].second, "n");
    }
  }
}

TEST(ParserBlocks, TargetsEndingAtABlockEdge) {
  for (std::size_t length = 1; length <= 50; ++length) {
    const std::string target = "/" + filler(length - 1);
    const Parsed p = parse_all_ways("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n", {}, length % 4 == 0);
    ASSERT_EQ(p.state, ParseState::complete) << "length " << length;
    EXPECT_EQ(p.target, target);
  }
}

TEST(ParserBlocks, FieldNamesOfEveryLength) {
  for (std::size_t length = 1; length <= 40; ++length) {
    const std::string name = "X" + filler(length - 1);
    const Parsed p = parse_all_ways(with_fields(name + ":v\r\n"), {}, length % 4 == 0);
    ASSERT_EQ(p.state, ParseState::complete) << "length " << length;
    EXPECT_EQ(p.headers[1].first, name);
    // A delimiter right after the name, before its colon, is 400 whatever the name's length.
    EXPECT_EQ(code(parse_once(with_fields(name + "{:v\r\n")).status), 400) << "length " << length;
  }
}

TEST(ParserBlocks, ObsTextAndTabsAtEachPositionOfAValue) {
  for (const char c : {'\x80', '\xa0', '\xc3', '\xfe', '\xff', '\t'}) {
    for (std::size_t pos = 0; pos < 34; ++pos) {
      const std::string value = "v" + filler(pos) + c + filler(34 - pos);
      const Parsed p = parse_all_ways(with_fields("X-Text: " + value + "\r\n"), {}, pos % 8 == 0);
      ASSERT_EQ(p.state, ParseState::complete) << "byte " << int(c) << " at " << pos;
      EXPECT_EQ(p.headers[1].second, value);
    }
  }
}

TEST(ParserBlocks, BareCrOrLfAtEachPositionOfAValue) {
  for (std::size_t pos = 0; pos < 34; ++pos) {
    // A CR not followed by LF: 400.
    const std::string cr = filler(pos) + "\r" + filler(20);
    EXPECT_EQ(code(parse_all_ways(with_fields("X-A: " + cr + "\r\n"), {}, pos % 8 == 0).status), 400)
        << "CR at " << pos;
    // A bare LF ends the line (RFC 9112 §2.2, accepted as before): what follows is the next line.
    const Parsed lf = parse_all_ways(with_fields("X-A: " + filler(pos) + "\nX-B: b\r\n"), {}, pos % 8 == 0);
    ASSERT_EQ(lf.state, ParseState::complete) << "LF at " << pos;
    EXPECT_EQ(lf.headers[1].second, filler(pos));
    EXPECT_EQ(lf.headers[2].second, "b");
  }
}

TEST(ParserBlocks, HeadSplitInsideABlockGivesTheSameRequest) {
  // A browser-sized head: split at every byte (inside every block of every value) by
  // parse_all_ways; the split path and the one-shot path must agree field by field.
  const std::string head =
      "GET /shop/cart?item=42&qty=1&session=0123456789abcdef HTTP/1.1\r\n"
      "Host: 127.0.0.1:8080\r\n"
      "Connection: keep-alive\r\n"
      "sec-ch-ua: \"Chromium\";v=\"156\", \"Not)A;Brand\";v=\"24\"\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.9\r\n"
      "Cookie: a=\xc3\xa9t\xc3\xa9; b=2\r\n"
      "\r\n";
  const Parsed p = parse_all_ways(head);
  ASSERT_EQ(p.state, ParseState::complete);
  EXPECT_EQ(p.consumed, head.size());
  EXPECT_EQ(p.query, "item=42&qty=1&session=0123456789abcdef");
  EXPECT_EQ(p.host, "127.0.0.1:8080");
  EXPECT_EQ(p.headers.size(), 7u);
  EXPECT_EQ(p.headers[6].second, "a=\xc3\xa9t\xc3\xa9; b=2");
}

TEST(ParserRequestLine, OnePassAndStepsAgree) {
  // Lines the one-pass path takes, and lines just off it that the steps take: all parse the
  // same every way, with the outcome the table below gives.
  struct LineCase {
    std::string line;
    int status;  // 0: complete
  };
  const LineCase cases[] = {
      {"GET / HTTP/1.1\r\n", 0},
      {"GET / HTTP/1.0\r\n", 0},
      {"GET / HTTP/1.1\n", 0},
      {"\r\nGET / HTTP/1.1\r\n", 0},
      {"\nGET / HTTP/1.1\r\n", 0},
      {"GET /a?b HTTP/1.1\r\n", 0},
      {"GET /a?b?c HTTP/1.1\r\n", 0},
      {"GET http://h:1/p?q HTTP/1.1\r\n", 0},
      {"GET http://h HTTP/1.1\r\n", 0},
      {"OPTIONS * HTTP/1.1\r\n", 0},
      {"CONNECT h:443 HTTP/1.1\r\n", 0},
      {"POST / HTTP/1.1\r\n", 0},
      {"GETS / HTTP/1.1\r\n", 0},
      {"GE / HTTP/1.1\r\n", 0},
      {"get / HTTP/1.1\r\n", 0},
      {"GET  / HTTP/1.1\r\n", 400},
      {"GET\t/ HTTP/1.1\r\n", 400},
      {"GET /  HTTP/1.1\r\n", 400},
      {"GET / HTTP/1.1 \r\n", 400},
      {"GET / HTTP/1.1\r\r\n", 400},
      {"GET / HTTP/1.1\rX", 400},
      {"GET / http/1.1\r\n", 400},
      {"GET / HTTP/1,1\r\n", 400},
      {"GET / HTTP/1.x\r\n", 400},
      {"GET / HTTP/1.2\r\n", 0},
      {"GET / HTTP/2.1\r\n", 505},
      {"GET / HTTP/1.11\r\n", 400},
      {"GET * HTTP/1.1\r\n", 400},
      {"CONNECT / HTTP/1.1\r\n", 400},
      {"GET h:1 HTTP/1.1\r\n", 400},
      {" GET / HTTP/1.1\r\n", 400},
      {"\rGET / HTTP/1.1\r\n", 400},
      {"G\x7fT / HTTP/1.1\r\n", 400},
  };
  for (const LineCase& c : cases) {
    const std::string input = c.line + "Host: h\r\n\r\n";
    const Parsed p = parse_all_ways(input);
    if (c.status == 0) {
      EXPECT_EQ(p.state, ParseState::complete) << testing::PrintToString(c.line);
    } else {
      EXPECT_EQ(p.state, ParseState::error) << testing::PrintToString(c.line);
      EXPECT_EQ(code(p.status), c.status) << testing::PrintToString(c.line);
    }
  }
  // HTTP/1.0 through the one-pass path: no Host needed, no persistence by default.
  const Parsed v10 = parse_all_ways("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(v10.state, ParseState::complete);
  EXPECT_EQ(v10.version_minor, 0);
  EXPECT_FALSE(v10.keep_alive);
}

// RFC 9110 §6.2: a later minor version of HTTP/1 is processed as HTTP/1.1 (persistent, Host
// required, chunked allowed); another major version is 505.
TEST(ParserVersion, LaterMinorIsHttp11) {
  for (const char* version : {"HTTP/1.2", "HTTP/1.9"}) {
    const Parsed p = parse_all_ways(std::string("POST /a HTTP/1.") + version[7] +
                                    "\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    ASSERT_EQ(p.state, ParseState::complete) << version;
    EXPECT_EQ(p.version_minor, 1) << version;
    EXPECT_TRUE(p.keep_alive) << version;
    EXPECT_EQ(p.framing, BodyFraming::chunked) << version;
    const Parsed no_host = parse_all_ways(std::string("GET / ") + version + "\r\n\r\n");
    EXPECT_EQ(no_host.state, ParseState::error) << version;
    EXPECT_EQ(no_host.status, Status::bad_request) << version;
  }
  for (const char* version : {"HTTP/0.9", "HTTP/2.0", "HTTP/2.2", "HTTP/9.1"}) {
    const Parsed p = parse_all_ways(std::string("GET / ") + version + "\r\nHost: h\r\n\r\n");
    EXPECT_EQ(p.status, Status::http_version_not_supported) << version;
  }
}

TEST(ParserRequestLine, TargetLimitOnTheOnePassPath) {
  ParserLimits limits;
  limits.max_target_bytes = 20;
  for (std::size_t length = 15; length <= 25; ++length) {
    const std::string input = "GET /" + filler(length - 1) + " HTTP/1.1\r\nHost: h\r\n\r\n";
    const Parsed p = parse_all_ways(input, limits);
    if (length <= 20) {
      EXPECT_EQ(p.state, ParseState::complete) << "length " << length;
    } else {
      EXPECT_EQ(code(p.status), 414) << "length " << length;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

TEST(ParserHelpers, Iequals) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit but are not letters
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("\xc3\xa9", "\xc3\x89"));
}

TEST(ParserHelpers, MethodFromName) {
  EXPECT_EQ(method_from_name("GET"), Method::get);
  EXPECT_EQ(method_from_name("HEAD"), Method::head);
  EXPECT_EQ(method_from_name("POST"), Method::post);
  EXPECT_EQ(method_from_name("PUT"), Method::put);
  EXPECT_EQ(method_from_name("DELETE"), Method::delete_);
  EXPECT_EQ(method_from_name("CONNECT"), Method::connect);
  EXPECT_EQ(method_from_name("OPTIONS"), Method::options);
  EXPECT_EQ(method_from_name("TRACE"), Method::trace);
  EXPECT_EQ(method_from_name("PATCH"), Method::patch);
  EXPECT_EQ(method_from_name("get"), Method::unknown);
  EXPECT_EQ(method_from_name("GETS"), Method::unknown);
  EXPECT_EQ(method_from_name(""), Method::unknown);
}

TEST(ParserHelpers, FindIsCaseInsensitiveAndReturnsTheFirst) {
  const std::string input = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nEmpty:\r\n\r\n";
  RequestParser parser;
  Request req;
  ASSERT_EQ(parser.parse(input, req).state, ParseState::complete);
  EXPECT_EQ(req.find("X-A"), "1");
  EXPECT_EQ(req.find("HOST"), "h");
  EXPECT_EQ(req.find("empty"), "");
  EXPECT_EQ(req.find("missing"), std::nullopt);
  EXPECT_EQ(req.find("X-"), std::nullopt);
}

TEST(ParserHelpers, FindListJoinsRepeatedFieldLinesIntoOneList) {
  const std::string input = "GET / HTTP/1.1\r\nHost: h\r\nIf-Match: \"a\"\r\nX: y\r\nif-match: \"b\", \"c\"\r\n\r\n";
  RequestParser parser;
  Request req;
  ASSERT_EQ(parser.parse(input, req).state, ParseState::complete);
  std::string storage;
  EXPECT_EQ(req.find_list("If-Match", storage), "\"a\", \"b\", \"c\"");
  EXPECT_EQ(req.find_list("X", storage), "y");  // one line: the value itself
  EXPECT_EQ(req.find_list("missing", storage), std::nullopt);
}

}  // namespace
}  // namespace nuri::http
