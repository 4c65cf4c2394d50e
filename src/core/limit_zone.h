// The shared state of limit_req and limit_conn zones (nginx's shared-memory rbtree + LRU queue
// under a mutex), rebuilt for worker threads without a lock: a fixed-size open-addressing table
// sized from the zone's size, one 64-bit atomic (or two) per key, updated with compare-and-swap.
// Keys are never stored, only a keyed 64-bit hash of them (the seed is random per process, so
// collisions cannot be precomputed; two keys colliding would share a state, as with a
// 1-in-2^48..2^64 chance). A lookup probes at most kProbe slots from the key's home slot; a key
// not there takes an empty or expired slot, or evicts the least recently used one in the window
// (nginx evicts its oldest node when the zone is full).
//
// Shared by every worker thread for as long as a snapshot (or a reload that keeps the zone)
// uses it; every method may run on any thread at once, never blocks and never allocates.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace portico {

// The keyed hash of a zone key (never 0).
uint64_t limit_key_hash(std::string_view key);

// limit_req: nginx's leaky bucket, in millirequests. Per key: the excess over the rate and the
// time of the last accounted request, packed in one atomic word (excess 28 bits, time 36 bits
// of milliseconds since the table's epoch, which lies a day before its creation so an untouched
// slot reads as long idle).
class LimitReqTable {
 public:
  static constexpr size_t kProbe = 16;
  static constexpr uint64_t kMaxExcess = (uint64_t(1) << 28) - 1;  // burst < 268,435 requests

  // `slots` is rounded down to a power of two (at least kProbe). `rate` is requests per 1000 s
  // (nginx's rate: 2r/s = 2000, 30r/m = 500).
  LimitReqTable(size_t slots, uint64_t rate, uint64_t now_ms);

  uint64_t rate() const { return rate_; }
  size_t slots() const { return mask_ + 1; }

  struct Slot;
  // What a request would make of key `hash`'s state at `now_ms`: the excess after it (nginx:
  // excess - rate * elapsed + 1000, at least 0; a new key: 0). Read-only: finds the key's slot
  // or picks one for it (*slot), without changing anything.
  uint64_t peek(uint64_t hash, uint64_t now_ms, Slot** slot);
  // Accounts the request in the slot peek() chose: claims it for the key if needed and stores
  // the new excess and time. Returns the excess stored, or more than `limit` (nothing stored)
  // when a concurrent request already took the room.
  uint64_t account(Slot* slot, uint64_t hash, uint64_t now_ms, uint64_t limit);

 private:
  uint64_t excess_of(uint64_t state, uint64_t now_ms, bool* old) const;

  std::unique_ptr<Slot[]> table_;
  size_t mask_;
  uint64_t rate_;
  uint64_t epoch_ms_;
};

struct LimitReqTable::Slot {
  std::atomic<uint64_t> tag{0};    // the key's hash; 0: never used
  std::atomic<uint64_t> state{0};  // excess << 36 | ms since epoch
};

// limit_conn: per key the number of requests being processed, packed with the key's tag in one
// atomic word (tag 48 bits, count 16 bits: nginx's limit is at most 65535), so claiming a slot
// and counting in are one compare-and-swap and a count never lands on another key.
class LimitConnTable {
 public:
  static constexpr size_t kProbe = 16;

  explicit LimitConnTable(size_t slots);
  size_t slots() const { return mask_ + 1; }

  // Counts a request in for key `hash` if fewer than `limit` are: returns the slot to release
  // later, or null when the key is at its limit (*full false) or no slot is free for a new key
  // in its window (*full true: every slot there holds requests).
  std::atomic<uint64_t>* acquire(uint64_t hash, uint32_t limit, bool* full);
  // Counts the request out again. REQUIRES: `slot` came from acquire() with the same hash.
  static void release(std::atomic<uint64_t>* slot);

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> table_;
  size_t mask_;
};

}  // namespace portico
