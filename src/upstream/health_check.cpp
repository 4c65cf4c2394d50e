#include "upstream/health_check.h"

#include <cassert>
#include <map>
#include <string>

#include "core/log.h"

namespace portico::upstream {

// One peer of one check: its probe, its timer (next check, or the timeout of the one in
// flight) and its consecutive-result counts. Owned by the checker; freed through the loop's
// deferred deletion, since an epoll event of the current iteration may still name its probe.
class HealthChecker::PeerCheck final : public Deferred, public ProbeSink {
 public:
  PeerCheck(EventLoop& loop, std::shared_ptr<const HealthCheck> check,
            std::shared_ptr<const MemberList> members, size_t slot)
      : loop_(loop), check_(std::move(check)), members_(std::move(members)), slot_(slot) {
    probe_ = check_->make_probe(loop_, *this);
    timer_.owner = this;
    timer_.cb = [](Timer* t) { static_cast<CheckTimer*>(t)->owner->on_timer(); };
  }

  const Peer& peer() const { return members_->peer(slot_); }

  // Takes over the counts and schedule of the same peer's check in the previous
  // configuration, and arms the first check: at once for a new peer, otherwise when the old
  // schedule allows under this check's interval.
  void begin(const PeerCheck* previous) {
    uint64_t delay = 0;
    if (previous) {
      fails_ = previous->fails_;
      passes_ = previous->passes_;
      started_ = previous->started_;
      started_ms_ = previous->started_ms_;
      ended_ms_ = previous->ended_ms_;
      // A check that was in flight is abandoned: the gap counts from its start.
      if (started_) {
        const uint64_t due = (previous->in_flight_ ? started_ms_ : ended_ms_) + check_->interval_ms;
        delay = due > loop_.now_ms() ? due - loop_.now_ms() : 0;
      }
    }
    loop_.schedule(&timer_, delay);
  }

  void stop() {
    loop_.cancel(&timer_);
    if (in_flight_) probe_->cancel();
    in_flight_ = false;
  }

  void probe_done(bool ok, std::string_view why) override {
    assert(in_flight_);  // a probe reports once per start and never after cancel()
    in_flight_ = false;
    verdict(ok, why);
  }

 private:
  struct CheckTimer : Timer {
    PeerCheck* owner = nullptr;
  };

  void on_timer() {
    if (in_flight_) {
      probe_->cancel();
      in_flight_ = false;
      verdict(false, "timed out");
      return;
    }
    in_flight_ = true;
    started_ = true;
    started_ms_ = loop_.now_ms();
    loop_.schedule(&timer_, check_->timeout_ms);
    probe_->start(peer());  // may report (and re-arm the timer) before it returns
  }

  void verdict(bool ok, std::string_view why) {
    const uint64_t now = loop_.now_ms();
    ended_ms_ = now;
    const Peer& p = peer();
    const bool healthy = p.state->healthy.load(std::memory_order_relaxed);
    if (ok) {
      fails_ = 0;
      // A passing check is first-hand evidence: it also ends a passive failure period.
      bool back = p.state->fails.exchange(0, std::memory_order_relaxed) != 0;
      if (!healthy && ++passes_ >= check_->passes) {
        set_healthy(p, true, now);
        LOG_NOTICE("peer {} of upstream \"{}\" is healthy again", p.cfg.name,
                   check_->group->name());
        passes_ = 0;
        back = true;
      }
      if (back) check_->group->wake_waiters();  // requests queued for the group may go on
    } else {
      passes_ = 0;
      if (healthy && ++fails_ >= check_->fails) {
        set_healthy(p, false, now);
        LOG_WARN("peer {} of upstream \"{}\" is unhealthy: health check {}", p.cfg.name,
                 check_->group->name(), why);
        fails_ = 0;
      }
    }
    // From the verdict, not from when this check was due: a late check is followed by a full
    // interval, so there is never a burst.
    loop_.schedule(&timer_, check_->interval_ms);
  }

  EventLoop& loop_;
  std::shared_ptr<const HealthCheck> check_;
  // The group's member list when the checks were configured, and this peer's slot in it.
  std::shared_ptr<const MemberList> members_;
  size_t slot_;
  std::unique_ptr<HealthProbe> probe_;
  CheckTimer timer_;
  bool in_flight_ = false;  // probe_ started and has not reported; timer_ is its timeout
  bool started_ = false;    // any check started yet (here or in the configuration before)
  uint64_t started_ms_ = 0;
  uint64_t ended_ms_ = 0;
  uint32_t fails_ = 0;   // consecutive failed checks while healthy
  uint32_t passes_ = 0;  // consecutive good checks while unhealthy
};

HealthChecker::~HealthChecker() {
  configure({});
}

void HealthChecker::configure(const std::vector<std::shared_ptr<const HealthCheck>>& checks) {
  // The old checks of each peer, in configuration order: the n-th check of a peer that stays
  // takes over from its n-th old one (two locations may check the same upstream).
  std::map<const PeerState*, std::vector<PeerCheck*>> old;
  for (PeerCheck* pc : peers_) old[pc->peer().state.get()].push_back(pc);
  std::map<const PeerState*, size_t> taken;
  std::vector<PeerCheck*> fresh;
  for (const auto& c : checks) {
    std::shared_ptr<const MemberList> members = c->group->current();
    for (uint32_t slot : members->order()) {
      auto* pc = new PeerCheck(loop_, c, members, slot);
      const PeerState* state = pc->peer().state.get();
      auto it = old.find(state);
      size_t n = taken[state]++;
      pc->begin(it != old.end() && n < it->second.size() ? it->second[n] : nullptr);
      fresh.push_back(pc);
    }
  }
  // Stopped only now: begin() reads whether a check was in flight.
  for (PeerCheck* pc : peers_) {
    pc->stop();
    loop_.defer_delete(pc);
  }
  peers_ = std::move(fresh);
}

}  // namespace portico::upstream
