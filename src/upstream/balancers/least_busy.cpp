#include "upstream/balancers/least_busy.h"

#include <cstdint>

namespace portico::upstream {

uint64_t LeastBusyBalancer::busyness(const Peer& p) {
  const uint64_t active = p.state->active.load(std::memory_order_relaxed);
  if (p.cfg.max_conns == 0) return active;
  return (active << 31) / p.cfg.max_conns;
}

int LeastBusyBalancer::select(const PickContext& ctx, const TriedSet& tried) {
  int best = -1;
  uint64_t best_busy = 0;
  for (uint32_t i : members().primaries()) {
    if (!usable(i, tried, ctx.now_ms)) continue;
    const uint64_t b = busyness(peer(i));
    if (best < 0 || b < best_busy) {
      best = int(i);
      best_busy = b;
      if (b == 0) break;  // nothing beats idle, and the first idle one wins ties
    }
  }
  return best;
}

}  // namespace portico::upstream
