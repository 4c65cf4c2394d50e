#include "core/strings.h"

#include <gtest/gtest.h>

namespace portico {

TEST(Strings, ParseSize) {
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("8k"), 8192u);
  EXPECT_EQ(parse_size("1M"), 1048576u);
  EXPECT_EQ(parse_size("2g"), 2147483648u);
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("k"));
  EXPECT_FALSE(parse_size("1x"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
}

TEST(Strings, ParseTime) {
  EXPECT_EQ(parse_time_ms("75"), 75000u);
  EXPECT_EQ(parse_time_ms("75s"), 75000u);
  EXPECT_EQ(parse_time_ms("500ms"), 500u);
  EXPECT_EQ(parse_time_ms("1h 30m"), 5400000u);
  EXPECT_EQ(parse_time_ms("1d"), 86400000u);
  EXPECT_FALSE(parse_time_ms(""));
  EXPECT_FALSE(parse_time_ms("5x"));
  EXPECT_FALSE(parse_time_ms("s"));
}

TEST(Strings, CaseInsensitive) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("Content-Length", "content-lengt"));
  EXPECT_TRUE(istarts_with("Keep-Alive, x", "keep-alive"));
  EXPECT_EQ(trim(" \tab \t"), "ab");
  EXPECT_EQ(to_lower("AbC"), "abc");
}

}  // namespace portico
