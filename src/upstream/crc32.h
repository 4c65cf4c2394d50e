// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit-compatible with nginx's ngx_crc32_*
// and zlib's crc32(). The `hash` balancers depend on the exact values: the same key must map to
// the same server as it does under nginx, and Cache::Memcached clients agree with both.
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::upstream {

// Incremental form, as nginx's ngx_crc32_init / ngx_crc32_update / ngx_crc32_final:
//   uint32_t c = kCrc32Init; c = crc32_update(c, a); c = crc32_update(c, b); crc32_final(c)
inline constexpr uint32_t kCrc32Init = 0xffffffffu;
uint32_t crc32_update(uint32_t crc, const void* data, size_t len);
inline uint32_t crc32_update(uint32_t crc, std::string_view s) {
  return crc32_update(crc, s.data(), s.size());
}
inline constexpr uint32_t crc32_final(uint32_t crc) {
  return crc ^ 0xffffffffu;
}

// One-shot CRC-32 of `s` (nginx: ngx_crc32_long).
inline uint32_t crc32(std::string_view s) {
  return crc32_final(crc32_update(kCrc32Init, s));
}

}  // namespace portico::upstream
