#include "core/limit_zone.h"

#include <cstring>
#include <random>

namespace portico {

namespace {

constexpr int kTimeBits = 36;
constexpr uint64_t kTimeMask = (uint64_t(1) << kTimeBits) - 1;
constexpr uint64_t kEpochLeadMs = 86'400'000;  // a day: an untouched slot reads as long idle

uint64_t mix(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t seed() {
  static const uint64_t s = [] {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
  }();
  return s;
}

size_t round_slots(size_t n, size_t probe) {
  size_t p = probe;
  while (p * 2 <= n) p *= 2;
  return p;
}

}  // namespace

uint64_t limit_key_hash(std::string_view key) {
  uint64_t h = seed() ^ (key.size() * 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, key.data() + i, 8);
    h = mix(h ^ v) + 0x9e3779b97f4a7c15ULL;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, key.data() + i, key.size() - i);
  h = mix(h ^ tail ^ seed());
  return h ? h : 1;
}

// ---- limit_req ------------------------------------------------------------------------------

LimitReqTable::LimitReqTable(size_t slots, uint64_t rate, uint64_t now_ms)
    : rate_(rate ? rate : 1) {
  const size_t n = round_slots(slots, kProbe);
  table_ = std::make_unique<Slot[]>(n);
  mask_ = n - 1;
  epoch_ms_ = now_ms - kEpochLeadMs;
}

// nginx's ngx_http_limit_req_lookup arithmetic: the excess a request would leave. *old: the
// state has drained and idled 60 s (nginx's expire test: the slot may go to another key).
uint64_t LimitReqTable::excess_of(uint64_t state, uint64_t now_ms, bool* old) const {
  const uint64_t now = (now_ms - epoch_ms_) & kTimeMask;
  const uint64_t last = state & kTimeMask;
  const int64_t excess = int64_t(state >> kTimeBits);
  // The clock is 36 bits wide: a difference past half its range is a time before `last`.
  int64_t ms = int64_t((now - last) & kTimeMask);
  if (ms > int64_t(kTimeMask >> 1)) ms -= int64_t(kTimeMask) + 1;
  if (ms < -60000)
    ms = 1;
  else if (ms < 0)
    ms = 0;
  const __int128 left = (__int128)excess - (__int128)rate_ * ms / 1000;
  if (old) *old = ms >= 60000 && left <= 0;
  const __int128 e = left + 1000;
  return e < 0 ? 0 : uint64_t(e);
}

uint64_t LimitReqTable::peek(uint64_t hash, uint64_t now_ms, Slot** slot) {
  const size_t home = size_t(hash) & mask_;
  Slot* free_slot = nullptr;
  Slot* oldest = nullptr;
  uint64_t oldest_age = 0;
  const uint64_t now = (now_ms - epoch_ms_) & kTimeMask;
  for (size_t i = 0; i < kProbe; ++i) {
    Slot* s = &table_[(home + i) & mask_];
    const uint64_t tag = s->tag.load(std::memory_order_acquire);
    const uint64_t state = s->state.load(std::memory_order_acquire);
    if (tag == hash) {
      *slot = s;
      return excess_of(state, now_ms, nullptr);
    }
    if (free_slot) continue;
    bool old = false;
    excess_of(state, now_ms, &old);
    if (tag == 0 || old) {
      free_slot = s;
      continue;
    }
    const uint64_t age = (now - (state & kTimeMask)) & kTimeMask;
    if (!oldest || age > oldest_age) {
      oldest = s;
      oldest_age = age;
    }
  }
  *slot = free_slot ? free_slot : oldest;  // the zone is full here: the oldest goes
  return 0;                                // a new key: nginx starts it at excess 0
}

uint64_t LimitReqTable::account(Slot* s, uint64_t hash, uint64_t now_ms, uint64_t limit) {
  const uint64_t now = (now_ms - epoch_ms_) & kTimeMask;
  for (;;) {
    uint64_t tag = s->tag.load(std::memory_order_acquire);
    uint64_t state = s->state.load(std::memory_order_acquire);
    if (tag != hash) {
      // Claim the slot for this key; its first request leaves excess 0, as a new nginx node.
      if (!s->tag.compare_exchange_weak(tag, hash, std::memory_order_acq_rel)) continue;
      if (s->state.compare_exchange_strong(state, now, std::memory_order_acq_rel)) return 0;
      continue;  // another request of this key got there first: account on top of it
    }
    const uint64_t e = excess_of(state, now_ms, nullptr);
    if (e > limit) return e;
    const uint64_t last = state & kTimeMask;
    const bool earlier = ((now - last) & kTimeMask) > (kTimeMask >> 1);  // the clock went back
    const uint64_t next = std::min(e, kMaxExcess) << kTimeBits | (earlier ? last : now);
    if (s->state.compare_exchange_weak(state, next, std::memory_order_acq_rel)) return e;
  }
}

// ---- limit_conn -----------------------------------------------------------------------------

LimitConnTable::LimitConnTable(size_t slots) {
  const size_t n = round_slots(slots, kProbe);
  table_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (size_t i = 0; i < n; ++i) table_[i].store(0, std::memory_order_relaxed);
  mask_ = n - 1;
}

std::atomic<uint64_t>* LimitConnTable::acquire(uint64_t hash, uint32_t limit, bool* full) {
  const uint64_t tag = (hash >> 16) | (uint64_t(1) << 47);  // 48 bits, never 0
  const size_t home = size_t(hash) & mask_;
  *full = false;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::atomic<uint64_t>* free_slot = nullptr;
    uint64_t free_value = 0;
    bool retry = false;
    for (size_t i = 0; i < kProbe && !retry; ++i) {
      std::atomic<uint64_t>* s = &table_[(home + i) & mask_];
      uint64_t v = s->load(std::memory_order_acquire);
      while ((v >> 16) == tag) {
        if ((v & 0xffff) >= limit) return nullptr;
        if (s->compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) return s;
      }
      // The first slot without requests in probe order: two first requests of one key race
      // for the same slot, so the key does not end up in two.
      if (!free_slot && (v & 0xffff) == 0) {
        free_slot = s;
        free_value = v;
      }
    }
    if (!free_slot) {
      *full = true;
      return nullptr;
    }
    if (free_slot->compare_exchange_strong(free_value, tag << 16 | 1, std::memory_order_acq_rel))
      return free_slot;
  }
  *full = true;  // the window kept changing under us: as good as full
  return nullptr;
}

void LimitConnTable::release(std::atomic<uint64_t>* slot) {
  slot->fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace portico
