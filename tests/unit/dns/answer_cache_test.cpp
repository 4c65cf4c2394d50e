// The answer cache: TTLs, valid=, negative answers, failures, bounds.
#include "dns/answer_cache.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace portico::dns {
namespace {

Answer ok(const char* ip) {
  Answer a;
  a.kind = Answer::Kind::kOk;
  SockAddr s{};
  s.v4.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &s.v4.sin_addr);
  a.addrs.push_back(s);
  return a;
}

Answer failed(Answer::Kind k) {
  Answer a;
  a.kind = k;
  a.error = "x";
  return a;
}

TEST(AnswerCache, KeptForTheTtl) {
  AnswerCache c;
  c.store("a.test", ok("10.0.0.1"), 1000, 5, 0);
  ASSERT_NE(c.find("a.test", 1000), nullptr);
  EXPECT_NE(c.find("a.test", 5999), nullptr);
  EXPECT_EQ(c.find("a.test", 6000), nullptr);  // 5 s later: expired
  EXPECT_EQ(c.find("b.test", 1000), nullptr);
}

TEST(AnswerCache, ValidOverridesTheTtl) {
  AnswerCache c;
  c.store("a.test", ok("10.0.0.1"), 0, 3600, 2000);
  EXPECT_NE(c.find("a.test", 1999), nullptr);
  EXPECT_EQ(c.find("a.test", 2000), nullptr);
}

TEST(AnswerCache, ZeroTtlIsNotKept) {
  AnswerCache c;
  const Answer& a = c.store("a.test", ok("10.0.0.1"), 0, 0, 0);
  EXPECT_TRUE(a.ok());  // handed back for the waiters
  EXPECT_EQ(c.find("a.test", 0), nullptr);
  EXPECT_EQ(c.size(), 0u);
}

TEST(AnswerCache, NotFoundKeptTenSecondsOrValid) {
  AnswerCache c;
  c.store("gone.test", failed(Answer::Kind::kNotFound), 0, 0, 0);
  const Answer* a = c.find("gone.test", 9999);
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->ok());
  EXPECT_EQ(c.find("gone.test", 10'000), nullptr);
  c.store("gone2.test", failed(Answer::Kind::kNotFound), 0, 0, 500);
  EXPECT_EQ(c.find("gone2.test", 500), nullptr);
}

TEST(AnswerCache, FailuresAreNotKeptAndDropTheOldAnswer) {
  AnswerCache c;
  c.store("a.test", ok("10.0.0.1"), 0, 60, 0);
  c.store("a.test", failed(Answer::Kind::kTimedOut), 100, 0, 0);
  EXPECT_EQ(c.find("a.test", 100), nullptr);
  c.store("b.test", failed(Answer::Kind::kFailed), 0, 0, 5000);
  EXPECT_EQ(c.find("b.test", 0), nullptr);
}

TEST(AnswerCache, NewAnswerReplacesTheOld) {
  AnswerCache c;
  c.store("a.test", ok("10.0.0.1"), 0, 60, 0);
  c.store("a.test", ok("10.0.0.2"), 10, 60, 0);
  const Answer* a = c.find("a.test", 10);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->addrs.size(), 1u);
  char buf[16];
  inet_ntop(AF_INET, &a->addrs[0].v4.sin_addr, buf, sizeof buf);
  EXPECT_STREQ(buf, "10.0.0.2");
  EXPECT_EQ(c.size(), 1u);
}

TEST(AnswerCache, BoundedExpiredFirstThenSoonest) {
  AnswerCache c(3);
  c.store("a", ok("10.0.0.1"), 0, 1, 0);       // expires at 1000
  c.store("b", ok("10.0.0.1"), 0, 100, 0);     // 100000
  c.store("c", ok("10.0.0.1"), 0, 50, 0);      // 50000
  c.store("d", ok("10.0.0.1"), 2000, 100, 0);  // "a" has expired: it goes
  EXPECT_EQ(c.size(), 3u);
  EXPECT_NE(c.find("b", 2000), nullptr);
  EXPECT_NE(c.find("c", 2000), nullptr);
  c.store("e", ok("10.0.0.1"), 2000, 100, 0);  // none expired: the soonest ("c") goes
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.find("c", 2000), nullptr);
  EXPECT_NE(c.find("b", 2000), nullptr);
  EXPECT_NE(c.find("e", 2000), nullptr);
}

}  // namespace
}  // namespace portico::dns
