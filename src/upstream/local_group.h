// LocalGroup: one worker's side of one upstream Group: the Balancer (and through it the member
// list this worker has adopted), the group's wait queue on this worker, and the subscription
// through which publishers and other workers reach both.
//
// Ownership and threads: made by the worker's Local on first use of the group and held by
// std::shared_ptr, by Local and by every session using the group, so a reload that drops the
// group never pulls it from under a request. Worker thread only, except notify() (any thread).
// Not copyable.
//
// Adoption (see group.h): a publisher's notify() posts update() to this worker's loop once
// (an atomic flag folds repeated notifications); update() adopts the current list, closes the
// idle keep-alive connections of peers that left or drain, and wakes the waiters.
//
// Waking waiters, never polling:
//  - release() on this worker: wakes this queue at once (synchronously, FIFO); if it is empty
//    but other workers have waiters, Group::wake_waiters() posts them an update().
//  - a list was published (peer added, resumed, up, weight or max_conns raised): update().
//  - a health check passed: Group::wake_waiters() from the checker.
//  - a peer failed out by passive health may be tried again at a known time: a timer for
//    exactly then, armed while waiters are queued (recovers_at()).
// A waiter's own timeout is the waiter's business (its timer; 503 when it fires).
// A freed slot is never missed: enqueue() raises the waiting counts, then (fence) the caller
// picks once more; release() lowers `active`, then reads the group's waiting count; both
// sequentially consistent, so one of the two sees the other.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "upstream/balancer.h"
#include "upstream/pool.h"
#include "upstream/wait_queue.h"

namespace portico::upstream {

class LocalGroup final : public Group::Subscriber, public std::enable_shared_from_this<LocalGroup> {
 public:
  // Builds the balancer (make_balancer(group, seed)) and subscribes to the group.
  static std::shared_ptr<LocalGroup> make(std::shared_ptr<const Group> group, EventLoop& loop,
                                          Pool& pool, uint64_t seed = 0);
  ~LocalGroup();  // unsubscribes
  LocalGroup(const LocalGroup&) = delete;
  LocalGroup& operator=(const LocalGroup&) = delete;

  // Balancer::pick on the adopted list: a slot, or -1. Never blocks; see Balancer::pick.
  int pick(const PickContext& ctx, TriedSet& tried) { return balancer_->pick(ctx, tried); }
  // Balancer::release, then wakes waiters (this worker's at once, else other workers' by a
  // post; nothing but an atomic load when nobody waits). May run waiters' on_wake() before it
  // returns. Never blocks.
  void release(int slot, Outcome outcome, uint64_t now_ms);

  // REQUIRES: as Balancer::peer (a slot picked and not yet released).
  const Peer& peer(size_t slot) const { return balancer_->peer(slot); }
  const MemberList& members() const { return balancer_->members(); }
  // How many tries a request may make: `configured` (proxy_next_upstream_tries) when set, else
  // the most tries any member list the request has seen allowed (`*seen`, the request's own):
  // a group that shrinks under a retry (an app process died, another drains) must not end the
  // tries before the peers not yet tried.
  uint32_t try_limit(uint32_t configured, uint32_t* seen) const {
    *seen = std::max(*seen, members().max_tries());
    return configured ? configured : *seen;
  }
  Balancer& balancer() { return *balancer_; }
  const Group& group() const { return *group_; }

  // Queues `w` (FIFO) unless `max` already wait; returns whether it was queued. The caller
  // then picks once more (a slot freed just before it was counted as waiting is not missed) and
  // calls dequeue() if that succeeds. Never blocks, never allocates.
  bool enqueue(Waiter* w, uint32_t max);
  // Takes `w` out of the queue; no-op if it is not queued.
  void dequeue(Waiter* w);
  size_t queued() const { return queue_.size(); }

  // Group::Subscriber: posts update() to this worker (once until it has run). Any thread.
  void notify() override;
  // Adopts the group's current list (closing idle connections of peers that left or drain)
  // and wakes waiters. Worker thread; what notify() posts. Allocates (rarely run).
  void update();

 private:
  LocalGroup(std::shared_ptr<const Group> group, EventLoop& loop, Pool& pool, uint64_t seed);
  void wake();
  // While waiters are queued: a timer for the moment a failed-out peer may be tried again.
  void arm_recovery();

  std::shared_ptr<const Group> group_;
  EventLoop& loop_;
  Pool& pool_;
  std::unique_ptr<Balancer> balancer_;
  WaitQueue queue_;
  std::atomic<bool> posted_{false};  // an update() is on its way to this worker
  struct RecoveryTimer : Timer {
    LocalGroup* owner = nullptr;
  } timer_;
};

}  // namespace portico::upstream
