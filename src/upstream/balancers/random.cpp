#include "upstream/balancers/random.h"

#include <algorithm>
#include <chrono>

namespace portico::upstream {

namespace {
constexpr int kMaxTries = 20;  // nginx: `if (++rp->tries > 20) return get_round_robin_peer()`
}

RandomBalancer::RandomBalancer(std::shared_ptr<const Group> group, uint64_t seed, bool two)
    : Balancer(std::move(group)), rng_(seed), two_(two) {
  if (rng_ == 0) {
    rng_ = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           uint64_t(reinterpret_cast<uintptr_t>(this));
  }
}

uint64_t RandomBalancer::next() {
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

// nginx: ngx_http_upstream_peek_random_peer, a binary search of the cumulative weights.
uint32_t RandomBalancer::peek_random() {
  const MemberList& m = members();
  const auto& ranges = m.ranges();
  uint64_t x = next() % m.primary_weight();
  size_t k = size_t(std::upper_bound(ranges.begin(), ranges.end(), x) - ranges.begin()) - 1;
  return m.primaries()[k];
}

int RandomBalancer::select(const PickContext& ctx, const TriedSet& tried) {
  return two_ ? select_two(tried, ctx.now_ms) : select_one(tried, ctx.now_ms);
}

int RandomBalancer::select_one(const TriedSet& tried, uint64_t now_ms) {
  if (members().single() || members().primary_weight() == 0) return round_robin(tried, now_ms);
  for (int tries = 0;; tries++) {
    uint32_t i = peek_random();
    if (usable(i, tried, now_ms)) return int(i);
    if (tries + 1 > kMaxTries) return round_robin(tried, now_ms);
  }
}

int RandomBalancer::select_two(const TriedSet& tried, uint64_t now_ms) {
  if (members().primaries().size() < 2) return round_robin(tried, now_ms);
  int prev = -1;
  uint32_t i = 0;
  for (int tries = 0;; tries++) {
    i = peek_random();
    if (int(i) != prev && usable(i, tried, now_ms)) {
      if (prev >= 0) break;
      prev = int(i);
    }
    if (tries + 1 > kMaxTries) return round_robin(tried, now_ms);
  }
  // nginx: `if (peer->conns * prev->weight > prev->conns * peer->weight) peer = prev;`
  const Peer& a = peer(uint32_t(prev));
  const Peer& b = peer(i);
  uint64_t a_active = a.state->active.load(std::memory_order_relaxed);
  uint64_t b_active = b.state->active.load(std::memory_order_relaxed);
  if (b_active * a.cfg.weight > a_active * b.cfg.weight) return prev;
  return int(i);
}

}  // namespace portico::upstream
