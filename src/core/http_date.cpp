#include "core/http_date.h"

namespace portico {

namespace {

constexpr char kWeekdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr unsigned kMonthDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
constexpr int64_t kMinTime = -62167219200;
constexpr int64_t kMaxTime = 253402300799;

char* put2(char* p, unsigned v) {
  p[0] = char('0' + v / 10);
  p[1] = char('0' + v % 10);
  return p + 2;
}

char* put3(char* p, const char* s) {
  p[0] = s[0];
  p[1] = s[1];
  p[2] = s[2];
  return p + 3;
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// A bounds-checked cursor: reading past the end yields NUL, which no rule accepts, so the
// parser below can follow nginx's pointer walk without its length pre-checks.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  char at(size_t k = 0) const { return i + k < s.size() ? s[i + k] : '\0'; }
  bool digit(size_t k = 0) const { return at(k) >= '0' && at(k) <= '9'; }
  unsigned num(size_t k) const { return unsigned(at(k) - '0'); }
  // Reads n digits (all must be present) into *out.
  bool digits(size_t n, unsigned* out) {
    unsigned v = 0;
    for (size_t k = 0; k < n; ++k) {
      if (!digit(k)) return false;
      v = v * 10 + num(k);
    }
    i += n;
    *out = v;
    return true;
  }
  bool expect(char c) {
    if (at() != c) return false;
    ++i;
    return true;
  }
};

int month_index(const Cursor& c) {
  for (int m = 0; m < 12; ++m)
    if (c.at(0) == kMonths[m][0] && c.at(1) == kMonths[m][1] && c.at(2) == kMonths[m][2]) return m;
  return -1;
}

}  // namespace

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil: eras of 400 years, March-based years.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

CivilTime civil_from_time(time_t t) {
  int64_t secs = int64_t(t);
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  CivilTime ct;
  ct.hour = unsigned(rem / 3600);
  ct.minute = unsigned(rem / 60 % 60);
  ct.second = unsigned(rem % 60);
  ct.weekday = unsigned(((days + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
  // Hinnant's civil_from_days.
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  ct.day = doy - (153 * mp + 2) / 5 + 1;
  ct.month = mp < 10 ? mp + 3 : mp - 9;
  ct.year = int64_t(yoe) + era * 400 + (ct.month <= 2);
  return ct;
}

std::string_view format_http_date(time_t t, char* buf) {
  int64_t v = int64_t(t);
  if (v < kMinTime) v = kMinTime;
  if (v > kMaxTime) v = kMaxTime;
  const CivilTime ct = civil_from_time(time_t(v));
  char* p = put3(buf, kWeekdays[ct.weekday]);
  *p++ = ',';
  *p++ = ' ';
  p = put2(p, ct.day);
  *p++ = ' ';
  p = put3(p, kMonths[ct.month - 1]);
  *p++ = ' ';
  p = put2(p, unsigned(ct.year / 100));
  p = put2(p, unsigned(ct.year % 100));
  *p++ = ' ';
  p = put2(p, ct.hour);
  *p++ = ':';
  p = put2(p, ct.minute);
  *p++ = ':';
  p = put2(p, ct.second);
  *p++ = ' ';
  put3(p, "GMT");
  return std::string_view(buf, kHttpDateLen);
}

std::optional<time_t> parse_http_date(std::string_view s) {
  enum { kRfc1123, kRfc850, kAsctime } fmt = kRfc1123;
  bool comma = false;
  Cursor c{s};
  // The day name ends at ',' (IMF-fixdate, RFC 850) or ' ' (asctime); its text is not checked.
  while (c.i < s.size()) {
    if (s[c.i] == ',') {
      comma = true;
      break;
    }
    if (s[c.i] == ' ') break;
    ++c.i;
  }
  if (c.i >= s.size()) return std::nullopt;
  if (!comma) fmt = kAsctime;
  ++c.i;
  while (c.at() == ' ') ++c.i;

  unsigned day = 0, year = 0, hour = 0, min = 0, sec = 0;
  if (fmt != kAsctime) {
    if (!c.digits(2, &day)) return std::nullopt;
    if (c.at() == '-') {
      fmt = kRfc850;
    } else if (c.at() != ' ') {
      return std::nullopt;
    }
    ++c.i;
  }

  const int month = month_index(c);
  if (month < 0) return std::nullopt;
  c.i += 3;
  if (!c.expect(fmt == kRfc850 ? '-' : ' ')) return std::nullopt;

  if (fmt == kRfc1123) {
    if (!c.digits(4, &year)) return std::nullopt;
  } else if (fmt == kRfc850) {
    if (!c.digits(2, &year)) return std::nullopt;
    year += year < 70 ? 2000 : 1900;
  } else {
    if (c.at() == ' ') ++c.i;  // "Nov  6"
    if (!c.digits(1, &day)) return std::nullopt;
    if (c.digit()) day = day * 10 + c.num(0), ++c.i;
  }

  if (!c.expect(' ') || !c.digits(2, &hour) || !c.expect(':') || !c.digits(2, &min) ||
      !c.expect(':') || !c.digits(2, &sec)) {
    return std::nullopt;
  }
  if (fmt == kAsctime && (!c.expect(' ') || !c.digits(4, &year))) return std::nullopt;

  if (hour > 23 || min > 59 || sec > 59 || day == 0) return std::nullopt;
  const unsigned mdays = kMonthDays[month] + (month == 1 && is_leap(year) ? 1 : 0);
  if (day > mdays) return std::nullopt;

  const int64_t days = days_from_civil(year, unsigned(month + 1), day);
  return time_t(days * 86400 + int64_t(hour) * 3600 + min * 60 + sec);
}

}  // namespace portico
