#include "core/time_cache.h"

#include <time.h>

#include "core/http_date.h"

namespace portico {

namespace {

constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

char* put2(char* p, unsigned v) {
  p[0] = char('0' + v / 10 % 10);
  p[1] = char('0' + v % 10);
  return p + 2;
}

char* put4(char* p, unsigned v) {
  p = put2(p, v / 100 % 100);
  return put2(p, v % 100);
}

// Writes "+hhmm" (colon = false) or "+hh:mm" (colon = true).
char* put_offset(char* p, long gmtoff, bool colon) {
  *p++ = gmtoff < 0 ? '-' : '+';
  const unsigned off = unsigned((gmtoff < 0 ? -gmtoff : gmtoff) / 60);  // minutes
  p = put2(p, off / 60);
  if (colon) *p++ = ':';
  return put2(p, off % 60);
}

char* put_uint(char* p, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = char('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n != 0) *p++ = tmp[--n];
  return p;
}

}  // namespace

TimeCache::TimeCache() {
  // Loads the time zone now, so update() on the request path never opens /etc/localtime.
  tzset();
  update();
}

TimeCache& TimeCache::local() {
  thread_local TimeCache cache;
  return cache;
}

void TimeCache::update() {
  timespec rt, mono;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  update(rt, mono);
}

void TimeCache::update(const timespec& realtime, const timespec& monotonic) {
  now_ms_ = uint64_t(monotonic.tv_sec) * 1000 + uint64_t(monotonic.tv_nsec) / 1000000;
  const unsigned ms = unsigned(realtime.tv_nsec / 1000000);
  const bool new_second = !formatted_ || realtime.tv_sec != sec_;
  if (!new_second && ms == msec_part_) return;
  sec_ = realtime.tv_sec;
  msec_part_ = ms;
  if (new_second) format_second();
  format_msec();
}

void TimeCache::format_second() {
  formatted_ = true;
  format_http_date(sec_, http_date_);

  tm lt;
  if (localtime_r(&sec_, &lt) == nullptr) {
    // Out of range for struct tm: fall back to UTC fields.
    const CivilTime ct = civil_from_time(sec_);
    lt = tm{};
    lt.tm_year = int(ct.year - 1900);
    lt.tm_mon = int(ct.month - 1);
    lt.tm_mday = int(ct.day);
    lt.tm_hour = int(ct.hour);
    lt.tm_min = int(ct.minute);
    lt.tm_sec = int(ct.second);
  }
  gmtoff_ = lt.tm_gmtoff;
  const unsigned year = unsigned(lt.tm_year + 1900), mon = unsigned(lt.tm_mon + 1);
  const unsigned mday = unsigned(lt.tm_mday), hour = unsigned(lt.tm_hour);
  const unsigned min = unsigned(lt.tm_min), sec = unsigned(lt.tm_sec);

  // "2026/11/25 08:15:48"
  char* p = put4(log_time_, year);
  *p++ = '/';
  p = put2(p, mon);
  *p++ = '/';
  p = put2(p, mday);
  *p++ = ' ';
  p = put2(p, hour);
  *p++ = ':';
  p = put2(p, min);
  *p++ = ':';
  put2(p, sec);

  // "25/Nov/2026:08:15:48 +0000"
  p = put2(time_local_, mday);
  *p++ = '/';
  for (int i = 0; i < 3; ++i) *p++ = kMonths[mon - 1][i];
  *p++ = '/';
  p = put4(p, year);
  *p++ = ':';
  p = put2(p, hour);
  *p++ = ':';
  p = put2(p, min);
  *p++ = ':';
  p = put2(p, sec);
  *p++ = ' ';
  put_offset(p, gmtoff_, false);

  // "2026-11-25T08:15:48+00:00"
  p = put4(iso8601_, year);
  *p++ = '-';
  p = put2(p, mon);
  *p++ = '-';
  p = put2(p, mday);
  *p++ = 'T';
  p = put2(p, hour);
  *p++ = ':';
  p = put2(p, min);
  *p++ = ':';
  p = put2(p, sec);
  put_offset(p, gmtoff_, true);
}

void TimeCache::format_msec() {
  // "1732523748.123"
  char* p = put_uint(msec_, uint64_t(sec_ < 0 ? 0 : sec_));
  *p++ = '.';
  *p++ = char('0' + msec_part_ / 100);
  *p++ = char('0' + msec_part_ / 10 % 10);
  *p++ = char('0' + msec_part_ % 10);
  msec_len_ = size_t(p - msec_);
}

}  // namespace portico
