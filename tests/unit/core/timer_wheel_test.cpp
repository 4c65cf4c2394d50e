#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <vector>

namespace portico {
namespace {

struct Probe : Timer {
  int id = 0;
  std::vector<int>* fired = nullptr;
};

void record(Timer* t) {
  auto* p = static_cast<Probe*>(t);
  p->fired->push_back(p->id);
}

Probe make(int id, std::vector<int>* fired) {
  Probe p;
  p.id = id;
  p.fired = fired;
  p.cb = &record;
  return p;
}

TEST(TimerWheel, FiresInDeadlineOrderAcrossTicks) {
  TimerWheel w;
  w.start(1000);
  std::vector<int> fired;
  Probe a = make(1, &fired), b = make(2, &fired), c = make(3, &fired);
  w.schedule(&c, 1000, 300);
  w.schedule(&a, 1000, 10);
  w.schedule(&b, 1000, 100);
  EXPECT_EQ(w.size(), 3u);
  w.run(1005);
  EXPECT_TRUE(fired.empty());
  w.run(1020);
  EXPECT_EQ(fired, std::vector<int>({1}));
  w.run(1200);
  EXPECT_EQ(fired, std::vector<int>({1, 2}));
  w.run(1400);
  EXPECT_EQ(fired, std::vector<int>({1, 2, 3}));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(a.armed());
}

TEST(TimerWheel, RearmAndCancel) {
  TimerWheel w;
  w.start(0);
  std::vector<int> fired;
  Probe a = make(1, &fired), b = make(2, &fired);
  w.schedule(&a, 0, 50);
  w.schedule(&a, 0, 500);  // re-arming moves it, never duplicates it
  w.schedule(&b, 0, 50);
  w.cancel(&b);
  w.cancel(&b);  // cancelling twice is harmless
  EXPECT_EQ(w.size(), 1u);
  w.run(100);
  EXPECT_TRUE(fired.empty());
  w.run(600);
  EXPECT_EQ(fired, std::vector<int>({1}));
}

TEST(TimerWheel, LongerThanOneRevolution) {
  TimerWheel w;
  w.start(0);
  std::vector<int> fired;
  const uint64_t span = TimerWheel::kSlots * TimerWheel::kTickMs;
  Probe far = make(7, &fired);
  w.schedule(&far, 0, span * 2 + 40);  // shares its slot with earlier ticks: must wait its turn
  for (uint64_t t = 0; t < span * 2; t += 1000) w.run(t);
  EXPECT_TRUE(fired.empty());
  w.run(span * 2 + 100);
  EXPECT_EQ(fired, std::vector<int>({7}));
}

TEST(TimerWheel, NextTimeout) {
  TimerWheel w;
  w.start(0);
  EXPECT_EQ(w.next_timeout_ms(0), -1);
  std::vector<int> fired;
  Probe a = make(1, &fired);
  w.schedule(&a, 0, 100);
  int next = w.next_timeout_ms(0);
  EXPECT_GE(next, 100);
  EXPECT_LE(next, 100 + int(TimerWheel::kTickMs));
}

// A callback may re-arm its own timer; it must not fire again in the same run.
TEST(TimerWheel, CallbackRearmsItself) {
  TimerWheel w;
  w.start(0);
  struct Self : Timer {
    TimerWheel* wheel;
    int count = 0;
  } s;
  s.wheel = &w;
  s.cb = [](Timer* t) {
    auto* me = static_cast<Self*>(t);
    ++me->count;
    me->wheel->schedule(me, 100, 0);
  };
  w.schedule(&s, 0, 50);
  w.run(100);
  EXPECT_EQ(s.count, 1);
  w.run(200);
  EXPECT_EQ(s.count, 2);
}

// A callback that arms another timer due at once, at a time that is a multiple of the tick (the
// slot being run is the one that timer maps to): it fires on the next run, not a revolution
// (16 s) later. This stalled an app process's drain for a revolution.
TEST(TimerWheel, TimerArmedDueNowFromACallbackFiresOnTheNextRun) {
  TimerWheel w;
  w.start(0);
  std::vector<int> fired;
  Probe b = make(2, &fired);
  struct Arming : Timer {
    TimerWheel* wheel;
    Timer* other;
    uint64_t now;
  } a;
  a.wheel = &w;
  a.other = &b;
  a.now = 25 * TimerWheel::kTickMs;  // a tick boundary
  a.cb = [](Timer* t) {
    auto* me = static_cast<Arming*>(t);
    me->wheel->schedule(me->other, me->now, 0);
  };
  w.schedule(&a, 0, a.now);
  w.run(a.now);
  EXPECT_FALSE(a.armed());
  w.run(a.now + TimerWheel::kTickMs);
  EXPECT_EQ(fired, std::vector<int>{2});
}

}  // namespace
}  // namespace portico
