// Fuzzes the Range parser and the multipart framing built on it.
// Input layout: byte 0 picks max_ranges, bytes 1..8 the file size (little-endian, masked into
// off_t range and usually small), the rest is the Range header value. The same value is also
// fed to the HTTP date parser and If-Range, which take the same kind of untrusted header text.
// Invariants: every range lies in [0, size) and is non-empty, count <= max_ranges, the lengths
// add up to total_length <= size, a second parse with more room agrees, and the multipart
// Content-Length equals the bytes actually framed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/http_date.h"
#include "static/conditional.h"
#include "static/range.h"

using portico::static_files::ByteRange;
using portico::static_files::MultipartRanges;
using portico::static_files::RangeResult;
using portico::static_files::RangeSpec;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  if (len < 9) return 0;
  const uint32_t max_pick = data[0];
  const uint32_t max_ranges = max_pick == 255 ? UINT32_MAX : max_pick % 8;
  uint64_t raw = 0;
  std::memcpy(&raw, data + 1, 8);
  // Mostly small sizes so ranges land inside the file; sometimes huge ones for overflow paths.
  const uint64_t size = (raw >> 63) ? (raw & 0x7fffffffffffffffull) : (raw & 0xffff);
  const std::string_view value(reinterpret_cast<const char*>(data + 9), len - 9);

  ByteRange small[4];
  const RangeSpec spec = portico::static_files::parse_range(value, size, max_ranges, small);
  if (spec.result == RangeResult::kPartial) {
    FUZZ_CHECK(spec.count >= 1);
    FUZZ_CHECK(spec.count <= max_ranges);
    FUZZ_CHECK(spec.total_length <= size);
    std::vector<ByteRange> all(spec.count);
    const RangeSpec again = portico::static_files::parse_range(value, size, max_ranges, all);
    FUZZ_CHECK(again.result == spec.result && again.count == spec.count &&
               again.total_length == spec.total_length);
    uint64_t total = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      const ByteRange& r = all[i];
      FUZZ_CHECK(r.start < r.end_exclusive);
      FUZZ_CHECK(r.end_exclusive <= size);
      if (i < 4) FUZZ_CHECK(r == small[i]);
      total += r.length();
    }
    FUZZ_CHECK(total == spec.total_length);

    char buf[portico::static_files::kContentRangeMaxLen];
    FUZZ_CHECK(portico::static_files::format_content_range(all[0], size, buf).size() <= sizeof buf);
    if (all.size() > 1) {
      const MultipartRanges mp(raw, "application/octet-stream", size);
      uint64_t framed = mp.trailer().size();
      std::vector<char> hdr(MultipartRanges::kPartHeaderMaxOverhead + 24);
      for (const ByteRange& r : all) {
        const std::string_view h = mp.format_part_header(r, hdr.data());
        FUZZ_CHECK(h.size() == mp.part_header_len(r));
        framed += h.size() + r.length();
      }
      FUZZ_CHECK(framed == mp.content_length(all));
    }
  }

  if (const auto t = portico::parse_http_date(value)) {
    char date[portico::kHttpDateLen];
    FUZZ_CHECK(portico::parse_http_date(portico::format_http_date(*t, date)) == *t);
  }
  (void)portico::static_files::if_range_matches(value, "\"5f3c1a2b-264\"", 1597774379);
  (void)portico::static_files::etag_list_matches(value, "\"5f3c1a2b-264\"", true);
  return 0;
}
