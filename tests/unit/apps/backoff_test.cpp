#include "apps/backoff.h"

#include <gtest/gtest.h>

namespace portico::apps {
namespace {

TEST(BackoffTest, DoublesFromInitialUpToMaxAndNeverGivesUp) {
  BackoffPolicy p;  // 100 ms, x2, 30 s
  EXPECT_EQ(backoff_delay_ms(p, 0), 0u);
  EXPECT_EQ(backoff_delay_ms(p, 1), 100u);
  EXPECT_EQ(backoff_delay_ms(p, 2), 200u);
  EXPECT_EQ(backoff_delay_ms(p, 3), 400u);
  EXPECT_EQ(backoff_delay_ms(p, 9), 25'600u);
  EXPECT_EQ(backoff_delay_ms(p, 10), 30'000u);
  EXPECT_EQ(backoff_delay_ms(p, 1'000'000), 30'000u);  // capped, still a delay, no overflow
}

TEST(BackoffTest, FactorAndBounds) {
  BackoffPolicy p{.initial_ms = 1000, .max_ms = 5000, .factor = 1.5, .reset_after_ms = 10'000};
  EXPECT_EQ(backoff_delay_ms(p, 1), 1000u);
  EXPECT_EQ(backoff_delay_ms(p, 2), 1500u);
  EXPECT_EQ(backoff_delay_ms(p, 3), 2250u);
  EXPECT_EQ(backoff_delay_ms(p, 6), 5000u);
  p.factor = 0.5;  // below 1 acts as 1: never shrinking
  EXPECT_EQ(backoff_delay_ms(p, 5), 1000u);
}

TEST(BackoffTest, StreakResetsOnlyAfterAStableRun) {
  BackoffPolicy p;
  p.reset_after_ms = 60'000;
  EXPECT_EQ(next_failures(p, 0, false, 0), 1u);      // died before ready
  EXPECT_EQ(next_failures(p, 4, false, 0), 5u);      // a crash loop grows
  EXPECT_EQ(next_failures(p, 4, true, 2'000), 5u);   // ready, but died soon after
  EXPECT_EQ(next_failures(p, 7, true, 60'000), 1u);  // served long enough: a new streak
  EXPECT_EQ(next_failures(p, UINT32_MAX, false, 0), UINT32_MAX);
}

}  // namespace
}  // namespace portico::apps
