// HTTP dates (RFC 9110 section 5.6.7): formatting IMF-fixdate into a caller buffer and parsing
// the three accepted formats, with the leniency of nginx's ngx_parse_http_time (src/core/
// ngx_parse_time.c). Pure functions, no allocation, safe on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

namespace portico {

// "Sun, 06 Nov 1994 08:49:37 GMT"
inline constexpr size_t kHttpDateLen = 29;

// Writes the IMF-fixdate of `t` into buf[0..29) (no terminating NUL) and returns a view of it.
// Times outside years 0000..9999 are clamped to that range so the length is always 29.
// REQUIRES: buf has room for kHttpDateLen chars.
std::string_view format_http_date(time_t t, char* buf);

// Parses an HTTP date in any of the three RFC 9110 forms:
//   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
//   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"   (two-digit year: 70..99 -> 19xx, else 20xx)
//   asctime      "Sun Nov  6 08:49:37 1994"
// Returns seconds since the epoch (negative before 1970), or nullopt if the value is not a date.
// Like nginx, the day name is not checked and anything after the time (or after the year in
// asctime), including a missing "GMT", is ignored. Unlike nginx, the month must be a real
// three-letter month name ("Mxr" is rejected where nginx reads it as March).
std::optional<time_t> parse_http_date(std::string_view s);

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31, any year).
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);

// Calendar fields of a UTC time. Pure arithmetic, unlike gmtime_r it takes no lock.
struct CivilTime {
  int64_t year;
  unsigned month;    // 1..12
  unsigned day;      // 1..31
  unsigned hour;     // 0..23
  unsigned minute;   // 0..59
  unsigned second;   // 0..59
  unsigned weekday;  // 0 = Sunday
};
CivilTime civil_from_time(time_t t);

}  // namespace portico
