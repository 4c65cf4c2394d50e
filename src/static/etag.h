// Strong entity tags for files, byte-for-byte as nginx makes them (ngx_http_set_etag in
// src/http/ngx_http_core_module.c: "\"%xT-%xO\"", lowercase hex of mtime and size), so caches
// primed by nginx keep validating after a switch to portico. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace portico::static_files {

// Quote, 16 hex digits, '-', 16 hex digits, quote.
inline constexpr size_t kEtagMaxLen = 35;

// Writes "\"<hex mtime>-<hex size>\"" (e.g. "\"5f3c1a2b-264\"") into buf and returns a view of
// it. A negative mtime is printed as its 64-bit two's complement, as nginx's %xT does.
// REQUIRES: buf has room for kEtagMaxLen chars.
std::string_view format_etag(time_t mtime, uint64_t size, char* buf);

// True if `tag` is a weak entity tag (starts with "W/").
inline bool is_weak_etag(std::string_view tag) {
  return tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/';
}

}  // namespace portico::static_files
