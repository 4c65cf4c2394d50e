// Byte ranges (RFC 9110 section 14) with nginx's semantics (src/http/modules/
// ngx_http_range_filter_module.c): parsing a Range header against a file size, the
// Content-Range values, and the multipart/byteranges framing of a multi-range 206, laid out
// byte-for-byte as nginx does so the lead can send part headers from memory and the data with
// sendfile. Pure functions over caller buffers, no allocation; any thread.
//
// nginx's rules, which portico keeps (they differ from RFC 9110's advice in places):
//   - only "bytes=" (any case) is understood; another unit, or a value shorter than 7 chars,
//     means the header is ignored (200 with the whole file);
//   - a syntax error or an overflowing number is 416, not "ignore the header";
//   - "a-b" with b < a, and ranges starting at or after the size, are skipped; if nothing is
//     left, 416 with "Content-Range: bytes */SIZE";
//   - a range that starts at 0 but is empty (only possible for an empty file) ignores the header;
//   - more than max_ranges satisfiable ranges ignores the header (200); max_ranges 0 disables
//     ranges, and then nginx does not send Accept-Ranges either;
//   - if the range lengths add up to more than the file size, the header is ignored (200), which
//     defeats overlapping-range amplification; otherwise overlaps are served as given, in the
//     order given, never coalesced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace portico::static_files {

// One satisfiable range, [start, end_exclusive), with start < end_exclusive <= file size.
struct ByteRange {
  uint64_t start = 0;
  uint64_t end_exclusive = 0;

  uint64_t length() const { return end_exclusive - start; }
  uint64_t last() const { return end_exclusive - 1; }  // as in "Content-Range: bytes S-LAST/N"
  bool operator==(const ByteRange&) const = default;
};

enum class RangeResult : uint8_t {
  kFull,          // ignore the Range header: 200 with the whole file (and Accept-Ranges)
  kPartial,       // 206: one range (Content-Range) or several (multipart/byteranges)
  kUnsatisfiable  // 416 with "Content-Range: bytes */SIZE"
};

struct RangeSpec {
  RangeResult result = RangeResult::kFull;
  // kPartial: number of ranges. If it exceeds the capacity passed to parse_range(), only the
  // first out.size() were written: call again with room for `count` (e.g. from the arena).
  size_t count = 0;
  // kPartial: sum of the range lengths (the Content-Length of a single-range 206).
  uint64_t total_length = 0;
};

// Room for the ranges of all but unusual requests; the caller's stack array size.
inline constexpr size_t kInlineRanges = 16;

// Parses the Range header `value` for a file of `size` bytes, allowing at most `max_ranges`
// ranges (nginx's max_ranges; UINT32_MAX for no limit). Writes up to out.size() ranges to out.
// REQUIRES: size <= INT64_MAX.
RangeSpec parse_range(std::string_view value, uint64_t size, uint32_t max_ranges,
                      std::span<ByteRange> out);

// "bytes 0-99/1234": 6 + 3 * 20 + 2.
inline constexpr size_t kContentRangeMaxLen = 68;
// Writes the Content-Range value of a single-range 206 into buf; returns a view of it.
// REQUIRES: buf has room for kContentRangeMaxLen chars.
std::string_view format_content_range(const ByteRange& range, uint64_t size, char* buf);
// Writes the Content-Range value of a 416, "bytes */1234", into buf.
std::string_view format_unsatisfied_range(uint64_t size, char* buf);

// The framing of a multipart/byteranges body, nginx's layout:
//   Content-Type: multipart/byteranges; boundary=00000000000000000001
//   body = for each range:  CRLF "--" BOUNDARY CRLF
//                           ["Content-Type: " TYPE CRLF]      (omitted when TYPE is empty)
//                           "Content-Range: bytes S-E/SIZE" CRLF CRLF
//                           DATA
//          then             CRLF "--" BOUNDARY "--" CRLF
// The boundary is a 20-digit zero-padded counter, like nginx's "%0muA" of ngx_next_temp_number.
// Small (about 140 bytes) and self-contained: keep it in the request while the body is sent.
class MultipartRanges {
 public:
  static constexpr size_t kBoundaryLen = 20;
  // "multipart/byteranges; boundary=" + boundary
  static constexpr size_t kContentTypeLen = 31 + kBoundaryLen;
  // CRLF "--" boundary "--" CRLF
  static constexpr size_t kTrailerLen = 8 + kBoundaryLen;
  // Everything in a part header but the content type itself.
  static constexpr size_t kPartHeaderMaxOverhead =
      4 + kBoundaryLen + 2 + 14 + 2 + 21 + (kContentRangeMaxLen - 6) + 4;

  // `content_type` is the whole Content-Type value of the file as nginx would send it for a 200,
  // including any "; charset=..." (nginx repeats the charset in each part). It is not copied:
  // it must outlive this object (config strings do).
  MultipartRanges(uint64_t boundary_number, std::string_view content_type, uint64_t size);

  // A process-wide counter for boundaries, as nginx's; starts at 1.
  static uint64_t next_boundary();

  std::string_view boundary() const { return {boundary_, kBoundaryLen}; }
  // The Content-Type header value of the 206.
  std::string_view content_type() const { return {content_type_header_, kContentTypeLen}; }
  // The last boundary, CRLF "--" BOUNDARY "--" CRLF.
  std::string_view trailer() const { return {trailer_, kTrailerLen}; }

  // Length of the part header of `range` (everything from the leading CRLF to the blank line).
  size_t part_header_len(const ByteRange& range) const;
  // Writes the part header of `range` into buf and returns a view of it.
  // REQUIRES: buf has room for part_header_len(range) (at most
  // kPartHeaderMaxOverhead + content type length) chars.
  std::string_view format_part_header(const ByteRange& range, char* buf) const;
  // The exact Content-Length of the whole multipart body.
  uint64_t content_length(std::span<const ByteRange> ranges) const;

 private:
  std::string_view type_;
  uint64_t size_;
  char boundary_[kBoundaryLen];
  char content_type_header_[kContentTypeLen];
  char trailer_[kTrailerLen];
};

}  // namespace portico::static_files
