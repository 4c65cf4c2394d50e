// Local: what one worker keeps for the upstream groups it talks to: a LocalGroup per group (its
// balancer with the member list this worker has adopted, and its wait queue) and the worker's
// keep-alive pool. Owned by the Worker; worker thread only. Shared by the http proxy and the
// stream proxy.
#pragma once

#include <memory>
#include <unordered_map>

#include "core/event_loop.h"
#include "upstream/local_group.h"
#include "upstream/pool.h"

namespace portico::upstream {

class Local {
 public:
  explicit Local(EventLoop& loop) : loop(loop), pool(loop) {}
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;

  // This worker's side of `group`, made (and subscribed to the group's changes) on first use.
  // Sessions hold the shared_ptr, so dropping a group on reload never pulls it from under a
  // request in flight.
  std::shared_ptr<LocalGroup> group(const std::shared_ptr<const Group>& group) {
    auto it = groups_.find(group.get());
    if (it != groups_.end()) return it->second;
    std::shared_ptr<LocalGroup> lg = LocalGroup::make(group, loop, pool);
    groups_.emplace(group.get(), lg);
    return lg;
  }
  // Forgets groups no longer configured (after a reload).
  template <class Keep>
  void prune(Keep keep) {
    for (auto it = groups_.begin(); it != groups_.end();)
      it = keep(it->first) ? std::next(it) : groups_.erase(it);
  }

  EventLoop& loop;
  Pool pool;

 private:
  std::unordered_map<const Group*, std::shared_ptr<LocalGroup>> groups_;
};

}  // namespace portico::upstream
