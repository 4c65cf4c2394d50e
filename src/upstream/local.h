// Local: what one worker keeps for the upstream groups it talks to: its balancer per group (a
// balancer's per-worker state, e.g. smooth round robin's current weights) and its keep-alive
// pool. Owned by the Worker; worker thread only. Shared by the http proxy and the stream proxy.
#pragma once

#include <memory>
#include <unordered_map>

#include "core/event_loop.h"
#include "upstream/balancer.h"
#include "upstream/pool.h"

namespace portico::upstream {

class Local {
 public:
  explicit Local(EventLoop& loop) : loop(loop), pool(loop) {}
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;

  // This worker's balancer for `group`, built on first use. Sessions hold the shared_ptr, so
  // dropping a group on reload never pulls a balancer from under a request in flight.
  std::shared_ptr<Balancer> balancer(const std::shared_ptr<const Group>& group) {
    auto it = balancers_.find(group.get());
    if (it != balancers_.end()) return it->second;
    std::shared_ptr<Balancer> b = make_balancer(group);
    balancers_.emplace(group.get(), b);
    return b;
  }
  // Forgets balancers of groups no longer configured (after a reload).
  template <class Keep>
  void prune(Keep keep) {
    for (auto it = balancers_.begin(); it != balancers_.end();)
      it = keep(it->first) ? std::next(it) : balancers_.erase(it);
  }

  EventLoop& loop;
  Pool pool;

 private:
  std::unordered_map<const Group*, std::shared_ptr<Balancer>> balancers_;
};

}  // namespace portico::upstream
