// Tests of the path hooks and handlers see (src/app/request_path.cpp).
#include "app/request_path.h"

#include <gtest/gtest.h>

namespace nuri::app {
namespace {

TEST(RequestPath, DecodesEscapedUnreservedCharacters) {
  EXPECT_EQ(normalize_request_path("/%61dmin"), "/admin");
  EXPECT_EQ(normalize_request_path("/%61%64%6d%69%6E/x"), "/admin/x");
  EXPECT_EQ(normalize_request_path("/%41%7a%30%2D%2e%5F%7E"), "/Az0-._~");
  EXPECT_EQ(normalize_request_path("/plain/path"), "/plain/path");
}

TEST(RequestPath, LeavesOtherEscapesAsSent) {
  // Decoded, these would change the segments: a separator, an escape, a space, a raw byte.
  EXPECT_EQ(normalize_request_path("/a%2Fb/%2fc"), "/a%2Fb/%2fc");
  EXPECT_EQ(normalize_request_path("/%2561dmin"), "/%2561dmin");
  EXPECT_EQ(normalize_request_path("/a%20b/%C3%A9"), "/a%20b/%C3%A9");
  EXPECT_EQ(normalize_request_path("/%3F%23%25"), "/%3F%23%25");
}

TEST(RequestPath, LeavesMalformedEscapesAsSent) {
  EXPECT_EQ(normalize_request_path("/%zz/%6"), "/%zz/%6");
  EXPECT_EQ(normalize_request_path("/%61/%zz"), "/%61/%zz");
  EXPECT_EQ(normalize_request_path("/%6%61"), "/%6%61");  // not "/%6a", a new escape
  EXPECT_EQ(normalize_request_path("/%"), "/%");
}

TEST(RequestPath, RefusesAnEscapedNul) {
  EXPECT_EQ(normalize_request_path("/downloads/a.txt%00.html"), std::nullopt);
  EXPECT_EQ(normalize_request_path("/%00"), std::nullopt);
  EXPECT_EQ(normalize_request_path("/%2500"), "/%2500");  // "%25" "00": a '%' and two digits
}

}  // namespace
}  // namespace nuri::app
