#include "upstream/tried_set.h"

#include <gtest/gtest.h>

namespace portico::upstream {

TEST(UpstreamTriedSet, InlineUpTo64) {
  TriedSet t(3);
  EXPECT_EQ(t.capacity(), 64u);
  EXPECT_EQ(t.count(), 0u);
  t.insert(0);
  t.insert(63);
  EXPECT_TRUE(t.contains(0));
  EXPECT_TRUE(t.contains(63));
  EXPECT_FALSE(t.contains(1));
  EXPECT_FALSE(t.contains(64));  // beyond capacity: never contained
  EXPECT_EQ(t.count(), 2u);
  t.erase(63);
  EXPECT_FALSE(t.contains(63));
  EXPECT_TRUE(t.contains(0));
  EXPECT_EQ(t.count(), 1u);
  t.clear();
  EXPECT_EQ(t.count(), 0u);
  EXPECT_FALSE(t.contains(0));
}

TEST(UpstreamTriedSet, LargeGroups) {
  TriedSet t(1024);
  EXPECT_EQ(t.capacity(), 1024u);
  for (size_t i = 0; i < 1024; i += 3) t.insert(i);
  EXPECT_EQ(t.count(), 342u);
  EXPECT_TRUE(t.contains(1023));
  EXPECT_FALSE(t.contains(1022));
  TriedSet odd(65);  // one past inline
  EXPECT_EQ(odd.capacity(), 128u);
  odd.insert(64);
  EXPECT_TRUE(odd.contains(64));
  odd.erase(64);
  EXPECT_FALSE(odd.contains(64));
}

TEST(UpstreamTriedSet, CopiesAreIndependent) {
  TriedSet a(200);
  a.insert(150);
  TriedSet b = a;
  b.insert(7);
  EXPECT_TRUE(b.contains(150));
  EXPECT_FALSE(a.contains(7));
  TriedSet c(10);
  c = b;
  EXPECT_EQ(c.capacity(), 256u);
  EXPECT_EQ(c.count(), 2u);
  TriedSet d = std::move(c);
  EXPECT_TRUE(d.contains(7));
}

// A group that grew during a request's retries: insert() makes room, nothing is lost.
TEST(UpstreamTriedSet, GrowsOnInsert) {
  TriedSet t(2);
  t.insert(5);
  t.insert(200);
  EXPECT_GE(t.capacity(), 201u);
  EXPECT_TRUE(t.contains(5));
  EXPECT_TRUE(t.contains(200));
  EXPECT_FALSE(t.contains(199));
  EXPECT_EQ(t.count(), 2u);
  t.erase(1000);  // beyond capacity: nothing to erase
  EXPECT_EQ(t.count(), 2u);
}

}  // namespace portico::upstream
