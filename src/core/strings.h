// Small string helpers shared by every subsystem: ASCII case folding, trimming and the
// nginx-style number, size and time parsers used by configuration directives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
}

// Inline: called for every header name on the request and proxy paths; most calls end at the
// size check.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}
bool istarts_with(std::string_view s, std::string_view prefix);
bool iends_with(std::string_view s, std::string_view suffix);
std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);  // strips SP and HTAB on both ends

// Parses a non-negative decimal integer; nullopt on empty, non-digit or overflow.
std::optional<uint64_t> parse_uint(std::string_view s);
// nginx "size": 1024, 8k, 8K, 1m, 1M, 1g, 1G. nullopt on error.
std::optional<uint64_t> parse_size(std::string_view s);
// nginx "time" in milliseconds: 500ms, 30, 30s, 5m, 1h, 1d, 1w, 1M, 1y, combinations "1h 30m".
std::optional<uint64_t> parse_time_ms(std::string_view s);

}  // namespace portico
