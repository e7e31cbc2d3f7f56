// Tests of the DNS message codec (src/dns/message.cpp).
#include "dns/message.h"

#include <gtest/gtest.h>

#include <string>

namespace nuri::dns {
namespace {

using namespace std::string_literals;

// A reply to "www.example.test A": CNAME to h.example.test (compressed), then its A record.
std::string cname_reply() {
  std::string m = "\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00"s;
  m += "\x03www\x07" "example\x04test\x00"s;  // offset 12
  m += "\x00\x01\x00\x01"s;
  m += "\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x04\x01h\xc0\x10"s;  // h + pointer to example.test
  m += "\x01h\xc0\x10\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07"s;
  return m;
}

TEST(DnsMessage, DecodesCnameChainWithCompression) {
  std::string error;
  auto m = decode(cname_reply(), error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_TRUE(m->response);
  EXPECT_TRUE(m->recursion_available);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, "www.example.test.");
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->answers[0].type, 5);
  EXPECT_EQ(m->answers[0].ttl, 300u);
  EXPECT_EQ(m->answers[0].data, "h.example.test.");
  EXPECT_EQ(m->answers[1].name, "h.example.test.");
  EXPECT_EQ(m->answers[1].data, "192.0.2.7");
  EXPECT_EQ(cname_chain(m->answers, "WWW.example.test."), std::vector<std::string>{"h.example.test."});
}

TEST(DnsMessage, EveryTruncationIsAnErrorNotACrash) {
  std::string full = cname_reply();
  for (std::size_t n = 0; n < full.size(); ++n) {
    std::string error;
    EXPECT_FALSE(decode(full.substr(0, n), error)) << n;
    EXPECT_FALSE(error.empty());
  }
}

TEST(DnsMessage, RefusesForwardAndSelfPointers) {
  std::string m = "\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00"s;
  std::string error;
  EXPECT_FALSE(decode(m + "\xc0\x0c\x00\x01\x00\x01"s, error));  // points at itself: a loop
  EXPECT_FALSE(decode(m + "\xc0\x20\x00\x01\x00\x01"s, error));  // points forward
  EXPECT_FALSE(decode(m + "\x40\x00\x00\x01\x00\x01"s, error));  // reserved label type
}

TEST(DnsMessage, TxtAndUnknownTypesInPresentationForm) {
  std::string m = "\x00\x01\x81\x80\x00\x00\x00\x02\x00\x00\x00\x00"s;
  m += "\x01t\x00\x00\x10\x00\x01\x00\x00\x00\x0a\x00\x09\x03" "a\"b\x04" "c d\x01"s;
  m += "\x01t\x00\x00\x63\x00\x01\x00\x00\x00\x0a\x00\x02\xab\xcd"s;
  std::string error;
  auto d = decode(m, error);
  ASSERT_TRUE(d) << error;
  EXPECT_EQ(d->answers[0].data, "\"a\\\"b\" \"c d\\001\"");
  EXPECT_EQ(d->answers[1].data, "\\# 2 abcd");
  EXPECT_EQ(type_name(99), "TYPE99");
}

TEST(DnsMessage, BuildQueryRoundTrips) {
  std::string q, error;
  ASSERT_TRUE(build_query("mail.example.test.", 15, 7, q, error)) << error;
  auto m = decode(q, error);
  ASSERT_TRUE(m) << error;
  EXPECT_FALSE(m->response);
  EXPECT_TRUE(m->recursion_desired);
  EXPECT_EQ(m->questions[0].name, "mail.example.test.");
  EXPECT_EQ(m->questions[0].type, 15);
  EXPECT_FALSE(build_query("a..b", 1, 1, q, error));
  EXPECT_FALSE(build_query(std::string(64, 'x') + ".test", 1, 1, q, error));
  EXPECT_FALSE(build_query("", 1, 1, q, error));
}

TEST(DnsMessage, BuildQueryReadsMasterFileEscapes) {
  std::string q, error;
  ASSERT_TRUE(build_query("a\\.b.\\065\\\\.", 1, 1, q, error)) << error;
  EXPECT_EQ(q.substr(12, 8), "\x03" "a.b\x02" "A\\\x00"s);
  ASSERT_TRUE(build_query(".", 1, 1, q, error)) << error;
  EXPECT_EQ(q.substr(12), "\x00\x00\x01\x00\x01"s);
  for (const char* bad : {"..", ".a", "a..", "a\\999", "a\\12", "a\\1x2", "a\\"}) {
    EXPECT_FALSE(build_query(bad, 1, 1, q, error)) << bad;
  }
}

TEST(DnsMessage, PresentationNameIsTheNameSentEscapedAsReplies) {
  std::string error;
  EXPECT_EQ(presentation_name("a\x1b" "b.test", error), "a\\027b.test.");
  EXPECT_EQ(presentation_name("a\\.b.test.", error), "a\\.b.test.");
  EXPECT_EQ(presentation_name("\\065bc", error), "Abc.");
  EXPECT_EQ(presentation_name(".", error), ".");
  EXPECT_FALSE(presentation_name("..", error));
  EXPECT_EQ(error, "empty label (two dots in a row, or a leading dot)");
}

TEST(DnsMessage, ReplyMismatchIsWhatCaresDrops) {
  std::string query, error;
  ASSERT_TRUE(build_query("x.test", 1, 0x1234, query, error)) << error;
  const std::string question = query.substr(12);
  const std::string head = "\x12\x34\x81\x80"s;
  EXPECT_EQ(reply_mismatch(query, head + "\x00\x01\x00\x00\x00\x00\x00\x00"s + question), "");
  EXPECT_EQ(reply_mismatch(query, "\x56\x78\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00"s), "");  // another query's
  EXPECT_EQ(reply_mismatch(query, "\x12\x34\x81"s), "shorter than a DNS header (12 bytes)");
  EXPECT_EQ(reply_mismatch(query, head + "\x00\x00\x00\x01\x00\x00\x00\x00"s), "0 questions in the reply, 1 asked");
  EXPECT_EQ(reply_mismatch(query, head + "\x00\x01\x00\x00\x00\x00\x00\x00"s + "\x01y\x04test\x00\x00\x01\x00\x01"s),
            "the reply's question (y.test. A) is not the one asked (x.test. A)");
  // A truncated reply's records may be cut short: only its question counts.
  EXPECT_EQ(reply_mismatch(query, "\x12\x34\x83\x80\x00\x01\x00\x05\x00\x00\x00\x00"s + question + "\xc0"s), "");
}

TEST(DnsMessage, ReverseNames) {
  EXPECT_EQ(reverse_name("192.0.2.7"), "7.2.0.192.in-addr.arpa.");
  EXPECT_EQ(reverse_name("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_FALSE(reverse_name("example.test"));
  EXPECT_EQ(type_from_name("aaaa"), 28);
  EXPECT_EQ(type_from_name("TYPE65"), 65);
  EXPECT_FALSE(type_from_name("BOGUS"));
}

}  // namespace
}  // namespace nuri::dns
