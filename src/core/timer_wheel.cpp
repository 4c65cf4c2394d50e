#include "core/timer_wheel.h"

#include <cassert>

namespace portico {

TimerWheel::TimerWheel() {
  for (auto& s : slots_) s.prev = s.next = &s;
}

void TimerWheel::schedule(Timer* t, uint64_t now_ms, uint64_t delay_ms) {
  if (t->armed()) cancel(t);
  t->expire_ms = now_ms + delay_ms;
  uint64_t tick = (t->expire_ms + kTickMs - 1) / kTickMs;
  if (tick <= last_tick_) tick = last_tick_ + 1;
  Timer& head = slots_[tick % kSlots];
  t->next = &head;
  t->prev = head.prev;
  head.prev->next = t;
  head.prev = t;
  ++count_;
}

void TimerWheel::cancel(Timer* t) {
  if (!t->armed()) return;
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->prev = t->next = nullptr;
  assert(count_ > 0);
  --count_;
}

void TimerWheel::run(uint64_t now_ms) {
  uint64_t now_tick = now_ms / kTickMs;
  if (count_ == 0) {
    last_tick_ = now_tick;
    return;
  }
  // Visit at most one revolution; older ticks share slots with newer ones anyway.
  uint64_t first = last_tick_ + 1;
  if (now_tick >= first + kSlots) first = now_tick - kSlots + 1;
  // Before any callback runs: a timer a callback arms (even one due at once) goes to a slot
  // after now_tick and fires in a later run, never in this slot or an earlier one already
  // visited, where it would wait a whole revolution (16 s). That stalled app drains.
  last_tick_ = now_tick;
  for (uint64_t tick = first; tick <= now_tick && count_ > 0; ++tick) {
    Timer& head = slots_[tick % kSlots];
    // Detach due timers onto a local list first, so callbacks that re-arm into this same slot
    // are not seen again in this pass.
    Timer due;
    due.prev = due.next = &due;
    for (Timer* t = head.next; t != &head;) {
      Timer* next = t->next;
      if (t->expire_ms <= now_ms) {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        t->next = &due;
        t->prev = due.prev;
        due.prev->next = t;
        due.prev = t;
      }
      t = next;
    }
    while (due.next != &due) {
      Timer* t = due.next;
      due.next = t->next;
      t->next->prev = &due;
      t->prev = t->next = nullptr;
      --count_;
      t->cb(t);
    }
  }
}

int TimerWheel::next_timeout_ms(uint64_t now_ms) const {
  if (count_ == 0) return -1;
  // Look about a second ahead only: this runs once per loop iteration, and a full revolution
  // (2048 slots) per iteration showed up in profiles when every timer was far away. Waking
  // once a second with nothing due is cheap; run() visits the slots in between anyway.
  constexpr uint64_t kScanSlots = 128;
  uint64_t now_tick = now_ms / kTickMs;
  for (uint64_t i = 1; i <= kScanSlots; ++i) {
    const Timer& head = slots_[(now_tick + i) % kSlots];
    if (head.next != &head) return int(i * kTickMs - now_ms % kTickMs);
  }
  return int(kScanSlots * kTickMs);
}

}  // namespace portico
