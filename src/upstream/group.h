// Group: one upstream group: an `upstream NAME { ... }` block, the implicit group of a
// `proxy_pass http://host:port`, and next an app's processes or the addresses a name resolves
// to. Its name, method and hash key are fixed at create(); its member list is live: a publisher
// adds, drains and removes peers while the server runs, with no reload and no lock on the
// request path.
//
// Ownership and threads: built on the control thread with its config snapshot and shared as
// std::shared_ptr<const Group> by every worker (UpstreamConf::group). The member list is the one
// part that changes, so the publishing methods are const too: it sits behind its own mutex,
// which only publishers and a worker adopting a new list take, never a request.
//
// How a change travels (RCU-style, no lock per request):
//
//   publisher thread                     each worker (its LocalGroup, local_group.h)
//   ----------------                     -------------------------------------------
//   g->drain_peer(*handle)
//     sets PeerState::draining  -------> try_acquire refuses the peer at once, on every worker
//     builds MemberList v+1 (tables,
//     ring), swaps it in under the mutex
//     Subscriber::notify() = post -----> next loop iteration: current() (the mutex, once), then
//                                        Balancer::adopt(v+1): peer events (added, removed,
//                                        draining, up/down, weight); idle keep-alive
//                                        connections of drained/removed peers closed; waiters
//                                        woken (a peer may have been added or freed)
//
// A worker picks from the list it has adopted until it adopts the next one, so a request in
// flight keeps the peer it picked (by slot, see member_list.h) and releases that same peer.
//
// Publisher API. Any non-worker thread (the control thread, DNS re-resolution, the app
// supervisor); publishers are serialized by the group's mutex. Each call publishes one new
// list and returns an error, changing nothing, if the change is invalid. Peers are named by
// their PeerState, which add_peer() hands back (Passenger: the Group's Process objects):
//
//   std::shared_ptr<PeerState> p;
//   g->add_peer(cfg, &p);      // a new process is ready: it takes requests from now on
//   g->drain_peer(*p);         // rolling restart: no new requests, in-flight ones finish
//   ... p->active == 0 ...     // drained: nothing uses it, and nothing can start to (poll it
//                              // from a timer, as Passenger's detached-process checker does)
//   g->remove_peer(*p);        // gone from the list; its pooled connections are closed
//   g->replace_peers(list);    // DNS: the whole address list at once, matched by identity
//
// A removed peer's slot is freed once its active count is 0 (at once if it already is; else
// at a later publish or reap()). After a reload the new snapshot's Group starts from the
// configuration (keeping the state of peers with the same identity); a publisher re-publishes
// into it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "upstream/member_list.h"
#include "upstream/peer.h"

namespace portico::upstream {

// The directive text, e.g. "least_conn", "hash ... consistent", for messages and status.
std::string_view method_name(Method m);

struct GroupConfig {
  std::string name;
  Method method = Method::kRoundRobin;
  // `hash KEY`: KEY as written (e.g. "$request_uri"). The caller evaluates it per request and
  // passes the result in PickContext::hash_key; the balancer never sees variables.
  std::string hash_key;
  std::vector<PeerConfig> peers;
  // The members come from a publisher (an app's processes, `server app:NAME`): the group may
  // start with none.
  bool live = false;
};

class Group {
 public:
  using RingPoint = MemberList::RingPoint;

  // A worker's side of the group (LocalGroup), told about new lists and freed peers.
  class Subscriber {
   public:
    // Something changed: a new list was published, or a peer may be free for requests waiting
    // on this subscriber's worker. Called on the publisher's (or a releasing worker's) thread
    // with the group's mutex held: hand off (EventLoop::post) and return; never call back into
    // the Group, never block.
    virtual void notify() = 0;
    // Requests waiting in this subscriber's queue; the owner keeps it current (wake_waiters()
    // reads it from other threads).
    std::atomic<uint32_t> waiting{0};

   protected:
    ~Subscriber() = default;
  };

  // Checks `cfg` the way nginx does when it reads an upstream block (validate() below), then
  // builds the group and its first member list (version 1: slot i = the i-th peer). Each peer
  // gets the PeerState of the peer in `previous`'s current list (nullable) with the same
  // identity, i.e. the same `server` and `name` (the n-th duplicate matches the n-th), so
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
  // The per-peer part of validate(), which every published peer must pass too. A live group
  // may have no primary at all (all processes stopped): requests then queue or get 502.
  static Status validate_peer(Method method, const PeerConfig& peer);

  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  const std::string& name() const { return name_; }
  Method method() const { return method_; }
  const std::string& hash_key() const { return hash_key_; }

  // ---- The current member list -------------------------------------------------------------

  // The list last published. Thread-safe; takes the group's mutex (workers call it once per
  // published change, from LocalGroup, never per request).
  std::shared_ptr<const MemberList> current() const;

  // Shorthands for the current list without the mutex, for single-threaded use: the config
  // builder, tests, or the only publisher on its own thread. Workers use their Balancer's
  // adopted list instead.
  const MemberList& members() const { return *current_; }
  const std::vector<Peer>& peers() const { return current_->peers(); }
  const Peer& peer(size_t slot) const { return current_->peer(slot); }
  size_t size() const { return current_->size(); }
  const std::vector<uint32_t>& primaries() const { return current_->primaries(); }
  const std::vector<uint32_t>& backups() const { return current_->backups(); }
  bool single() const { return current_->single(); }
  uint64_t primary_weight() const { return current_->primary_weight(); }
  uint32_t max_tries() const { return current_->max_tries(); }
  const std::vector<RingPoint>& ring() const { return current_->ring(); }
  uint32_t server_id(size_t slot) const { return current_->server_id(slot); }
  const std::vector<uint32_t>& server_primaries(uint32_t server) const {
    return current_->server_primaries(server);
  }
  const std::vector<uint64_t>& ranges() const { return current_->ranges(); }

  // ---- Publishing (any non-worker thread; allocates, takes the mutex, posts to workers) -----

  // Adds a member at the end of the order, with fresh state; *handle (optional) receives it.
  Status add_peer(PeerConfig cfg, std::shared_ptr<PeerState>* handle = nullptr) const;
  // Draining: the peer keeps its slot, its place and its requests, takes no new ones (effective
  // on every worker at once, see PeerState::draining). `draining` false makes it a full member
  // again. Error if `peer` is not a member.
  Status drain_peer(const PeerState& peer, bool draining = true) const;
  // Takes the peer out of the list (and drains it). Requests using it finish; workers close
  // its idle keep-alive connections. Error if `peer` is not a member.
  Status remove_peer(const PeerState& peer) const;
  // Changes a member's parameters (weight, max_conns, down, backup, max_fails, fail_timeout,
  // slow_start). Its identity (server, name, address) must stay: a new address is a new peer.
  Status update_peer(const PeerState& peer, PeerConfig cfg) const;
  // Makes `peers`, in that order, the member list: peers with the identity of a member (as in
  // create()) keep its slot and state and become full members; other members are removed;
  // new ones are added.
  Status replace_peers(std::vector<PeerConfig> peers) const;
  // Frees the slots of removed peers nothing uses any more, publishing if any was freed.
  // Returns how many. Every publish does this too.
  size_t reap() const;

  // ---- Workers --------------------------------------------------------------------------------

  // Registers a worker's LocalGroup for notify(); unsubscribe before it is destroyed.
  // Thread-safe; takes the mutex.
  void subscribe(Subscriber* s) const;
  void unsubscribe(Subscriber* s) const;
  // A peer may have become free or available (a slot released on one worker, a health check
  // passed): notifies the subscribers that have requests waiting. Costs one atomic load when
  // nobody waits; otherwise takes the mutex and posts, which happens only while requests queue.
  void wake_waiters() const;
  // Requests waiting in any worker's queue for this group (LocalGroup keeps it).
  std::atomic<uint32_t>& waiting() const { return waiting_; }

  // An app group whose publisher knows no member will come soon (a crash loop in its backoff):
  // a request that finds no peer is answered 503 with `Retry-After: N` at once instead of
  // waiting in the queue. 0 (the default) = not so. Set by the publisher, read by workers.
  void set_unavailable(uint32_t retry_after_s) const {
    retry_after_s_.store(retry_after_s, std::memory_order_relaxed);
  }
  uint32_t unavailable_retry_after() const {
    return retry_after_s_.load(std::memory_order_relaxed);
  }

 private:
  // A copy of the current list being edited by one publishing call.
  struct Draft {
    std::vector<Peer> peers;
    std::vector<uint32_t> order;
  };

  Group() = default;
  Draft draft_locked() const;
  void publish_locked(Draft d) const;
  // The listed slot whose state is `peer`, or -1.
  static int find_listed(const Draft& d, const PeerState& peer);
  // A free slot (the one freed longest ago, so that a slot a request tried a moment ago is
  // the last to be reused) or a new one at the end.
  uint32_t take_slot_locked(Draft& d) const;
  static void set_draining(const Peer& p, bool draining);

  std::string name_;
  Method method_ = Method::kRoundRobin;
  std::string hash_key_;

  mutable std::mutex mu_;
  // Written under mu_ by publishers; read under mu_ by current(), or unguarded by the
  // shorthands above (single-threaded use only).
  mutable std::shared_ptr<const MemberList> current_;
  mutable std::deque<uint32_t> free_slots_;       // guarded by mu_
  mutable std::vector<Subscriber*> subscribers_;  // guarded by mu_
  // Read by every release on every worker; written only while requests queue.
  alignas(64) mutable std::atomic<uint32_t> waiting_{0};
  mutable std::atomic<uint32_t> retry_after_s_{0};
};

}  // namespace portico::upstream
