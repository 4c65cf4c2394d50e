#include "core/access_rule.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "core/strings.h"

namespace portico {

namespace {

bool parse_cidr_rule(std::string_view text, AccessRule& rule) {
  std::string addr(text);
  int bits = -1;
  auto slash = addr.find('/');
  if (slash != std::string::npos) {
    auto b = parse_uint(std::string_view(addr).substr(slash + 1));
    if (!b) return false;
    bits = int(*b);
    addr.resize(slash);
  }
  if (inet_pton(AF_INET, addr.c_str(), rule.addr.data()) == 1) {
    rule.family = AF_INET;
    if (bits < 0) bits = 32;
    if (bits > 32) return false;
  } else if (inet_pton(AF_INET6, addr.c_str(), rule.addr.data()) == 1) {
    rule.family = AF_INET6;
    if (bits < 0) bits = 128;
    if (bits > 128) return false;
  } else {
    return false;
  }
  rule.mask.fill(0);
  for (int i = 0; i < bits; ++i) rule.mask[size_t(i / 8)] |= uint8_t(0x80 >> (i % 8));
  for (size_t i = 0; i < 16; ++i) rule.addr[i] &= rule.mask[i];
  return true;
}

}  // namespace

bool parse_access_rule(std::string_view text, AccessRule& rule) {
  if (text == "all") {
    rule.all = true;
    return true;
  }
  if (text == "unix:") {
    rule.family = AF_UNIX;
    return true;
  }
  return parse_cidr_rule(text, rule);
}

bool access_rule_matches(const AccessRule& rule, const SockAddr& peer) {
  if (rule.all) return true;
  const uint8_t* a = nullptr;
  size_t len = 0;
  uint8_t mapped[4];
  if (peer.sa.sa_family == AF_INET) {
    a = reinterpret_cast<const uint8_t*>(&peer.v4.sin_addr);
    len = 4;
  } else if (peer.sa.sa_family == AF_INET6) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&peer.v6.sin6_addr);
    if (rule.family == AF_INET && IN6_IS_ADDR_V4MAPPED(&peer.v6.sin6_addr)) {
      std::memcpy(mapped, b + 12, 4);
      a = mapped;
      len = 4;
    } else {
      a = b;
      len = 16;
    }
  } else {
    return rule.family == AF_UNIX;
  }
  if (rule.family != (len == 4 ? AF_INET : AF_INET6)) return false;  // `unix:` too
  for (size_t i = 0; i < len; ++i)
    if ((a[i] & rule.mask[i]) != rule.addr[i]) return false;
  return true;
}

const AccessRule* access_first_match(const std::vector<AccessRule>& rules, const SockAddr& peer) {
  for (const auto& rule : rules)
    if (access_rule_matches(rule, peer)) return &rule;
  return nullptr;
}

}  // namespace portico
