// LeastConnBalancer: `least_conn` (ngx_http_upstream_least_conn_module.c). Picks the peer with
// the fewest in-flight requests relative to its weight, comparing a.active * b.weight against
// b.active * a.weight so that no division rounds; ties go to smooth weighted round robin among
// the tied peers. Backups are considered only when no primary is available. The counts are the
// shared PeerState::active, i.e. global over all workers (nginx needs a `zone` for that).
// Per worker; see balancer.h.
#pragma once

#include <vector>

#include "upstream/balancer.h"

namespace portico::upstream {

class LeastConnBalancer final : public Balancer {
 public:
  explicit LeastConnBalancer(std::shared_ptr<const Group> group);

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override;
  // Sizes active_ to the new list.
  void on_peer_event(const PeerChange& change) override;

 private:
  int select_from(const std::vector<uint32_t>& list, const TriedSet& tried, uint64_t now_ms);

  // The counts read in the first pass, by slot, so that ties are judged on the same
  // numbers in the second pass even while other workers change them.
  std::vector<uint32_t> active_;
};

}  // namespace portico::upstream
