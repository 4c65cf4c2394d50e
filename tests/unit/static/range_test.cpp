#include "static/range.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace portico::static_files {
namespace {

constexpr uint32_t kNoLimit = UINT32_MAX;  // nginx's default max_ranges
constexpr auto kFull = RangeResult::kFull;
constexpr auto kPartial = RangeResult::kPartial;
constexpr auto kUnsatisfiable = RangeResult::kUnsatisfiable;

// Ranges as "first-last,first-last" (inclusive, like Content-Range).
std::string describe(std::span<const ByteRange> ranges) {
  std::string s;
  for (const ByteRange& r : ranges) {
    if (!s.empty()) s += ',';
    s += std::to_string(r.start) + "-" + std::to_string(r.last());
  }
  return s;
}

struct Case {
  uint64_t size;
  uint32_t max_ranges;
  const char* value;
  RangeResult want;
  const char* ranges;  // for kPartial
};

void check(const Case& c) {
  SCOPED_TRACE(std::string("size=") + std::to_string(c.size) +
               " max=" + std::to_string(c.max_ranges) + " value='" + c.value + "'");
  ByteRange buf[kInlineRanges];
  const RangeSpec spec = parse_range(c.value, c.size, c.max_ranges, buf);
  ASSERT_EQ(spec.result, c.want);
  if (c.want != kPartial) return;
  ASSERT_LE(spec.count, kInlineRanges);
  const std::span<const ByteRange> got(buf, spec.count);
  EXPECT_EQ(describe(got), c.ranges);
  uint64_t total = 0;
  for (const ByteRange& r : got) {
    EXPECT_LT(r.start, r.end_exclusive);
    EXPECT_LE(r.end_exclusive, c.size);
    total += r.length();
  }
  EXPECT_EQ(spec.total_length, total);
  EXPECT_LE(total, c.size);
}

// Every row was answered by nginx 1.22.1 (200 / 416 / 206 and its Content-Range or part
// headers) for a 23-byte file, an empty file, max_ranges 1 and max_ranges 0, except the
// "bytes=0-1\t" rows: portico trims a trailing HTAB (OWS), nginx keeps it in the value.
TEST(StaticRange, MatchesNginxObservedTable) {
  const Case cases[] = {
      {23, kNoLimit, "bytes=0-1", kPartial, "0-1"},
      {23, kNoLimit, "bytes=0-0", kPartial, "0-0"},
      {23, kNoLimit, "bytes=0-22", kPartial, "0-22"},
      {23, kNoLimit, "bytes=0-23", kPartial, "0-22"},
      {23, kNoLimit, "bytes=0-100", kPartial, "0-22"},
      {23, kNoLimit, "bytes=22-", kPartial, "22-22"},
      {23, kNoLimit, "bytes=23-", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=24-", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=-1", kPartial, "22-22"},
      {23, kNoLimit, "bytes=-23", kPartial, "0-22"},
      {23, kNoLimit, "bytes=-24", kPartial, "0-22"},
      {23, kNoLimit, "bytes=-0", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-", kPartial, "0-22"},
      {23, kNoLimit, "bytes=5-3", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=abc", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=1-2;", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=1-2 x", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=", kFull, ""},
      {23, kNoLimit, "bytes= ", kFull, ""},
      {23, kNoLimit, "bytes=,", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-1,", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=,0-1", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-1,,2-3", kUnsatisfiable, ""},
      {23, kNoLimit, "BYTES=0-1", kPartial, "0-1"},
      {23, kNoLimit, "Bytes=1-1", kPartial, "1-1"},
      {23, kNoLimit, "bytes =0-1", kFull, ""},
      {23, kNoLimit, "bytes=0 -1", kPartial, "0-1"},
      {23, kNoLimit, "bytes=\t0-1", kUnsatisfiable, ""},
      // nginx: 416, as its header parser keeps a trailing HTAB in the value; HTAB is OWS.
      {23, kNoLimit, "bytes=0-1\t", kPartial, "0-1"},
      {23, kNoLimit, "bytes=1-0", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=--1", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=1--2", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=-", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=1-2-3", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=+1-2", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0x1-2", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=9223372036854775807-", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=9223372036854775808-", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-9223372036854775807", kPartial, "0-22"},
      {23, kNoLimit, "bytes=0-9223372036854775808", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=-9223372036854775807", kPartial, "0-22"},
      {23, kNoLimit, "bytes=-99999999999999999999", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-1,24-30", kPartial, "0-1"},
      {23, kNoLimit, "bytes=24-30,25-", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-11,12-22", kPartial, "0-11,12-22"},
      {23, kNoLimit, "bytes=0-11,11-22", kFull, ""},
      {23, kNoLimit, "bytes=0-,-1", kFull, ""},
      {23, kNoLimit, "bytes=-12,-12", kFull, ""},
      {23, kNoLimit, "bytes=-12,-11", kPartial, "11-22,12-22"},
      {23, kNoLimit, "bytes=5-5,5-5,5-5", kPartial, "5-5,5-5,5-5"},
      {23, kNoLimit, "bytes=20-30,0-1", kPartial, "20-22,0-1"},
      {23, kNoLimit, "bytes=0-1,5-3,7-8", kPartial, "0-1,7-8"},
      {23, kNoLimit, "bytes=0-1,abc", kUnsatisfiable, ""},
      {23, kNoLimit, "bytes=0-1,2-3,x", kUnsatisfiable, ""},
      {23, kNoLimit, "items=0-1", kFull, ""},
      {23, kNoLimit, "bytes0-1", kFull, ""},
      {23, kNoLimit, "byte=0-1", kFull, ""},
      {23, kNoLimit, "bytes=00000000000000000000001-2", kPartial, "1-2"},
      {23, kNoLimit, "bytes=1-2 ,3-4", kPartial, "1-2,3-4"},
      {23, kNoLimit, "bytes=1 -2", kPartial, "1-2"},
      {23, kNoLimit, "bytes=1- 2", kPartial, "1-2"},
      {0, kNoLimit, "bytes=0-1", kFull, ""},
      {0, kNoLimit, "bytes=0-0", kFull, ""},
      {0, kNoLimit, "bytes=0-22", kFull, ""},
      {0, kNoLimit, "bytes=0-23", kFull, ""},
      {0, kNoLimit, "bytes=0-100", kFull, ""},
      {0, kNoLimit, "bytes=22-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=23-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=24-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=-1", kFull, ""},
      {0, kNoLimit, "bytes=-23", kFull, ""},
      {0, kNoLimit, "bytes=-24", kFull, ""},
      {0, kNoLimit, "bytes=-0", kFull, ""},
      {0, kNoLimit, "bytes=0-", kFull, ""},
      {0, kNoLimit, "bytes=5-3", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=abc", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1-2;", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1-2 x", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=", kFull, ""},
      {0, kNoLimit, "bytes= ", kFull, ""},
      {0, kNoLimit, "bytes=,", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0-1,", kFull, ""},
      {0, kNoLimit, "bytes=,0-1", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0-1,,2-3", kFull, ""},
      {0, kNoLimit, "BYTES=0-1", kFull, ""},
      {0, kNoLimit, "Bytes=1-1", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes =0-1", kFull, ""},
      {0, kNoLimit, "bytes=0 -1", kFull, ""},
      {0, kNoLimit, "bytes=\t0-1", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0-1\t", kFull, ""},
      {0, kNoLimit, "bytes=1-0", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=--1", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1--2", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1-2-3", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=+1-2", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0x1-2", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=9223372036854775807-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=9223372036854775808-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0-9223372036854775807", kFull, ""},
      {0, kNoLimit, "bytes=0-9223372036854775808", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=-9223372036854775807", kFull, ""},
      {0, kNoLimit, "bytes=-99999999999999999999", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0-1,24-30", kFull, ""},
      {0, kNoLimit, "bytes=24-30,25-", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=0-11,12-22", kFull, ""},
      {0, kNoLimit, "bytes=0-11,11-22", kFull, ""},
      {0, kNoLimit, "bytes=0-,-1", kFull, ""},
      {0, kNoLimit, "bytes=-12,-12", kFull, ""},
      {0, kNoLimit, "bytes=-12,-11", kFull, ""},
      {0, kNoLimit, "bytes=5-5,5-5,5-5", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=20-30,0-1", kFull, ""},
      {0, kNoLimit, "bytes=0-1,5-3,7-8", kFull, ""},
      {0, kNoLimit, "bytes=0-1,abc", kFull, ""},
      {0, kNoLimit, "bytes=0-1,2-3,x", kFull, ""},
      {0, kNoLimit, "items=0-1", kFull, ""},
      {0, kNoLimit, "bytes0-1", kFull, ""},
      {0, kNoLimit, "byte=0-1", kFull, ""},
      {0, kNoLimit, "bytes=00000000000000000000001-2", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1-2 ,3-4", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1 -2", kUnsatisfiable, ""},
      {0, kNoLimit, "bytes=1- 2", kUnsatisfiable, ""},
      {23, 1, "bytes=0-1", kPartial, "0-1"},
      {23, 1, "bytes=0-0", kPartial, "0-0"},
      {23, 1, "bytes=0-22", kPartial, "0-22"},
      {23, 1, "bytes=0-23", kPartial, "0-22"},
      {23, 1, "bytes=0-100", kPartial, "0-22"},
      {23, 1, "bytes=22-", kPartial, "22-22"},
      {23, 1, "bytes=23-", kUnsatisfiable, ""},
      {23, 1, "bytes=24-", kUnsatisfiable, ""},
      {23, 1, "bytes=-1", kPartial, "22-22"},
      {23, 1, "bytes=-23", kPartial, "0-22"},
      {23, 1, "bytes=-24", kPartial, "0-22"},
      {23, 1, "bytes=-0", kUnsatisfiable, ""},
      {23, 1, "bytes=0-", kPartial, "0-22"},
      {23, 1, "bytes=5-3", kUnsatisfiable, ""},
      {23, 1, "bytes=abc", kUnsatisfiable, ""},
      {23, 1, "bytes=1-2;", kUnsatisfiable, ""},
      {23, 1, "bytes=1-2 x", kUnsatisfiable, ""},
      {23, 1, "bytes=", kFull, ""},
      {23, 1, "bytes= ", kFull, ""},
      {23, 1, "bytes=,", kUnsatisfiable, ""},
      {23, 1, "bytes=0-1,", kUnsatisfiable, ""},
      {23, 1, "bytes=,0-1", kUnsatisfiable, ""},
      {23, 1, "bytes=0-1,,2-3", kUnsatisfiable, ""},
      {23, 1, "BYTES=0-1", kPartial, "0-1"},
      {23, 1, "Bytes=1-1", kPartial, "1-1"},
      {23, 1, "bytes =0-1", kFull, ""},
      {23, 1, "bytes=0 -1", kPartial, "0-1"},
      {23, 1, "bytes=\t0-1", kUnsatisfiable, ""},
      {23, 1, "bytes=0-1\t", kPartial, "0-1"},
      {23, 1, "bytes=1-0", kUnsatisfiable, ""},
      {23, 1, "bytes=--1", kUnsatisfiable, ""},
      {23, 1, "bytes=1--2", kUnsatisfiable, ""},
      {23, 1, "bytes=-", kUnsatisfiable, ""},
      {23, 1, "bytes=1-2-3", kUnsatisfiable, ""},
      {23, 1, "bytes=+1-2", kUnsatisfiable, ""},
      {23, 1, "bytes=0x1-2", kUnsatisfiable, ""},
      {23, 1, "bytes=9223372036854775807-", kUnsatisfiable, ""},
      {23, 1, "bytes=9223372036854775808-", kUnsatisfiable, ""},
      {23, 1, "bytes=0-9223372036854775807", kPartial, "0-22"},
      {23, 1, "bytes=0-9223372036854775808", kUnsatisfiable, ""},
      {23, 1, "bytes=-9223372036854775807", kPartial, "0-22"},
      {23, 1, "bytes=-99999999999999999999", kUnsatisfiable, ""},
      {23, 1, "bytes=0-1,24-30", kPartial, "0-1"},
      {23, 1, "bytes=24-30,25-", kUnsatisfiable, ""},
      {23, 1, "bytes=0-11,12-22", kFull, ""},
      {23, 1, "bytes=0-11,11-22", kFull, ""},
      {23, 1, "bytes=0-,-1", kFull, ""},
      {23, 1, "bytes=-12,-12", kFull, ""},
      {23, 1, "bytes=-12,-11", kFull, ""},
      {23, 1, "bytes=5-5,5-5,5-5", kFull, ""},
      {23, 1, "bytes=20-30,0-1", kFull, ""},
      {23, 1, "bytes=0-1,5-3,7-8", kFull, ""},
      {23, 1, "bytes=0-1,abc", kUnsatisfiable, ""},
      {23, 1, "bytes=0-1,2-3,x", kFull, ""},
      {23, 1, "items=0-1", kFull, ""},
      {23, 1, "bytes0-1", kFull, ""},
      {23, 1, "byte=0-1", kFull, ""},
      {23, 1, "bytes=00000000000000000000001-2", kPartial, "1-2"},
      {23, 1, "bytes=1-2 ,3-4", kFull, ""},
      {23, 1, "bytes=1 -2", kPartial, "1-2"},
      {23, 1, "bytes=1- 2", kPartial, "1-2"},
      {23, 1, "bytes=0-1,2-3", kFull, ""},
      {23, 1, "bytes=0-1,5-3", kPartial, "0-1"},
      {23, 1, "bytes=5-3,0-1,4-4", kFull, ""},
      {23, 0, "bytes=0-1", kFull, ""},
      {23, 0, "bytes=0-0", kFull, ""},
      {23, 0, "bytes=0-22", kFull, ""},
      {23, 0, "bytes=0-23", kFull, ""},
      {23, 0, "bytes=0-100", kFull, ""},
      {23, 0, "bytes=22-", kFull, ""},
      {23, 0, "bytes=23-", kFull, ""},
      {23, 0, "bytes=24-", kFull, ""},
      {23, 0, "bytes=-1", kFull, ""},
      {23, 0, "bytes=-23", kFull, ""},
      {23, 0, "bytes=-24", kFull, ""},
      {23, 0, "bytes=-0", kFull, ""},
      {23, 0, "bytes=0-", kFull, ""},
      {23, 0, "bytes=5-3", kFull, ""},
      {23, 0, "bytes=abc", kFull, ""},
      {23, 0, "bytes=1-2;", kFull, ""},
      {23, 0, "bytes=1-2 x", kFull, ""},
      {23, 0, "bytes=", kFull, ""},
      {23, 0, "bytes= ", kFull, ""},
      {23, 0, "bytes=,", kFull, ""},
      {23, 0, "bytes=0-1,", kFull, ""},
      {23, 0, "bytes=,0-1", kFull, ""},
      {23, 0, "bytes=0-1,,2-3", kFull, ""},
      {23, 0, "BYTES=0-1", kFull, ""},
      {23, 0, "Bytes=1-1", kFull, ""},
      {23, 0, "bytes =0-1", kFull, ""},
      {23, 0, "bytes=0 -1", kFull, ""},
      {23, 0, "bytes=\t0-1", kFull, ""},
      {23, 0, "bytes=0-1\t", kFull, ""},
      {23, 0, "bytes=1-0", kFull, ""},
      {23, 0, "bytes=--1", kFull, ""},
      {23, 0, "bytes=1--2", kFull, ""},
      {23, 0, "bytes=-", kFull, ""},
      {23, 0, "bytes=1-2-3", kFull, ""},
      {23, 0, "bytes=+1-2", kFull, ""},
      {23, 0, "bytes=0x1-2", kFull, ""},
      {23, 0, "bytes=9223372036854775807-", kFull, ""},
      {23, 0, "bytes=9223372036854775808-", kFull, ""},
      {23, 0, "bytes=0-9223372036854775807", kFull, ""},
      {23, 0, "bytes=0-9223372036854775808", kFull, ""},
      {23, 0, "bytes=-9223372036854775807", kFull, ""},
      {23, 0, "bytes=-99999999999999999999", kFull, ""},
      {23, 0, "bytes=0-1,24-30", kFull, ""},
      {23, 0, "bytes=24-30,25-", kFull, ""},
      {23, 0, "bytes=0-11,12-22", kFull, ""},
      {23, 0, "bytes=0-11,11-22", kFull, ""},
      {23, 0, "bytes=0-,-1", kFull, ""},
      {23, 0, "bytes=-12,-12", kFull, ""},
      {23, 0, "bytes=-12,-11", kFull, ""},
      {23, 0, "bytes=5-5,5-5,5-5", kFull, ""},
      {23, 0, "bytes=20-30,0-1", kFull, ""},
      {23, 0, "bytes=0-1,5-3,7-8", kFull, ""},
      {23, 0, "bytes=0-1,abc", kFull, ""},
      {23, 0, "bytes=0-1,2-3,x", kFull, ""},
      {23, 0, "items=0-1", kFull, ""},
      {23, 0, "bytes0-1", kFull, ""},
      {23, 0, "byte=0-1", kFull, ""},
      {23, 0, "bytes=00000000000000000000001-2", kFull, ""},
      {23, 0, "bytes=1-2 ,3-4", kFull, ""},
      {23, 0, "bytes=1 -2", kFull, ""},
      {23, 0, "bytes=1- 2", kFull, ""},
  };
  for (const auto& c : cases) check(c);
}

TEST(StaticRange, MoreTable) {
  const uint64_t kBig = uint64_t(std::numeric_limits<int64_t>::max());
  const Case cases[] = {
      {1024, kNoLimit, "bytes=0-1,1000-,-2", kPartial, "0-1,1000-1023,1022-1023"},
      {1024, kNoLimit, "bytes=0-99,200-,-500", kFull, ""},  // 100 + 824 + 500 > 1024
      {1024, kNoLimit, "bytes=0-99,200-299,-500", kPartial, "0-99,200-299,524-1023"},
      {1024, kNoLimit, "bytes=1023-1023", kPartial, "1023-1023"},
      {1024, kNoLimit, "bytes=1024-1024", kUnsatisfiable, ""},
      {1024, kNoLimit, "bytes=-1024", kPartial, "0-1023"},
      {1024, kNoLimit, "bytes=0-511,512-1023", kPartial, "0-511,512-1023"},
      {1024, kNoLimit, "bytes=0-511,511-1023", kFull, ""},               // adds up to 1025
      {1024, kNoLimit, "bytes=100-199,0-99", kPartial, "100-199,0-99"},  // order kept
      {1024, kNoLimit, "bytes=0-9,5-14", kPartial, "0-9,5-14"},          // overlap kept
      {1024, 2, "bytes=0-1,2-3", kPartial, "0-1,2-3"},
      {1024, 2, "bytes=0-1,2-3,4-5", kFull, ""},
      {1024, 2, "bytes=0-1,2000-3000,4-5", kPartial, "0-1,4-5"},  // skipped ones don't count
      {1024, 1, "bytes=0-1,2-3,zzz", kFull, ""},  // declined before the syntax error is seen
      {1024, 3, "bytes=0-1,2-3,zzz", kUnsatisfiable, ""},
      {1, kNoLimit, "bytes=0-0", kPartial, "0-0"},
      {1, kNoLimit, "bytes=-1", kPartial, "0-0"},
      {1, kNoLimit, "bytes=1-", kUnsatisfiable, ""},
      {kBig, kNoLimit, "bytes=0-", kPartial, "0-9223372036854775806"},
      {kBig, kNoLimit, "bytes=-1", kPartial, "9223372036854775806-9223372036854775806"},
      {kBig, kNoLimit, "bytes=9223372036854775806-", kPartial,
       "9223372036854775806-9223372036854775806"},
      {kBig, kNoLimit, "bytes=0-,0-", kUnsatisfiable, ""},  // nginx's off_t overflow check
      {5000000000, kNoLimit, "bytes=4294967296-4294967297", kPartial, "4294967296-4294967297"},
      // The header value as the parser hands it over is what nginx sees; NUL ends it.
      {23, kNoLimit, "bytes=0-1", kPartial, "0-1"},
  };
  for (const auto& c : cases) check(c);
}

TEST(StaticRange, EmbeddedNulEndsTheValueLikeNginx) {
  ByteRange buf[4];
  const std::string v("bytes=0-1\0garbage", 17);
  const RangeSpec spec = parse_range(v, 23, kNoLimit, buf);
  ASSERT_EQ(spec.result, kPartial);
  EXPECT_EQ(describe({buf, spec.count}), "0-1");
}

TEST(StaticRange, ParseNeverReadsPastTheView) {
  // "bytes=0-1" cut short inside a larger buffer whose tail would change the answer.
  const std::string full = "bytes=0-1x";
  ByteRange buf[4];
  const RangeSpec spec = parse_range(std::string_view(full.data(), 9), 23, kNoLimit, buf);
  ASSERT_EQ(spec.result, kPartial);
  EXPECT_EQ(describe({buf, spec.count}), "0-1");
}

TEST(StaticRange, MoreRangesThanCapacity) {
  std::string value = "bytes=";
  for (int i = 0; i < 20; ++i)
    value += (i ? "," : "") + std::to_string(i) + "-" + std::to_string(i);
  ByteRange small[kInlineRanges];
  const RangeSpec first = parse_range(value, 100, kNoLimit, small);
  ASSERT_EQ(first.result, kPartial);
  EXPECT_EQ(first.count, 20u);
  EXPECT_EQ(first.total_length, 20u);
  EXPECT_EQ(small[15], (ByteRange{15, 16}));
  // Second pass with room for all of them, e.g. from the request arena.
  std::vector<ByteRange> big(first.count);
  const RangeSpec second = parse_range(value, 100, kNoLimit, big);
  ASSERT_EQ(second.result, kPartial);
  ASSERT_EQ(second.count, 20u);
  EXPECT_EQ(big[19], (ByteRange{19, 20}));
  // Zero capacity works too: a pure count.
  const RangeSpec count_only = parse_range(value, 100, kNoLimit, {});
  EXPECT_EQ(count_only.count, 20u);
  EXPECT_EQ(count_only.result, kPartial);
}

TEST(StaticRange, MaxRangesBoundary) {
  for (uint32_t max = 1; max <= 20; ++max) {
    for (uint32_t n = 1; n <= 21; ++n) {
      std::string value = "bytes=";
      for (uint32_t i = 0; i < n; ++i)
        value += (i ? "," : "") + std::to_string(i * 2) + "-" + std::to_string(i * 2);
      ByteRange buf[32];
      const RangeSpec spec = parse_range(value, 1000, max, buf);
      EXPECT_EQ(spec.result, n <= max ? kPartial : kFull) << "max=" << max << " n=" << n;
    }
  }
}

TEST(StaticRange, ContentRangeValues) {
  char buf[kContentRangeMaxLen];
  EXPECT_EQ(format_content_range({0, 2}, 23, buf), "bytes 0-1/23");
  EXPECT_EQ(format_content_range({18, 23}, 23, buf), "bytes 18-22/23");
  EXPECT_EQ(format_content_range({0, 1}, 1, buf), "bytes 0-0/1");
  const uint64_t big = UINT64_MAX;
  const auto longest = format_content_range({big - 2, big - 1}, big, buf);
  EXPECT_EQ(longest, "bytes 18446744073709551613-18446744073709551613/18446744073709551615");
  EXPECT_EQ(longest.size(), kContentRangeMaxLen);
  EXPECT_EQ(format_unsatisfied_range(23, buf), "bytes */23");
  EXPECT_EQ(format_unsatisfied_range(0, buf), "bytes */0");
}

// Builds the whole multipart body the way the lead sends it: part headers from memory, data
// from the file, the trailer last.
std::string multipart_body(const MultipartRanges& mp, std::span<const ByteRange> ranges,
                           std::string_view file) {
  std::string body;
  for (const ByteRange& r : ranges) {
    std::vector<char> buf(mp.part_header_len(r));
    const std::string_view h = mp.format_part_header(r, buf.data());
    EXPECT_EQ(h.size(), buf.size());
    body += h;
    body += file.substr(r.start, r.length());
  }
  body += mp.trailer();
  return body;
}

struct NginxMultipart {
  std::string_view file;
  const char* content_type;
  const char* range;
  uint64_t boundary;
  uint64_t content_length;  // nginx's Content-Length header
  std::string_view body;    // nginx's body, byte for byte
};

const std::string& bin_file() {
  static const std::string data = [] {
    std::string d;
    for (int i = 0; i < 4; ++i)
      for (int b = 0; b < 256; ++b) d += char(b);
    return d;
  }();
  return data;
}

// Captured from nginx 1.22.1 (curl -H 'Range: ...' | xxd), boundaries as nginx numbered them.
TEST(StaticRange, MultipartMatchesNginxByteForByte) {
  constexpr std::string_view kText = "hello world 0123456789\n";
  const NginxMultipart cases[] = {
      {kText, "text/plain", "bytes=0-1,5-6", 4, 198,
       "\r\n"
       "--00000000000000000004\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 0-1/23\r\n"
       "\r\n"
       "he\r\n"
       "--00000000000000000004\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 5-6/23\r\n"
       "\r\n"
       " w\r\n"
       "--00000000000000000004--\r\n"},
      {kText, "text/plain", "bytes=-3,0-0", 5, 200,
       "\r\n"
       "--00000000000000000005\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 20-22/23\r\n"
       "\r\n"
       "89\n"
       "\r\n"
       "--00000000000000000005\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 0-0/23\r\n"
       "\r\n"
       "h\r\n"
       "--00000000000000000005--\r\n"},
      {kText, "text/plain; charset=utf-8", "bytes=0-1,5-6", 6, 228,
       "\r\n"
       "--00000000000000000006\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n"
       "Content-Range: bytes 0-1/23\r\n"
       "\r\n"
       "he\r\n"
       "--00000000000000000006\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n"
       "Content-Range: bytes 5-6/23\r\n"
       "\r\n"
       " w\r\n"
       "--00000000000000000006--\r\n"},
      {bin_file(), "application/octet-stream", "bytes=0-1,1000-,-2", 7, 365,
       std::string_view("\r\n"
                        "--00000000000000000007\r\n"
                        "Content-Type: application/octet-stream\r\n"
                        "Content-Range: bytes 0-1/1024\r\n"
                        "\r\n"
                        "\x00\x01\r\n"
                        "--00000000000000000007\r\n"
                        "Content-Type: application/octet-stream\r\n"
                        "Content-Range: bytes 1000-1023/1024\r\n"
                        "\r\n"
                        "\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7"
                        "\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff\r\n"
                        "--00000000000000000007\r\n"
                        "Content-Type: application/octet-stream\r\n"
                        "Content-Range: bytes 1022-1023/1024\r\n"
                        "\r\n"
                        "\xfe\xff\r\n"
                        "--00000000000000000007--\r\n",
                        365)},
      {kText, "text/plain", "bytes=0-0,0-0,0-0", 8, 280,
       "\r\n"
       "--00000000000000000008\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 0-0/23\r\n"
       "\r\n"
       "h\r\n"
       "--00000000000000000008\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 0-0/23\r\n"
       "\r\n"
       "h\r\n"
       "--00000000000000000008\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 0-0/23\r\n"
       "\r\n"
       "h\r\n"
       "--00000000000000000008--\r\n"},
      {kText, "text/plain", "bytes= 1 - 2 , 4 -", 9, 216,
       "\r\n"
       "--00000000000000000009\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 1-2/23\r\n"
       "\r\n"
       "el\r\n"
       "--00000000000000000009\r\n"
       "Content-Type: text/plain\r\n"
       "Content-Range: bytes 4-22/23\r\n"
       "\r\n"
       "o world 0123456789\n"
       "\r\n"
       "--00000000000000000009--\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.range);
    ByteRange buf[kInlineRanges];
    const RangeSpec spec = parse_range(c.range, c.file.size(), kNoLimit, buf);
    ASSERT_EQ(spec.result, kPartial);
    ASSERT_GT(spec.count, 1u);
    const std::span<const ByteRange> ranges(buf, spec.count);
    const MultipartRanges mp(c.boundary, c.content_type, c.file.size());
    EXPECT_EQ(mp.content_type(), "multipart/byteranges; boundary=" + std::string(mp.boundary()));
    EXPECT_EQ(mp.content_length(ranges), c.content_length);
    const std::string body = multipart_body(mp, ranges, c.file);
    EXPECT_EQ(body, c.body);
    EXPECT_EQ(body.size(), c.content_length);
  }
}

TEST(StaticRange, MultipartPieces) {
  const MultipartRanges mp(1, "text/plain", 23);
  EXPECT_EQ(mp.boundary(), "00000000000000000001");
  EXPECT_EQ(mp.content_type(), "multipart/byteranges; boundary=00000000000000000001");
  EXPECT_EQ(mp.trailer(), "\r\n--00000000000000000001--\r\n");
  EXPECT_EQ(MultipartRanges::kTrailerLen, 28u);
  char buf[256];
  EXPECT_EQ(mp.format_part_header({5, 7}, buf),
            "\r\n--00000000000000000001\r\nContent-Type: text/plain\r\n"
            "Content-Range: bytes 5-6/23\r\n\r\n");

  // No content type: nginx leaves the line out.
  const MultipartRanges untyped(12345678901234567890u, "", 23);
  EXPECT_EQ(untyped.boundary(), "12345678901234567890");
  const ByteRange r{0, 23};
  EXPECT_EQ(untyped.format_part_header(r, buf),
            "\r\n--12345678901234567890\r\nContent-Range: bytes 0-22/23\r\n\r\n");
  EXPECT_EQ(untyped.part_header_len(r), untyped.format_part_header(r, buf).size());

  // The longest possible part header fits the documented bound.
  const uint64_t big = UINT64_MAX;
  const MultipartRanges huge(0, "x", big);
  const ByteRange hr{big - 2, big - 1};
  EXPECT_EQ(huge.part_header_len(hr), MultipartRanges::kPartHeaderMaxOverhead + 1);
  EXPECT_EQ(huge.format_part_header(hr, buf).size(), MultipartRanges::kPartHeaderMaxOverhead + 1);
}

TEST(StaticRange, BoundaryCounterIncreases) {
  const uint64_t a = MultipartRanges::next_boundary();
  const uint64_t b = MultipartRanges::next_boundary();
  EXPECT_GE(a, 1u);
  EXPECT_EQ(b, a + 1);
}

}  // namespace
}  // namespace portico::static_files
