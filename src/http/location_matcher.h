// LocationMatcher: picks the location{} of one server for a normalised $uri with nginx's
// precedence, nesting and quirks (ngx_http_core_find_location, ngx_http_init_locations,
// ngx_http_init_static_location_trees):
//
//  1. The prefix and exact locations of a level form nginx's static tree. An exact (`=`) match
//     wins at once. Otherwise the longest matching prefix is remembered; if it has nested
//     locations, they are searched the same way and a nested choice replaces it.
//  2. Unless that level's longest prefix is `^~`, the level's regex locations are tried in
//     config order (nested levels first, since the search recurses before trying them); the
//     first that matches wins, and the regexes nested in it are tried in turn.
//  3. Failing all regexes, the longest prefix wins; no prefix at all -> no location (the
//     server-level configuration handles the request, as in nginx without `location /`).
//
// Quirks kept from nginx (all checked against nginx 1.22):
//  - `^~` only stops the regexes of the level where it is the longest prefix; a `^~` nested in
//    `location /a` does not stop the server-level regexes (`location /a { location ^~ /a/b {} }
//    location ~ \.txt$ {}`: "/a/b.txt" goes to the regex).
//  - auto_redirect: a location whose pattern ends in '/' and that has proxy_pass (or another
//    *_pass) set answers "/app" with a 301 to "/app/" -- before any regex is tried, and only
//    if the walk of the static tree passes by that node (nginx's binary tree, reproduced here).
//  - Prefix (non-regex) locations nested in a regex location are never matched.
//  - Duplicate named locations are not an error; the first wins.
//
// Built once per server while the configuration snapshot is built, immutable afterwards and
// shared read-only by all worker threads. lookup() allocates nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/regex.h"
#include "core/status.h"

namespace portico::http {

// What the configuration builder gives for one `location` block.
struct LocationDef {
  enum class Kind {
    kExact,          // location = /x
    kPrefix,         // location /x
    kPrefixNoRegex,  // location ^~ /x
    kRegex,          // location ~ re
    kRegexCaseless,  // location ~* re
    kNamed,          // location @name   (pattern includes the '@')
  };
  Kind kind = Kind::kPrefix;
  std::string pattern;
  const void* payload = nullptr;
  std::vector<LocationDef> children;  // nested location blocks, in config order
  std::string file;                   // where the block starts, for error messages
  int line = 0;
  // nginx's clcf->auto_redirect: set by proxy_pass, fastcgi_pass, uwsgi_pass, scgi_pass,
  // grpc_pass and memcached_pass when the location's pattern ends in '/'.
  bool auto_redirect = false;
};

struct LocationMatch {
  const void* payload = nullptr;  // chosen location; nullptr: none, use the server level
  const Regex* regex = nullptr;   // set when a regex location was chosen (its named groups)
  // nginx's NGX_DONE: answer 301 to $uri + "/" (plus "?" $args); payload is that location.
  bool redirect_slash = false;
};

class LocationMatcher {
 public:
  LocationMatcher();
  ~LocationMatcher();
  LocationMatcher(LocationMatcher&&) noexcept;
  LocationMatcher& operator=(LocationMatcher&&) noexcept;

  // Compiles the regexes and builds the search structures for one server's locations (config
  // order). Errors, in nginx's words with " in FILE:LINE" of the offending block:
  //   duplicate location "/x" in FILE:LINE
  //   location "/a/b" cannot be inside the exact location "/a" in FILE:LINE
  //   location "/b" cannot be inside the named location "@n" in FILE:LINE
  //   named location "@n" can be on the server level only in FILE:LINE
  //   location "/b" is outside location "/a" in FILE:LINE
  //   pcre2_compile() failed: missing closing parenthesis in "(foo" in FILE:LINE
  // The first error found is returned (nginx stops there too) and the matcher is left empty.
  Status build(std::vector<LocationDef> defs);

  // The location nginx would choose for `uri` (a normalised $uri). On a regex match, *caps
  // (if non-null) receives its groups, subject = uri (which must outlive *caps); when no regex
  // is chosen *caps is left untouched, so server_name captures stay visible as in nginx.
  // A regex that fails with a PCRE error (match limit) counts as not matching.
  LocationMatch lookup(std::string_view uri, Captures* caps) const;
  const void* match(std::string_view uri, Captures* caps) const {
    return lookup(uri, caps).payload;
  }

  // The server-level named location "@name", or nullptr.
  const void* find_named(std::string_view name) const;

 private:
  struct Loc;
  struct Node;
  struct Level {
    int32_t root = -1;                // static tree (index into nodes_), -1 if none
    std::vector<const Loc*> regexes;  // config order
  };
  enum class Rc : uint8_t { kOk, kDone, kAgain, kDeclined };
  struct QItem;

  Status parse_level(std::vector<LocationDef>& defs, const Loc* parent, std::vector<Loc*>* out);
  Status init_level(const std::vector<Loc*>& locs, bool with_static, Level* level);
  int32_t create_tree(std::vector<QItem>& items, size_t begin, size_t end, size_t prefix);

  Rc find_location(const Level& level, std::string_view uri, const Loc** cur, Captures* caps) const;
  Rc find_static(int32_t node, std::string_view uri, const Loc** cur) const;

  std::vector<std::unique_ptr<Loc>> locs_;  // owns every location, nested ones included
  std::vector<Node> nodes_;
  std::unique_ptr<Level> top_;
  std::vector<Loc*> top_locs_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, const void*, Hash, std::equal_to<>> named_;
};

}  // namespace portico::http
