#include "upstream/wait_queue.h"

#include <cassert>

namespace portico::upstream {

WaitQueue::~WaitQueue() {
  while (head_) remove(head_);
}

bool WaitQueue::push(Waiter* w, uint32_t max) {
  assert(!w->queued());
  if (size_ >= max) return false;
  w->queue_ = this;
  w->prev_ = tail_;
  w->next_ = nullptr;
  (tail_ ? tail_->next_ : head_) = w;
  tail_ = w;
  size_++;
  return true;
}

bool WaitQueue::remove(Waiter* w) {
  if (w->queue_ != this) return false;
  (w->prev_ ? w->prev_->next_ : head_) = w->next_;
  (w->next_ ? w->next_->prev_ : tail_) = w->prev_;
  w->queue_ = nullptr;
  w->prev_ = w->next_ = nullptr;
  size_--;
  return true;
}

void WaitQueue::wake() {
  if (waking_) {
    again_ = true;
    return;
  }
  waking_ = true;
  do {
    again_ = false;
    while (Waiter* w = head_) {
      const bool left = w->on_wake();
      assert(left != w->queued());  // a waiter that left is not in a queue any more
      if (!left) break;
    }
  } while (again_ && head_);
  waking_ = false;
}

}  // namespace portico::upstream
