// MemberList: one version of an upstream group's member list, with the tables its balancers
// read (primaries, backups, weights, the consistent-hash ring). Immutable once built.
//
// Ownership and threads: built by the group's publisher (Group::create on the control thread at
// config time, then every membership change, on the publisher's thread) and shared by
// std::shared_ptr<const MemberList>: the Group holds the current version, each worker's
// Balancer holds the version it has adopted. A worker keeps reading its version until it adopts
// the next one (RCU), so nothing here is ever written after build() and no reader locks.
//
// Slots. Peers are held by slot, a small index that stays the peer's for as long as it is in
// the list; every index a balancer returns or a TriedSet holds is a slot. A slot holds a member
// (kMember, kDraining), a removed peer whose requests are still in flight (kRemoved: kept so that
// those requests can still name it and release it), or nothing (kFree). A publisher frees a
// removed peer's slot only after the peer's PeerState::active reached 0 (Group::reap), so a slot
// named by a request in flight always holds the peer that request picked.
//
// Order. order() lists the members' slots in member order: the configuration's order, then
// peers added at run time in the order they came. hash and ip_hash walk the primaries in this
// order, so adding a peer remaps keys as adding a `server` line at the end would. For a group
// that never changed, slot i is the i-th `server` address and order() is 0..n-1.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "upstream/peer.h"

namespace portico::upstream {

// The load-balancing method: nginx's default round robin, the directive that chose another,
// or least_busy for application groups.
enum class Method {
  kRoundRobin,      // (default)
  kLeastConn,       // least_conn;
  kIpHash,          // ip_hash;
  kHash,            // hash KEY;
  kHashConsistent,  // hash KEY consistent;
  kRandom,          // random;
  kRandomTwo,       // random two; == random two least_conn; (the only method nginx has for two)
  kLeastBusy,       // no directive: app groups (Passenger's lowest-busyness routing)
};

class MemberList {
 public:
  // One point of the `hash ... consistent` ring (nginx: ngx_http_upstream_chash_point_t).
  struct RingPoint {
    uint32_t hash;
    uint32_t server;  // server id, see server_id()
  };

  // Builds the tables for `peers` (by slot) and `order` (the listed peers' slots). Allocates;
  // for publishers, never on a worker's request path.
  // REQUIRES: every slot in `order` holds a listed peer, and every listed peer is in `order`.
  static std::shared_ptr<const MemberList> build(Method method, std::vector<Peer> peers,
                                                 std::vector<uint32_t> order, uint64_t version);

  MemberList(const MemberList&) = delete;
  MemberList& operator=(const MemberList&) = delete;

  // 1 for the list Group::create built, +1 for every list published after it.
  uint64_t version() const { return version_; }
  // Number of slots: every slot is < size() (the capacity a TriedSet needs).
  size_t size() const { return peers_.size(); }
  const Peer& peer(size_t slot) const { return peers_[slot]; }
  const std::vector<Peer>& peers() const { return peers_; }  // by slot, kFree ones included
  const std::vector<uint32_t>& order() const { return order_; }

  // Slots of primary and backup members, each in member order. Draining members keep their
  // place (as `down` ones do), so that draining a peer remaps only its own hash keys.
  const std::vector<uint32_t>& primaries() const { return primaries_; }
  const std::vector<uint32_t>& backups() const { return backups_; }
  // One primary and no backups (nginx: peers->single). Such a peer is never failed out.
  bool single() const { return single_; }
  // Sum of the primaries' weights, `down` and draining ones included (nginx:
  // peers->total_weight). 0 only when there is no primary (a live group may have none).
  uint64_t primary_weight() const { return primary_weight_; }
  // Attempts one request may make: members that are neither `down` nor draining (nginx:
  // peer.tries), the default for proxy_next_upstream_tries 0.
  uint32_t max_tries() const { return max_tries_; }

  // `hash ... consistent`: the ring sorted by hash, duplicates removed, and each peer's server
  // id (peers written with the same `server` text share one). Empty ring for other methods.
  const std::vector<RingPoint>& ring() const { return ring_; }
  uint32_t server_id(size_t slot) const { return server_ids_[slot]; }
  // The primaries with server id `server`, in member order.
  const std::vector<uint32_t>& server_primaries(uint32_t server) const {
    return server_primaries_[server];
  }
  // `random`: for the i-th primary, the sum of the weights of the primaries before it (nginx:
  // ranges[i].range).
  const std::vector<uint64_t>& ranges() const { return ranges_; }

 private:
  MemberList() = default;
  void build_tables(Method method);
  void build_ring();

  uint64_t version_ = 0;
  std::vector<Peer> peers_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> primaries_;
  std::vector<uint32_t> backups_;
  bool single_ = false;
  uint64_t primary_weight_ = 0;
  uint32_t max_tries_ = 0;
  std::vector<RingPoint> ring_;
  std::vector<uint32_t> server_ids_;
  std::vector<std::vector<uint32_t>> server_primaries_;
  std::vector<uint64_t> ranges_;
};

}  // namespace portico::upstream
