#include "upstream/crc32.h"

#include <gtest/gtest.h>

namespace portico::upstream {

TEST(UpstreamCrc32, KnownValues) {
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("123456789"), 0xcbf43926u);  // the CRC-32/ISO-HDLC check value
  EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog"), 0x414fa339u);
}

TEST(UpstreamCrc32, IncrementalEqualsOneShot) {
  uint32_t c = crc32_update(kCrc32Init, "1234");
  c = crc32_update(c, "56789");
  EXPECT_EQ(crc32_final(c), crc32("123456789"));
}

}  // namespace portico::upstream
