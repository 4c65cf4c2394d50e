#include "core/http_date.h"

#include <gtest/gtest.h>
#include <time.h>

#include <random>
#include <string>

namespace portico {
namespace {

std::string fmt(time_t t) {
  char buf[kHttpDateLen];
  return std::string(format_http_date(t, buf));
}

// Reference formatting through the C library.
std::string strftime_date(time_t t) {
  tm g;
  gmtime_r(&t, &g);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
  return std::string(buf, n);
}

TEST(TimeHttpDate, FormatTable) {
  struct Case {
    time_t t;
    const char* want;
  } cases[] = {
      {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
      {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
      {1709618828, "Tue, 05 Mar 2024 06:07:08 GMT"},  // nginx: ETag "65e6b68c-17"
      {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
      {951868799, "Tue, 29 Feb 2000 23:59:59 GMT"},
      {951868800, "Wed, 01 Mar 2000 00:00:00 GMT"},
      {1798761599, "Thu, 31 Dec 2026 23:59:59 GMT"},
      {2147483647, "Tue, 19 Jan 2038 03:14:07 GMT"},
      {2147483648, "Tue, 19 Jan 2038 03:14:08 GMT"},
      {4102444800, "Fri, 01 Jan 2100 00:00:00 GMT"},
      {-1, "Wed, 31 Dec 1969 23:59:59 GMT"},
      {-86400, "Wed, 31 Dec 1969 00:00:00 GMT"},
      {-2208988800, "Mon, 01 Jan 1900 00:00:00 GMT"},
      {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
      {253402300800, "Fri, 31 Dec 9999 23:59:59 GMT"},  // clamped
      {-62167219200, "Sat, 01 Jan 0000 00:00:00 GMT"},
      {-62167219201, "Sat, 01 Jan 0000 00:00:00 GMT"},  // clamped
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.t);
    EXPECT_EQ(fmt(c.t), c.want);
  }
}

TEST(TimeHttpDate, FormatMatchesGmtimeOnSweep) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> dist(-2208988800, 253402300799);
  for (int i = 0; i < 20000; ++i) {
    const time_t t = time_t(dist(rng));
    ASSERT_EQ(fmt(t), strftime_date(t)) << t;
  }
  for (time_t t = 951696000 - 3 * 86400; t < 951696000 + 3 * 86400; t += 3599)
    ASSERT_EQ(fmt(t), strftime_date(t)) << t;
}

TEST(TimeHttpDate, FormatWritesExactly29Chars) {
  char buf[kHttpDateLen + 2];
  buf[kHttpDateLen] = 'X';
  buf[kHttpDateLen + 1] = 'Y';
  auto v = format_http_date(784111777, buf);
  EXPECT_EQ(v.size(), 29u);
  EXPECT_EQ(v.data(), buf);
  EXPECT_EQ(buf[kHttpDateLen], 'X');
  EXPECT_EQ(buf[kHttpDateLen + 1], 'Y');
}

TEST(TimeHttpDate, ParseValidTable) {
  struct Case {
    const char* in;
    time_t want;
  } cases[] = {
      // The three RFC 9110 forms of the same instant.
      {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
      {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
      {"Sun Nov  6 08:49:37 1994", 784111777},
      {"Sun Nov 6 08:49:37 1994", 784111777},
      {"Sun Nov 06 08:49:37 1994", 784111777},
      {"Tue, 05 Mar 2024 06:07:08 GMT", 1709618828},
      {"Tuesday, 05-Mar-24 06:07:08 GMT", 1709618828},
      {"Tue Mar  5 06:07:08 2024", 1709618828},
      {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
      {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
      {"Tue, 29 Feb 2000 12:00:00 GMT", 951825600},
      {"Thu, 29 Feb 2024 00:00:00 GMT", 1709164800},
      {"Tue, 19 Jan 2038 03:14:08 GMT", 2147483648},
      {"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799},
      {"Mon, 01 Jan 1900 00:00:00 GMT", -2208988800},
      // RFC 850 two-digit years: 70..99 -> 19xx, 00..69 -> 20xx (nginx's rule).
      {"Thursday, 01-Jan-70 00:00:00 GMT", 0},
      {"Friday, 31-Dec-99 23:59:59 GMT", 946684799},
      {"Saturday, 01-Jan-00 00:00:00 GMT", 946684800},
      {"Wednesday, 31-Dec-69 00:00:00 GMT", 3155673600},
      // nginx's leniency: the day name is not checked, trailing text and a missing GMT are
      // ignored, spaces may follow the comma.
      {"Xyz, 06 Nov 1994 08:49:37 GMT", 784111777},
      {", 06 Nov 1994 08:49:37 GMT", 784111777},
      {"Sun, 06 Nov 1994 08:49:37", 784111777},
      {"Sun, 06 Nov 1994 08:49:37 GMTjunk", 784111777},
      {"Sun, 06 Nov 1994 08:49:37 UTC", 784111777},
      {"Sun,06 Nov 1994 08:49:37 GMT", 784111777},
      {"Sun,   06 Nov 1994 08:49:37 GMT", 784111777},
      {"Sun Nov  6 08:49:37 1994 GMT", 784111777},
      {"Sun, 06 Nov 1994 23:59:59 GMT", 784166399},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto got = parse_http_date(c.in);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, c.want);
  }
}

TEST(TimeHttpDate, ParseInvalidTable) {
  const char* cases[] = {
      "",
      "garbage",
      "Sun",
      "Sun,",
      "Sun, ",
      "Sun, 06 Nov 1994",
      "Sun, 06 Nov 1994 08:49",
      "Sun, 06 Nov 1994 08:49:3",
      "Sun, 6 Nov 1994 08:49:37 GMT",    // IMF-fixdate needs two-digit day
      "Sun, 06 Nov 94 08:49:37 GMT",     // and a four-digit year
      "Sun, 06 nov 1994 08:49:37 GMT",   // month names are case-sensitive
      "Sun, 06 Mxr 1994 08:49:37 GMT",   // nginx would read this as March
      "Sun, 06 Foo 1994 08:49:37 GMT",   // nginx would read this as February
      "Sun, 06-Nov-1994 08:49:37 GMT",   // RFC 850 takes a two-digit year
      "Sunday, 06 Nov-94 08:49:37 GMT",  //
      "Sunday, 06-Nov 94 08:49:37 GMT",  //
      "Sun, 06 Nov 1994 24:00:00 GMT",   // hour > 23
      "Sun, 06 Nov 1994 08:60:00 GMT",   // minute > 59
      "Sun, 06 Nov 1994 08:49:60 GMT",   // no leap seconds, as nginx
      "Sun, 00 Nov 1994 08:49:37 GMT",   // day 0
      "Sun, 31 Nov 1994 08:49:37 GMT",   // November has 30 days
      "Thu, 29 Feb 2001 00:00:00 GMT",   // not a leap year
      "Thu, 29 Feb 1900 00:00:00 GMT",   // not a leap year
      "Sun, 32 Dec 1994 08:49:37 GMT",   //
      "Sun, 06 Nov 1994 08-49-37 GMT",   //
      "Sun, 06 Nov 1994 8:49:37 GMT",    //
      "Sun, 06 Nov 1994  08:49:37 GMT",  //
      "Sun, 0x Nov 1994 08:49:37 GMT",   //
      "Sun, 06 Nov 199x 08:49:37 GMT",   //
      "Sun Nov  6 08:49:37",             // asctime needs the year
      "Sun Nov  6 08:49:37 94",          //
      "Sun Nov 123 08:49:37 1994",       //
      "Sun Nov  x 08:49:37 1994",        //
      "Sun Nov   6 08:49:37 1994",       //
      "1994-11-06T08:49:37Z",            // ISO 8601 is not an HTTP date
      "784111777",                       //
  };
  for (const char* c : cases) {
    SCOPED_TRACE(c);
    EXPECT_FALSE(parse_http_date(c).has_value());
  }
}

TEST(TimeHttpDate, ParseDoesNotReadPastTheView) {
  // The view ends before the year; the bytes after it would make a valid date.
  const std::string full = "Sun, 06 Nov 1994 08:49:37 GMT";
  for (size_t n = 0; n < 25; ++n) {
    SCOPED_TRACE(n);
    EXPECT_FALSE(parse_http_date(std::string_view(full.data(), n)).has_value());
  }
  EXPECT_TRUE(parse_http_date(std::string_view(full.data(), 25)).has_value());
}

TEST(TimeHttpDate, RoundTripAllFormats) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> dist(0, 253402300799);
  for (int i = 0; i < 5000; ++i) {
    const time_t t = time_t(dist(rng));
    ASSERT_EQ(parse_http_date(fmt(t)), t);
    tm g;
    gmtime_r(&t, &g);
    char buf[64];
    strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &g);
    ASSERT_EQ(parse_http_date(buf), t) << buf;
    if (g.tm_year >= 70 && g.tm_year < 170) {
      strftime(buf, sizeof buf, "%A, %d-%b-%y %H:%M:%S GMT", &g);
      ASSERT_EQ(parse_http_date(buf), t) << buf;
    }
  }
}

TEST(TimeHttpDate, CivilTime) {
  CivilTime c = civil_from_time(784111777);
  EXPECT_EQ(c.year, 1994);
  EXPECT_EQ(c.month, 11u);
  EXPECT_EQ(c.day, 6u);
  EXPECT_EQ(c.hour, 8u);
  EXPECT_EQ(c.minute, 49u);
  EXPECT_EQ(c.second, 37u);
  EXPECT_EQ(c.weekday, 0u);
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
}

}  // namespace
}  // namespace portico
