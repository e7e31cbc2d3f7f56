#include "http/date.h"

#include <cstdint>
#include <limits>

namespace nuri::http {
namespace {

// All arithmetic is on the proleptic Gregorian calendar in UTC with 64-bit integers (H. Hinnant's
// days_from_civil / civil_from_days), so neither TZ, the locale nor gmtime's static buffer is
// involved, and years past 2038 work wherever time_t is 64 bits.

constexpr std::int64_t kSecondsPerDay = 86400;

constexpr std::string_view kDayNames[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kLongDayNames[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                               "Thursday", "Friday", "Saturday"};
constexpr std::string_view kMonthNames[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Civil {
  std::int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

/// Days since 1970-01-01 of the given date.
constexpr std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;                                   // [0, 399]
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           // [0, 146096]
  return era * 146097 + doe - 719468;
}

constexpr Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

/// 0 = Sunday.
constexpr int weekday_from_days(std::int64_t z) {
  return static_cast<int>(((z + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(1994, 11, 6) == 784111777 / kSecondsPerDay);
static_assert(civil_from_days(days_from_civil(2000, 2, 29)).day == 29);
static_assert(weekday_from_days(0) == 4);   // a Thursday
static_assert(weekday_from_days(-1) == 3);  // a Wednesday
static_assert(weekday_from_days(-7) == 4);

constexpr bool is_leap(std::int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr int days_in_month(std::int64_t y, int m) {
  constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// The range format_http_date can write with a four-digit year: 0000-01-01 to 9999-12-31.
constexpr std::int64_t kMinFormattable = days_from_civil(0, 1, 1) * kSecondsPerDay;
constexpr std::int64_t kMaxFormattable = days_from_civil(10000, 1, 1) * kSecondsPerDay - 1;

void put2(char* out, int v) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

// ---- parsing ----

/// A cursor over the text; every reader consumes exactly what it accepts or fails.
struct DateReader {
  std::string_view s;
  std::size_t i = 0;

  bool literal(std::string_view lit) {
    if (s.substr(i, lit.size()) != lit) return false;
    i += lit.size();
    return true;
  }
  /// Exactly `n` digits.
  bool digits(std::size_t n, int& v) {
    if (s.size() - i < n) return false;
    int r = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = s[i + k];
      if (c < '0' || c > '9') return false;
      r = r * 10 + (c - '0');
    }
    v = r;
    i += n;
    return true;
  }
  /// One of `names`; its index in `index`. RFC 9110 §5.6.7: the names are case-sensitive.
  template <std::size_t N>
  bool name(const std::string_view (&names)[N], int& index) {
    for (std::size_t k = 0; k < N; ++k) {
      if (literal(names[k])) {
        index = static_cast<int>(k);
        return true;
      }
    }
    return false;
  }
  bool at_end() const { return i == s.size(); }
};

struct Fields {
  int weekday = -1;
  std::int64_t year = 0;
  int month = 0;  // 1-12
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

/// time-of-day = hour ":" minute ":" second
bool read_time(DateReader& r, Fields& f) {
  return r.digits(2, f.hour) && r.literal(":") && r.digits(2, f.minute) && r.literal(":") &&
         r.digits(2, f.second);
}

bool read_month(DateReader& r, Fields& f) {
  int m = 0;
  if (!r.name(kMonthNames, m)) return false;
  f.month = m + 1;
  return true;
}

/// Checks the calendar and clock and converts to seconds since the epoch.
std::optional<std::time_t> to_time(const Fields& f) {
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > days_in_month(f.year, f.month)) {
    return std::nullopt;
  }
  if (f.hour > 23 || f.minute > 59) return std::nullopt;
  // RFC 9110 §5.6.7 allows second 60 for a leap second; one can only be inserted at 23:59:60
  // UTC. POSIX time has no leap seconds, so it becomes the next midnight, as timegm does.
  if (f.second > 60 || (f.second == 60 && (f.hour != 23 || f.minute != 59))) return std::nullopt;
  const std::int64_t days = days_from_civil(f.year, f.month, f.day);
  // The day name is redundant, but a date whose day name is wrong is not a valid date.
  if (weekday_from_days(days) != f.weekday) return std::nullopt;
  const std::int64_t t = days * kSecondsPerDay + f.hour * 3600 + f.minute * 60 + f.second;
  // Only a leap second on 9999-12-31 gets past kMaxFormattable; refusing it keeps every parsed
  // date printable.
  if (t > kMaxFormattable) return std::nullopt;
  if (t < std::numeric_limits<std::time_t>::min() || t > std::numeric_limits<std::time_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::time_t>(t);
}

/// IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
///   "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<std::time_t> parse_imf_fixdate(std::string_view text) {
  DateReader r{text};
  Fields f;
  int year = 0;
  if (!(r.name(kDayNames, f.weekday) && r.literal(", ") && r.digits(2, f.day) && r.literal(" ") &&
        read_month(r, f) && r.literal(" ") && r.digits(4, year) && r.literal(" ") &&
        read_time(r, f) && r.literal(" GMT") && r.at_end())) {
    return std::nullopt;
  }
  f.year = year;
  return to_time(f);
}

/// The current year in UTC.
std::int64_t current_year() {
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  std::int64_t days = now / kSecondsPerDay;
  if (now % kSecondsPerDay < 0) --days;
  return civil_from_days(days).year;
}

/// rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT
///   "Sunday, 06-Nov-94 08:49:37 GMT"
std::optional<std::time_t> parse_rfc850(std::string_view text) {
  DateReader r{text};
  Fields f;
  int yy = 0;
  if (!(r.name(kLongDayNames, f.weekday) && r.literal(", ") && r.digits(2, f.day) &&
        r.literal("-") && read_month(r, f) && r.literal("-") && r.digits(2, yy) &&
        r.literal(" ") && read_time(r, f) && r.literal(" GMT") && r.at_end())) {
    return std::nullopt;
  }
  // RFC 9110 §5.6.7: a two-digit year that appears to be more than 50 years in the future is
  // the most recent past year with the same last two digits. That gives the window
  // (now - 50, now + 50] years; the comparison is by year.
  const std::int64_t now = current_year();
  const std::int64_t century = now - now % 100;
  std::int64_t year = century + yy;
  if (year > now + 50) year -= 100;
  if (year <= now - 50) year += 100;
  f.year = year;
  return to_time(f);
}

/// asctime-date = day-name SP date3 SP time-of-day SP year
///   date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
///   "Sun Nov  6 08:49:37 1994"
std::optional<std::time_t> parse_asctime(std::string_view text) {
  DateReader r{text};
  Fields f;
  if (!(r.name(kDayNames, f.weekday) && r.literal(" ") && read_month(r, f) && r.literal(" "))) {
    return std::nullopt;
  }
  if (r.literal(" ")) {
    if (!r.digits(1, f.day)) return std::nullopt;
  } else if (!r.digits(2, f.day)) {
    return std::nullopt;
  }
  int year = 0;
  if (!(r.literal(" ") && read_time(r, f) && r.literal(" ") && r.digits(4, year) && r.at_end())) {
    return std::nullopt;
  }
  f.year = year;
  return to_time(f);
}

}  // namespace

void format_http_date(std::time_t t, char* out) {
  // Outside years 0000-9999 there is no four-digit IMF-fixdate: clamp to the nearest one.
  std::int64_t s = static_cast<std::int64_t>(t);
  if (s < kMinFormattable) s = kMinFormattable;
  if (s > kMaxFormattable) s = kMaxFormattable;
  std::int64_t days = s / kSecondsPerDay;
  std::int64_t secs = s % kSecondsPerDay;
  if (secs < 0) {
    secs += kSecondsPerDay;
    --days;
  }
  const Civil c = civil_from_days(days);
  const std::string_view day_name = kDayNames[weekday_from_days(days)];
  const std::string_view month_name = kMonthNames[c.month - 1];
  const int year = static_cast<int>(c.year);
  const int hms = static_cast<int>(secs);

  // "Sun, 06 Nov 1994 08:49:37 GMT"
  out[0] = day_name[0];
  out[1] = day_name[1];
  out[2] = day_name[2];
  out[3] = ',';
  out[4] = ' ';
  put2(out + 5, c.day);
  out[7] = ' ';
  out[8] = month_name[0];
  out[9] = month_name[1];
  out[10] = month_name[2];
  out[11] = ' ';
  put2(out + 12, year / 100);
  put2(out + 14, year % 100);
  out[16] = ' ';
  put2(out + 17, hms / 3600);
  out[19] = ':';
  put2(out + 20, hms / 60 % 60);
  out[22] = ':';
  put2(out + 23, hms % 60);
  out[25] = ' ';
  out[26] = 'G';
  out[27] = 'M';
  out[28] = 'T';
}

std::string format_http_date(std::time_t t) {
  std::string s(kHttpDateLength, '\0');
  format_http_date(t, s.data());
  return s;
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  // The forms differ in length and at the fourth byte, so at most one parser runs:
  // IMF-fixdate is 29 bytes with ',' after the day name, asctime 24 with ' ', RFC 850 30-33.
  if (text.size() == kHttpDateLength) return parse_imf_fixdate(text);
  if (text.size() == 24) return parse_asctime(text);
  if (text.size() >= 30 && text.size() <= 33) return parse_rfc850(text);
  return std::nullopt;
}

std::string_view DateCache::now() {
#ifdef CLOCK_REALTIME_COARSE
  // The coarse clock is read from the vDSO without a system call; its resolution (a timer
  // tick) is far finer than the one second the Date header shows.
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  const std::time_t now = ts.tv_sec;
#else
  const std::time_t now = std::time(nullptr);
#endif
  if (now != second_) {
    format_http_date(now, text_);
    second_ = now;
  }
  return {text_, kHttpDateLength};
}

}  // namespace nuri::http
