// Byte classes and the field scanner shared by the request parser (http/parser.cpp) and the
// upstream response parser (proxy/response_parser.cpp). Header-only: they sit in the parsers'
// innermost loops.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace portico::http::chars {

using CharTable = std::array<bool, 256>;

constexpr bool is_alpha(unsigned c) {
  return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}
constexpr bool is_digit(unsigned c) {
  return c >= '0' && c <= '9';
}

// tchar (RFC 9110 5.6.2): methods and field names.
inline constexpr CharTable kTchar = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = is_alpha(c) || is_digit(c);
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] = true;
  return t;
}();

// Bytes allowed in a start line: VCHAR, SP and obs-text (no CTL, no DEL). nginx accepts raw
// UTF-8 in the target, so obs-text is let through; the router decodes and normalises.
inline constexpr CharTable kLineChar = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = c >= 0x20 && c != 0x7f;
  return t;
}();

// field-value and reason-phrase bytes (RFC 9110 5.5): VCHAR, SP, HTAB, obs-text, and DEL, which
// nginx passes through (it cannot affect framing).
inline constexpr CharTable kValueChar = [] {
  CharTable t = kLineChar;
  t['\t'] = true;
  t[0x7f] = true;
  return t;
}();

inline bool is_in(const CharTable& t, char c) {
  return t[static_cast<uint8_t>(c)];
}
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Advances over bytes of `table` (kLineChar or kValueChar) from p up to lim; returns where it
// stopped. Eight bytes at a time while none is a CTL or DEL (SWAR, like picohttpparser without
// SSE4.2): those are the only bytes these tables reject, so a clean word needs no lookups.
inline const char* skip_field_bytes(const CharTable& table, const char* p, const char* lim) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  for (;;) {
    while (lim - p >= 8) {
      uint64_t x;
      std::memcpy(&x, p, 8);
      const uint64_t below_space = (x - kOnes * 0x20) & ~x & kHigh;  // some byte < 0x20
      const uint64_t y = x ^ (kOnes * 0x7f);
      const uint64_t del = (y - kOnes) & ~y & kHigh;  // some byte == 0x7f
      if (below_space | del) break;
      p += 8;
    }
    const char* stop = lim - p > 8 ? p + 8 : lim;
    while (p < stop && is_in(table, *p)) ++p;
    if (p < stop || p == lim) return p;
  }
}

}  // namespace portico::http::chars
