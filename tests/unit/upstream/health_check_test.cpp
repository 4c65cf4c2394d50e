#include "upstream/health_check.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "loop_test_util.h"
#include "upstream/local_group.h"
#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::addr_name;
using testing::make_group;
using testing::peer_cfg;

// What the fake probes of one test do and saw. `results` are each peer's, check by check;
// past the end the last one repeats.
struct Script {
  enum Result { kPass, kFail, kHang };
  std::vector<Result> results{kPass};
  bool synchronous = false;  // report from inside start() instead of from a loop timer
  struct Start {
    std::string peer;
    uint64_t at_ms;  // loop time
    bool healthy;    // the peer's verdict when its check started
  };
  std::vector<Start> starts;
  std::map<std::string, size_t> checks;  // per peer
  int cancels = 0;

  // The healthy flags at the starts of `peer`'s checks, e.g. "++--+".
  std::string verdicts(const std::string& peer) const {
    std::string out;
    for (const auto& s : starts)
      if (s.peer == peer) out += s.healthy ? '+' : '-';
    return out;
  }
};

class FakeProbe final : public HealthProbe {
 public:
  FakeProbe(EventLoop& loop, ProbeSink& sink, Script& script)
      : loop_(loop), sink_(sink), script_(script) {
    reply_.probe = this;
    reply_.cb = [](Timer* t) { static_cast<Reply*>(t)->probe->report(); };
  }
  ~FakeProbe() override { loop_.cancel(&reply_); }

  void start(const Peer& peer) override {
    const size_t n = script_.checks[peer.cfg.name]++;
    script_.starts.push_back({peer.cfg.name, loop_.now_ms(), peer.state->healthy.load()});
    result_ = script_.results[std::min(n, script_.results.size() - 1)];
    if (result_ == Script::kHang) return;
    if (script_.synchronous)
      report();
    else
      loop_.schedule(&reply_, 1);
  }
  void cancel() override {
    ++script_.cancels;
    loop_.cancel(&reply_);
  }

 private:
  struct Reply : Timer {
    FakeProbe* probe = nullptr;
  };
  void report() { sink_.probe_done(result_ == Script::kPass, "status 500"); }

  EventLoop& loop_;
  ProbeSink& sink_;
  Script& script_;
  Script::Result result_ = Script::kPass;
  Reply reply_;
};

struct FakeCheck final : HealthCheck {
  std::unique_ptr<HealthProbe> make_probe(EventLoop& loop, ProbeSink& sink) const override {
    return std::make_unique<FakeProbe>(loop, sink, *script);
  }
  Script* script = nullptr;
};

std::shared_ptr<const HealthCheck> check_of(std::shared_ptr<const Group> group, Script& script,
                                            uint64_t interval_ms, uint32_t fails = 1,
                                            uint32_t passes = 1, uint64_t timeout_ms = 1000) {
  auto c = std::make_shared<FakeCheck>();
  c->group = std::move(group);
  c->script = &script;
  c->interval_ms = interval_ms;
  c->fails = fails;
  c->passes = passes;
  c->timeout_ms = timeout_ms;
  return c;
}

// A timer whose callback runs a test's lambda (through a plain pointer).
struct Step : Timer {
  std::function<void()> fn;
  Step() {
    cb = [](Timer* t) { static_cast<Step*>(t)->fn(); };
  }
};

// Runs `loop` until `done()` holds (checked every tick) or 10 s passed; false on timeout.
bool run_until(EventLoop& loop, std::function<bool()> done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool ok = false;
  Step poll;
  poll.fn = [&] {
    if (done()) {
      ok = true;
      loop.stop();
    } else if (std::chrono::steady_clock::now() > deadline) {
      loop.stop();
    } else {
      loop.schedule(&poll, 1);
    }
  };
  loop.schedule(&poll, 0);
  loop.run();
  loop.cancel(&poll);
  return ok;
}

class HealthCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop.init().is_ok()); }
  bool healthy(const std::shared_ptr<const Group>& g, size_t i) {
    return g->peer(i).state->healthy.load();
  }

  EventLoop loop;  // before the checker: the checker frees its probes through it
  Script script;
};

TEST_F(HealthCheckerTest, FailsThenPassesFlipThePeer) {
  auto g = make_group(Method::kRoundRobin, 2);
  script.results = {Script::kFail, Script::kFail, Script::kPass, Script::kPass, Script::kPass};
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, 10, /*fails=*/2, /*passes=*/3)});
  EXPECT_EQ(checker.size(), 2u);
  auto enough = [&] {
    return script.checks[addr_name(0)] >= 6 && script.checks[addr_name(1)] >= 6;
  };
  ASSERT_TRUE(run_until(loop, enough));
  // Out after the 2nd failed check, back after the 3rd good one.
  EXPECT_EQ(script.verdicts(addr_name(0)).substr(0, 6), "++---+");
  EXPECT_EQ(script.verdicts(addr_name(1)).substr(0, 6), "++---+");
}

TEST_F(HealthCheckerTest, ACheckThatHangsTimesOutAsAFailure) {
  auto g = make_group(Method::kRoundRobin, 1);
  script.results = {Script::kHang};
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, 10, 1, 1, /*timeout_ms=*/30)});
  ASSERT_TRUE(run_until(loop, [&] { return !healthy(g, 0); }));
  EXPECT_GE(script.cancels, 1) << "the hung check was abandoned";
  ASSERT_FALSE(script.starts.empty());
  EXPECT_GE(loop.now_ms() - script.starts[0].at_ms, 30u);
}

TEST_F(HealthCheckerTest, ProbeReportingInsideStartIsHandled) {
  auto g = make_group(Method::kRoundRobin, 1);
  script.synchronous = true;
  script.results = {Script::kFail};
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, 10)});
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 3; }));
  EXPECT_FALSE(healthy(g, 0));
  for (size_t i = 1; i < script.starts.size(); ++i)
    EXPECT_GE(script.starts[i].at_ms - script.starts[i - 1].at_ms, 10u);
}

// `interval` is the minimum gap between two checks of one peer: a loop that was busy for
// several intervals gives one check, and the next an interval after it, never a catch-up burst.
TEST_F(HealthCheckerTest, BusyLoopGivesOneLateCheckNotABurst) {
  constexpr uint64_t kInterval = 50;
  auto g = make_group(Method::kRoundRobin, 1);
  script.synchronous = true;
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, kInterval)});
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 2; }));
  // The loop thread is busy (as a worker under load would be) for 4 intervals.
  Step busy;
  busy.fn = [] { std::this_thread::sleep_for(std::chrono::milliseconds(kInterval * 4)); };
  loop.schedule(&busy, 0);
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 5; }));
  for (size_t i = 1; i < script.starts.size(); ++i)
    EXPECT_GE(script.starts[i].at_ms - script.starts[i - 1].at_ms, kInterval)
        << "checks " << i - 1 << " and " << i << " closer than the interval";
}

TEST_F(HealthCheckerTest, ReloadKeepsScheduleAndCountsOfUnchangedPeers) {
  constexpr uint64_t kInterval = 200;
  auto g1 = make_group(Method::kRoundRobin, 1);
  script.results = {Script::kFail};
  script.synchronous = true;  // the first check has its verdict before the reload
  HealthChecker checker(loop);
  checker.configure({check_of(g1, script, kInterval, /*fails=*/2)});
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 1; }));
  ASSERT_TRUE(healthy(g1, 0)) << "one failure of two";
  // Reload: the same server (same PeerState) and a new one.
  auto g2 = make_group(Method::kRoundRobin, {peer_cfg(0), peer_cfg(1)}, g1.get());
  ASSERT_EQ(g2->peer(0).state, g1->peer(0).state);
  const size_t before = script.starts.size();
  checker.configure({check_of(g2, script, kInterval, /*fails=*/2)});
  // The kept peer's second failure (the first came before the reload) takes it out.
  ASSERT_TRUE(run_until(loop, [&] { return !healthy(g2, 0); }));
  EXPECT_EQ(script.verdicts(addr_name(0)), "++") << "out after its first check after reload";
  // The new peer was checked at once; the kept one only an interval after its last check.
  ASSERT_GE(script.starts.size(), before + 2);
  EXPECT_EQ(script.starts[before].peer, addr_name(1)) << "the new peer first";
  EXPECT_EQ(script.starts[before + 1].peer, addr_name(0));
  EXPECT_GE(script.starts[before + 1].at_ms - script.starts[before - 1].at_ms, kInterval);
}

TEST_F(HealthCheckerTest, ReloadAbandonsACheckInFlightWithoutProbingSooner) {
  constexpr uint64_t kInterval = 100;
  auto g = make_group(Method::kRoundRobin, 1);
  script.results = {Script::kHang, Script::kPass};
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, kInterval, 1, 1, /*timeout_ms=*/5000)});
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 1; }));
  checker.configure({check_of(g, script, kInterval, 1, 1, 5000)});
  EXPECT_EQ(script.cancels, 1) << "the hung check was abandoned, not judged";
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 2; }));
  EXPECT_GE(script.starts[1].at_ms - script.starts[0].at_ms, kInterval);
  EXPECT_TRUE(healthy(g, 0)) << "an abandoned check counts as nothing";
}

TEST_F(HealthCheckerTest, EmptyConfigurationStopsEveryCheck) {
  auto g = make_group(Method::kRoundRobin, 2);
  script.results = {Script::kHang};
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, 10)});
  ASSERT_TRUE(run_until(loop, [&] { return script.starts.size() >= 2; }));
  checker.configure({});
  EXPECT_EQ(checker.size(), 0u);
  EXPECT_EQ(script.cancels, 2) << "both hung checks abandoned";
  const size_t n = script.starts.size();
  // Nothing is scheduled any more: a run ends by its own deadline with no new start.
  Step end;
  end.fn = [&] { loop.stop(); };
  loop.schedule(&end, 100);
  loop.run();
  EXPECT_EQ(script.starts.size(), n);
}

// ---- live groups --------------------------------------------------------------------------

// A peer that passes again frees the requests waiting for it, on every worker.
TEST_F(HealthCheckerTest, PassingPeerWakesQueuedRequests) {
  auto g = make_group(Method::kRoundRobin, 1);
  set_healthy(g->peer(0), false, 0);
  Pool pool(loop);
  auto lg = LocalGroup::make(g, loop, pool);  // a worker's side (here on the checker's loop)
  std::string log;
  testing::TestWaiter w;
  w.lg = lg.get();
  w.loop = &loop;
  w.id = 'w';
  w.log = &log;
  ASSERT_TRUE(w.wait(10));
  EXPECT_EQ(log, "");
  script.results = {Script::kPass};
  HealthChecker checker(loop);
  checker.configure({check_of(g, script, 10)});
  ASSERT_TRUE(run_until(loop, [&] { return log == "w"; }));
  lg->release(w.slot, Outcome::kSuccess, loop.now_ms());
}

// The checker names its peers by the member list it was configured with, so a publisher
// freeing and reusing slots meanwhile changes nothing for it until the next configure().
TEST_F(HealthCheckerTest, ChecksTheListItWasConfiguredWith) {
  auto g = make_group(Method::kRoundRobin, 2);
  HealthChecker checker(loop);
  auto check = check_of(g, script, 5);
  checker.configure({check});
  ASSERT_TRUE(g->remove_peer(*g->peer(1).state).is_ok());  // slot 1 freed...
  testing::add(*g, 5);                                     // ...and reused
  ASSERT_TRUE(run_until(loop, [&] { return script.checks[addr_name(1)] >= 2; }));
  EXPECT_EQ(script.checks.count(addr_name(5)), 0u);
  checker.configure({check});
  ASSERT_TRUE(run_until(loop, [&] { return script.checks[addr_name(5)] >= 1; }));
  EXPECT_EQ(checker.size(), 2u);
}

}  // namespace
}  // namespace portico::upstream
