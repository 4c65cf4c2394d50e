// WaitQueue: requests waiting for a peer of one group on one worker (`queue N timeout=T`;
// Passenger: Group::getWaitlist), FIFO and bounded. Waiters are woken when a peer may have
// become free (a release, a new or resumed peer, a passed health check, a fail_timeout that
// ran out), never by polling; see LocalGroup for who wakes whom.
//
// Ownership and threads: one per LocalGroup, so per worker and group; worker thread only.
// Intrusive: a Waiter carries its own links, so queueing never allocates. The queue does not
// own its waiters; a waiter leaves (remove()) before it is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace portico::upstream {

class WaitQueue;

// Implemented by what waits for a peer: proxy::Session, stream::Session.
class Waiter {
 public:
  // Its turn: a peer of its group may be free. The waiter tries to get one (pick). Returns true
  // when it has left the queue (got a peer, or failed for good, and called remove()); false to
  // stay at the head, which stops the wake-up (those behind it wait too, FIFO). May start I/O
  // and release peers, which may wake the queue again: that is handled.
  virtual bool on_wake() = 0;
  bool queued() const { return queue_ != nullptr; }

 protected:
  ~Waiter() = default;

 private:
  friend class WaitQueue;
  WaitQueue* queue_ = nullptr;
  Waiter* prev_ = nullptr;
  Waiter* next_ = nullptr;
};

class WaitQueue {
 public:
  WaitQueue() = default;
  ~WaitQueue();  // unlinks waiters still queued
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Appends `w` unless `max` waiters are queued already. Returns whether it was queued. Never
  // blocks, never allocates. REQUIRES: !w->queued().
  bool push(Waiter* w, uint32_t max);
  // Takes `w` out. Returns false (and does nothing) if it was not in this queue.
  bool remove(Waiter* w);
  // Calls on_wake() on the head while it leaves the queue. A wake-up arriving from inside an
  // on_wake() is not nested: the running one goes round again instead.
  void wake();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Waiter* front() const { return head_; }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  size_t size_ = 0;
  bool waking_ = false;
  bool again_ = false;
};

}  // namespace portico::upstream
