// `map $source $variable { ... }`: a variable computed from another on use, as nginx's
// ngx_http_map_module: exact keys (case-insensitive), `~regex` / `~*regex` in order, `default`.
// Built with the snapshot; evaluated per request without allocation beyond the output string.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/regex.h"
#include "http/variables.h"

namespace portico::http {

struct MapConf {
  ComplexValue source;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, ComplexValue, Hash, std::equal_to<>> exact;  // lowercased keys
  struct RegexEntry {
    std::unique_ptr<Regex> regex;
    ComplexValue value;
    std::vector<std::pair<int, int>> named;  // (group, user variable) for named captures
  };
  std::vector<RegexEntry> regexes;
  ComplexValue default_value;

  // Appends the mapped value of the source for request r.
  void eval(Request& r, std::string& out) const;
};

}  // namespace portico::http
