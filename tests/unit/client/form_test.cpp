// Tests of form bodies (src/client/form.cpp) and the request head (src/client/http_client.cpp),
// read back by nuri's own server-side parsers.
#include "client/form.h"

#include <gtest/gtest.h>

#include "client/http_client.h"
#include "http/multipart.h"
#include "http/query.h"

namespace nuri::client {
namespace {

TEST(Form, DataUrlencodeForms) {
  std::string out, error;
  ASSERT_TRUE(data_urlencode("a b&c/ü", out, error));
  EXPECT_EQ(out, "a%20b%26c%2F%C3%BC");
  ASSERT_TRUE(data_urlencode("msg=x y=z", out, error));
  EXPECT_EQ(out, "msg=x%20y%3Dz");
  ASSERT_TRUE(data_urlencode("=only", out, error));
  EXPECT_EQ(out, "only");
  EXPECT_FALSE(data_urlencode("name@/no/such/file", out, error));
  http::QueryParams q;
  ASSERT_EQ(q.parse("msg=" + percent_encode("1+1=2 & más")), http::Status::ok);
  EXPECT_EQ(q.first("msg"), "1+1=2 & más");
}

class Collect : public http::MultipartHandler {
 public:
  void on_field(const http::MultipartPart& p, std::string_view v) override { fields += p.name + "=" + std::string(v) + ";"; }
  void on_file_begin(const http::MultipartPart& p) override { files += p.name + ":" + *p.filename + ":" + p.content_type + "="; }
  void on_file_data(std::string_view b) override { files += b; }
  void on_file_end() override { files += ";"; }
  std::string fields, files;
};

TEST(Form, MultipartReadsBackWithNurisParser) {
  std::vector<FormPart> parts = {{"title", "a \"quoted\"\r\nvalue", std::nullopt, ""},
                                 {"up", std::string("\0\r\n--x", 6), std::string("f.png"), "image/png"}};
  std::string boundary;
  std::string body = multipart_body(parts, boundary);
  std::string parsed_boundary;
  ASSERT_EQ(http::multipart_boundary("multipart/form-data; boundary=" + boundary, parsed_boundary), http::Status::ok);
  Collect c;
  http::MultipartParser p(parsed_boundary, c);
  EXPECT_EQ(p.feed(body).state, http::ParseState::complete);
  EXPECT_EQ(c.fields, "title=a \"quoted\"\r\nvalue;");
  EXPECT_EQ(c.files, std::string("up:f.png:image/png=\0\r\n--x;", 26));
}

TEST(RequestHead, DefaultsReplacedOrRemoved) {
  Request r;
  UrlError kind;
  std::string error;
  r.url = *parse_url("http://h:8080/p?q", kind, error);
  r.method = "POST";
  r.headers = {{"user-agent", "me"}, {"Accept", ""}, {"X-A", "1"}};
  r.body = "abc";
  r.has_body = true;
  EXPECT_EQ(build_head(r), "POST /p?q HTTP/1.1\r\nHost: h:8080\r\nuser-agent: me\r\nX-A: 1\r\nContent-Length: 3\r\n\r\n");
}

}  // namespace
}  // namespace nuri::client
