#include "core/strings.h"

#include <limits>

namespace portico {

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> parse_uint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = uint64_t(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t mult = 1;
  switch (s.back()) {
    case 'k':
    case 'K':
      mult = 1024;
      break;
    case 'm':
    case 'M':
      mult = 1024 * 1024;
      break;
    case 'g':
    case 'G':
      mult = 1024ull * 1024 * 1024;
      break;
    default:
      break;
  }
  if (mult != 1) s.remove_suffix(1);
  auto v = parse_uint(s);
  if (!v || *v > std::numeric_limits<uint64_t>::max() / mult) return std::nullopt;
  return *v * mult;
}

std::optional<uint64_t> parse_time_ms(std::string_view s) {
  // nginx: a sequence of <number><unit> with optional spaces; a bare number means seconds.
  uint64_t total = 0;
  bool any = false;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i == s.size()) break;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    auto n = parse_uint(s.substr(start, i - start));
    if (!n) return std::nullopt;
    uint64_t unit = 1000;
    if (i < s.size() && s[i] != ' ') {
      if (s.substr(i, 2) == "ms") {
        unit = 1;
        i += 2;
      } else {
        switch (s[i]) {
          case 's':
            unit = 1000;
            break;
          case 'm':
            unit = 60'000;
            break;
          case 'h':
            unit = 3'600'000;
            break;
          case 'd':
            unit = 86'400'000;
            break;
          case 'w':
            unit = 7ull * 86'400'000;
            break;
          case 'M':
            unit = 30ull * 86'400'000;
            break;
          case 'y':
            unit = 365ull * 86'400'000;
            break;
          default:
            return std::nullopt;
        }
        ++i;
      }
    }
    if (*n > std::numeric_limits<uint64_t>::max() / unit) return std::nullopt;
    total += *n * unit;
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

}  // namespace portico
