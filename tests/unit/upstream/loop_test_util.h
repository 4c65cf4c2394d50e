// Helpers for upstream tests that run a real EventLoop (LocalGroup adopts and wakes through it).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/event_loop.h"
#include "upstream/local_group.h"

namespace portico::upstream::testing {

// Runs `loop` until the tasks posted to it so far have run.
inline void run_posted(EventLoop& loop) {
  loop.post([&loop] { loop.stop(); });
  loop.run();
}

// Runs `loop` for about `ms` milliseconds.
inline void run_for(EventLoop& loop, uint64_t ms) {
  struct StopTimer : Timer {
    EventLoop* loop;
  } t;
  t.loop = &loop;
  t.cb = [](Timer* x) { static_cast<StopTimer*>(x)->loop->stop(); };
  loop.schedule(&t, ms);
  loop.run();
  loop.cancel(&t);
}

// A request waiting for a peer, as proxy::Session does it: on_wake() picks; served ones log
// their id and keep their slot.
struct TestWaiter final : Waiter {
  LocalGroup* lg = nullptr;
  EventLoop* loop = nullptr;
  char id = '?';
  std::string* log = nullptr;
  int slot = -1;
  bool stop_loop_when_served = false;

  bool try_pick() {
    TriedSet tried(lg->members().size());
    slot = lg->pick({loop->now_ms(), {}}, tried);
    if (slot < 0) return false;
    lg->dequeue(this);
    *log += id;
    if (stop_loop_when_served) loop->stop();
    return true;
  }
  bool on_wake() override { return try_pick(); }
  // No peer free: queue, then look once more. False if the queue is full.
  bool wait(uint32_t max) {
    if (!lg->enqueue(this, max)) return false;
    try_pick();
    return true;
  }
};

}  // namespace portico::upstream::testing
