#include "upstream/balancer.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "upstream/balancers/hash.h"
#include "upstream/balancers/ip_hash.h"
#include "upstream/balancers/least_busy.h"
#include "upstream/balancers/least_conn.h"
#include "upstream/balancers/random.h"
#include "upstream/balancers/round_robin.h"

namespace portico::upstream {

std::string_view ip_hash_key(const SockAddr& client) {
  static constexpr char kPseudo[3] = {0, 0, 0};  // nginx: ngx_http_upstream_ip_hash_pseudo_addr
  if (client.sa.sa_family == AF_INET) {
    return {reinterpret_cast<const char*>(&client.v4.sin_addr), 3};
  }
  if (client.sa.sa_family == AF_INET6) {
    return {reinterpret_cast<const char*>(&client.v6.sin6_addr), 16};
  }
  return {kPseudo, sizeof kPseudo};
}

Balancer::Balancer(std::shared_ptr<const Group> group)
    : group_(std::move(group)), members_(group_->current()) {
  slots_.resize(members_->size());
  for (uint32_t i : members_->order()) slots_[i].effective = members_->peer(i).cfg.weight;
}

int Balancer::pick(const PickContext& ctx, TriedSet& tried) {
  // A chosen peer can fill up (max_conns) or start draining between select() and
  // try_acquire() when another worker takes its last slot or a publisher drains it; it then
  // counts as tried and we choose again. Each round marks one more peer, so this ends.
  for (size_t round = 0; round <= members_->size(); round++) {
    int i = select(ctx, tried);
    if (i < 0) return -1;
    assert(size_t(i) < members_->size() && !tried.contains(size_t(i)));
    tried.insert(size_t(i));
    const Peer& p = peer(uint32_t(i));
    if (!try_acquire(p)) continue;
    note_selected(p, ctx.now_ms);
    p.state->requests.fetch_add(1, std::memory_order_relaxed);
    return i;
  }
  return -1;
}

void Balancer::release(int slot, Outcome outcome, uint64_t now_ms) {
  assert(slot >= 0 && size_t(slot) < members_->size() && peer(uint32_t(slot)).state);
  const Peer& p = peer(uint32_t(slot));
  if (members_->single()) {
    // nginx keeps no failure accounting for a lone server: there is nothing to fail over to.
    if (outcome == Outcome::kFailure) p.state->failures.fetch_add(1, std::memory_order_relaxed);
  } else if (outcome == Outcome::kFailure) {
    report_failure(p, now_ms);
    if (p.cfg.max_fails != 0) {
      Slot& s = slots_[size_t(slot)];
      s.effective -= int64_t{p.cfg.weight / p.cfg.max_fails};
      if (s.effective < 0) s.effective = 0;
    }
  } else {
    report_success(p, now_ms);
  }
  on_release(p);
}

namespace {

// The change at one slot from `o` to `n` (either may be a kFree slot), appended to `out`.
void diff_slot(uint32_t slot, const Peer& o, const Peer& n, std::vector<PeerChange>& out) {
  const bool was = o.listed(), is = n.listed();
  if (o.state != n.state) {
    if (was) out.push_back({slot, PeerEvent::kRemoved, o.state});
    if (is) out.push_back({slot, PeerEvent::kAdded, n.state});
    return;
  }
  if (!n.state) return;  // free before and after
  if (was && !is) {
    out.push_back({slot, PeerEvent::kRemoved, o.state});
    return;
  }
  if (!was || !is) return;             // removed before and after
  if (o.cfg.backup != n.cfg.backup) {  // moves between the lists: a new member there
    out.push_back({slot, PeerEvent::kRemoved, o.state});
    out.push_back({slot, PeerEvent::kAdded, n.state});
    return;
  }
  if (o.membership != n.membership) {
    out.push_back(
        {slot, n.membership == Membership::kDraining ? PeerEvent::kDraining : PeerEvent::kResumed,
         n.state});
  }
  if (o.cfg.down != n.cfg.down) {
    out.push_back({slot, n.cfg.down ? PeerEvent::kDown : PeerEvent::kUp, n.state});
  }
  if (o.cfg.weight != n.cfg.weight) out.push_back({slot, PeerEvent::kWeight, n.state});
}

}  // namespace

std::vector<PeerChange> Balancer::adopt(std::shared_ptr<const MemberList> next) {
  std::vector<PeerChange> changes;
  if (next == members_) return changes;
  std::shared_ptr<const MemberList> prev = std::move(members_);
  members_ = std::move(next);
  const Peer none{{}, nullptr, Membership::kFree};
  const size_t n = std::max(prev->size(), members_->size());
  for (uint32_t slot = 0; slot < n; slot++) {
    const Peer& o = slot < prev->size() ? prev->peer(slot) : none;
    const Peer& p = slot < members_->size() ? members_->peer(slot) : none;
    diff_slot(slot, o, p, changes);
  }
  // A slot only disappears once it is free (its peer released by every request), so the
  // per-slot state can follow the new size.
  slots_.resize(members_->size());
  for (const PeerChange& c : changes) on_peer_event(c);
  return changes;
}

void Balancer::on_peer_event(const PeerChange& c) {
  Slot& s = slots_[c.slot];
  switch (c.event) {
    case PeerEvent::kAdded:
      s = Slot{0, int64_t{peer(c.slot).cfg.weight}};
      break;
    case PeerEvent::kWeight:
      s.effective = peer(c.slot).cfg.weight;
      break;
    case PeerEvent::kRemoved:
      if (!peer(c.slot).state) s = Slot{};
      break;
    case PeerEvent::kDraining:
    case PeerEvent::kResumed:
    case PeerEvent::kDown:
    case PeerEvent::kUp:
      break;  // select() skips unavailable peers; their round robin state waits for them
  }
}

uint64_t Balancer::recovers_at(uint64_t now_ms) const {
  uint64_t at = 0;
  for (uint32_t i : members_->order()) {
    uint64_t t = fail_timeout_ends_ms(peer(i), now_ms, members_->single());
    if (t != 0 && (at == 0 || t < at)) at = t;
  }
  return at;
}

bool Balancer::all_tried(const TriedSet& tried) const {
  for (uint32_t i : members_->order()) {
    if (!tried.contains(i)) return false;
  }
  return true;
}

int Balancer::round_robin(const TriedSet& tried, uint64_t now_ms) {
  const MemberList& g = *members_;
  auto any = [](uint32_t) { return true; };
  if (g.single()) {
    uint32_t i = g.primaries()[0];
    return usable(i, tried, now_ms) ? int(i) : -1;
  }
  int i = smooth_step(g.primaries(), 0, tried, now_ms, any);
  if (i < 0 && !g.backups().empty()) i = smooth_step(g.backups(), 0, tried, now_ms, any);
  return i;
}

std::unique_ptr<Balancer> make_balancer(std::shared_ptr<const Group> group, uint64_t seed) {
  switch (group->method()) {
    case Method::kRoundRobin:
      return std::make_unique<RoundRobinBalancer>(std::move(group));
    case Method::kLeastConn:
      return std::make_unique<LeastConnBalancer>(std::move(group));
    case Method::kIpHash:
      return std::make_unique<IpHashBalancer>(std::move(group));
    case Method::kHash:
      return std::make_unique<HashBalancer>(std::move(group));
    case Method::kHashConsistent:
      return std::make_unique<ConsistentHashBalancer>(std::move(group));
    case Method::kRandom:
      return std::make_unique<RandomBalancer>(std::move(group), seed, false);
    case Method::kRandomTwo:
      return std::make_unique<RandomBalancer>(std::move(group), seed, true);
    case Method::kLeastBusy:
      return std::make_unique<LeastBusyBalancer>(std::move(group));
  }
  return nullptr;
}

}  // namespace portico::upstream
