// Crash backoff: how long the supervisor waits before starting a process again after one of its
// app's processes failed (died before it was ready, or soon after). Exponential, capped, never
// giving up (PM2 gives up after 15 restarts, Passenger does not wait at all); a process that
// stayed up for `reset_after` ends the streak. Pure arithmetic, unit-tested.
#pragma once

#include <cstdint>

namespace portico::apps {

struct BackoffPolicy {
  uint64_t initial_ms = 100;
  uint64_t max_ms = 30'000;
  double factor = 2.0;
  uint64_t reset_after_ms = 60'000;

  bool operator==(const BackoffPolicy&) const = default;
};

// The wait before the next start after `failures` consecutive failures: 0 for none, else
// initial * factor^(failures-1), at most max (and never less than initial when initial <= max).
uint64_t backoff_delay_ms(const BackoffPolicy& p, uint32_t failures);

// The streak after a process ended: `ready_for_ms` is how long it had been ready (0: it never
// was). A process that served for at least reset_after starts a new streak of 1; any other end
// adds one. (A clean stop asked for by the supervisor is not a failure and is not counted.)
uint32_t next_failures(const BackoffPolicy& p, uint32_t failures, bool was_ready,
                       uint64_t ready_for_ms);

}  // namespace portico::apps
