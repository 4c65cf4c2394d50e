// Balancer: chooses a peer of a Group for one attempt of one request, with nginx's algorithms
// (round robin, least_conn, ip_hash, hash [consistent], random [two]) and Passenger's
// least-busy routing for app groups.
//
// Ownership and threads: one Balancer per worker thread per Group, built by make_balancer()
// and owned by that worker's LocalGroup (local_group.h); used only by that worker, so it is
// not thread-safe and needs no lock. State that must be global (in-flight counts, passive and
// active health, draining, slow start) lives in the peers' shared PeerState objects (atomics);
// state that may differ per worker (smooth-WRR current and effective weights, the random
// generator) lives here. A Balancer keeps its Group alive, and the member list it has adopted.
//
// Live groups (HAProxy: lb_ops; Envoy: member-update callbacks): the balancer picks from the
// member list it has adopted. When its worker adopts a newer one, adopt() compares the two slot
// by slot and hears each change as a peer event (added, removed, draining, up/down, weight),
// which each algorithm applies to its per-worker state instead of being rebuilt. The tables
// every worker would otherwise rebuild alike (primaries, ranges, the consistent-hash ring) come
// built with the list, by the publisher.
//
// Use, per attempt (nginx's peer.get / peer.free):
//
//   TriedSet tried(balancer->members().size());    // once per request
//   int s = balancer->pick({now_ms, key}, tried);  // a slot; -1: nothing available -> 502/503
//   ... connect to balancer->peer(s).cfg.addr, proxy ...
//   balancer->release(s, Outcome::kFailure, now_ms);  // or kSuccess; exactly once per pick
//   // proxy_next_upstream: pick again with the same `tried`, up to members().max_tries() times
//
// Between pick and release, peer(s) is the peer picked, whatever lists are adopted meanwhile
// (member_list.h: a removed peer's slot is not reused while a request uses it).
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

// What changed about one slot between two member lists, as a balancer hears it.
enum class PeerEvent : uint8_t {
  kAdded,     // a new member (or a removed one's slot reused by a new one: kRemoved first)
  kRemoved,   // left the list; requests using it finish
  kDraining,  // takes no new requests
  kResumed,   // a draining member became a full member again
  kDown,      // `down` set by the publisher
  kUp,        // `down` cleared
  kWeight,    // weight changed
};

struct PeerChange {
  uint32_t slot;
  PeerEvent event;
  // The peer the event is about: for kRemoved the one that left, otherwise the new list's.
  std::shared_ptr<PeerState> state;
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

  // Chooses a member not in `tried` that is available now (peer.h: available()), primaries
  // first and backups only when no primary is; returns its slot, or -1 when there is none (all
  // down, draining, failed out, unhealthy, full or tried). On success the peer is counted as
  // in use (active++, which enforces max_conns exactly even across workers and never succeeds
  // once the peer is draining), is inserted into `tried` (which may grow it, see tried_set.h),
  // and may become its fail_timeout probe (note_selected). Never blocks; allocates only to
  // grow `tried`.
  int pick(const PickContext& ctx, TriedSet& tried);

  // Ends the attempt that pick() returned `slot` for: reports the outcome to the peer's
  // passive health (and, on failure, lowers this worker's effective weight for it as nginx
  // does) and counts the request out (active--). Never blocks, never allocates.
  void release(int slot, Outcome outcome, uint64_t now_ms);

  // Adopts `next`, a later list of group() (worker thread; LocalGroup calls it when a change is
  // published). Hears each slot that changed as a PeerChange, in slot order, and returns them
  // (the caller closes idle connections of peers that left or drain). Allocates (rarely run).
  std::vector<PeerChange> adopt(std::shared_ptr<const MemberList> next);

  // The earliest time a member that passive health failed out may be chosen again, or 0 if
  // none is failed out. Never blocks, never allocates.
  uint64_t recovers_at(uint64_t now_ms) const;
  // Whether every member is in `tried` (a retry has nowhere else to go). Never allocates.
  bool all_tried(const TriedSet& tried) const;

  const Group& group() const { return *group_; }
  // The list this balancer picks from (adopted by its worker).
  const MemberList& members() const { return *members_; }
  const std::shared_ptr<const MemberList>& members_ptr() const { return members_; }
  // REQUIRES: slot < members().size() and not kFree (e.g. a slot pick() returned, until its
  // release).
  const Peer& peer(size_t slot) const { return members_->peer(slot); }
  // This worker's smooth-WRR effective weight for a peer (nginx: peer->effective_weight); for
  // tests and status.
  int64_t effective_weight(size_t slot) const { return slots_[slot].effective; }

 protected:
  // Adopts group->current() (takes the group's mutex once).
  explicit Balancer(std::shared_ptr<const Group> group);

  // The algorithm: an available slot not in `tried`, or -1. Must not touch `active`.
  virtual int select(const PickContext& ctx, const TriedSet& tried) = 0;

  // One peer event, after members() has become the new list (HAProxy: lb_ops). The base keeps
  // the smooth round robin state every method falls back to: a new or reused slot starts
  // afresh, a weight change resets the effective weight (as nginx's zone updates do); down,
  // draining and removed peers need nothing, since select() skips unavailable peers. An
  // override calls the base.
  virtual void on_peer_event(const PeerChange& change);

  bool usable(uint32_t i, const TriedSet& tried, uint64_t now_ms) const {
    return !tried.contains(i) && available(peer(i), now_ms, members_->single());
  }
  // Configured weight scaled by slow start, in thousandths (weight * 1000 when not ramping).
  uint64_t weight_units(uint32_t i, uint64_t now_ms) const {
    return uint64_t{peer(i).cfg.weight} * slow_start_permille(peer(i), now_ms, members_->single());
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
  std::shared_ptr<const MemberList> members_;
  std::vector<Slot> slots_;  // by slot, members().size() of them
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
    int64_t w = s.effective * int64_t(slow_start_permille(peer(i), now_ms, members_->single()));
    s.current += w;
    total += w;
    if (s.effective < int64_t{peer(i).cfg.weight}) s.effective++;
    if (best < 0 || s.current > slots_[best].current) best = int(i);
  }
  if (best >= 0) slots_[best].current -= total;
  return best;
}

}  // namespace portico::upstream
