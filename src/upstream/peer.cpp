#include "upstream/peer.h"

#include <algorithm>
#include <cassert>

namespace portico::upstream {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr auto kSeqCst = std::memory_order_seq_cst;

// True while `now` is within fail_timeout of `checked`. Another worker's clock reading may be a
// little ahead of ours (checked > now): that is "within" too.
bool within_fail_timeout(const Peer& p, uint64_t now_ms) {
  uint64_t checked = p.state->checked_ms.load(kRelaxed);
  return now_ms < checked || now_ms - checked <= p.cfg.fail_timeout_ms;
}

}  // namespace

bool available(const Peer& p, uint64_t now_ms, bool single) {
  if (p.cfg.down) return false;
  const PeerState& s = *p.state;
  if (!s.healthy.load(kRelaxed) || s.draining.load(kRelaxed)) return false;
  if (!single && p.cfg.max_fails != 0 && s.fails.load(kRelaxed) >= p.cfg.max_fails &&
      within_fail_timeout(p, now_ms)) {
    return false;
  }
  if (p.cfg.max_conns != 0 && s.active.load(kRelaxed) >= p.cfg.max_conns) return false;
  return true;
}

bool try_acquire(const Peer& p) {
  PeerState& s = *p.state;
  if (p.cfg.max_conns == 0) {
    s.active.fetch_add(1, kSeqCst);
  } else {
    uint32_t cur = s.active.load(kRelaxed);
    do {
      if (cur >= p.cfg.max_conns) return false;
    } while (!s.active.compare_exchange_weak(cur, cur + 1, kSeqCst, kRelaxed));
  }
  // Counted in first, then checked: a publisher that sets `draining` and then reads active == 0
  // knows that every later attempt sees the flag and backs out (see PeerState::draining).
  if (s.draining.load(kSeqCst)) [[unlikely]] {
    s.active.fetch_sub(1, kSeqCst);
    return false;
  }
  return true;
}

void on_connect(const Peer& p) {
  p.state->active.fetch_add(1, kRelaxed);
}

void on_release(const Peer& p) {
  [[maybe_unused]] uint32_t before = p.state->active.fetch_sub(1, kSeqCst);
  assert(before > 0 && "on_release without a matching on_connect");
}

void note_selected(const Peer& p, uint64_t now_ms) {
  PeerState& s = *p.state;
  uint64_t checked = s.checked_ms.load(kRelaxed);
  // Only one worker moves the window forward; the loser's request is simply a second probe.
  if (now_ms > checked && now_ms - checked > p.cfg.fail_timeout_ms) {
    s.checked_ms.compare_exchange_strong(checked, now_ms, kRelaxed);
  }
}

void report_failure(const Peer& p, uint64_t now_ms) {
  PeerState& s = *p.state;
  // accessed before checked: a concurrent success must never see accessed < checked because
  // of this failure (it would forgive it).
  s.accessed_ms.store(now_ms, kRelaxed);
  s.checked_ms.store(now_ms, kRelaxed);
  uint32_t fails = s.fails.fetch_add(1, kRelaxed) + 1;
  s.failures.fetch_add(1, kRelaxed);
  if (p.cfg.max_fails != 0 && fails == p.cfg.max_fails) {
    s.unavailable.fetch_add(1, kRelaxed);
    s.recovered_at_ms.store(0, kRelaxed);  // failed out: no longer ramping
  }
}

void report_success(const Peer& p, uint64_t now_ms) {
  PeerState& s = *p.state;
  if (s.accessed_ms.load(kRelaxed) >= s.checked_ms.load(kRelaxed)) return;
  if (p.cfg.slow_start_ms != 0 && p.cfg.max_fails != 0 &&
      s.fails.load(kRelaxed) >= p.cfg.max_fails) {
    s.recovered_at_ms.store(std::max<uint64_t>(now_ms, 1), kRelaxed);
  }
  // Once forgiven, accessed < checked stays true: skip the store to keep successes read-only.
  if (s.fails.load(kRelaxed) != 0) s.fails.store(0, kRelaxed);
}

void set_healthy(const Peer& p, bool healthy, uint64_t now_ms) {
  PeerState& s = *p.state;
  bool was = s.healthy.exchange(healthy, kRelaxed);
  if (!was && healthy && p.cfg.slow_start_ms != 0) {
    s.recovered_at_ms.store(std::max<uint64_t>(now_ms, 1), kRelaxed);
  }
}

uint32_t slow_start_permille(const Peer& p, uint64_t now_ms, bool single) {
  uint64_t span = p.cfg.slow_start_ms;
  if (span == 0 || single) return 1000;
  uint64_t since = p.state->recovered_at_ms.load(kRelaxed);
  if (since == 0) return 1000;
  if (now_ms <= since) return 1;
  uint64_t elapsed = now_ms - since;
  if (elapsed >= span) return 1000;
  return static_cast<uint32_t>(std::max<uint64_t>(1, elapsed * 1000 / span));
}

uint64_t fail_timeout_ends_ms(const Peer& p, uint64_t now_ms, bool single) {
  const PeerState& s = *p.state;
  if (single || p.cfg.max_fails == 0 || s.fails.load(kRelaxed) < p.cfg.max_fails) return 0;
  uint64_t checked = s.checked_ms.load(kRelaxed);
  if (now_ms >= checked && now_ms - checked > p.cfg.fail_timeout_ms) return 0;  // already over
  return checked + p.cfg.fail_timeout_ms + 1;
}

}  // namespace portico::upstream
