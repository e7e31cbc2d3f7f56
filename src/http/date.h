#pragma once
// HTTP-date (RFC 9110 §5.6.7): formatting, parsing, and a once-a-second cache for Date headers.
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace nuri::http {

inline constexpr std::size_t kHttpDateLength = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

/// Writes `t` as an IMF-fixdate into `out` (exactly kHttpDateLength bytes, no terminator).
void format_http_date(std::time_t t, char* out);

/// `t` as an IMF-fixdate.
std::string format_http_date(std::time_t t);

/// Parses any of the three HTTP-date forms (IMF-fixdate, RFC 850, asctime). nullopt when the
/// text is not a valid date.
std::optional<std::time_t> parse_http_date(std::string_view text);

/// The current time as an IMF-fixdate, formatted at most once per second. One per thread.
class DateCache {
 public:
  /// The current date; the view stays valid until the next call.
  std::string_view now();
  /// The second of the last formatting.
  std::time_t seconds() const { return second_; }

 private:
  std::time_t second_ = -1;
  char text_[kHttpDateLength] = {};
};

}  // namespace nuri::http
