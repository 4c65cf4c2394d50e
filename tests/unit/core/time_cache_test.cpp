#include "core/time_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/http_date.h"

namespace portico {
namespace {

// Sets TZ for the duration of a test and restores the previous value.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = getenv("TZ")) old_ = std::string(old);
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTz() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> old_;
};

timespec ts(time_t sec, long nsec) {
  timespec t;
  t.tv_sec = sec;
  t.tv_nsec = nsec;
  return t;
}

TEST(TimeCache, FormatsUtc) {
  ScopedTz tz("UTC0");
  TimeCache c;
  c.update(ts(1732523748, 123456789), ts(100, 5'999'999));
  EXPECT_EQ(c.http_date(), "Mon, 25 Nov 2024 08:35:48 GMT");
  EXPECT_EQ(c.log_time(), "2024/11/25 08:35:48");
  EXPECT_EQ(c.time_local(), "25/Nov/2024:08:35:48 +0000");
  EXPECT_EQ(c.time_iso8601(), "2024-11-25T08:35:48+00:00");
  EXPECT_EQ(c.msec(), "1732523748.123");
  EXPECT_EQ(c.unix_time(), 1732523748);
  EXPECT_EQ(c.unix_ms(), 1732523748123u);
  EXPECT_EQ(c.now_ms(), 100005u);
  EXPECT_EQ(c.gmtoff(), 0);
}

TEST(TimeCache, LocalTimeZones) {
  struct Case {
    const char* tz;
    const char* log_time;
    const char* time_local;
    const char* iso8601;
    long gmtoff;
  } cases[] = {
      {"JST-9", "2024/11/25 17:35:48", "25/Nov/2024:17:35:48 +0900", "2024-11-25T17:35:48+09:00",
       32400},
      {"IST-5:30", "2024/11/25 14:05:48", "25/Nov/2024:14:05:48 +0530", "2024-11-25T14:05:48+05:30",
       19800},
      {"<-0330>3:30", "2024/11/25 05:05:48", "25/Nov/2024:05:05:48 -0330",
       "2024-11-25T05:05:48-03:30", -12600},
      {"<-12>12", "2024/11/24 20:35:48", "24/Nov/2024:20:35:48 -1200", "2024-11-24T20:35:48-12:00",
       -43200},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.tz);
    ScopedTz tz(k.tz);
    TimeCache c;
    c.update(ts(1732523748, 0), ts(1, 0));
    EXPECT_EQ(c.http_date(), "Mon, 25 Nov 2024 08:35:48 GMT");  // always GMT
    EXPECT_EQ(c.log_time(), k.log_time);
    EXPECT_EQ(c.time_local(), k.time_local);
    EXPECT_EQ(c.time_iso8601(), k.iso8601);
    EXPECT_EQ(c.gmtoff(), k.gmtoff);
  }
}

TEST(TimeCache, FollowsDaylightSavingChange) {
  ScopedTz tz("EST5EDT,M3.2.0,M11.1.0");
  TimeCache c;
  c.update(ts(1710053999, 0), ts(1, 0));
  EXPECT_EQ(c.time_local(), "10/Mar/2024:01:59:59 -0500");
  EXPECT_EQ(c.log_time(), "2024/03/10 01:59:59");
  c.update(ts(1710054000, 0), ts(2, 0));
  EXPECT_EQ(c.time_local(), "10/Mar/2024:03:00:00 -0400");
  EXPECT_EQ(c.time_iso8601(), "2024-03-10T03:00:00-04:00");
  EXPECT_EQ(c.log_time(), "2024/03/10 03:00:00");
}

TEST(TimeCache, RecomputesOnlyWhenTheSecondChanges) {
  ScopedTz tz("UTC0");
  TimeCache c;
  c.update(ts(1000, 0), ts(50, 0));
  const char* date_ptr = c.http_date().data();
  EXPECT_EQ(c.http_date(), "Thu, 01 Jan 1970 00:16:40 GMT");
  EXPECT_EQ(c.msec(), "1000.000");

  // Same second, new millisecond: msec and the monotonic clock move, the strings stay.
  c.update(ts(1000, 999'999'999), ts(50, 999'000'000));
  EXPECT_EQ(c.http_date(), "Thu, 01 Jan 1970 00:16:40 GMT");
  EXPECT_EQ(c.msec(), "1000.999");
  EXPECT_EQ(c.now_ms(), 50999u);
  EXPECT_EQ(c.http_date().data(), date_ptr);  // storage is stable across updates

  c.update(ts(1001, 1'000'000), ts(51, 0));
  EXPECT_EQ(c.http_date(), "Thu, 01 Jan 1970 00:16:41 GMT");
  EXPECT_EQ(c.log_time(), "1970/01/01 00:16:41");
  EXPECT_EQ(c.msec(), "1001.001");
  EXPECT_EQ(c.now_ms(), 51000u);

  // The wall clock may step back (NTP); the cache follows it.
  c.update(ts(999, 0), ts(52, 0));
  EXPECT_EQ(c.http_date(), "Thu, 01 Jan 1970 00:16:39 GMT");
  EXPECT_EQ(c.msec(), "999.000");
}

TEST(TimeCache, MsecTable) {
  ScopedTz tz("UTC0");
  struct Case {
    time_t sec;
    long nsec;
    const char* want;
  } cases[] = {
      {0, 0, "0.000"},
      {1, 1'000'000, "1.001"},
      {1732523748, 10'000'000, "1732523748.010"},
      {1732523748, 999'999'999, "1732523748.999"},
      {253402300799, 500'000'000, "253402300799.500"},
  };
  TimeCache c;
  for (const auto& k : cases) {
    c.update(ts(k.sec, k.nsec), ts(0, 0));
    EXPECT_EQ(c.msec(), k.want);
  }
}

TEST(TimeCache, RealClockIsSane) {
  TimeCache c;
  c.update();
  const time_t now = time(nullptr);
  EXPECT_LE(c.unix_time(), now);
  EXPECT_GE(c.unix_time(), now - 2);
  // The Date string parses back to the cached second.
  EXPECT_EQ(parse_http_date(c.http_date()), c.unix_time());
  const uint64_t before = c.now_ms();
  c.update();
  EXPECT_GE(c.now_ms(), before);
}

TEST(TimeCache, LocalIsPerThread) {
  TimeCache* main_cache = &TimeCache::local();
  EXPECT_EQ(&TimeCache::local(), main_cache);
  TimeCache* other = nullptr;
  std::thread t([&other] {
    other = &TimeCache::local();
    other->update();
    EXPECT_EQ(other->http_date().size(), TimeCache::kHttpDateLen);
  });
  t.join();
  EXPECT_NE(other, main_cache);
  EXPECT_EQ(TimeCache::local().http_date().size(), 29u);
}

}  // namespace
}  // namespace portico
