#include "base/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iterator>

namespace nuri::term {

namespace {

std::atomic<ColorMode> g_mode{ColorMode::automatic};

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Redraws per second at most: enough to look live, few enough that a fast download or a
// packet flood spends its time on the data rather than on the terminal.
constexpr std::int64_t kRedrawNs = 100'000'000;

}  // namespace

bool is_terminal(std::FILE* stream) { return stream != nullptr && ::isatty(::fileno(stream)) == 1; }

std::optional<ColorMode> parse_color_mode(std::string_view text) {
  if (text == "auto") return ColorMode::automatic;
  if (text == "always") return ColorMode::always;
  if (text == "never") return ColorMode::never;
  return std::nullopt;
}

void set_color_mode(ColorMode mode) { g_mode = mode; }
ColorMode color_mode() { return g_mode; }

bool auto_color(bool terminal, const char* no_color, const char* term_name) {
  if (!terminal) return false;
  if (no_color != nullptr && no_color[0] != '\0') return false;
  return term_name == nullptr || std::string_view(term_name) != "dumb";
}

bool use_color(std::FILE* stream) {
  switch (color_mode()) {
    case ColorMode::always: return true;
    case ColorMode::never: return false;
    case ColorMode::automatic: break;
  }
  return auto_color(is_terminal(stream), std::getenv("NO_COLOR"), std::getenv("TERM"));
}

int width(std::FILE* stream) {
  winsize ws{};
  if (stream != nullptr && ::ioctl(::fileno(stream), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    int n = std::atoi(columns);
    if (n > 0) return n;
  }
  return 80;
}

std::string paint(bool on, Role role, std::string_view text) {
  if (!on) return std::string(text);
  const char* sgr = "";
  switch (role) {
    case Role::error: sgr = "31"; break;
    case Role::warning: sgr = "33"; break;
    case Role::good: sgr = "32"; break;
    case Role::info: sgr = "36"; break;
    case Role::emphasis: sgr = "1"; break;
    case Role::quiet: sgr = "2"; break;
  }
  return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
}

std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else if (ch == '\t') {
      out += "\\t";
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

Role status_role(int status) {
  if (status >= 500) return Role::error;
  if (status >= 400) return Role::warning;
  if (status >= 200 && status < 300) return Role::good;
  return Role::info;
}

std::string human_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  // Three significant digits, like curl's meter ("1.50 MiB", "15.0 MiB", "150 MiB").
  if (value < 10) return fmt::format("{:.2f} {}", value, kUnits[unit]);
  if (value < 100) return fmt::format("{:.1f} {}", value, kUnits[unit]);
  return fmt::format("{:.0f} {}", value, kUnits[unit]);
}

std::string clock_text(double seconds) {
  auto s = static_cast<std::uint64_t>(std::max(0.0, std::round(seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string render_progress(std::uint64_t received, std::optional<std::uint64_t> total, double seconds, int columns,
                            bool done) {
  // Too short a time gives absurd speeds: wait for a tenth of a second of data, unless it is
  // the whole transfer (a fast one has a true, high speed).
  const bool rated = seconds >= 0.1 || (done && seconds > 0);
  const double rate = rated ? static_cast<double>(received) / seconds : 0;
  const std::string speed = rated ? human_bytes(static_cast<std::uint64_t>(rate)) + "/s" : "--/s";
  const int room = std::max(columns - 1, 1);
  if (!total) {
    std::string line = fmt::format("{}  {}  {}", human_bytes(received), speed, clock_text(seconds));
    return line.substr(0, static_cast<std::size_t>(room));
  }
  const double fraction = *total == 0 ? 1.0 : std::min(1.0, static_cast<double>(received) / static_cast<double>(*total));
  std::string when;
  if (done) {
    when = clock_text(seconds);
  } else if (rate > 0 && received <= *total) {
    when = "ETA " + clock_text(static_cast<double>(*total - received) / rate);
  } else {
    when = "ETA --:--";
  }
  const std::string left = fmt::format("{:5.1f}%", fraction * 100);
  const std::string right = fmt::format("{} / {}  {}  {}", human_bytes(received), human_bytes(*total), speed, when);
  // "left [bar] right": the bar takes what the numbers leave, and goes when under ten columns.
  const int bar = room - static_cast<int>(left.size() + right.size()) - 4;
  if (bar < 10) return (left + " " + right).substr(0, static_cast<std::size_t>(room));
  const auto filled = static_cast<int>(fraction * bar);
  return fmt::format("{} [{}{}] {}", left, std::string(static_cast<std::size_t>(filled), '#'),
                     std::string(static_cast<std::size_t>(bar - filled), ' '), right);
}

StatusLine::StatusLine(std::FILE* stream, bool enabled) : stream_(stream), enabled_(enabled && stream != nullptr) {}

StatusLine::~StatusLine() { clear(); }

bool StatusLine::due() const { return enabled_ && (!shown_ || now_ns() - last_ns_ >= kRedrawNs); }

void StatusLine::show(std::string_view text) {
  if (!enabled_) return;
  // \r back to column 0, the text, then erase what a longer earlier text left on the right.
  std::fprintf(stream_, "\r%.*s\x1b[K", static_cast<int>(text.size()), text.data());
  std::fflush(stream_);
  shown_ = true;
  last_ns_ = now_ns();
}

void StatusLine::clear() {
  if (!enabled_ || !shown_) return;
  std::fputs("\r\x1b[K", stream_);
  std::fflush(stream_);
  shown_ = false;
}

void StatusLine::keep() {
  if (!enabled_ || !shown_) return;
  std::fputc('\n', stream_);
  std::fflush(stream_);
  shown_ = false;
}

void Progress::start(std::optional<std::uint64_t> total) {
  started_ = true;
  total_ = total;
  received_ = 0;
  start_ns_ = now_ns();
  if (line_.enabled()) draw(false);
}

void Progress::add(std::uint64_t bytes) {
  received_ += bytes;
  if (started_ && line_.due()) draw(false);
}

void Progress::finish() {
  if (!started_) return;
  if (line_.enabled()) draw(true);
  line_.keep();
  started_ = false;
}

void Progress::abandon() {
  line_.clear();
  started_ = false;
}

double Progress::seconds() const { return static_cast<double>(now_ns() - start_ns_) / 1e9; }

void Progress::draw(bool done) { line_.show(render_progress(received_, total_, seconds(), width(stream_), done)); }

}  // namespace nuri::term
