#include "upstream/local_group.h"

#include <utility>

namespace portico::upstream {

std::shared_ptr<LocalGroup> LocalGroup::make(std::shared_ptr<const Group> group, EventLoop& loop,
                                             Pool& pool, uint64_t seed) {
  std::shared_ptr<LocalGroup> lg(new LocalGroup(std::move(group), loop, pool, seed));
  lg->group_->subscribe(lg.get());
  // A list published after the balancer read one and before the subscription: adopt it now.
  lg->update();
  return lg;
}

LocalGroup::LocalGroup(std::shared_ptr<const Group> group, EventLoop& loop, Pool& pool,
                       uint64_t seed)
    : group_(std::move(group)), loop_(loop), pool_(pool), balancer_(make_balancer(group_, seed)) {
  timer_.owner = this;
  timer_.cb = [](Timer* t) { static_cast<RecoveryTimer*>(t)->owner->wake(); };
}

LocalGroup::~LocalGroup() {
  group_->unsubscribe(this);
  loop_.cancel(&timer_);
  if (!queue_.empty()) group_->waiting().fetch_sub(uint32_t(queue_.size()));
}

void LocalGroup::release(int slot, Outcome outcome, uint64_t now_ms) {
  balancer_->release(slot, outcome, now_ms);
  if (!queue_.empty()) {
    wake();
  } else {
    group_->wake_waiters();
  }
}

bool LocalGroup::enqueue(Waiter* w, uint32_t max) {
  if (!queue_.push(w, max)) return false;
  waiting.fetch_add(1, std::memory_order_relaxed);
  group_->waiting().fetch_add(1, std::memory_order_seq_cst);
  // Orders the counts before the caller's next pick (see the file comment).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  arm_recovery();
  return true;
}

void LocalGroup::dequeue(Waiter* w) {
  if (!queue_.remove(w)) return;
  waiting.fetch_sub(1, std::memory_order_relaxed);
  group_->waiting().fetch_sub(1, std::memory_order_relaxed);
  if (queue_.empty()) loop_.cancel(&timer_);
}

void LocalGroup::notify() {
  if (posted_.exchange(true, std::memory_order_acq_rel)) return;
  loop_.post([self = weak_from_this()] {
    if (std::shared_ptr<LocalGroup> lg = self.lock()) lg->update();
  });
}

void LocalGroup::update() {
  // Cleared before reading the list: a publish after this point posts again.
  posted_.store(false, std::memory_order_seq_cst);
  std::shared_ptr<const MemberList> next = group_->current();
  if (next != balancer_->members_ptr()) {
    for (const PeerChange& c : balancer_->adopt(std::move(next))) {
      if (c.event == PeerEvent::kRemoved || c.event == PeerEvent::kDraining) {
        pool_.close_idle(c.state.get());
      }
    }
  }
  if (!queue_.empty()) wake();
}

void LocalGroup::wake() {
  queue_.wake();
  arm_recovery();
}

void LocalGroup::arm_recovery() {
  const uint64_t now = loop_.now_ms();
  const uint64_t at = queue_.empty() ? 0 : balancer_->recovers_at(now);
  if (at == 0) {
    loop_.cancel(&timer_);
  } else {
    loop_.schedule(&timer_, at > now ? at - now : 0);
  }
}

}  // namespace portico::upstream
