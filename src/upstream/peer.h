// Peer: one address of an upstream group (one `server` line may resolve to several), split in
// two halves with different lifetimes:
//
//  - PeerConfig: what the configuration says. Immutable, part of the config snapshot.
//  - PeerState: what every worker must agree on at run time: in-flight requests (least_conn,
//    max_conns), passive-health failure accounting, the active-health verdict, slow-start time
//    and counters for `portico status`. Separately allocated and held by shared_ptr so that a
//    reload can hand a peer's state to the new snapshot (see Group::create's `previous`).
//    Shared by all worker threads and the control thread; updated with atomics only, never a
//    lock. Races between workers are benign by design: a state change is advisory and at worst
//    one extra request reaches a peer that has just been marked unavailable (nginx without a
//    `zone` is far looser: every worker process keeps its own counts). Two rules are exact:
//    max_conns (try_acquire) and draining (see PeerState::draining).
//  - Peer: the two together plus the peer's Membership in one version of its group's member
//    list (member_list.h). Immutable; a change is a new Peer in a new list.
//
// Passive health is nginx's (ngx_http_upstream_round_robin.c), field for field:
//   fails       consecutive failures not yet forgiven            (peer->fails)
//   accessed_ms time of the last failure                         (peer->accessed)
//   checked_ms  time of the last failure, or of the first pick
//               more than fail_timeout after it                  (peer->checked)
// A peer with max_fails != 0 is unavailable while fails >= max_fails and now - checked <=
// fail_timeout. Once fail_timeout has passed, the next pick sets checked = now (note_selected)
// and so lets exactly that one request through as a probe; the peer stays unavailable to
// everyone else for another fail_timeout unless the probe succeeds. A success resets fails only
// when accessed < checked, i.e. for a request picked more than fail_timeout after the last
// failure; a success right after a failure does not forgive it. max_fails=0 disables all this.
// Times are milliseconds on any monotonic clock the caller chooses (tests use a fake one).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/sockaddr.h"

namespace portico::upstream {

// One `server` address with its parameters, as nginx documents them for `upstream { server }`.
struct PeerConfig {
  // The server as written after `server` ("backend.example.com:8080", "10.0.0.1:80",
  // "unix:/run/app.sock"). Peers resolved from one name share it. `hash ... consistent` places
  // its ring points by it, as nginx does. Empty means "same as name".
  std::string server;
  // This address as text, as nginx logs it in $upstream_addr: "10.0.0.1:8080",
  // "[::1]:8080", "unix:/run/app.sock". Identity of the peer across reloads (with `server`).
  std::string name;
  // The socket address. For unix sockets only sa_family (AF_UNIX) is set; the path is `name`
  // after "unix:" (SockAddr keeps idle connections small and has no room for sun_path).
  SockAddr addr{};
  uint32_t weight = 1;               // weight=N, N >= 1
  uint32_t max_fails = 1;            // max_fails=N; 0 disables passive health
  uint64_t fail_timeout_ms = 10000;  // fail_timeout=T
  uint32_t max_conns = 0;            // max_conns=N; 0 = unlimited
  bool backup = false;               // backup
  bool down = false;                 // down
  uint64_t slow_start_ms = 0;        // slow_start=T (NGINX Plus parameter); 0 = off
  // An app process's passenger_max_request_time: an attempt on this peer that takes longer is
  // cut (504) and counted in PeerState::overtime, and the supervisor shuts the process down.
  // 0 = no limit. Not settable on a `server` line.
  uint64_t max_request_ms = 0;

  const std::string& server_or_name() const { return server.empty() ? name : server; }
};

// Run-time state of one peer, shared by every worker. See the file comment for the rules.
// alignas: `active` is written by every worker on every request; keep peers off each other's
// cache lines.
struct alignas(64) PeerState {
  std::atomic<uint32_t> active{0};  // requests picked and not yet released (nginx: conns)
  std::atomic<uint32_t> fails{0};
  std::atomic<uint64_t> accessed_ms{0};
  std::atomic<uint64_t> checked_ms{0};
  // When slow start began (the peer came back from unavailable or unhealthy); 0 = not ramping.
  std::atomic<uint64_t> recovered_at_ms{0};
  // Active health check verdict; true until a checker says otherwise.
  std::atomic<bool> healthy{true};
  // Set by the group's publisher when it drains or removes the peer, before it publishes the
  // list that says so, so that it holds on every worker at once, not only once each has adopted
  // that list. try_acquire re-reads it after counting the request in (both sequentially
  // consistent), so once a publisher has set it and then read active == 0, no request uses the
  // peer and none can start: the peer is drained. Cleared when the peer becomes a member again.
  std::atomic<bool> draining{false};

  // Counters for status pages; monotonically increasing.
  std::atomic<uint64_t> requests{0};     // picks
  std::atomic<uint64_t> failures{0};     // report_failure calls
  std::atomic<uint64_t> unavailable{0};  // times max_fails was reached
  std::atomic<uint64_t> overtime{0};     // attempts cut at PeerConfig::max_request_ms
};

// Where a peer stands in its group's member list (Passenger: Process::enabled, ENABLED /
// DISABLED / DETACHED). A list version holds peers by slot; see member_list.h.
enum class Membership : uint8_t {
  kMember,    // a member: balancers may choose it (subject to available())
  kDraining,  // still a member, keeps its place (hash order) and its requests; takes no new ones
  kRemoved,   // no longer a member; the slot stays reserved while requests still use the peer
  kFree,      // an empty slot (state == nullptr)
};

struct Peer {
  PeerConfig cfg;
  std::shared_ptr<PeerState> state;  // null only in a kFree slot
  Membership membership = Membership::kMember;

  // A member of the list (kMember or kDraining): in its group's order and tables.
  bool listed() const {
    return state && (membership == Membership::kMember || membership == Membership::kDraining);
  }
};

// Whether a balancer may choose `p` now: not `down`, not draining, healthy, not failed out
// (passive health) and under max_conns. `single` is true when the peer is its group's only server
// (one primary, no backups): nginx then ignores max_fails/fail_timeout (and slow_start) for it.
bool available(const Peer& p, uint64_t now_ms, bool single = false);

// Connection accounting (nginx: peer->conns++ in get, -- in free). Balancer::pick/release call
// these; use them directly only for connections that bypass a balancer.
// try_acquire: active++ unless that would exceed max_conns or the peer is draining; false (and
// no change) if so. Never blocks, never allocates.
bool try_acquire(const Peer& p);
void on_connect(const Peer& p);  // active++ unconditionally
// active--, sequentially consistent so that a request queued on another worker is not missed
// (LocalGroup::release). REQUIRES: a matching on_connect/try_acquire.
void on_release(const Peer& p);

// Called for the peer a balancer has chosen: starts a new fail_timeout window once the
// previous one has passed (nginx: `if (now - best->checked > best->fail_timeout)
// best->checked = now`). This is what turns the pick after a failure timeout into a probe.
void note_selected(const Peer& p, uint64_t now_ms);

// Outcome of one attempt, reported when it ends (nginx: free_peer with or without
// NGX_PEER_FAILED). A response the proxy merely passes to the next upstream on (e.g. a 404
// under proxy_next_upstream http_404) counts as success here, as in nginx.
void report_success(const Peer& p, uint64_t now_ms);
void report_failure(const Peer& p, uint64_t now_ms);

// Active health checks: records the checker's verdict. A peer that turns healthy again starts
// its slow start.
void set_healthy(const Peer& p, bool healthy, uint64_t now_ms);

// Slow start: the share of its weight the peer gets now, in thousandths: ramps linearly from 1
// to 1000 over slow_start after the peer recovered (passive: the first success after it had
// been failed out; active: turned healthy). 1000 when slow_start is off, for a single peer, or
// when the ramp is over.
uint32_t slow_start_permille(const Peer& p, uint64_t now_ms, bool single = false);

// When a peer that passive health has failed out may be chosen again (the first millisecond
// past its fail_timeout), or 0 when it is not failed out. Wait queues arm a timer for it, since
// nothing else announces that moment.
uint64_t fail_timeout_ends_ms(const Peer& p, uint64_t now_ms, bool single = false);

}  // namespace portico::upstream
