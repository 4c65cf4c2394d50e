#include "upstream/balancers/ip_hash.h"

namespace portico::upstream {

namespace {
constexpr int kMaxTries = 20;  // nginx: `if (++iphp->tries > 20) return get_rr_peer(...)`
}

uint32_t primary_by_weight(const MemberList& members, uint64_t w) {
  for (uint32_t i : members.primaries()) {
    uint32_t weight = members.peer(i).cfg.weight;
    if (w < weight) return i;
    w -= weight;
  }
  return members.primaries().back();  // unreachable while w < primary_weight()
}

int IpHashBalancer::select(const PickContext& ctx, const TriedSet& tried) {
  const MemberList& m = members();
  // A live group may have no primary left: backups (round robin) or nothing.
  if (m.single() || m.primary_weight() == 0) return round_robin(tried, ctx.now_ms);
  std::string_view addr = ctx.hash_key;
  if (addr.empty()) addr = std::string_view("\0\0\0", 3);  // as ip_hash_key() for non-IP
  uint32_t hash = 89;
  for (int tries = 0;; tries++) {
    for (unsigned char byte : addr) hash = (hash * 113 + byte) % 6271;
    uint32_t i = primary_by_weight(m, hash % m.primary_weight());
    if (usable(i, tried, ctx.now_ms)) return int(i);
    if (tries + 1 > kMaxTries) return round_robin(tried, ctx.now_ms);
  }
}

}  // namespace portico::upstream
