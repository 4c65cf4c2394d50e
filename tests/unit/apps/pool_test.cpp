// The pool's decisions (apps/pool.h): recycling, scaling, and the /proc figures behind them.
#include "apps/pool.h"

#include <gtest/gtest.h>

namespace portico::apps {
namespace {

TEST(AppsPool, RecycleReasons) {
  AppConf c;
  EXPECT_EQ(recycle_reason(c, {1'000'000, 1 << 30, 1'000'000'000}), nullptr);  // no limits
  c.max_requests = 100;
  EXPECT_EQ(recycle_reason(c, {99, 0, 0}), nullptr);
  EXPECT_STREQ(recycle_reason(c, {100, 0, 0}), "max_requests");
  c.memory_limit_kb = 1000;
  EXPECT_EQ(recycle_reason(c, {0, 1000, 0}), nullptr);
  EXPECT_STREQ(recycle_reason(c, {0, 1001, 0}), "memory_limit");
  EXPECT_EQ(recycle_reason(c, {0, 0, 0}), nullptr);  // not sampled yet
  c.max_lifetime_ms = 60'000;
  EXPECT_EQ(recycle_reason(c, {0, 0, 59'999}), nullptr);
  EXPECT_STREQ(recycle_reason(c, {0, 0, 60'000}), "max_lifetime");
}

TEST(AppsPool, ScalesUpOneAtATimeWhileRequestsWait) {
  AppConf c;
  c.max_instances = 3;
  PoolFigures f;
  f.target = 1;
  f.ready = 1;
  EXPECT_EQ(next_target(c, 1, f), 1u);  // nothing waits
  f.waiting = 5;
  EXPECT_EQ(next_target(c, 1, f), 2u);
  f.target = 2;
  f.starting = 1;
  EXPECT_EQ(next_target(c, 1, f), 2u);  // one is starting: wait for it first
  f.starting = 0;
  f.ready = 2;
  EXPECT_EQ(next_target(c, 1, f), 3u);
  f.target = 3;
  f.ready = 3;
  EXPECT_EQ(next_target(c, 1, f), 3u);  // at max
}

TEST(AppsPool, AllBusyScalesUpWithoutAQueue) {
  AppConf c;
  c.max_instances = 2;
  c.concurrency = 1;
  PoolFigures f;
  f.target = 1;
  f.ready = 1;
  f.busy = 1;
  EXPECT_EQ(next_target(c, 1, f), 2u);
}

TEST(AppsPool, TargetStaysWithinMinAndMax) {
  AppConf c;
  c.max_instances = 0;  // no scaling: max = min
  PoolFigures f;
  f.target = 1;
  f.ready = 1;
  f.waiting = 10;
  EXPECT_EQ(next_target(c, 2, f), 2u);  // raised to the minimum, not beyond
}

TEST(AppsPool, ParsesSmapsRollup) {
  const char* text =
      "55d0c0000000-7ffc8a7fe000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:               20480 kB\n"
      "Pss:               12345 kB\n"
      "Pss_Anon:           9000 kB\n"
      "Shared_Clean:       4000 kB\n";
  uint64_t rss = 0, pss = 0;
  ASSERT_TRUE(parse_smaps_rollup(text, &rss, &pss));
  EXPECT_EQ(rss, 20480u);
  EXPECT_EQ(pss, 12345u);  // not Pss_Anon
  EXPECT_FALSE(parse_smaps_rollup("", &rss, &pss));
}

TEST(AppsPool, ParsesStatCpuTicksPastAnOddCommandName) {
  // comm "(a) b (c)" holds spaces and parentheses; utime 17, stime 4.
  const char* text = "1234 ((a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 17 4 0 0 20 0 1 0";
  uint64_t ticks = 0;
  ASSERT_TRUE(parse_stat_cpu_ticks(text, &ticks));
  EXPECT_EQ(ticks, 21u);
  EXPECT_FALSE(parse_stat_cpu_ticks("1234 (x) S 1 2", &ticks));
  EXPECT_FALSE(parse_stat_cpu_ticks("garbage", &ticks));
}

}  // namespace
}  // namespace portico::apps
