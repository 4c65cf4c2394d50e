// proxy_cookie_domain / proxy_cookie_path: rewriting the Domain and Path attributes of an
// upstream's Set-Cookie as nginx does (ngx_http_proxy_rewrite_cookie). The parsing and the
// plain (non-regex) rules are pure functions over strings, unit-tested; rewrite_set_cookie
// applies a location's rules, evaluating their variables on the request. Worker thread. Called
// only when the location has rules: a response without them pays nothing per Set-Cookie.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/regex.h"
#include "http/variables.h"

namespace portico::http {
struct Request;
}

namespace portico::proxy {

// One proxy_cookie_domain / proxy_cookie_path rule.
struct CookieRule {
  std::shared_ptr<const Regex> regex;  // `~regex` (domain: always caseless; path: `~*`)
  http::ComplexValue pattern;          // otherwise: a domain (its leading '.' dropped) or a
                                       // path prefix
  http::ComplexValue replacement;      // a domain's leading '.' dropped
};

// One `name=value` or bare `name` of a Set-Cookie value, whitespace around trimmed.
struct CookieAttr {
  std::string_view key;
  std::string_view value;
  bool has_value = false;
};

// Splits a Set-Cookie value at ';' into attributes (the first is the cookie itself, split at
// its first '='). Returns false when the cookie has no '=' (nginx leaves such a value alone).
// `out` is cleared first; it keeps its capacity.
bool parse_cookie(std::string_view v, std::vector<CookieAttr>& out);
// The attributes joined back as "k=v; k2=v2; flag" into `out` (cleared first).
void rebuild_cookie(const std::vector<CookieAttr>& attrs, std::string& out);

// A plain domain rule: `value` (a leading '.' kept aside) equals `pattern` ignoring case.
// On a match writes the new value (the '.' kept, then `replacement`) to `out`.
bool rewrite_domain(std::string_view value, std::string_view pattern, std::string_view replacement,
                    std::string& out);
// A plain path rule: `value` starts with `pattern` (case-sensitive); the prefix is replaced.
bool rewrite_path(std::string_view value, std::string_view pattern, std::string_view replacement,
                  std::string& out);

// Applies the rules (first match wins for each attribute) to the Set-Cookie value `value`.
// Returns true with the rebuilt value in `out` when something changed. Regex captures are set
// on r for the replacement.
bool rewrite_set_cookie(http::Request& r, const std::vector<CookieRule>& domains,
                        const std::vector<CookieRule>& paths, std::string_view value,
                        std::string& out);

}  // namespace portico::proxy
