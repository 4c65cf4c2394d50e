#include "static/etag.h"

namespace portico::static_files {

namespace {

char* put_hex(char* p, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do {
    tmp[n++] = kHex[v & 0xf];
    v >>= 4;
  } while (v != 0);
  while (n != 0) *p++ = tmp[--n];
  return p;
}

}  // namespace

std::string_view format_etag(time_t mtime, uint64_t size, char* buf) {
  char* p = buf;
  *p++ = '"';
  p = put_hex(p, uint64_t(int64_t(mtime)));
  *p++ = '-';
  p = put_hex(p, size);
  *p++ = '"';
  return std::string_view(buf, size_t(p - buf));
}

}  // namespace portico::static_files
