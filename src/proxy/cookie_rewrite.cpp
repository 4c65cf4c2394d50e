// proxy_cookie_domain / proxy_cookie_path (see cookie_rewrite.h).
#include "proxy/cookie_rewrite.h"

#include "core/strings.h"
#include "http/request.h"

namespace portico::proxy {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// The first rule of `rules` that matches `value` (its new value in `out`), as nginx's
// ngx_http_proxy_rewrite_cookie_value. `domain`: plain rules compare whole domains.
bool apply_rules(http::Request& r, const std::vector<CookieRule>& rules, bool domain,
                 std::string_view value, std::string& out) {
  std::string pattern, replacement;
  for (const CookieRule& rule : rules) {
    if (rule.regex) {
      Captures caps;
      if (!rule.regex->match(value, &caps)) continue;
      r.captures_subject.assign(value);
      r.captures = caps;
      r.captures.subject = r.captures_subject;
      out.clear();
      rule.replacement.eval(r, out);
      return true;
    }
    pattern.clear();
    rule.pattern.eval(r, pattern);
    replacement.clear();
    rule.replacement.eval(r, replacement);
    if (domain ? rewrite_domain(value, pattern, replacement, out)
               : rewrite_path(value, pattern, replacement, out))
      return true;
  }
  return false;
}

}  // namespace

bool parse_cookie(std::string_view v, std::vector<CookieAttr>& out) {
  out.clear();
  while (!v.empty()) {
    const size_t semi = v.find(';');
    std::string_view part = v.substr(0, semi);
    v = semi == std::string_view::npos ? std::string_view() : v.substr(semi + 1);
    CookieAttr a;
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      a.key = trim_ws(part);
    } else {
      a.key = trim_ws(part.substr(0, eq));
      a.value = trim_ws(part.substr(eq + 1));
      a.has_value = true;
    }
    if (a.key.empty() && !a.has_value && !out.empty()) continue;  // "a=b;;" or a trailing ';'
    out.push_back(a);
  }
  return !out.empty() && out.front().has_value;
}

void rebuild_cookie(const std::vector<CookieAttr>& attrs, std::string& out) {
  out.clear();
  for (const CookieAttr& a : attrs) {
    if (!out.empty()) out += "; ";
    out += a.key;
    if (a.has_value) {
      out += '=';
      out += a.value;
    }
  }
}

bool rewrite_domain(std::string_view value, std::string_view pattern, std::string_view replacement,
                    std::string& out) {
  const bool dot = !value.empty() && value.front() == '.';
  if (dot) value.remove_prefix(1);
  if (!iequals(value, pattern)) return false;
  out.assign(dot ? "." : "");
  out += replacement;
  return true;
}

bool rewrite_path(std::string_view value, std::string_view pattern, std::string_view replacement,
                  std::string& out) {
  if (!value.starts_with(pattern)) return false;
  out.assign(replacement);
  out += value.substr(pattern.size());
  return true;
}

bool rewrite_set_cookie(http::Request& r, const std::vector<CookieRule>& domains,
                        const std::vector<CookieRule>& paths, std::string_view value,
                        std::string& out) {
  thread_local std::vector<CookieAttr> attrs;  // reused: its capacity stays
  if (!parse_cookie(value, attrs)) return false;
  // The attributes' new values (views point at them): the first Domain and the first Path
  // are rewritten (a cookie has one of each).
  std::string new_domain, new_path;
  bool domain_seen = domains.empty(), path_seen = paths.empty();
  bool changed = false;
  for (size_t i = 1; i < attrs.size(); ++i) {
    CookieAttr& a = attrs[i];
    if (!a.has_value) continue;
    if (!domain_seen && iequals(a.key, "domain")) {
      domain_seen = true;
      if (apply_rules(r, domains, true, a.value, new_domain)) {
        a.value = new_domain;
        changed = true;
      }
    } else if (!path_seen && iequals(a.key, "path")) {
      path_seen = true;
      if (apply_rules(r, paths, false, a.value, new_path)) {
        a.value = new_path;
        changed = true;
      }
    }
  }
  if (changed) rebuild_cookie(attrs, out);
  return changed;
}

}  // namespace portico::proxy
