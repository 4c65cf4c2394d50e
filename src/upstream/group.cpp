#include "upstream/group.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <utility>

namespace portico::upstream {

namespace {

// The parameter as nginx echoes it back: we no longer have the token as written, so print the
// value in the unit nginx would most likely have been given.
std::string slow_start_token(uint64_t ms) {
  if (ms % 1000 == 0) return "slow_start=" + std::to_string(ms / 1000) + "s";
  return "slow_start=" + std::to_string(ms) + "ms";
}

bool supports_backup(Method m) {
  return m == Method::kRoundRobin || m == Method::kLeastConn;
}

// A peer's identity across lists: the same `server` text and the same address.
using Identity = std::pair<std::string, std::string>;
Identity identity(const PeerConfig& c) {
  return {c.server_or_name(), c.name};
}

}  // namespace

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kRoundRobin:
      return "round robin";
    case Method::kLeastConn:
      return "least_conn";
    case Method::kIpHash:
      return "ip_hash";
    case Method::kHash:
      return "hash";
    case Method::kHashConsistent:
      return "hash ... consistent";
    case Method::kRandom:
      return "random";
    case Method::kRandomTwo:
      return "random two least_conn";
    case Method::kLeastBusy:
      return "least_busy";
  }
  return "?";
}

Status Group::validate_peer(Method method, const PeerConfig& p) {
  if (p.weight == 0) return Status::error("invalid parameter \"weight=0\"");
  if (p.backup && !supports_backup(method)) {
    return Status::error("balancing method does not support parameter \"backup\"");
  }
  if (p.slow_start_ms != 0 && !supports_backup(method)) {
    return Status::error("balancing method does not support parameter \"" +
                         slow_start_token(p.slow_start_ms) + "\"");
  }
  return Status::ok();
}

Status Group::validate(const GroupConfig& cfg) {
  bool any_primary = false;
  for (const PeerConfig& p : cfg.peers) {
    if (Status s = validate_peer(cfg.method, p); !s) return s;
    any_primary |= !p.backup;
  }
  if (!any_primary && !cfg.live)
    return Status::error("no servers in upstream \"" + cfg.name + "\"");
  return Status::ok();
}

Status Group::create(GroupConfig cfg, const Group* previous, std::shared_ptr<const Group>* out) {
  if (Status s = validate(cfg); !s) return s;

  // Old states by identity; duplicates are matched in order.
  std::map<Identity, std::vector<std::shared_ptr<PeerState>>> old;
  if (previous != nullptr) {
    std::shared_ptr<const MemberList> prev = previous->current();
    for (auto it = prev->order().rbegin(); it != prev->order().rend(); ++it) {
      const Peer& p = prev->peer(*it);
      old[identity(p.cfg)].push_back(p.state);
    }
  }

  std::shared_ptr<Group> g(new Group());
  g->name_ = std::move(cfg.name);
  g->method_ = cfg.method;
  g->hash_key_ = std::move(cfg.hash_key);
  std::vector<Peer> peers;
  std::vector<uint32_t> order;
  peers.reserve(cfg.peers.size());
  for (PeerConfig& pc : cfg.peers) {
    std::shared_ptr<PeerState> state;
    auto it = old.find(identity(pc));
    if (it != old.end() && !it->second.empty()) {
      state = std::move(it->second.back());
      it->second.pop_back();
      state->draining.store(false, std::memory_order_seq_cst);  // configured: a member again
    } else {
      state = std::make_shared<PeerState>();
    }
    order.push_back(uint32_t(peers.size()));
    peers.push_back(Peer{std::move(pc), std::move(state)});
  }
  g->current_ = MemberList::build(g->method_, std::move(peers), std::move(order), 1);
  *out = std::move(g);
  return Status::ok();
}

Group::~Group() {
  assert(subscribers_.empty() && "a LocalGroup outlived its Group");
}

std::shared_ptr<const MemberList> Group::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

// ---- publishing -----------------------------------------------------------------------------

void Group::set_draining(const Peer& p, bool draining) {
  // Sequentially consistent: a publisher that then reads active == 0 knows the peer is drained
  // (see PeerState::draining).
  p.state->draining.store(draining, std::memory_order_seq_cst);
}

Group::Draft Group::draft_locked() const {
  return Draft{current_->peers(), current_->order()};
}

int Group::find_listed(const Draft& d, const PeerState& peer) {
  for (uint32_t slot : d.order) {
    if (d.peers[slot].state.get() == &peer) return int(slot);
  }
  return -1;
}

uint32_t Group::take_slot_locked(Draft& d) const {
  while (!free_slots_.empty()) {
    uint32_t slot = free_slots_.front();
    free_slots_.pop_front();
    if (slot < d.peers.size() && d.peers[slot].membership == Membership::kFree) return slot;
  }
  d.peers.emplace_back();
  return uint32_t(d.peers.size() - 1);
}

void Group::publish_locked(Draft d) const {
  // Reap: a removed peer nothing uses frees its slot. Its `draining` flag was set before this
  // read, so nothing can start to use it either.
  for (uint32_t slot = 0; slot < d.peers.size(); slot++) {
    Peer& p = d.peers[slot];
    if (p.membership == Membership::kRemoved &&
        p.state->active.load(std::memory_order_seq_cst) == 0) {
      p = Peer{};
      p.membership = Membership::kFree;
      free_slots_.push_back(slot);
    }
  }
  current_ =
      MemberList::build(method_, std::move(d.peers), std::move(d.order), current_->version() + 1);
  for (Subscriber* s : subscribers_) s->notify();
}

Status Group::add_peer(PeerConfig cfg, std::shared_ptr<PeerState>* handle) const {
  if (Status s = validate_peer(method_, cfg); !s) return s;
  auto state = std::make_shared<PeerState>();
  std::lock_guard<std::mutex> lock(mu_);
  Draft d = draft_locked();
  uint32_t slot = take_slot_locked(d);
  d.peers[slot] = Peer{std::move(cfg), state, Membership::kMember};
  d.order.push_back(slot);
  publish_locked(std::move(d));
  if (handle) *handle = std::move(state);
  return Status::ok();
}

Status Group::drain_peer(const PeerState& peer, bool draining) const {
  std::lock_guard<std::mutex> lock(mu_);
  Draft d = draft_locked();
  int slot = find_listed(d, peer);
  if (slot < 0) return Status::error("no such peer in upstream \"" + name_ + "\"");
  Peer& p = d.peers[size_t(slot)];
  p.membership = draining ? Membership::kDraining : Membership::kMember;
  set_draining(p, draining);
  publish_locked(std::move(d));
  return Status::ok();
}

Status Group::remove_peer(const PeerState& peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  Draft d = draft_locked();
  int slot = find_listed(d, peer);
  if (slot < 0) return Status::error("no such peer in upstream \"" + name_ + "\"");
  Peer& p = d.peers[size_t(slot)];
  p.membership = Membership::kRemoved;
  set_draining(p, true);
  d.order.erase(std::find(d.order.begin(), d.order.end(), uint32_t(slot)));
  publish_locked(std::move(d));
  return Status::ok();
}

Status Group::update_peer(const PeerState& peer, PeerConfig cfg) const {
  if (Status s = validate_peer(method_, cfg); !s) return s;
  std::lock_guard<std::mutex> lock(mu_);
  Draft d = draft_locked();
  int slot = find_listed(d, peer);
  if (slot < 0) return Status::error("no such peer in upstream \"" + name_ + "\"");
  Peer& p = d.peers[size_t(slot)];
  if (identity(cfg) != identity(p.cfg)) {
    return Status::error("a peer's address cannot change (add a new peer instead)");
  }
  p.cfg = std::move(cfg);
  publish_locked(std::move(d));
  return Status::ok();
}

Status Group::replace_peers(std::vector<PeerConfig> peers) const {
  for (const PeerConfig& pc : peers) {
    if (Status s = validate_peer(method_, pc); !s) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  Draft d = draft_locked();
  // Members by identity, duplicates matched in order.
  std::map<Identity, std::deque<uint32_t>> old;
  for (uint32_t slot : d.order) old[identity(d.peers[slot].cfg)].push_back(slot);
  std::vector<uint32_t> order;
  order.reserve(peers.size());
  for (PeerConfig& pc : peers) {
    auto it = old.find(identity(pc));
    uint32_t slot;
    if (it != old.end() && !it->second.empty()) {
      slot = it->second.front();
      it->second.pop_front();
      Peer& p = d.peers[slot];
      p.cfg = std::move(pc);
      p.membership = Membership::kMember;
      set_draining(p, false);
    } else {
      slot = take_slot_locked(d);
      d.peers[slot] = Peer{std::move(pc), std::make_shared<PeerState>(), Membership::kMember};
    }
    order.push_back(slot);
  }
  for (auto& [id, slots] : old) {
    for (uint32_t slot : slots) {
      d.peers[slot].membership = Membership::kRemoved;
      set_draining(d.peers[slot], true);
    }
  }
  d.order = std::move(order);
  publish_locked(std::move(d));
  return Status::ok();
}

size_t Group::reap() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const Peer& p : current_->peers()) {
    if (p.membership == Membership::kRemoved &&
        p.state->active.load(std::memory_order_seq_cst) == 0) {
      n++;
    }
  }
  if (n > 0) publish_locked(draft_locked());
  return n;
}

// ---- workers --------------------------------------------------------------------------------

void Group::subscribe(Subscriber* s) const {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.push_back(s);
}

void Group::unsubscribe(Subscriber* s) const {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), s), subscribers_.end());
}

void Group::wake_waiters() const {
  if (waiting_.load(std::memory_order_seq_cst) == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (Subscriber* s : subscribers_) {
    if (s->waiting.load(std::memory_order_relaxed) != 0) s->notify();
  }
}

}  // namespace portico::upstream
