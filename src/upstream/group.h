// Group: one `upstream NAME { ... }` block, built once per config snapshot on the control thread
// and then shared read-only (std::shared_ptr<const Group>) by every worker; balancers are built
// from it per worker (make_balancer). Apart from the peers' shared PeerState (atomics, see
// peer.h) nothing in a Group changes after create().
//
// Peer indexes: peers() is in configuration order, backups wherever they were written; every
// index a balancer returns or a TriedSet holds is an index into peers().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "upstream/peer.h"

namespace portico::upstream {

// The load-balancing method: nginx's default round robin or the directive that chose another.
enum class Method {
  kRoundRobin,      // (default)
  kLeastConn,       // least_conn;
  kIpHash,          // ip_hash;
  kHash,            // hash KEY;
  kHashConsistent,  // hash KEY consistent;
  kRandom,          // random;
  kRandomTwo,       // random two; == random two least_conn; (the only method nginx has for two)
};

// The directive text, e.g. "least_conn", "hash ... consistent", for messages and status.
std::string_view method_name(Method m);

struct GroupConfig {
  std::string name;
  Method method = Method::kRoundRobin;
  // `hash KEY`: KEY as written (e.g. "$request_uri"). The caller evaluates it per request and
  // passes the result in PickContext::hash_key; the balancer never sees variables.
  std::string hash_key;
  std::vector<PeerConfig> peers;
};

class Group {
 public:
  // One point of the `hash ... consistent` ring (nginx: ngx_http_upstream_chash_point_t).
  struct RingPoint {
    uint32_t hash;
    uint32_t server;  // server id, see server_id()
  };

  // Checks `cfg` the way nginx does when it reads an upstream block (validate() below), then
  // builds the group. Each peer gets the PeerState of the peer in `previous` (nullable) with the
  // same identity, i.e. the same `server` and `name` (the n-th duplicate matches the n-th), so
  // that a reload keeps in-flight counts, failure state and health verdicts of servers that
  // stayed; other peers get fresh state. On error *out is untouched.
  static Status create(GroupConfig cfg, const Group* previous, std::shared_ptr<const Group>* out);

  // nginx's complaints about an upstream block, in nginx's words (the caller appends
  // " in FILE:LINE"):
  //   balancing method does not support parameter "backup"        (ip_hash, hash, random)
  //   balancing method does not support parameter "slow_start=T"  (same methods, NGINX Plus)
  //   invalid parameter "weight=0"
  //   no servers in upstream "NAME"                                (no primary server at all)
  static Status validate(const GroupConfig& cfg);

  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  const std::string& name() const { return name_; }
  Method method() const { return method_; }
  const std::string& hash_key() const { return hash_key_; }
  const std::vector<Peer>& peers() const { return peers_; }
  const Peer& peer(size_t i) const { return peers_[i]; }
  size_t size() const { return peers_.size(); }

  // Indexes of primary and backup peers, each in configuration order.
  const std::vector<uint32_t>& primaries() const { return primaries_; }
  const std::vector<uint32_t>& backups() const { return backups_; }
  // One primary address and no backups (nginx: peers->single). Such a peer is never failed out.
  bool single() const { return single_; }
  // Sum of the primaries' weights, `down` ones included (nginx: peers->total_weight).
  uint64_t primary_weight() const { return primary_weight_; }
  // Attempts one request may make: primaries plus backups that are not `down` (nginx:
  // peer.tries), the default for proxy_next_upstream_tries 0.
  uint32_t max_tries() const { return max_tries_; }

  // `hash ... consistent`: the ring sorted by hash, duplicates removed, and each peer's server
  // id (peers written with the same `server` text share one). Empty ring for other methods.
  const std::vector<RingPoint>& ring() const { return ring_; }
  uint32_t server_id(size_t peer) const { return server_ids_[peer]; }
  // The primaries with server id `server`, in configuration order.
  const std::vector<uint32_t>& server_primaries(uint32_t server) const {
    return server_primaries_[server];
  }
  // `random`: for the i-th primary, the sum of the weights of the primaries before it (nginx:
  // ranges[i].range).
  const std::vector<uint64_t>& ranges() const { return ranges_; }

 private:
  Group() = default;
  void build_tables();
  void build_ring();

  std::string name_;
  Method method_ = Method::kRoundRobin;
  std::string hash_key_;
  std::vector<Peer> peers_;
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
