#include "http/user_agent.h"

#include <gtest/gtest.h>

namespace portico::http {
namespace {

TEST(UserAgent, OldMsieIsMsie6) {
  EXPECT_TRUE(user_agent_flags("Mozilla/4.0 (compatible; MSIE 5.0; Windows 98)") & kUaMsie6);
  EXPECT_TRUE(user_agent_flags("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)") & kUaMsie6);
  // MSIE 6 with SP2's SV1 token copes with keep-alive after POST.
  EXPECT_FALSE(user_agent_flags("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)") &
               kUaMsie6);
  EXPECT_FALSE(user_agent_flags("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)") & kUaMsie6);
  EXPECT_TRUE(user_agent_flags("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)") & kUaMsie);
}

TEST(UserAgent, TooShortAfterMsieIsNotMsie) {
  // nginx wants at least "MSIE x.yz" before it looks at the version.
  EXPECT_EQ(user_agent_flags("MSIE 5."), 0);
  EXPECT_TRUE(user_agent_flags("MSIE 5.0") & kUaMsie6);
}

TEST(UserAgent, OperaIsNeverMsie) {
  uint8_t f = user_agent_flags("Opera/9.0 (compatible; MSIE 5.0; Windows)");
  EXPECT_TRUE(f & kUaOpera);
  EXPECT_FALSE(f & (kUaMsie | kUaMsie6));
}

TEST(UserAgent, SafariOnlyOnMacAndNotChrome) {
  EXPECT_TRUE(user_agent_flags("Mac OS X Safari/7534.48.3") & kUaSafari);
  EXPECT_FALSE(user_agent_flags("Windows Safari/7534.48.3") & kUaSafari);
  EXPECT_FALSE(user_agent_flags("Mac OS X Chrome/100 Safari/537.36") & kUaSafari);
  EXPECT_FALSE(user_agent_flags("Mac OS X Gecko/20100101 Safari/1") & kUaSafari);
  EXPECT_EQ(user_agent_flags(""), 0);
}

}  // namespace
}  // namespace portico::http
