#include "base/terminal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace nuri::term {
namespace {

TEST(Terminal, AutoColorNeedsATerminal) {
  EXPECT_TRUE(auto_color(true, nullptr, "xterm-256color"));
  EXPECT_TRUE(auto_color(true, nullptr, nullptr));
  EXPECT_FALSE(auto_color(false, nullptr, "xterm"));
}

TEST(Terminal, AutoColorHonoursNoColorOnlyWhenNonEmpty) {
  // no-color.org: present and not an empty string, whatever its value.
  EXPECT_FALSE(auto_color(true, "1", "xterm"));
  EXPECT_FALSE(auto_color(true, "0", "xterm"));
  EXPECT_TRUE(auto_color(true, "", "xterm"));
}

TEST(Terminal, AutoColorNotOnADumbTerminal) { EXPECT_FALSE(auto_color(true, nullptr, "dumb")); }

TEST(Terminal, ParseColorMode) {
  EXPECT_EQ(parse_color_mode("auto"), ColorMode::automatic);
  EXPECT_EQ(parse_color_mode("always"), ColorMode::always);
  EXPECT_EQ(parse_color_mode("never"), ColorMode::never);
  EXPECT_FALSE(parse_color_mode("yes"));
}

TEST(Terminal, PaintWrapsOnlyWhenOn) {
  EXPECT_EQ(paint(false, Role::error, "x"), "x");
  EXPECT_EQ(paint(true, Role::error, "x"), "\x1b[31mx\x1b[0m");
  EXPECT_EQ(paint(true, Role::good, "ok"), "\x1b[32mok\x1b[0m");
}

TEST(Terminal, PrintableEscapesEveryControlAndEveryHighByte) {
  EXPECT_EQ(printable("GET / HTTP/1.1 ~"), "GET / HTTP/1.1 ~");
  EXPECT_EQ(printable("a\tb"), "a\\tb");
  EXPECT_EQ(printable("e\x1b[2J\x1b]0;X\x07"), "e\\x1b[2J\\x1b]0;X\\x07");
  // A raw C1 CSI, the same in UTF-8, DEL, 0xff and NUL.
  EXPECT_EQ(printable("\x9b" "2J\xc2\x9b\x7f\xff"), "\\x9b2J\\xc2\\x9b\\x7f\\xff");
  EXPECT_EQ(printable(std::string_view("\0", 1)), "\\x00");
  EXPECT_EQ(printable(""), "");
}

TEST(Terminal, StatusRoleByClass) {
  EXPECT_EQ(status_role(200), Role::good);
  EXPECT_EQ(status_role(204), Role::good);
  EXPECT_EQ(status_role(101), Role::info);
  EXPECT_EQ(status_role(304), Role::info);
  EXPECT_EQ(status_role(404), Role::warning);
  EXPECT_EQ(status_role(503), Role::error);
}

TEST(Terminal, HumanBytes) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1.00 KiB");
  EXPECT_EQ(human_bytes(1536 * 1024), "1.50 MiB");
  EXPECT_EQ(human_bytes(15ull << 20), "15.0 MiB");
  EXPECT_EQ(human_bytes(150ull << 20), "150 MiB");
  EXPECT_EQ(human_bytes(3ull << 30), "3.00 GiB");
}

TEST(Terminal, ClockText) {
  EXPECT_EQ(clock_text(0), "0:00");
  EXPECT_EQ(clock_text(7.4), "0:07");
  EXPECT_EQ(clock_text(62), "1:02");
  EXPECT_EQ(clock_text(3723), "1:02:03");
}

TEST(Terminal, ProgressWithKnownTotal) {
  std::string line = render_progress(5ull << 20, 10ull << 20, 2.0, 80, false);
  EXPECT_EQ(line.size(), 79u) << line;
  EXPECT_EQ(line.rfind(" 50.0% [", 0), 0u) << line;
  EXPECT_NE(line.find("5.00 MiB / 10.0 MiB  2.50 MiB/s  ETA 0:02"), std::string::npos) << line;
  // Half the bar filled.
  std::size_t open = line.find('['), close = line.find(']');
  std::string bar = line.substr(open + 1, close - open - 1);
  EXPECT_EQ(static_cast<std::size_t>(std::count(bar.begin(), bar.end(), '#')), bar.size() / 2) << line;
}

TEST(Terminal, ProgressDoneShowsTheTimeTaken) {
  std::string line = render_progress(10ull << 20, 10ull << 20, 4.0, 80, true);
  EXPECT_EQ(line.rfind("100.0% [###", 0), 0u) << line;
  EXPECT_NE(line.find("10.0 MiB / 10.0 MiB  2.50 MiB/s  0:04"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
}

TEST(Terminal, ProgressWithUnknownTotal) {
  EXPECT_EQ(render_progress(3ull << 20, std::nullopt, 1.0, 80, false), "3.00 MiB  3.00 MiB/s  0:01");
}

TEST(Terminal, ProgressNeverWiderThanTheTerminal) {
  for (int columns : {1, 10, 30, 45, 60, 200}) {
    std::string line = render_progress(123456789, 987654321, 12.5, columns, false);
    EXPECT_LE(static_cast<int>(line.size()), std::max(columns - 1, 1)) << columns << ": " << line;
  }
  // Narrow: the bar goes first, the numbers stay.
  EXPECT_EQ(render_progress(1, 2, 1.0, 45, false).find('['), std::string::npos);
}

TEST(Terminal, ProgressBeforeATenthOfASecondHasNoSpeed) {
  std::string line = render_progress(1000, 2000, 0.01, 100, false);
  EXPECT_NE(line.find("--/s  ETA --:--"), std::string::npos) << line;
}

TEST(Terminal, ProgressDoneWithinATenthOfASecondHasItsSpeed) {
  std::string line = render_progress(8ull << 20, 8ull << 20, 0.05, 120, true);
  EXPECT_NE(line.find("160 MiB/s  0:00"), std::string::npos) << line;
}

}  // namespace
}  // namespace nuri::term
