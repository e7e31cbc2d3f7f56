#include "http/base64.h"

#include <gtest/gtest.h>

using nuri::http::base64_decode;

TEST(Base64, DecodesRfc4648Vectors) {
  // RFC 4648 §10.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg==", "foob"}, {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"}};
  for (auto [in, want] : vectors) {
    std::string out;
    ASSERT_TRUE(base64_decode(in, out)) << in;
    EXPECT_EQ(out, want);
  }
  std::string out;
  ASSERT_TRUE(base64_decode("AP8=", out));
  EXPECT_EQ(out, std::string("\x00\xff", 2));
}

TEST(Base64, RejectsWhatIsNotCanonical) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zm9v!", "Zm 9v", "Zh==", "Zm9=", "=Zm9", "Zg==Zg==", "Zm9v\n", "-_8="}) {
    std::string out;
    EXPECT_FALSE(base64_decode(bad, out)) << bad;
  }
}
