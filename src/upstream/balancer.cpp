#include "upstream/balancer.h"

#include <cassert>
#include <utility>

#include "upstream/balancers/hash.h"
#include "upstream/balancers/ip_hash.h"
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

Balancer::Balancer(std::shared_ptr<const Group> group) : group_(std::move(group)) {
  slots_.resize(group_->size());
  for (size_t i = 0; i < slots_.size(); i++) slots_[i].effective = group_->peers()[i].cfg.weight;
}

int Balancer::pick(const PickContext& ctx, TriedSet& tried) {
  assert(tried.capacity() >= group_->size());
  // A chosen peer can fill up (max_conns) between select() and try_acquire() when another
  // worker takes its last slot; it then counts as tried and we choose again. Each round marks
  // one more peer, so this ends.
  for (size_t round = 0; round <= group_->size(); round++) {
    int i = select(ctx, tried);
    if (i < 0) return -1;
    assert(size_t(i) < group_->size() && !tried.contains(size_t(i)));
    tried.insert(size_t(i));
    const Peer& p = peer(uint32_t(i));
    if (!try_acquire(p)) continue;
    note_selected(p, ctx.now_ms);
    p.state->requests.fetch_add(1, std::memory_order_relaxed);
    return i;
  }
  return -1;
}

void Balancer::release(int index, Outcome outcome, uint64_t now_ms) {
  assert(index >= 0 && size_t(index) < group_->size());
  const Peer& p = peer(uint32_t(index));
  if (group_->single()) {
    // nginx keeps no failure accounting for a lone server: there is nothing to fail over to.
    if (outcome == Outcome::kFailure) p.state->failures.fetch_add(1, std::memory_order_relaxed);
  } else if (outcome == Outcome::kFailure) {
    report_failure(p, now_ms);
    if (p.cfg.max_fails != 0) {
      Slot& s = slots_[size_t(index)];
      s.effective -= int64_t{p.cfg.weight / p.cfg.max_fails};
      if (s.effective < 0) s.effective = 0;
    }
  } else {
    report_success(p, now_ms);
  }
  on_release(p);
}

int Balancer::round_robin(const TriedSet& tried, uint64_t now_ms) {
  const Group& g = *group_;
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
  }
  return nullptr;
}

}  // namespace portico::upstream
