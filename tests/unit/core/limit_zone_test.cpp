#include "core/limit_zone.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace portico {

namespace {
constexpr uint64_t kT0 = 1'000'000'000;  // a monotonic clock reading, in ms

// One request for `key` at `now` against `burst` (millirequests): the excess it leaves, or
// UINT64_MAX when refused (as nginx's NGX_BUSY).
uint64_t hit(LimitReqTable& t, std::string_view key, uint64_t now, uint64_t burst) {
  const uint64_t h = limit_key_hash(key);
  LimitReqTable::Slot* s = nullptr;
  const uint64_t e = t.peek(h, now, &s);
  if (e > burst) return UINT64_MAX;
  const uint64_t a = t.account(s, h, now, burst);
  return a > burst ? UINT64_MAX : a;
}
}  // namespace

TEST(LimitKeyHash, NeverZeroAndDistinct) {
  EXPECT_NE(limit_key_hash(""), 0u);
  EXPECT_NE(limit_key_hash("a"), limit_key_hash("b"));
  EXPECT_NE(limit_key_hash(std::string("\x7f\0\0\x01", 4)),
            limit_key_hash(std::string("\x7f\0\0\x02", 4)));
  EXPECT_EQ(limit_key_hash("same key"), limit_key_hash("same key"));
}

// nginx's arithmetic: rate 2r/s, burst 1 (1000 millirequests), nodelay.
TEST(LimitReqTable, LeakyBucketAsNginx) {
  LimitReqTable t(1024, 2000, kT0);
  EXPECT_EQ(hit(t, "k", kT0, 1000), 0u);                // new key: excess 0
  EXPECT_EQ(hit(t, "k", kT0, 1000), 1000u);             // +1000
  EXPECT_EQ(hit(t, "k", kT0, 1000), UINT64_MAX);        // 2000 > burst: refused, not counted
  EXPECT_EQ(hit(t, "k", kT0 + 250, 1000), UINT64_MAX);  // 1000 - 500 + 1000 = 1500
  EXPECT_EQ(hit(t, "k", kT0 + 500, 1000), 1000u);       // 1000 - 1000 + 1000
}

TEST(LimitReqTable, DrainsWithTime) {
  LimitReqTable t(1024, 2000, kT0);  // 2 r/s: 500 ms per request
  ASSERT_EQ(hit(t, "k", kT0, 0), 0u);
  EXPECT_EQ(hit(t, "k", kT0 + 100, 0), UINT64_MAX);  // 1000 - 200 = 800 > 0
  EXPECT_EQ(hit(t, "k", kT0 + 500, 0), 0u);          // 0 - 1000 + 1000 = 0
  EXPECT_EQ(hit(t, "other", kT0 + 500, 0), 0u);      // keys are independent
  EXPECT_EQ(hit(t, "k", kT0 + 10'000, 0), 0u);       // long idle: never negative
}

TEST(LimitReqTable, RefusedRequestsAreNotCounted) {
  LimitReqTable t(1024, 1000, kT0);  // 1 r/s, burst 2
  EXPECT_EQ(hit(t, "k", kT0, 2000), 0u);
  EXPECT_EQ(hit(t, "k", kT0, 2000), 1000u);
  EXPECT_EQ(hit(t, "k", kT0, 2000), 2000u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(hit(t, "k", kT0, 2000), UINT64_MAX);
  EXPECT_EQ(hit(t, "k", kT0 + 1000, 2000), 2000u);  // one drained, one more fits
}

TEST(LimitReqTable, FullWindowEvictsTheOldest) {
  LimitReqTable t(16, 1, kT0);  // 16 slots, so every key shares one probe window; 1 r/1000s
  for (int i = 0; i < 16; ++i) ASSERT_EQ(hit(t, "k" + std::to_string(i), kT0 + i, 0), 0u);
  // A 17th key takes the least recently used slot (k0's) and starts fresh.
  EXPECT_EQ(hit(t, "new", kT0 + 100, 0), 0u);
  // k0 lost its state (it is a new key again), k15 kept its own.
  EXPECT_EQ(hit(t, "k15", kT0 + 101, 0), UINT64_MAX);
}

TEST(LimitReqTable, ThreadsNeverLetMoreThanTheBurstThrough) {
  LimitReqTable t(1024, 1, kT0);       // practically no drain
  constexpr uint64_t kBurst = 50'000;  // 50 requests after the first
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j)
        if (hit(t, "shared", kT0, kBurst) != UINT64_MAX) passed.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(passed.load(), 51);
}

TEST(LimitConnTable, CountsAndReleases) {
  LimitConnTable t(1024);
  bool full = true;
  const uint64_t h = limit_key_hash("k");
  auto* a = t.acquire(h, 2, &full);
  auto* b = t.acquire(h, 2, &full);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(t.acquire(h, 2, &full), nullptr);
  EXPECT_FALSE(full);
  EXPECT_NE(t.acquire(limit_key_hash("other"), 1, &full), nullptr);
  LimitConnTable::release(a);
  auto* c = t.acquire(h, 2, &full);
  EXPECT_EQ(c, a);
  LimitConnTable::release(b);
  LimitConnTable::release(c);
}

TEST(LimitConnTable, FullWindowRefusesNewKeys) {
  LimitConnTable t(16);
  bool full = false;
  for (int i = 0; i < 16; ++i)
    ASSERT_NE(t.acquire(limit_key_hash("k" + std::to_string(i)), 1, &full), nullptr);
  EXPECT_EQ(t.acquire(limit_key_hash("new"), 1, &full), nullptr);
  EXPECT_TRUE(full);
}

TEST(LimitConnTable, FreedSlotGoesToAnotherKey) {
  LimitConnTable t(16);
  bool full = false;
  std::vector<std::atomic<uint64_t>*> held;
  for (int i = 0; i < 16; ++i)
    held.push_back(t.acquire(limit_key_hash("k" + std::to_string(i)), 1, &full));
  LimitConnTable::release(held[3]);
  EXPECT_NE(t.acquire(limit_key_hash("new"), 1, &full), nullptr);
}

TEST(LimitConnTable, ThreadsHoldTheLimit) {
  LimitConnTable t(1024);
  const uint64_t h = limit_key_hash("shared");
  std::atomic<int> inside{0}, max_inside{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      bool full = false;
      for (int j = 0; j < 20000; ++j) {
        auto* s = t.acquire(h, 3, &full);
        if (!s) continue;
        const int now = inside.fetch_add(1) + 1;
        int m = max_inside.load();
        while (now > m && !max_inside.compare_exchange_weak(m, now)) {
        }
        inside.fetch_sub(1);
        LimitConnTable::release(s);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(max_inside.load(), 3);
  bool full = false;
  // Everything was released: the limit is whole again.
  for (int i = 0; i < 3; ++i) EXPECT_NE(t.acquire(h, 3, &full), nullptr);
}

}  // namespace portico
