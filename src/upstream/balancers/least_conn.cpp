#include "upstream/balancers/least_conn.h"

#include <cstdint>

namespace portico::upstream {

LeastConnBalancer::LeastConnBalancer(std::shared_ptr<const Group> group)
    : Balancer(std::move(group)), active_(members().size()) {}

void LeastConnBalancer::on_peer_event(const PeerChange& change) {
  Balancer::on_peer_event(change);
  if (active_.size() != members().size()) active_.resize(members().size());
}

int LeastConnBalancer::select(const PickContext& ctx, const TriedSet& tried) {
  const MemberList& m = members();
  if (m.single()) return round_robin(tried, ctx.now_ms);  // nothing to compare
  int i = select_from(m.primaries(), tried, ctx.now_ms);
  if (i < 0 && !m.backups().empty()) i = select_from(m.backups(), tried, ctx.now_ms);
  return i;
}

int LeastConnBalancer::select_from(const std::vector<uint32_t>& list, const TriedSet& tried,
                                   uint64_t now_ms) {
  using Wide = unsigned __int128;  // active (32 bits) * weight units (up to ~42 bits)
  int best = -1;
  size_t best_pos = 0;
  uint64_t best_w = 0;
  bool many = false;
  for (size_t k = 0; k < list.size(); k++) {
    uint32_t i = list[k];
    if (!usable(i, tried, now_ms)) {
      active_[i] = UINT32_MAX;  // never ties below
      continue;
    }
    active_[i] = peer(i).state->active.load(std::memory_order_relaxed);
    uint64_t w = weight_units(i, now_ms);
    if (best < 0) {
      best = int(i), best_pos = k, best_w = w, many = false;
      continue;
    }
    Wide lhs = Wide{active_[i]} * best_w, rhs = Wide{active_[size_t(best)]} * w;
    if (lhs < rhs) {
      best = int(i), best_pos = k, best_w = w, many = false;
    } else if (lhs == rhs) {
      many = true;
    }
  }
  if (best < 0 || !many) return best;

  // Several peers share the lowest ratio: weighted round robin among them, from the first.
  const uint32_t best_active = active_[size_t(best)];
  auto tied = [&](uint32_t i) {
    return Wide{active_[i]} * best_w == Wide{best_active} * weight_units(i, now_ms);
  };
  return smooth_step(list, best_pos, tried, now_ms, tied);
}

}  // namespace portico::upstream
