// allow/deny rules (nginx's ngx_http_access_module and ngx_stream_access_module): one list per
// location or stream server, first match wins. Parsed while a snapshot is built, then read-only;
// matching is a pure function, safe on any thread, no allocation.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"

namespace portico {

struct AccessRule {
  bool allow = false;
  bool all = false;
  int family = AF_INET;  // AF_INET, AF_INET6, or AF_UNIX (`unix:`: every unix-domain peer)
  std::array<uint8_t, 16> addr{};
  std::array<uint8_t, 16> mask{};
};

// Parses the argument of allow/deny: `all`, `unix:`, an address or a CIDR block. `allow` is
// left to the caller. Returns false on anything else.
bool parse_access_rule(std::string_view text, AccessRule& rule);

// Whether `rule` covers `peer` (an IPv4-mapped IPv6 peer matches IPv4 rules).
bool access_rule_matches(const AccessRule& rule, const SockAddr& peer);

// The first rule that covers `peer`, or null.
const AccessRule* access_first_match(const std::vector<AccessRule>& rules, const SockAddr& peer);

// True if the first rule that covers `peer` is a deny.
inline bool access_denied(const std::vector<AccessRule>& rules, const SockAddr& peer) {
  const AccessRule* r = access_first_match(rules, peer);
  return r && !r->allow;
}

}  // namespace portico
