// TimeCache: the current time, read once per event-loop iteration and kept preformatted for the
// Date header and the logs, as nginx's ngx_time_update() does (src/core/ngx_times.c).
//
// One instance per thread (TimeCache::local()); the owning thread's event loop calls update()
// after every epoll_wait, and request code on that thread reads the cached values, so there is no
// locking and no clock syscall per request. Strings are rebuilt only when the second changes
// (msec() when the millisecond changes). update() never allocates: the time zone is loaded by
// the constructor, which runs the first update().
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace portico {

class TimeCache {
 public:
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  static constexpr size_t kHttpDateLen = 29;
  // "2026/11/25 08:15:48" (local time, error log)
  static constexpr size_t kLogTimeLen = 19;
  // "25/Nov/2026:08:15:48 +0000" (local time, $time_local)
  static constexpr size_t kTimeLocalLen = 26;
  // "2026-11-25T08:15:48+00:00" (local time, $time_iso8601)
  static constexpr size_t kIso8601Len = 25;
  // "1732523748.123" ($msec); up to 20 digits of seconds
  static constexpr size_t kMsecMaxLen = 24;

  TimeCache();
  TimeCache(const TimeCache&) = delete;
  TimeCache& operator=(const TimeCache&) = delete;

  // The calling thread's cache, created (and updated once) on first use.
  static TimeCache& local();

  // Reads CLOCK_REALTIME and CLOCK_MONOTONIC and refreshes the cache. No allocation.
  void update();
  // Same with given clock readings: for tests (a fake clock) and callers that already read them.
  void update(const timespec& realtime, const timespec& monotonic);

  // Milliseconds of CLOCK_MONOTONIC: for timers and durations, never goes back.
  uint64_t now_ms() const { return now_ms_; }
  // Wall-clock seconds and milliseconds since the epoch.
  time_t unix_time() const { return sec_; }
  uint64_t unix_ms() const { return uint64_t(sec_) * 1000 + msec_part_; }
  // Offset of local time from UTC in seconds (tm_gmtoff), e.g. 32400 for JST.
  long gmtoff() const { return gmtoff_; }

  // Views stay valid until the next update() on this thread.
  std::string_view http_date() const { return {http_date_, kHttpDateLen}; }
  std::string_view log_time() const { return {log_time_, kLogTimeLen}; }
  std::string_view time_local() const { return {time_local_, kTimeLocalLen}; }
  std::string_view time_iso8601() const { return {iso8601_, kIso8601Len}; }
  std::string_view msec() const { return {msec_, msec_len_}; }

 private:
  void format_second();
  void format_msec();

  uint64_t now_ms_ = 0;
  time_t sec_ = 0;
  unsigned msec_part_ = 0;
  long gmtoff_ = 0;
  bool formatted_ = false;  // the strings hold sec_ (false until the first update)

  char http_date_[kHttpDateLen];
  char log_time_[kLogTimeLen];
  char time_local_[kTimeLocalLen];
  char iso8601_[kIso8601Len];
  char msec_[kMsecMaxLen];
  size_t msec_len_ = 0;
};

}  // namespace portico
