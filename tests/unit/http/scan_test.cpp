// Tests of the parser's 16-byte scans (src/http/scan.h): each must return exactly what
// chars::skip() with its class returns, for every byte value at every position of a run, whatever
// the run's length (blocks, a tail read as the last 16 bytes, a run too short for that) and
// however far from the first readable byte it starts. Runs end right before a PROT_NONE page.
#include "http/scan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "../support/guarded_memory.h"
#include "http/chars.h"

namespace nuri::http {
namespace {

using Scan = const char* (*)(const char*, const char*, const char*);

// A byte of class `cls` to fill runs with; each call gives the next one, so runs mix bytes.
char filler(std::uint8_t cls, unsigned& k) {
  for (unsigned i = 0; i < 256; ++i) {
    const char c = static_cast<char>((k++ * 37u + 11u) % 256u);
    if (chars::is(c, cls)) return c;
  }
  return 'a';
}

void expect_same_as_table(Scan scan, std::uint8_t cls, const char* what) {
  test::GuardedMemory memory(64);
  unsigned k = 0;
  for (std::size_t lead = 0; lead <= 17; ++lead) {       // readable bytes before the run
    for (std::size_t length = 0; length <= 40; ++length) {
      for (std::size_t at = 0; at <= length; ++at) {      // at == length: no stop byte planted
        std::string bytes(lead + length, '\0');
        for (char& c : bytes) c = filler(cls, k);
        for (int v = 0; v < 256; ++v) {
          if (at < length) bytes[lead + at] = static_cast<char>(v);
          const std::string_view placed = memory.place(bytes);
          const char* const floor = placed.data();
          const char* const p = floor + lead;
          const char* const end = floor + placed.size();
          ASSERT_EQ(scan(p, end, floor) - p, chars::skip(p, end, cls) - p)
              << what << ": byte " << v << " at " << at << " of " << length << ", " << lead
              << " bytes before";
          if (at == length) break;  // v does not matter then
        }
      }
    }
  }
}

TEST(Scan, TcharIsTheTable) { expect_same_as_table(scan::skip_tchar, chars::kTchar, "tchar"); }
TEST(Scan, ValueIsTheTable) { expect_same_as_table(scan::skip_value, chars::kValue, "value"); }
TEST(Scan, TargetIsTheTable) { expect_same_as_table(scan::skip_target, chars::kTarget, "target"); }

// Every byte of a 16-byte block set at once to a stop byte: the first one is found.
TEST(Scan, FirstOfManyStopBytes) {
  test::GuardedMemory memory(64);
  for (std::size_t first = 0; first < 32; ++first) {
    std::string bytes(32, 'a');
    for (std::size_t i = first; i < bytes.size(); i += 3) bytes[i] = '\x7f';
    const std::string_view placed = memory.place(bytes);
    const char* const end = placed.data() + placed.size();
    EXPECT_EQ(scan::skip_value(placed.data(), end, placed.data()) - placed.data(),
              static_cast<std::ptrdiff_t>(first));
    EXPECT_EQ(scan::skip_target(placed.data(), end, placed.data()) - placed.data(),
              static_cast<std::ptrdiff_t>(first));
    EXPECT_EQ(scan::skip_tchar(placed.data(), end, placed.data()) - placed.data(),
              static_cast<std::ptrdiff_t>(first));
  }
}

}  // namespace
}  // namespace nuri::http
