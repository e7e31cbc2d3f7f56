#include "http/date.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <string_view>

namespace nuri::http {
namespace {

static_assert(sizeof(std::time_t) >= 8, "these tests cover years past 2038");

struct Known {
  std::time_t t;
  std::string_view text;
};

// Checked against Python's email.utils.formatdate(t, usegmt=True).
constexpr Known kKnown[] = {
    {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
    {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
    {-1, "Wed, 31 Dec 1969 23:59:59 GMT"},
    {-2208988800, "Mon, 01 Jan 1900 00:00:00 GMT"},
    {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
    {951868800, "Wed, 01 Mar 2000 00:00:00 GMT"},
    {1078012800, "Sun, 29 Feb 2004 00:00:00 GMT"},
    {1709164800, "Thu, 29 Feb 2024 00:00:00 GMT"},
    {1483228799, "Sat, 31 Dec 2016 23:59:59 GMT"},
    {2147483647, "Tue, 19 Jan 2038 03:14:07 GMT"},
    {2147483648, "Tue, 19 Jan 2038 03:14:08 GMT"},
    {4102444800, "Fri, 01 Jan 2100 00:00:00 GMT"},
    {4107542399, "Sun, 28 Feb 2100 23:59:59 GMT"},
    {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
};

TEST(DateFormat, KnownTimestamps) {
  for (const Known& k : kKnown) {
    EXPECT_EQ(format_http_date(k.t), k.text) << k.t;
    char buf[kHttpDateLength + 1];
    buf[kHttpDateLength] = '#';
    format_http_date(k.t, buf);
    EXPECT_EQ(std::string_view(buf, kHttpDateLength), k.text);
    EXPECT_EQ(buf[kHttpDateLength], '#') << "wrote past kHttpDateLength";
  }
}

TEST(DateFormat, ClampsToFourDigitYears) {
  EXPECT_EQ(format_http_date(253402300800), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(INT64_MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(-62167219200), "Sat, 01 Jan 0000 00:00:00 GMT");
  EXPECT_EQ(format_http_date(-62167219201), "Sat, 01 Jan 0000 00:00:00 GMT");
  EXPECT_EQ(format_http_date(INT64_MIN), "Sat, 01 Jan 0000 00:00:00 GMT");
}

// The C library (gmtime_r + strftime in the C locale) as the oracle.
std::string oracle(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

TEST(DateFormat, MatchesGmtimeFrom1600To2500) {
  const std::time_t start = -11676096000;  // 1600-01-01
  const std::time_t end = 16725225600;     // 2500-01-01
  for (std::time_t t = start; t < end; t += 86400 + 3661) {
    ASSERT_EQ(format_http_date(t), oracle(t)) << t;
  }
}

TEST(DateFormat, MatchesGmtimeAtRandom) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> dist(-62167219200, 253402300799);
  for (int i = 0; i < 100000; ++i) {
    const std::time_t t = dist(rng);
    ASSERT_EQ(format_http_date(t), oracle(t)) << t;
  }
}

TEST(DateParse, KnownTimestampsRoundTrip) {
  for (const Known& k : kKnown) {
    EXPECT_EQ(parse_http_date(k.text), k.t) << k.text;
  }
}

TEST(DateParse, RoundTripsEverything) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> dist(-62167219200, 253402300799);
  for (int i = 0; i < 100000; ++i) {
    const std::time_t t = dist(rng);
    ASSERT_EQ(parse_http_date(format_http_date(t)), t) << t;
  }
}

TEST(DateParse, ThreeFormsOfTheRfcExample) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov 06 08:49:37 1994"), 784111777);  // date3 allows 2DIGIT
  // "94" is 1994 while the current year is before 2044 (the 50-year window).
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  if (tm.tm_year + 1900 < 2044) {
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  }
}

TEST(DateParse, AsctimeTwoDigitDays) {
  EXPECT_EQ(parse_http_date("Sat Dec 31 23:59:59 2016"), 1483228799);
  EXPECT_EQ(parse_http_date("Tue Feb 29 00:00:00 2000"), 951782400);
  EXPECT_EQ(parse_http_date("Tue Jan 19 03:14:08 2038"), 2147483648);
}

TEST(DateParse, LeapYears) {
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);  // divisible by 400
  EXPECT_EQ(parse_http_date("Sun, 29 Feb 2004 00:00:00 GMT"), 1078012800);
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 1900 00:00:00 GMT"), std::nullopt);  // not leap
  EXPECT_EQ(parse_http_date("Mon, 29 Feb 2100 00:00:00 GMT"), std::nullopt);  // not leap
  EXPECT_EQ(parse_http_date("Wed, 29 Feb 2023 00:00:00 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Wed, 30 Feb 2000 00:00:00 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Thu, 30 Feb 2024 00:00:00 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Thu Feb 29 00:00:00 1900"), std::nullopt);
}

TEST(DateParse, LeapSecondOnlyAt235960) {
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:58:60 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:61 GMT"), std::nullopt);
  // It would become year 10000, which no IMF-fixdate can show.
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:60 GMT"), std::nullopt);
}

TEST(DateParse, Past2038) {
  EXPECT_EQ(parse_http_date("Tue, 19 Jan 2038 03:14:08 GMT"), 2147483648);
  EXPECT_EQ(parse_http_date("Fri, 01 Jan 2100 00:00:00 GMT"), 4102444800);
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
}

/// An RFC 850 date for 1 March of `year` at 12:34:56, with the right day name.
std::string rfc850(int year, std::time_t* t) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = 2;
  tm.tm_mday = 1;
  tm.tm_hour = 12;
  tm.tm_min = 34;
  tm.tm_sec = 56;
  *t = timegm(&tm);
  static constexpr const char* kDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, 01-Mar-%02d 12:34:56 GMT", kDays[tm.tm_wday], year % 100);
  return buf;
}

TEST(DateParse, Rfc850TwoDigitYearWindow) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  const int year = tm.tm_year + 1900;
  // RFC 9110 §5.6.7: more than 50 years in the future means the previous century.
  for (int offset : {-49, -30, -1, 0, 1, 10, 49, 50}) {
    std::time_t t = 0;
    const std::string text = rfc850(year + offset, &t);
    EXPECT_EQ(parse_http_date(text), t) << text << " offset " << offset;
  }
  for (int offset : {51, 60, 99}) {
    std::time_t expected = 0;
    const std::string text = rfc850(year + offset - 100, &expected);
    EXPECT_EQ(parse_http_date(text), expected) << text << " offset " << offset;
  }
}

TEST(DateParse, Rfc850DayNames) {
  std::time_t t = 0;
  const std::string text = rfc850(2030, &t);  // "Friday, 01-Mar-30 ..."
  ASSERT_EQ(text.substr(0, 7), "Friday,");
  EXPECT_EQ(parse_http_date(text), t);
  EXPECT_EQ(parse_http_date("Fri, 01-Mar-30 12:34:56 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Thursday, 01-Mar-30 12:34:56 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("friday, 01-Mar-30 12:34:56 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Fridays, 01-Mar-30 12:34:56 GMT"), std::nullopt);
}

class DateParseInvalid : public ::testing::TestWithParam<std::string_view> {};

TEST_P(DateParseInvalid, Rejected) { EXPECT_EQ(parse_http_date(GetParam()), std::nullopt); }

INSTANTIATE_TEST_SUITE_P(DateImfFixdate, DateParseInvalid, ::testing::Values(
    "",
    "garbage",
    "Sun, 06 Nov 1994 08:49:37 GMT ",   // trailing junk
    " Sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMTX",
    "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37",        // missing GMT
    "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sun, 06 Nov 1994 08:49:37 gmt",
    "Sun, 06 Nov 1994 08:49:37 +0000",
    "sun, 06 Nov 1994 08:49:37 GMT",    // names are case-sensitive
    "SUN, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 nov 1994 08:49:37 GMT",
    "Mon, 06 Nov 1994 08:49:37 GMT",    // wrong day name for the date
    "Xyz, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Noo 1994 08:49:37 GMT",
    "Sun 06 Nov 1994 08:49:37 GMT ",
    "Sun,  6 Nov 1994 08:49:37 GMT",
    "Sun, 6 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 94 08:49:37 GMT",
    "Sun, 06-Nov-1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08-49-37 GMT",
    "Sun, 06 Nov 1994 8:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:3a GMT",
    "Sun, 06 Nov 199x 08:49:37 GMT",
    "Sun, 06 Nov +994 08:49:37 GMT",
    "Sun, 0x Nov 1994 08:49:37 GMT",
    "Sun, 00 Nov 1994 08:49:37 GMT",    // day 0
    "Thu, 31 Nov 1994 08:49:37 GMT",    // November has 30 days
    "Sat, 32 Dec 2016 00:00:00 GMT",
    "Sun, 06 Nov 1994 24:00:00 GMT",    // hour 24
    "Sun, 06 Nov 1994 25:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:00 GMT",
    "Sun, 06 Nov 1994 99:99:99 GMT",
    "Sun,\t06 Nov 1994 08:49:37 GMT",
    "Sun, 06\tNov 1994 08:49:37 GMT"));

INSTANTIATE_TEST_SUITE_P(DateRfc850, DateParseInvalid, ::testing::Values(
    "Sunday, 06-Nov-1994 08:49:37 GMT",
    "Sunday, 06 Nov 94 08:49:37 GMT",
    "Sunday, 6-Nov-94 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37",
    "Sunday, 06-Nov-94 08:49:37 UTC",
    "Sunday, 06-Nov-94 08:49:37 GMT ",
    "Sunday, 06-nov-94 08:49:37 GMT",
    "Sunday,06-Nov-94 08:49:37 GMT ",
    "Sunday, 06-Nov-9x 08:49:37 GMT",
    "Sunday, 31-Nov-94 08:49:37 GMT",
    "Sunday, 06-Nov-94 24:49:37 GMT",
    "Sun, 06-Nov-94 08:49:37 GMT"));

INSTANTIATE_TEST_SUITE_P(DateAsctime, DateParseInvalid, ::testing::Values(
    "Sun Nov 6 08:49:37 1994",         // one space: the day needs a second digit or space
    "Sun Nov  6 08:49:37 94",
    "Sun Nov  6 08:49:37 1994 ",
    "Sun Nov  6 08:49:37 1994 GMT",
    "Sun, Nov  6 08:49:37 1994",
    "Sun Nov 6  08:49:37 1994",
    "Sun Nov  x 08:49:37 1994",
    "Sun Nov   6 08:49:37 1994",
    "Sunday Nov  6 08:49:37 1994",
    "Mon Nov  6 08:49:37 1994",
    "Sun nov  6 08:49:37 1994",
    "Sun Nov  0 08:49:37 1994",
    "Sun Nov  6 24:49:37 1994",
    "Sun Nov  6 08:49:37 199x",
    "Sun Nov\t 6 08:49:37 1994"));

TEST(DateParse, EmbeddedNulIsInvalid) {
  const std::string text("Sun, 06 Nov 1994 08:49:37 GMT\0", 30);
  EXPECT_EQ(parse_http_date(text), std::nullopt);
  const std::string nul_inside("Sun, 06 Nov 1994 08:49:37\0GMT", 29);
  EXPECT_EQ(parse_http_date(nul_inside), std::nullopt);
}

TEST(DateCache, NowIsTheCurrentSecondFormatted) {
  DateCache cache;
  EXPECT_EQ(cache.seconds(), -1);
  const std::time_t before = std::time(nullptr);
  const std::string_view now = cache.now();
  const std::time_t after = std::time(nullptr);
  ASSERT_EQ(now.size(), kHttpDateLength);
  // The coarse clock may lag time() by a tick around a second boundary.
  EXPECT_GE(cache.seconds(), before - 1);
  EXPECT_LE(cache.seconds(), after);
  EXPECT_EQ(now, format_http_date(cache.seconds()));
  EXPECT_EQ(parse_http_date(now), cache.seconds());
}

TEST(DateCache, ViewIsStableAndRefreshedEachSecond) {
  DateCache cache;
  const std::string_view first = cache.now();
  const std::time_t first_second = cache.seconds();
  const std::string_view again = cache.now();
  EXPECT_EQ(again.data(), first.data());  // same buffer: no allocation
  // Wait (at most ~1.1 s) for the second to change, then the text follows.
  const std::time_t deadline = std::time(nullptr) + 3;
  while (cache.seconds() == first_second && std::time(nullptr) < deadline) {
    timespec pause{0, 10'000'000};
    nanosleep(&pause, nullptr);
    (void)cache.now();
  }
  ASSERT_GT(cache.seconds(), first_second);
  EXPECT_EQ(cache.now(), format_http_date(cache.seconds()));
}

}  // namespace
}  // namespace nuri::http
