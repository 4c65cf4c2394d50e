// ServerNameMatcher: picks the server{} for a request's Host among the servers sharing one
// listen address, with nginx's server_name semantics (ngx_http_server_names, ngx_hash.c,
// ngx_http_find_virtual_server).
//
// Built once per address while the configuration snapshot is built (add() in config order:
// servers in order, each server's names in order), then immutable and shared read-only by all
// worker threads. lookup() allocates nothing.
//
// Lookup order, as in nginx: the exact name; the longest leading wildcard ("*.example.com",
// ".example.com"); the longest trailing wildcard ("www.example.*"); the first regex ("~...") in
// config order. No match -> the caller uses the address's default server.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/regex.h"
#include "core/status.h"

namespace portico::http {

class ServerNameMatcher {
 public:
  struct Match {
    const void* payload = nullptr;  // the server, nullptr if no name matched
    const Regex* regex = nullptr;   // set when a regex name matched (named groups -> variables)
  };

  ServerNameMatcher() = default;
  // `listen_text` names the address in messages ("0.0.0.0:80"), as nginx's "on 0.0.0.0:80".
  explicit ServerNameMatcher(std::string listen_text) : listen_text_(std::move(listen_text)) {}
  ServerNameMatcher(ServerNameMatcher&&) = default;
  ServerNameMatcher& operator=(ServerNameMatcher&&) = default;

  void set_listen_text(std::string text) { listen_text_ = std::move(text); }

  // The checks nginx makes when it reads a `server_name` argument (ngx_http_core_server_name).
  // Errors: `server name "*" is invalid`, `empty regex in server name "~"`; warning (*warning,
  // else cleared): `server name "a/b" has suspicious symbols`. The caller adds " in FILE:LINE".
  // Note: nginx substitutes `$hostname` before this; so must the caller.
  static Status check_name(std::string_view name, std::string* warning);

  // Adds one server_name argument for the server `payload`, with the forms nginx accepts:
  // "example.com" (exact, case-folded), "*.example.com" (subdomains at any depth),
  // ".example.com" (example.com and its subdomains), "www.example.*" (any tail), "" (requests
  // without a Host), "~regex" (PCRE; caseless only if the pattern has an uppercase letter, as
  // nginx does; hosts are lowercase). Runs check_name() first.
  // Errors: the check_name() ones; `invalid server name or wildcard "www.*.com" on ADDR`; the
  // pcre2_compile() text for a bad regex. A name that conflicts with an earlier one is ignored
  // with *warning = `conflicting server name "x" on ADDR, ignored` (Status ok): the first wins.
  // Quirk kept from nginx: ".example.com" also claims the exact name "example.com", even when
  // it is itself ignored as conflicting with an earlier "*.example.com".
  Status add(std::string_view name, const void* payload, std::string* warning);

  // REQUIRES: `host` validated and lowercase (validate_host()); "" when the request has none.
  // On a regex match, *caps (if non-null) receives the groups; otherwise it is left untouched.
  Match lookup(std::string_view host, Captures* caps) const;
  const void* find(std::string_view host, Captures* caps) const {
    return lookup(host, caps).payload;
  }

  bool empty() const {
    return exact_.empty() && head_.empty() && tail_.empty() && regexes_.empty();
  }

 private:
  // Heterogeneous lookup so find() can probe with string_views without building strings.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using Map = std::unordered_map<std::string, V, Hash, std::equal_to<>>;

  struct Head {
    const void* payload;
    bool with_bare;  // ".example.com": also matches "example.com" itself
  };
  struct RegexName {
    std::unique_ptr<Regex> regex;
    const void* payload;
  };

  Status add_hashed(std::string_view name, const void* payload, std::string* warning);
  std::string conflict(std::string_view name) const;

  std::string listen_text_;
  Map<const void*> exact_;                                             // "example.com" -> server
  std::unordered_set<std::string, Hash, std::equal_to<>> exact_keys_;  // exact_ + ".x" bare x
  Map<Head> head_;         // "*.example.com" and ".example.com" keyed by "example.com"
  Map<const void*> tail_;  // "www.example.*" keyed by "www.example"
  std::vector<RegexName> regexes_;
};

}  // namespace portico::http
