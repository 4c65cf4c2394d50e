#include "static/etag.h"

#include <gtest/gtest.h>

#include <string>

namespace portico::static_files {
namespace {

std::string etag(time_t mtime, uint64_t size) {
  char buf[kEtagMaxLen];
  return std::string(format_etag(mtime, size, buf));
}

TEST(StaticEtag, MatchesNginxFormat) {
  struct Case {
    time_t mtime;
    uint64_t size;
    const char* want;
  } cases[] = {
      // Observed from nginx 1.22: a 23-byte file with mtime 2024-03-05T06:07:08Z.
      {1709618828, 23, "\"65e6b68c-17\""},
      {1597774379, 612, "\"5f3c1a2b-264\""},
      {0, 0, "\"0-0\""},
      {1, 1, "\"1-1\""},
      {15, 16, "\"f-10\""},
      {0x7fffffff, 0xffffffffull, "\"7fffffff-ffffffff\""},
      {time_t(0x123456789abcdefll), 0x7fffffffffffffffull, "\"123456789abcdef-7fffffffffffffff\""},
      {-1, 5, "\"ffffffffffffffff-5\""},  // nginx's %xT of a negative time_t
      {time_t(INT64_MIN), UINT64_MAX, "\"8000000000000000-ffffffffffffffff\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(etag(c.mtime, c.size), c.want);
  }
}

TEST(StaticEtag, LongestFitsBuffer) {
  char buf[kEtagMaxLen + 1];
  buf[kEtagMaxLen] = '#';
  auto v = format_etag(time_t(INT64_MIN), UINT64_MAX, buf);
  EXPECT_EQ(v.size(), kEtagMaxLen);
  EXPECT_EQ(buf[kEtagMaxLen], '#');
}

TEST(StaticEtag, Weakness) {
  EXPECT_FALSE(is_weak_etag("\"a\""));
  EXPECT_TRUE(is_weak_etag("W/\"a\""));
  EXPECT_FALSE(is_weak_etag("w/\"a\""));  // the W is case-sensitive
  EXPECT_FALSE(is_weak_etag("W"));
  EXPECT_FALSE(is_weak_etag(""));
}

}  // namespace
}  // namespace portico::static_files
