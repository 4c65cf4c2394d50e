// Balancer: chooses a peer of a Group for one attempt of one request, with nginx's algorithms
// (round robin, least_conn, ip_hash, hash [consistent], random [two]).
//
// Ownership and threads: one Balancer per worker thread per Group, built by make_balancer()
// from the snapshot's shared Group and used only by that worker; it is not thread-safe and
// needs no lock. State that must be global (in-flight counts, passive and active health,
// slow start) lives in the Group's shared PeerState objects (atomics); state that may differ
// per worker (smooth-WRR current and effective weights, the random generator) lives here.
// A Balancer keeps its Group alive.
//
// Use, per attempt (nginx's peer.get / peer.free):
//
//   TriedSet tried(group->size());                 // once per request
//   int i = balancer->pick({now_ms, key}, tried);  // -1: nothing available -> 502/503
//   ... connect to group->peer(i).cfg.addr, proxy ...
//   balancer->release(i, Outcome::kFailure, now_ms);  // or kSuccess; exactly once per pick
//   // proxy_next_upstream: pick again with the same `tried`, up to group->max_tries() times
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"
#include "upstream/group.h"
#include "upstream/tried_set.h"

namespace portico::upstream {

struct PickContext {
  uint64_t now_ms = 0;
  // hash / hash consistent: the evaluated `hash` key for this request; an empty key falls back
  // to round robin, as in nginx. ip_hash: the client address bytes, see ip_hash_key().
  std::string_view hash_key;
};

// How an attempt ended. kFailure is what proxy_next_upstream counts as an unsuccessful attempt
// (error, timeout, invalid header, and listed http_5xx codes); everything else is kSuccess.
enum class Outcome { kSuccess, kFailure };

// The bytes ip_hash hashes for a client (nginx: ngx_http_upstream_init_ip_hash_peer): the
// first three octets of an IPv4 address, all sixteen of an IPv6 one, three zero bytes for
// anything else (unix sockets). The view points into `client` (or static storage).
std::string_view ip_hash_key(const SockAddr& client);

class Balancer {
 public:
  virtual ~Balancer() = default;
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Chooses a peer not in `tried` that is available now (peer.h: available()), primaries
  // first and backups only when no primary is; returns its index in group().peers(), or -1
  // when there is none (all down, failed out, unhealthy, full or tried). On success the peer
  // is counted as in use (active++, which enforces max_conns exactly even across workers), is
  // inserted into `tried`, and may become its fail_timeout probe (note_selected). Never
  // blocks, never allocates.
  // REQUIRES: tried.capacity() >= group().size().
  int pick(const PickContext& ctx, TriedSet& tried);

  // Ends the attempt that pick() returned `index` for: reports the outcome to the peer's
  // passive health (and, on failure, lowers this worker's effective weight for it as nginx
  // does) and counts the request out (active--).
  void release(int index, Outcome outcome, uint64_t now_ms);

  const Group& group() const { return *group_; }
  // This worker's smooth-WRR effective weight for a peer (nginx: peer->effective_weight); for
  // tests and status.
  int64_t effective_weight(size_t index) const { return slots_[index].effective; }

 protected:
  explicit Balancer(std::shared_ptr<const Group> group);

  // The algorithm: an available index not in `tried`, or -1. Must not touch `active`.
  virtual int select(const PickContext& ctx, const TriedSet& tried) = 0;

  const Peer& peer(uint32_t i) const { return group_->peers()[i]; }
  bool usable(uint32_t i, const TriedSet& tried, uint64_t now_ms) const {
    return !tried.contains(i) && available(peer(i), now_ms, group_->single());
  }
  // Configured weight scaled by slow start, in thousandths (weight * 1000 when not ramping).
  uint64_t weight_units(uint32_t i, uint64_t now_ms) const {
    return uint64_t{peer(i).cfg.weight} * slow_start_permille(peer(i), now_ms, group_->single());
  }

  // nginx's ngx_http_upstream_get_round_robin_peer: smooth weighted round robin over the
  // usable primaries, then over the usable backups. Every method falls back to it.
  int round_robin(const TriedSet& tried, uint64_t now_ms);

  // One step of nginx's smooth weighted round robin (ngx_http_upstream_get_peer) over
  // list[from..] restricted to usable peers for which eligible(i) holds: each adds its
  // effective weight to its current weight, the largest current weight wins (the first one on
  // ties) and gives back the total. Effective weights recover by 1 per step towards the
  // configured weight. Returns the chosen index or -1.
  template <class Eligible>
  int smooth_step(const std::vector<uint32_t>& list, size_t from, const TriedSet& tried,
                  uint64_t now_ms, Eligible eligible);

 private:
  struct Slot {
    int64_t current = 0;    // in weight units (see weight_units)
    int64_t effective = 0;  // in configured-weight units, 0..weight
  };

  std::shared_ptr<const Group> group_;
  std::vector<Slot> slots_;  // by peer index
};

// Builds the balancer for group->method(). `seed` seeds the random methods' generator (0: a
// seed of its own); tests pass a fixed one.
std::unique_ptr<Balancer> make_balancer(std::shared_ptr<const Group> group, uint64_t seed = 0);

template <class Eligible>
int Balancer::smooth_step(const std::vector<uint32_t>& list, size_t from, const TriedSet& tried,
                          uint64_t now_ms, Eligible eligible) {
  int best = -1;
  int64_t total = 0;
  for (size_t k = from; k < list.size(); k++) {
    uint32_t i = list[k];
    if (!usable(i, tried, now_ms) || !eligible(i)) continue;
    Slot& s = slots_[i];
    int64_t w = s.effective * int64_t(slow_start_permille(peer(i), now_ms, group_->single()));
    s.current += w;
    total += w;
    if (s.effective < int64_t{peer(i).cfg.weight}) s.effective++;
    if (best < 0 || s.current > slots_[best].current) best = int(i);
  }
  if (best >= 0) slots_[best].current -= total;
  return best;
}

}  // namespace portico::upstream
