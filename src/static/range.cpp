#include "static/range.h"

#include <atomic>
#include <cassert>
#include <cstring>
#include <limits>

#include "core/strings.h"

namespace portico::static_files {

namespace {

constexpr int64_t kCutoff = std::numeric_limits<int64_t>::max() / 10;
constexpr int64_t kCutlim = std::numeric_limits<int64_t>::max() % 10;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char* put_uint(char* p, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = char('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n != 0) *p++ = tmp[--n];
  return p;
}

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

size_t uint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 10) v /= 10, ++n;
  return n;
}

// "S-E/SIZE"
char* put_range(char* p, const ByteRange& r, uint64_t size) {
  p = put_uint(p, r.start);
  *p++ = '-';
  p = put_uint(p, r.last());
  *p++ = '/';
  return put_uint(p, size);
}

size_t range_len(const ByteRange& r, uint64_t size) {
  return uint_len(r.start) + 1 + uint_len(r.last()) + 1 + uint_len(size);
}

// Reads the decimal number at value[*i]; false on overflow of off_t, like nginx.
// The caller has checked that a digit is there.
bool read_number(std::string_view value, size_t* i, int64_t* out) {
  int64_t v = 0;
  while (*i < value.size() && is_digit(value[*i])) {
    const int64_t d = value[*i] - '0';
    if (v >= kCutoff && (v > kCutoff || d > kCutlim)) return false;
    v = v * 10 + d;
    ++*i;
  }
  *out = v;
  return true;
}

std::atomic<uint64_t> g_boundary{0};

}  // namespace

// A walk over the value that mirrors ngx_http_range_parse() step by step; at() reads NUL past
// the end, as nginx reads the NUL terminating the header value.
RangeSpec parse_range(std::string_view value, uint64_t size, uint32_t max_ranges,
                      std::span<ByteRange> out) {
  assert(size <= uint64_t(std::numeric_limits<int64_t>::max()));
  const RangeSpec full{RangeResult::kFull, 0, 0};
  const RangeSpec unsatisfiable{RangeResult::kUnsatisfiable, 0, 0};
  // nginx's header parser drops surrounding spaces; portico's may hand over OWS, so trim here.
  value = trim(value);
  if (max_ranges == 0 || value.size() < 7 || !istarts_with(value, "bytes=")) return full;

  auto at = [&value](size_t k) { return k < value.size() ? value[k] : '\0'; };
  const int64_t content_length = int64_t(size);
  uint32_t ranges_left = max_ranges;
  int64_t total = 0;
  size_t count = 0;
  size_t i = 6;

  for (;;) {
    int64_t start = 0;
    int64_t end = 0;
    bool suffix = false;
    bool open_ended = false;

    while (at(i) == ' ') ++i;
    if (at(i) != '-') {
      if (!is_digit(at(i)) || !read_number(value, &i, &start)) return unsatisfiable;
      while (at(i) == ' ') ++i;
      if (at(i++) != '-') return unsatisfiable;
      while (at(i) == ' ') ++i;
      if (at(i) == ',' || at(i) == '\0') {
        end = content_length;  // "a-"
        open_ended = true;
      }
    } else {
      suffix = true;  // "-n"
      ++i;
    }

    if (!open_ended) {
      if (!is_digit(at(i)) || !read_number(value, &i, &end)) return unsatisfiable;
      while (at(i) == ' ') ++i;
      if (at(i) != ',' && at(i) != '\0') return unsatisfiable;
      if (suffix) {
        start = end < content_length ? content_length - end : 0;
        end = content_length - 1;
      }
      end = end >= content_length ? content_length : end + 1;
    }

    if (start < end) {
      if (count < out.size()) out[count] = ByteRange{uint64_t(start), uint64_t(end)};
      ++count;
      if (total > std::numeric_limits<int64_t>::max() - (end - start)) return unsatisfiable;
      total += end - start;
      if (ranges_left-- == 0) return full;  // more than max_ranges
    } else if (start == 0) {
      return full;  // an empty file: nothing to cut
    }

    if (at(i++) != ',') break;
  }

  if (count == 0) return unsatisfiable;
  if (total > content_length) return full;  // overlapping ranges add up to more than the file
  return RangeSpec{RangeResult::kPartial, count, uint64_t(total)};
}

std::string_view format_content_range(const ByteRange& range, uint64_t size, char* buf) {
  char* p = put(buf, "bytes ");
  p = put_range(p, range, size);
  return std::string_view(buf, size_t(p - buf));
}

std::string_view format_unsatisfied_range(uint64_t size, char* buf) {
  char* p = put(buf, "bytes */");
  p = put_uint(p, size);
  return std::string_view(buf, size_t(p - buf));
}

MultipartRanges::MultipartRanges(uint64_t number, std::string_view content_type, uint64_t size)
    : type_(content_type), size_(size) {
  for (size_t i = kBoundaryLen; i-- > 0;) {
    boundary_[i] = char('0' + number % 10);
    number /= 10;
  }
  char* p = put(content_type_header_, "multipart/byteranges; boundary=");
  put(p, boundary());
  p = put(trailer_, "\r\n--");
  p = put(p, boundary());
  put(p, "--\r\n");
}

uint64_t MultipartRanges::next_boundary() {
  return g_boundary.fetch_add(1, std::memory_order_relaxed) + 1;
}

size_t MultipartRanges::part_header_len(const ByteRange& range) const {
  size_t len = 4 + kBoundaryLen + 2;  // CRLF "--" boundary CRLF
  if (!type_.empty()) len += 14 + type_.size() + 2;
  return len + 21 + range_len(range, size_) + 4;
}

std::string_view MultipartRanges::format_part_header(const ByteRange& range, char* buf) const {
  char* p = put(buf, "\r\n--");
  p = put(p, boundary());
  p = put(p, "\r\n");
  if (!type_.empty()) {
    p = put(p, "Content-Type: ");
    p = put(p, type_);
    p = put(p, "\r\n");
  }
  p = put(p, "Content-Range: bytes ");
  p = put_range(p, range, size_);
  p = put(p, "\r\n\r\n");
  return std::string_view(buf, size_t(p - buf));
}

uint64_t MultipartRanges::content_length(std::span<const ByteRange> ranges) const {
  uint64_t len = kTrailerLen;
  for (const ByteRange& r : ranges) len += part_header_len(r) + r.length();
  return len;
}

}  // namespace portico::static_files
