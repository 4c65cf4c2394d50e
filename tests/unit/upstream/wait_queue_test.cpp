#include "upstream/wait_queue.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace portico::upstream {
namespace {

// A waiter whose on_wake() runs a test-supplied function.
struct FnWaiter final : Waiter {
  std::function<bool()> fn;
  bool on_wake() override { return fn(); }
};

TEST(UpstreamWaitQueue, BoundedFifo) {
  FnWaiter a, b, c;  // outlive the queue
  WaitQueue q;
  EXPECT_TRUE(q.push(&a, 2));
  EXPECT_TRUE(q.push(&b, 2));
  EXPECT_FALSE(q.push(&c, 2));  // full
  EXPECT_FALSE(c.queued());
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front(), &a);
  EXPECT_TRUE(q.remove(&a));
  EXPECT_FALSE(q.remove(&a));  // not queued any more
  EXPECT_TRUE(q.push(&c, 2));
  EXPECT_EQ(q.front(), &b);
}

// Woken in order while each gets a peer; the first that does not stops the round.
TEST(UpstreamWaitQueue, WakeInOrderUntilOneStays) {
  FnWaiter w[4];
  WaitQueue q;
  std::string log;
  int free_slots = 2;
  for (int i = 0; i < 4; i++) {
    w[i].fn = [&, i] {
      log += char('0' + i);
      if (free_slots == 0) return false;
      free_slots--;
      q.remove(&w[i]);
      return true;
    };
    ASSERT_TRUE(q.push(&w[i], 10));
  }
  q.remove(&w[1]);  // e.g. its client went away
  q.wake();
  EXPECT_EQ(log, "023");  // 0 and 2 served, 3 stays at the head
  EXPECT_EQ(q.front(), &w[3]);
  free_slots = 1;
  q.wake();
  EXPECT_EQ(log, "0233");
  EXPECT_TRUE(q.empty());
}

// A waiter that frees a peer from inside on_wake (its attempt failed at once) wakes the queue
// again: the running round goes on instead of nesting.
TEST(UpstreamWaitQueue, WakeFromInsideOnWakeDoesNotNest) {
  FnWaiter first, second;
  WaitQueue q;
  std::string log;
  int depth = 0;
  bool slot = true;
  first.fn = [&] {
    depth++;
    log += "1";
    q.remove(&first);
    q.wake();  // released its peer at once
    depth--;
    return true;
  };
  second.fn = [&] {
    EXPECT_EQ(depth, 0);
    log += "2";
    if (!slot) return false;
    q.remove(&second);
    return true;
  };
  ASSERT_TRUE(q.push(&first, 10));
  ASSERT_TRUE(q.push(&second, 10));
  q.wake();
  EXPECT_EQ(log, "12");
  EXPECT_TRUE(q.empty());
}

TEST(UpstreamWaitQueue, DestructionUnlinks) {
  FnWaiter a;
  {
    WaitQueue q;
    ASSERT_TRUE(q.push(&a, 1));
  }
  EXPECT_FALSE(a.queued());
}

}  // namespace
}  // namespace portico::upstream
