#include "upstream/balancers/hash.h"

#include <algorithm>
#include <charconv>

#include "upstream/balancers/ip_hash.h"
#include "upstream/crc32.h"

namespace portico::upstream {

namespace {
constexpr int kMaxTries = 20;  // nginx: `if (++hp->tries > 20) return get_rr_peer(...)`
}

int HashBalancer::select(const PickContext& ctx, const TriedSet& tried) {
  const MemberList& m = members();
  if (m.single() || m.primary_weight() == 0 || ctx.hash_key.empty()) {
    return round_robin(tried, ctx.now_ms);
  }
  uint32_t hash = 0;
  for (int tries = 0;; tries++) {
    uint32_t crc = kCrc32Init;
    if (tries > 0) {
      char buf[16];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, tries);
      crc = crc32_update(crc, buf, size_t(end - buf));
    }
    crc = crc32_final(crc32_update(crc, ctx.hash_key));
    hash += (crc >> 16) & 0x7fff;
    uint32_t i = primary_by_weight(m, hash % m.primary_weight());
    if (usable(i, tried, ctx.now_ms)) return int(i);
    if (tries + 1 > kMaxTries) return round_robin(tried, ctx.now_ms);
  }
}

size_t find_ring_point(const std::vector<MemberList::RingPoint>& ring, uint32_t hash) {
  auto it = std::lower_bound(ring.begin(), ring.end(), hash,
                             [](const MemberList::RingPoint& p, uint32_t h) { return p.hash < h; });
  return size_t(it - ring.begin());
}

int ConsistentHashBalancer::select(const PickContext& ctx, const TriedSet& tried) {
  const MemberList& g = members();
  // nginx: `hp->rrp.peers->number < 2 || hp->key.len == 0` -> round robin.
  if (g.primaries().size() < 2 || ctx.hash_key.empty()) return round_robin(tried, ctx.now_ms);
  const auto& ring = g.ring();
  size_t pos = find_ring_point(ring, crc32(ctx.hash_key));
  for (int tries = 0;; tries++) {
    uint32_t server = ring[(pos + size_t(tries)) % ring.size()].server;
    int i = smooth_step(g.server_primaries(server), 0, tried, ctx.now_ms,
                        [](uint32_t) { return true; });
    if (i >= 0) return i;
    if (tries + 1 > kMaxTries) return round_robin(tried, ctx.now_ms);
  }
}

}  // namespace portico::upstream
