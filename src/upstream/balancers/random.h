// RandomBalancer: `random` and `random two [least_conn]`
// (ngx_http_upstream_random_module.c). Per worker, with its own generator; see balancer.h.
//
// random: a primary drawn with probability weight / total_weight (`down` ones included, then
// redrawn); an unusable draw is redrawn, up to 20 times, then round robin.
// random two: two distinct usable primaries drawn that way; the one with fewer in-flight
// requests relative to its weight wins (the second drawn on ties). With fewer than two
// primaries, or after 20 unlucky draws, round robin. `least_conn` is the only method nginx
// offers for `two`, and its default.
#pragma once

#include <cstdint>

#include "upstream/balancer.h"

namespace portico::upstream {

class RandomBalancer final : public Balancer {
 public:
  // seed 0: seeded from this object's address and the clock.
  RandomBalancer(std::shared_ptr<const Group> group, uint64_t seed, bool two);

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override;

 private:
  uint64_t next();         // splitmix64
  uint32_t peek_random();  // a primary's peer index, by weight
  int select_one(const TriedSet& tried, uint64_t now_ms);
  int select_two(const TriedSet& tried, uint64_t now_ms);

  uint64_t rng_;
  bool two_;
};

}  // namespace portico::upstream
