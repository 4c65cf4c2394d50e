#include "http/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace portico::http {
namespace {

using Escape = LogFormat::Escape;

std::string esc(Escape e, std::string_view v) {
  std::string out;
  append_escaped(e, v, out);
  return out;
}

TEST(AccessLogEscape, AsNginx) {
  EXPECT_EQ(esc(Escape::kDefault, ""), "-");
  EXPECT_EQ(esc(Escape::kDefault, "a\"b\\\x1b\x7f\xd1"), "a\\x22b\\x5C\\x1B\\x7F\\xD1");
  EXPECT_EQ(esc(Escape::kJson, ""), "");
  EXPECT_EQ(esc(Escape::kJson, "a\"b\\\n\r\t\b\f\x1b\xd1"), "a\\\"b\\\\\\n\\r\\t\\b\\f\\u001B\xd1");
  EXPECT_EQ(esc(Escape::kNone, ""), "");
  EXPECT_EQ(esc(Escape::kNone, "\"\x1b"), "\"\x1b");
}

class OpenLogCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portico-olc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  int use(OpenLogCache& c, const std::string& name, uint64_t now, bool* owned) {
    int fd = c.acquire(0, dir + "/" + name, now, owned);
    if (fd >= 0 && *owned) ::close(fd);
    return fd;
  }
  std::string dir;
};

TEST_F(OpenLogCacheTest, MinUsesMaxAndLru) {
  OpenLogCache::Params p;
  p.max = 2;
  p.min_uses = 2;
  OpenLogCache c(p, 1);
  bool owned;
  ASSERT_GE(use(c, "a", 0, &owned), 0);
  EXPECT_TRUE(owned);  // first use: not kept
  ASSERT_GE(use(c, "a", 1, &owned), 0);
  EXPECT_FALSE(owned);  // second: kept
  EXPECT_EQ(c.open_count(0), 1u);
  use(c, "b", 2, &owned);
  use(c, "b", 3, &owned);
  EXPECT_EQ(c.open_count(0), 2u);
  use(c, "c", 4, &owned);  // max=2: "a", the least recently used, goes
  EXPECT_EQ(c.open_count(0), 1u);
  // A file that cannot be opened gets no entry and evicts nothing.
  EXPECT_LT(use(c, "missing/x", 5, &owned), 0);
  use(c, "b", 6, &owned);
  EXPECT_FALSE(owned);
}

TEST_F(OpenLogCacheTest, InactiveAndValid) {
  OpenLogCache::Params p;
  p.max = 4;
  p.inactive_ms = 100;
  p.valid_ms = 50;
  OpenLogCache c(p, 1);
  bool owned;
  int fd1 = use(c, "a", 0, &owned);
  EXPECT_FALSE(owned);
  EXPECT_EQ(use(c, "a", 10, &owned), fd1);
  // Past valid=: opened again (a rotated file is picked up).
  std::filesystem::rename(dir + "/a", dir + "/a.1");
  use(c, "a", 70, &owned);
  EXPECT_TRUE(std::filesystem::exists(dir + "/a"));
  // Past inactive=: dropped.
  use(c, "b", 500, &owned);
  EXPECT_EQ(c.open_count(0), 1u);
}

}  // namespace
}  // namespace portico::http
