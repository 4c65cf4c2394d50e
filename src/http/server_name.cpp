#include "http/server_name.h"

#include "core/strings.h"

namespace portico::http {

namespace {

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

bool has_upper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

}  // namespace

Status ServerNameMatcher::check_name(std::string_view name, std::string* warning) {
  if (warning != nullptr) warning->clear();
  const char ch = name.empty() ? '\0' : name[0];
  if ((ch == '*' && (name.size() < 3 || name[1] != '.')) || (ch == '.' && name.size() < 2))
    return Status::error("server name " + quoted(name) + " is invalid");
  if (ch == '~' && name.size() == 1)
    return Status::error("empty regex in server name " + quoted(name));
  if (warning != nullptr && name.find('/') != std::string_view::npos)
    *warning = "server name " + quoted(name) + " has suspicious symbols";
  return Status::ok();
}

std::string ServerNameMatcher::conflict(std::string_view name) const {
  return "conflicting server name " + quoted(name) + " on " + listen_text_ + ", ignored";
}

Status ServerNameMatcher::add(std::string_view name, const void* payload, std::string* warning) {
  std::string ignored;
  if (warning == nullptr) warning = &ignored;
  if (Status st = check_name(name, warning); !st) return st;

  if (!name.empty() && name[0] == '~') {
    std::string_view pattern = name.substr(1);
    std::string error;
    std::unique_ptr<Regex> re = Regex::compile(pattern, has_upper(pattern), &error);
    if (re == nullptr) return Status::error(std::move(error));
    regexes_.push_back({std::move(re), payload});
    return Status::ok();
  }
  return add_hashed(to_lower(name), payload, warning);
}

// ngx_hash_add_key(NGX_HASH_WILDCARD_KEY) for one lowercased name.
Status ServerNameMatcher::add_hashed(std::string_view name, const void* payload,
                                     std::string* warning) {
  int stars = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if ((name[i] == '*' && ++stars > 1) ||
        (name[i] == '.' && i + 1 < name.size() && name[i + 1] == '.') || name[i] == '\0')
      return Status::error("invalid server name or wildcard " + quoted(name) + " on " +
                           listen_text_);
  }

  const size_t len = name.size();
  if (len > 1 && name[0] == '.') {  // ".example.com"
    std::string_view bare = name.substr(1);
    if (exact_keys_.find(bare) != exact_keys_.end()) {
      *warning = conflict(name);
      return Status::ok();
    }
    exact_keys_.emplace(bare);  // claimed before the wildcard check below, as nginx does
    if (head_.find(bare) != head_.end()) {
      *warning = conflict(name);
      return Status::ok();
    }
    head_.emplace(std::string(bare), Head{payload, true});
    return Status::ok();
  }
  if (len > 2 && name[0] == '*' && name[1] == '.') {  // "*.example.com"
    std::string_view suffix = name.substr(2);
    if (head_.find(suffix) != head_.end()) {
      *warning = conflict(name);
      return Status::ok();
    }
    head_.emplace(std::string(suffix), Head{payload, false});
    return Status::ok();
  }
  if (len > 2 && name[len - 2] == '.' && name[len - 1] == '*') {  // "www.example.*"
    std::string_view prefix = name.substr(0, len - 2);
    if (tail_.find(prefix) != tail_.end()) {
      *warning = conflict(name);
      return Status::ok();
    }
    tail_.emplace(std::string(prefix), payload);
    return Status::ok();
  }
  if (stars > 0)
    return Status::error("invalid server name or wildcard " + quoted(name) + " on " + listen_text_);

  if (exact_keys_.find(name) != exact_keys_.end()) {
    *warning = conflict(name);
    return Status::ok();
  }
  exact_keys_.emplace(name);
  exact_.emplace(std::string(name), payload);
  return Status::ok();
}

ServerNameMatcher::Match ServerNameMatcher::lookup(std::string_view host, Captures* caps) const {
  if (auto it = exact_.find(host); it != exact_.end()) return {it->second, nullptr};
  if (host.empty()) return {};

  if (!head_.empty()) {
    // Longest suffix first: the host itself (only ".x" names match it), then what follows
    // each dot from the left.
    if (auto it = head_.find(host); it != head_.end() && it->second.with_bare)
      return {it->second.payload, nullptr};
    for (size_t i = host.find('.'); i != std::string_view::npos; i = host.find('.', i + 1)) {
      if (auto it = head_.find(host.substr(i + 1)); it != head_.end())
        return {it->second.payload, nullptr};
    }
  }

  if (!tail_.empty()) {
    // Longest prefix first: what precedes each dot from the right.
    for (size_t i = host.rfind('.'); i != std::string_view::npos && i > 0;
         i = host.rfind('.', i - 1)) {
      if (auto it = tail_.find(host.substr(0, i)); it != tail_.end()) return {it->second, nullptr};
    }
  }

  for (const RegexName& r : regexes_)
    if (r.regex->match(host, caps)) return {r.payload, r.regex.get()};
  return {};
}

}  // namespace portico::http
