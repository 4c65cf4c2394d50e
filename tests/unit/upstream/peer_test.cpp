#include "upstream/peer.h"

#include <gtest/gtest.h>

namespace portico::upstream {
namespace {

Peer make_peer(uint32_t max_fails = 1, uint64_t fail_timeout_ms = 10000) {
  Peer p;
  p.cfg.name = "10.0.0.1:80";
  p.cfg.max_fails = max_fails;
  p.cfg.fail_timeout_ms = fail_timeout_ms;
  p.state = std::make_shared<PeerState>();
  return p;
}

TEST(UpstreamPeer, MaxFailsMarksUnavailableForFailTimeout) {
  Peer p = make_peer(3, 10000);
  report_failure(p, 1000);
  report_failure(p, 2000);
  EXPECT_TRUE(available(p, 2000));
  report_failure(p, 3000);  // third failure: out for fail_timeout from the last one
  EXPECT_FALSE(available(p, 3000));
  EXPECT_FALSE(available(p, 13000));
  EXPECT_TRUE(available(p, 13001));
  EXPECT_EQ(p.state->failures.load(), 3u);
  EXPECT_EQ(p.state->unavailable.load(), 1u);
}

TEST(UpstreamPeer, AfterTimeoutOnePickIsTheProbe) {
  Peer p = make_peer(1, 10000);
  report_failure(p, 0);
  EXPECT_FALSE(available(p, 5000));
  ASSERT_TRUE(available(p, 10001));
  note_selected(p, 10001);            // this request is the probe...
  EXPECT_FALSE(available(p, 10002));  // ...and nobody else gets through while it runs
  report_success(p, 10050);           // probe succeeded: forgiven
  EXPECT_TRUE(available(p, 10051));
  EXPECT_EQ(p.state->fails.load(), 0u);
}

TEST(UpstreamPeer, FailedProbeStartsAnotherTimeout) {
  Peer p = make_peer(1, 10000);
  report_failure(p, 0);
  note_selected(p, 10001);
  report_failure(p, 10100);
  EXPECT_FALSE(available(p, 20100));
  EXPECT_TRUE(available(p, 20101));
}

// nginx forgives failures only through a success on a request picked more than fail_timeout
// after the last failure; a success in between does not reset the count.
TEST(UpstreamPeer, SuccessRightAfterFailureDoesNotForgive) {
  Peer p = make_peer(2, 10000);
  report_failure(p, 0);
  note_selected(p, 1);
  report_success(p, 1);
  note_selected(p, 2);
  report_failure(p, 2);
  EXPECT_FALSE(available(p, 3));
}

TEST(UpstreamPeer, SuccessAfterQuietPeriodForgives) {
  Peer p = make_peer(2, 10000);
  report_failure(p, 0);
  note_selected(p, 20000);  // first pick more than fail_timeout later
  report_success(p, 20000);
  EXPECT_EQ(p.state->fails.load(), 0u);
  report_failure(p, 20001);
  EXPECT_TRUE(available(p, 20001));  // one failure again, not two
}

TEST(UpstreamPeer, MaxFailsZeroDisablesPassiveHealth) {
  Peer p = make_peer(0, 10000);
  for (int i = 0; i < 100; i++) report_failure(p, 5);
  EXPECT_TRUE(available(p, 5));
}

TEST(UpstreamPeer, SinglePeerIsNeverFailedOut) {
  Peer p = make_peer(1, 10000);
  report_failure(p, 0);
  EXPECT_FALSE(available(p, 1));
  EXPECT_TRUE(available(p, 1, /*single=*/true));
}

TEST(UpstreamPeer, DownAndUnhealthyAreUnavailable) {
  Peer p = make_peer();
  p.cfg.down = true;
  EXPECT_FALSE(available(p, 0));
  EXPECT_FALSE(available(p, 0, true));
  p.cfg.down = false;
  set_healthy(p, false, 0);
  EXPECT_FALSE(available(p, 0));
  set_healthy(p, true, 0);
  EXPECT_TRUE(available(p, 0));
}

TEST(UpstreamPeer, MaxConns) {
  Peer p = make_peer();
  p.cfg.max_conns = 2;
  EXPECT_TRUE(try_acquire(p));
  EXPECT_TRUE(try_acquire(p));
  EXPECT_FALSE(available(p, 0));
  EXPECT_FALSE(try_acquire(p));
  EXPECT_EQ(p.state->active.load(), 2u);
  on_release(p);
  EXPECT_TRUE(available(p, 0));
  EXPECT_TRUE(try_acquire(p));
  on_release(p);
  on_release(p);
  EXPECT_EQ(p.state->active.load(), 0u);

  p.cfg.max_conns = 0;  // unlimited
  for (int i = 0; i < 1000; i++) EXPECT_TRUE(try_acquire(p));
  EXPECT_TRUE(available(p, 0));
}

TEST(UpstreamPeer, SlowStartRampsAfterPassiveRecovery) {
  Peer p = make_peer(1, 10000);
  p.cfg.slow_start_ms = 30000;
  EXPECT_EQ(slow_start_permille(p, 0), 1000u);  // not at start-up
  report_failure(p, 0);
  note_selected(p, 10001);
  report_success(p, 10001);  // recovered: ramp starts now
  EXPECT_EQ(slow_start_permille(p, 10001), 1u);
  EXPECT_EQ(slow_start_permille(p, 10001 + 3000), 100u);
  EXPECT_EQ(slow_start_permille(p, 10001 + 15000), 500u);
  EXPECT_EQ(slow_start_permille(p, 10001 + 30000), 1000u);
  EXPECT_EQ(slow_start_permille(p, 10001 + 3000, /*single=*/true), 1000u);
  report_failure(p, 20000);  // failed out again: the ramp is void
  EXPECT_EQ(slow_start_permille(p, 20001), 1000u);
}

TEST(UpstreamPeer, SlowStartRampsAfterActiveRecovery) {
  Peer p = make_peer();
  p.cfg.slow_start_ms = 1000;
  set_healthy(p, false, 0);
  set_healthy(p, true, 500);
  EXPECT_EQ(slow_start_permille(p, 750), 250u);
  set_healthy(p, true, 900);  // already healthy: no restart
  EXPECT_EQ(slow_start_permille(p, 1000), 500u);
}

}  // namespace
}  // namespace portico::upstream
