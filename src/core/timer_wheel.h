// TimerWheel: per-worker timeouts (h2o: include/h2o/timerwheel.h, simplified to one level).
// Timers are intrusive entries owned by their users (connections); arming, re-arming and
// cancelling are O(1) list operations, which matters because a connection re-arms its timer
// on every read. Slots hold timers by expiry tick modulo kSlots; a slot is a calendar bucket, so
// an entry due further out than one revolution simply stays until its own tick comes round.
// Owned by one EventLoop; used only from that loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace portico {

class TimerWheel;

struct Timer {
  using Callback = void (*)(Timer*);
  Callback cb = nullptr;
  uint64_t expire_ms = 0;
  Timer* prev = nullptr;
  Timer* next = nullptr;
  bool armed() const { return prev != nullptr; }
};

class TimerWheel {
 public:
  static constexpr uint64_t kTickMs = 8;
  static constexpr size_t kSlots = 2048;  // one revolution ~ 16 s

  TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  void start(uint64_t now_ms) { last_tick_ = now_ms / kTickMs; }
  // (Re)arms `t` to fire at now_ms + delay_ms (rounded up to the next tick).
  void schedule(Timer* t, uint64_t now_ms, uint64_t delay_ms);
  void cancel(Timer* t);
  // Fires every timer due at or before now_ms. A callback may re-arm or cancel any timer.
  void run(uint64_t now_ms);
  // Milliseconds until the earliest slot with a timer may fire; -1 if none armed.
  int next_timeout_ms(uint64_t now_ms) const;
  size_t size() const { return count_; }

 private:
  Timer slots_[kSlots];  // sentinels of circular lists
  uint64_t last_tick_ = 0;
  size_t count_ = 0;
};

}  // namespace portico
