#include "http/limit_rate.h"

#include <gtest/gtest.h>

namespace portico::http {
namespace {

TEST(RateLimitTest, OneSecondsWorthAndAfterGoAtOnce) {
  RateLimit r;
  r.rate = 1000;
  r.after = 500;
  uint64_t delay = 0;
  EXPECT_EQ(r.allowance(0, 0, &delay), 1500u);
  EXPECT_EQ(r.allowance(0, 1000, &delay), 500u);
}

TEST(RateLimitTest, PastTheBudgetWaitsForAGranule) {
  RateLimit r;
  r.rate = 8000;  // granule: 1000 bytes
  uint64_t delay = 0;
  EXPECT_EQ(r.allowance(0, 8000, &delay), 0u);
  EXPECT_EQ(delay, 125u);  // 1000 bytes at 8000/s
  // Part of a granule is not enough...
  EXPECT_EQ(r.allowance(100, 8000, &delay), 0u);
  EXPECT_EQ(delay, 25u);
  // ...a whole one is.
  EXPECT_EQ(r.allowance(125, 8000, &delay), 1000u);
  EXPECT_EQ(r.allowance(1000, 8000, &delay), 8000u);
}

TEST(RateLimitTest, SlowRatesWaitAtLeastATick) {
  RateLimit r;
  r.rate = 1;
  uint64_t delay = 0;
  EXPECT_EQ(r.allowance(0, 1, &delay), 0u);
  EXPECT_EQ(delay, 1000u);
  EXPECT_EQ(r.allowance(1000, 1, &delay), 1u);
}

TEST(RateLimitTest, LargeGranuleIsCapped) {
  RateLimit r;
  r.rate = 100 * 1024 * 1024;
  uint64_t delay = 0;
  EXPECT_EQ(r.allowance(0, r.rate, &delay), 0u);
  EXPECT_EQ(delay, 1u);  // 16 KiB at 100 MiB/s rounds up to one millisecond
}

}  // namespace
}  // namespace portico::http
