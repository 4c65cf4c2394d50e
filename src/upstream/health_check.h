// Active health checks, the protocol-free half: when each peer of a group is checked and what
// the results do to it. nginx Plus semantics: every `interval` a peer gets one check; `fails`
// consecutive failed checks mark it unhealthy, so balancers skip it; `passes` consecutive good
// ones bring it back (with slow_start, if configured). How one check is made (HTTP GET with a
// `match` block, later a TCP connect or an app's readiness probe) is a HealthProbe, supplied by
// the protocol module through HealthCheck::make_probe; upstream/ knows no protocol.
//
// Ownership and threads: a HealthCheck is part of the config snapshot (immutable, shared). The
// HealthChecker and every probe it makes live on one event loop's thread, the control thread's
// (server/control.h), so there is one probe per peer whatever the worker count. The verdict is
// the peer's shared atomic PeerState (set_healthy, peer.h), read by every worker's balancer
// without a lock; a peer that passes again wakes the requests queued for its group
// (Group::wake_waiters). The peers checked are the members of the group's list when
// configure() ran; peers a publisher adds later are checked from the next configure().
//
// Use:
//
//   HealthChecker checker(loop);            // REQUIRES: loop outlives the checker
//   checker.configure(snapshot_checks);     // start, and again on every reload
//   checker.configure({});                  // stop (also done by the destructor)
//
// Interval: the gap between the end of one check of a peer (verdict: judged, refused, timed
// out) and the start of its next is `interval`. A late timer (a busy loop) gives one check,
// never a burst catching up with missed ones, and a reload does not probe an unchanged peer
// sooner than its interval allows.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "upstream/group.h"

namespace portico::upstream {

// Receives the result of one check. Implemented by the checker; a probe reports to it.
class ProbeSink {
 public:
  // ok: the peer passed. why: for a failure, what failed ("connect() failed (111: Connection
  // refused)", "status 500"), for the log line; empty when ok.
  virtual void probe_done(bool ok, std::string_view why) = 0;

 protected:
  ~ProbeSink() = default;
};

// The protocol half: checks one peer, one check at a time, on the checker's loop.
// Lifetime: owned by the checker for as long as its peer is checked, destroyed only after the
// loop iteration in which it was last used has ended (so an epoll event of that iteration may
// still name it).
class HealthProbe {
 public:
  virtual ~HealthProbe() = default;
  // Starts one check of `peer` (connect, send, read). Reports exactly once to its sink, from a
  // callback of the loop or before start() returns (e.g. socket() failed), unless cancel()
  // comes first. Never blocks.
  // REQUIRES: no check in flight.
  virtual void start(const Peer& peer) = 0;
  // Abandons the check in flight (the checker's timeout, a reload, stop): closes what it
  // holds; no report follows. A no-op when idle.
  virtual void cancel() = 0;
};

// One active check (a `health_check` directive): which group, how often, how many results
// flip a peer, and how to check one peer. Protocol modules derive from it and add what their
// probe needs (proxy::HealthCheckConf: uri, Host, port, match).
struct HealthCheck {
  virtual ~HealthCheck() = default;
  // A probe for one peer, used on `loop`'s thread, reporting to `sink`.
  virtual std::unique_ptr<HealthProbe> make_probe(EventLoop& loop, ProbeSink& sink) const = 0;

  std::shared_ptr<const Group> group;
  uint64_t interval_ms = 5000;
  uint32_t fails = 1;
  uint32_t passes = 1;
  uint64_t timeout_ms = 5000;  // a check not done by then has failed ("timed out")
};

class HealthChecker {
 public:
  explicit HealthChecker(EventLoop& loop) : loop_(loop) {}
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the checks (start-up, reload; empty = stop). A peer that stays (same PeerState,
  // see Group::create) keeps its consecutive-result counts and is next checked when its old
  // schedule says, never sooner; a check in flight on it is abandoned and counts as nothing.
  // New peers are checked at once. Never blocks.
  void configure(const std::vector<std::shared_ptr<const HealthCheck>>& checks);

  // Peers being checked (one per peer per check), for tests and status.
  size_t size() const { return peers_.size(); }

 private:
  class PeerCheck;

  EventLoop& loop_;
  std::vector<PeerCheck*> peers_;  // owned; freed through loop_.defer_delete
};

}  // namespace portico::upstream
