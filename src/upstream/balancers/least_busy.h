// LeastBusyBalancer: routing for app groups, after Passenger's Group::route() and
// Process::busyness() (src/agent/Core/ApplicationPool/Group.h, Process.h): the member with the
// lowest busyness wins, the first in member order on ties, so that at low load requests stay on
// the first processes and the others can idle (and be scaled down).
//
// Busyness is requests in flight (the shared PeerState::active, so global over all workers)
// measured against the peer's concurrency limit, PeerConfig::max_conns (Passenger's
// force_max_concurrent_requests_per_process; 0 = unlimited):
//   max_conns == 0:  active
//   max_conns  > 0:  active * 2^31 / max_conns (a share of the limit, scaled as Passenger's
//                    `sessions * INT_MAX / concurrency`)
// so an unlimited process is preferred to a limited one with requests in flight, as in
// Passenger. A process at its limit is "totally busy" and never chosen (try_acquire enforces
// max_conns exactly); when every one is, pick() returns -1 and the request waits in the group's
// queue until a release wakes it. Weights, backups and slow start do not apply (Group::validate
// refuses the last two); `down`, draining and failed-out peers are skipped as with every method.
// Per worker; see balancer.h. No directive selects it: app groups are built with it.
#pragma once

#include "upstream/balancer.h"

namespace portico::upstream {

class LeastBusyBalancer final : public Balancer {
 public:
  explicit LeastBusyBalancer(std::shared_ptr<const Group> group) : Balancer(std::move(group)) {}

  // The busyness of `p` as defined above.
  static uint64_t busyness(const Peer& p);

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override;
};

}  // namespace portico::upstream
