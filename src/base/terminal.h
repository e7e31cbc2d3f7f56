#pragma once
// What the command line needs to know about a terminal: whether a stream is one, whether to
// colour it (--color, NO_COLOR, TERM=dumb), how wide it is, one palette shared by every
// subcommand, and a status line redrawn in place (progress bars, live counts).
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace nuri::term {

/// True when `stream` is a terminal (isatty on its descriptor).
bool is_terminal(std::FILE* stream);

/// The global `--color` option.
enum class ColorMode : std::uint8_t { automatic, always, never };

/// Parses "auto", "always" or "never"; nullopt for anything else.
std::optional<ColorMode> parse_color_mode(std::string_view text);

/// Sets the process-wide mode (main() does, from `nuri --color=...`); automatic by default.
void set_color_mode(ColorMode mode);
ColorMode color_mode();

/// The automatic rule, without reading the environment (for tests): colour only on a terminal,
/// when NO_COLOR is unset or empty (no-color.org: any non-empty value turns colour off) and
/// TERM is not "dumb". `no_color` and `term_name` may be null (unset).
bool auto_color(bool terminal, const char* no_color, const char* term_name);

/// Whether to colour what goes to `stream`: the mode, and for automatic, auto_color() with this
/// process's environment.
bool use_color(std::FILE* stream);

/// Columns of the terminal behind `stream` (TIOCGWINSZ), else $COLUMNS, else 80.
int width(std::FILE* stream);

/// The palette: what a piece of text means, not which colour it has, so that every subcommand
/// gives the same meaning the same colour.
enum class Role : std::uint8_t {
  error,     ///< failures, RST, NXDOMAIN, 5xx: red
  warning,   ///< closing states, FIN, 4xx: yellow
  good,      ///< success, LISTEN, SYN, 2xx: green
  info,      ///< the request side, ESTABLISHED, 3xx: cyan
  emphasis,  ///< locations and names worth finding: bold
  quiet,     ///< commentary around the data: dim
};

/// `text` wrapped in the role's SGR escape and a reset when `on`; `text` itself otherwise.
std::string paint(bool on, Role role, std::string_view text);

/// Bytes from outside (the network, another process, the command line) made safe to print on a
/// terminal: printable ASCII as is, a tab as \t, every other byte as \xNN. Bytes >= 0x80 are
/// escaped too, because a C1 control works both raw (\x9b is CSI) and in UTF-8 (\xc2\x9b): a
/// peer must not be able to move the cursor, clear the screen or retitle the window.
std::string printable(std::string_view bytes);

/// The role of an HTTP status by its class: 2xx good, 1xx and 3xx info, 4xx warning, 5xx error.
Role status_role(int status);

/// "12.3 MiB", "512 B": binary units with three significant digits, as curl's meter.
std::string human_bytes(std::uint64_t bytes);

/// "0:07", "1:02:03": seconds as [h:]m:ss.
std::string clock_text(double seconds);

/// One line of a transfer's progress, at most `columns - 1` characters (a line as wide as the
/// terminal wraps, and \r would then redraw only its last part).
/// Known total: "  42.0% [#####      ] 11.3 MiB / 27.0 MiB  5.20 MiB/s  ETA 0:03";
/// unknown total (total == nullopt): "11.3 MiB  5.20 MiB/s  0:02". `done`: the ETA becomes
/// the time taken.
std::string render_progress(std::uint64_t received, std::optional<std::uint64_t> total, double seconds, int columns,
                            bool done);

/// A line on a terminal (stderr) redrawn in place with \r, at most ten times a second. Disabled
/// (every call does nothing) when `enabled` is false: not a terminal, or --silent.
class StatusLine {
 public:
  StatusLine(std::FILE* stream, bool enabled);
  ~StatusLine();  ///< clear()s, so that an early return leaves no half line behind
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  bool enabled() const { return enabled_; }
  /// True when enabled and the last draw is 100 ms old: build the text only then.
  bool due() const;
  /// Draws `text` in place of the line (now, whatever due() says).
  void show(std::string_view text);
  /// Erases the line, so that other output starts at column 0 of an empty line.
  void clear();
  /// Leaves the last text on screen and moves to the next line.
  void keep();

 private:
  std::FILE* stream_;
  bool enabled_;
  bool shown_ = false;
  std::int64_t last_ns_ = 0;
};

/// The progress of one download on a StatusLine: start() when the size is known (or not),
/// add() for each piece received, finish() at the end (the final line stays, curl-like).
class Progress {
 public:
  Progress(std::FILE* stream, bool enabled) : line_(stream, enabled), stream_(stream) {}

  void start(std::optional<std::uint64_t> total);
  void add(std::uint64_t bytes);
  /// Draws the final state and ends the line; nothing if start() was never called.
  void finish();
  /// Erases the line without a final state (the transfer failed: the error line says why).
  void abandon();

 private:
  void draw(bool done);
  double seconds() const;

  StatusLine line_;
  std::FILE* stream_;
  bool started_ = false;
  std::optional<std::uint64_t> total_;
  std::uint64_t received_ = 0;
  std::int64_t start_ns_ = 0;
};

}  // namespace nuri::term
