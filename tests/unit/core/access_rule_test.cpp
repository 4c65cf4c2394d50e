#include "core/access_rule.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace portico {

namespace {
SockAddr v4(const char* text) {
  SockAddr a{};
  a.v4.sin_family = AF_INET;
  inet_pton(AF_INET, text, &a.v4.sin_addr);
  return a;
}
SockAddr v6(const char* text) {
  SockAddr a{};
  a.v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &a.v6.sin6_addr);
  return a;
}
AccessRule rule(const char* text) {
  AccessRule r;
  EXPECT_TRUE(parse_access_rule(text, r)) << text;
  return r;
}
}  // namespace

TEST(AccessRule, UnixMatchesOnlyUnixPeers) {
  SockAddr un{};
  un.sa.sa_family = AF_UNIX;
  const AccessRule r = rule("unix:");
  EXPECT_TRUE(access_rule_matches(r, un));
  EXPECT_FALSE(access_rule_matches(r, v4("127.0.0.1")));
  EXPECT_FALSE(access_rule_matches(r, v6("::1")));  // was taken for a ::/0 block
}

TEST(AccessRule, Families) {
  EXPECT_TRUE(access_rule_matches(rule("127.0.0.0/8"), v4("127.0.0.1")));
  EXPECT_FALSE(access_rule_matches(rule("127.0.0.0/8"), v6("::1")));
  EXPECT_TRUE(access_rule_matches(rule("127.0.0.0/8"), v6("::ffff:127.0.0.1")));
  EXPECT_TRUE(access_rule_matches(rule("::1"), v6("::1")));
  EXPECT_FALSE(access_rule_matches(rule("::/0"), v4("10.0.0.1")));
  EXPECT_TRUE(access_rule_matches(rule("all"), v6("::1")));
}

}  // namespace portico
