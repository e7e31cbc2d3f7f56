// Tests of how `nuri capture` prints a connection (src/capture/report.cpp).
#include "capture/report.h"

#include <gtest/gtest.h>

using namespace nuri::capture;

namespace {

// One segment carrying an HTTP head whose bytes came from the wire as they are.
Connection with_head(std::string start_line, std::string name, std::string value) {
  Connection c;
  c.id = 1;
  Segment s;
  s.http.push_back({true, std::move(start_line), {{std::move(name), std::move(value)}}});
  c.segments.push_back(std::move(s));
  return c;
}

TEST(CaptureReport, HeadBytesFromTheWireAreEscaped) {
  // obs-text passes the parser: a raw C1 CSI, the same in UTF-8, 0xff; a tab inside a value.
  const Connection c = with_head("HTTP/1.1 200 O\x9b" "2JK", "X-Evil", "a\x9b" "2J\xc2\x9b" "31m\xff\tb");
  const std::string text = format_text(c);
  EXPECT_NE(text.find("HTTP/1.1 200 O\\x9b2JK\n"), std::string::npos) << text;
  EXPECT_NE(text.find("X-Evil: a\\x9b2J\\xc2\\x9b31m\\xff\\tb\n"), std::string::npos) << text;
  for (char byte : text) EXPECT_TRUE(byte == '\n' || (byte >= 0x20 && byte < 0x7f)) << static_cast<int>(byte);
  // JSON has its own escaping: the bytes stay as received there.
  EXPECT_NE(format_json(c).find("X-Evil"), std::string::npos);
}

}  // namespace
