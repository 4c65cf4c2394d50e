#include "upstream/balancers/round_robin.h"

#include <gtest/gtest.h>

#include "../upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::histogram;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;

// nginx documents "a a b a c a a" for weights 5, 1, 1; nginx 1.22 on this machine answered
// exactly "aabacaaaabacaa" to 14 requests.
TEST(UpstreamRoundRobin, SmoothSequenceMatchesNginx) {
  auto b = make_balancer(make_group(Method::kRoundRobin, 3, {5, 1, 1}));
  EXPECT_EQ(picks(*b, 14), "aabacaaaabacaa");
}

TEST(UpstreamRoundRobin, Distribution) {
  auto b = make_balancer(make_group(Method::kRoundRobin, 3, {5, 1, 1}));
  std::vector<int> h = histogram(picks(*b, 10000), 3);
  EXPECT_NEAR(h[0], 10000 * 5 / 7, 100);
  EXPECT_NEAR(h[1], 10000 / 7, 100);
  EXPECT_NEAR(h[2], 10000 / 7, 100);
}

TEST(UpstreamRoundRobin, TriedPeersAreExcluded) {
  auto g = make_group(Method::kRoundRobin, 3, {5, 1, 1});
  auto b = make_balancer(g);
  for (int n = 0; n < 100; n++) {
    TriedSet tried(g->size());
    tried.insert(0);
    int i = b->pick({}, tried);
    ASSERT_TRUE(i == 1 || i == 2);
    EXPECT_TRUE(tried.contains(size_t(i)));  // pick marks what it chose
    int j = b->pick({}, tried);
    EXPECT_EQ(i + j, 3);  // the other one
    EXPECT_EQ(b->pick({}, tried), -1);
    b->release(i, Outcome::kSuccess, 0);
    b->release(j, Outcome::kSuccess, 0);
  }
}

TEST(UpstreamRoundRobin, SkipsDownPeers) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[1].down = true;
  auto b = make_balancer(make_group(Method::kRoundRobin, peers));
  EXPECT_EQ(picks(*b, 6), "acacac");
}

TEST(UpstreamRoundRobin, BackupOnlyWhenNoPrimaryIsAvailable) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2), peer_cfg(3)};
  peers[1].backup = true;
  peers[3].backup = true;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  EXPECT_EQ(picks(*b, 6), "acacac");

  set_healthy(g->peer(0), false, 0);
  EXPECT_EQ(picks(*b, 4), "cccc");
  set_healthy(g->peer(2), false, 0);
  EXPECT_EQ(picks(*b, 4), "bdbd");  // backups, round robin among themselves
  set_healthy(g->peer(0), true, 0);
  EXPECT_EQ(picks(*b, 2), "aa");

  // All primaries tried by this request: the retry goes to a backup.
  TriedSet tried(g->size());
  tried.insert(0);
  int i = b->pick({}, tried);
  EXPECT_TRUE(i == 1 || i == 3);
  b->release(i, Outcome::kSuccess, 0);
}

TEST(UpstreamRoundRobin, NothingAvailable) {
  auto g = make_group(Method::kRoundRobin, 2);
  auto b = make_balancer(g);
  set_healthy(g->peer(0), false, 0);
  set_healthy(g->peer(1), false, 0);
  EXPECT_EQ(picks(*b, 3), "---");
}

TEST(UpstreamRoundRobin, PassiveHealth) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1)};
  for (PeerConfig& p : peers) p.max_fails = 2, p.fail_timeout_ms = 10000;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  auto fail_a = [&](uint64_t now) {
    TriedSet t(g->size());
    t.insert(1);
    ASSERT_EQ(b->pick({now, {}}, t), 0);
    b->release(0, Outcome::kFailure, now);
  };
  fail_a(1000);
  EXPECT_EQ(histogram(picks(*b, 10, 1500), 2)[0], 5);  // one failure: still in rotation
  fail_a(2000);                                        // max_fails within fail_timeout
  EXPECT_EQ(picks(*b, 10, 2000), "bbbbbbbbbb");
  EXPECT_EQ(picks(*b, 10, 12000), "bbbbbbbbbb");
  // fail_timeout over: the next pick probes a once; the rest wait for the verdict.
  TriedSet probe(g->size());
  ASSERT_EQ(b->pick({12001, {}}, probe), 0);
  EXPECT_EQ(picks(*b, 4, 12002), "bbbb");
  b->release(0, Outcome::kSuccess, 12003);
  std::vector<int> h = histogram(picks(*b, 20, 12004), 2);
  EXPECT_GE(h[0], 8);  // back, with its effective weight recovering
}

TEST(UpstreamRoundRobin, FailureLowersThisWorkersEffectiveWeight) {
  std::vector<PeerConfig> peers = {peer_cfg(0, 10), peer_cfg(1, 10)};
  for (PeerConfig& p : peers) p.max_fails = 4;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  auto other = make_balancer(g);
  TriedSet t(g->size());
  t.insert(1);
  ASSERT_EQ(b->pick({}, t), 0);
  b->release(0, Outcome::kFailure, 0);
  EXPECT_EQ(b->effective_weight(0), 10 - 10 / 4);  // nginx: weight / max_fails per failure
  EXPECT_EQ(other->effective_weight(0), 10);
  picks(*b, 1);
  EXPECT_EQ(b->effective_weight(0), 9);  // recovers by one per round
  picks(*b, 5);
  EXPECT_EQ(b->effective_weight(0), 10);
}

TEST(UpstreamRoundRobin, SingleServerIsNeverFailedOut) {
  auto g = make_group(Method::kRoundRobin, 1);
  auto b = make_balancer(g);
  for (int n = 0; n < 5; n++) {
    TriedSet t(g->size());
    ASSERT_EQ(b->pick({uint64_t(n), {}}, t), 0);
    b->release(0, Outcome::kFailure, uint64_t(n));
  }
  EXPECT_EQ(g->peer(0).state->fails.load(), 0u);  // nginx keeps no count for a lone server
  EXPECT_EQ(g->peer(0).state->failures.load(), 5u);
  EXPECT_EQ(picks(*b, 1, 6), "a");
}

TEST(UpstreamRoundRobin, MaxConns) {
  std::vector<PeerConfig> peers = {peer_cfg(0, 5), peer_cfg(1)};
  peers[0].max_conns = 1;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  TriedSet t1(g->size());
  ASSERT_EQ(b->pick({}, t1), 0);  // a is now full
  EXPECT_EQ(picks(*b, 5), "bbbbb");
  b->release(0, Outcome::kSuccess, 0);
  EXPECT_EQ(picks(*b, 1), "a");
  EXPECT_EQ(g->peer(0).state->active.load(), 0u);
}

TEST(UpstreamRoundRobin, SlowStartRampsWeight) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1)};
  peers[0].slow_start_ms = 10000;
  peers[0].fail_timeout_ms = 1000;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  // Fail a out, let it come back through a successful probe at t=2000.
  TriedSet t(g->size());
  t.insert(1);
  ASSERT_EQ(b->pick({0, {}}, t), 0);
  b->release(0, Outcome::kFailure, 0);
  TriedSet probe(g->size());
  probe.insert(1);
  ASSERT_EQ(b->pick({2000, {}}, probe), 0);
  b->release(0, Outcome::kSuccess, 2000);

  auto share_a = [&](uint64_t now) { return histogram(picks(*b, 1000, now), 2)[0] / 1000.0; };
  double early = share_a(2000 + 1000);  // 10% of its weight: ~1/11 of the requests
  double mid = share_a(2000 + 5000);    // 50%: ~1/3
  double done = share_a(2000 + 10000);  // full weight: 1/2
  EXPECT_LT(early, 0.15);
  EXPECT_GT(mid, 0.25);
  EXPECT_LT(mid, 0.40);
  EXPECT_NEAR(done, 0.5, 0.01);
}

// ---- live membership --------------------------------------------------------------------

TEST(UpstreamRoundRobin, AddedPeerJoinsTheRotation) {
  auto g = make_group(Method::kRoundRobin, 3, {5, 1, 1});
  auto b = make_balancer(g);
  picks(*b, 5);  // mid-cycle
  testing::add(*g, 3, 3);
  EXPECT_EQ(testing::adopt(*b), "+3");
  std::vector<int> h = histogram(picks(*b, 1000), 4);
  EXPECT_NEAR(h[0], 500, 2);
  EXPECT_NEAR(h[1], 100, 2);
  EXPECT_NEAR(h[2], 100, 2);
  EXPECT_NEAR(h[3], 300, 2);
}

TEST(UpstreamRoundRobin, DrainedAndRemovedPeersLeaveTheRotation) {
  auto g = make_group(Method::kRoundRobin, 3);
  auto b = make_balancer(g);
  ASSERT_TRUE(g->drain_peer(*g->peer(0).state).is_ok());
  EXPECT_EQ(testing::adopt(*b), "d0");
  EXPECT_EQ(picks(*b, 6), "bcbcbc");
  ASSERT_TRUE(g->remove_peer(*g->peer(1).state).is_ok());
  EXPECT_EQ(testing::adopt(*b), "-1");
  EXPECT_EQ(picks(*b, 3), "ccc");
  ASSERT_TRUE(g->drain_peer(*g->peer(0).state, false).is_ok());
  EXPECT_EQ(testing::adopt(*b), "r0");
  EXPECT_EQ(histogram(picks(*b, 10), 3), (std::vector<int>{5, 0, 5}));
}

TEST(UpstreamRoundRobin, WeightChangeResetsEffectiveWeight) {
  std::vector<PeerConfig> peers = {peer_cfg(0, 10), peer_cfg(1, 10)};
  for (PeerConfig& p : peers) p.max_fails = 4;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  TriedSet t(g->size());
  t.insert(1);
  ASSERT_EQ(b->pick({}, t), 0);
  b->release(0, Outcome::kFailure, 0);
  EXPECT_EQ(b->effective_weight(0), 8);
  PeerConfig cfg = g->peer(0).cfg;
  cfg.weight = 30;
  ASSERT_TRUE(g->update_peer(*g->peer(0).state, cfg).is_ok());
  EXPECT_EQ(testing::adopt(*b), "w0");
  EXPECT_EQ(b->effective_weight(0), 30);
  std::vector<int> h = histogram(picks(*b, 400), 2);
  EXPECT_NEAR(h[0], 300, 2);
}

// A backup joins as a backup: only when no primary is available.
TEST(UpstreamRoundRobin, AddedBackup) {
  auto g = make_group(Method::kRoundRobin, 1);
  auto b = make_balancer(g);
  PeerConfig backup = peer_cfg(1);
  backup.backup = true;
  ASSERT_TRUE(g->add_peer(backup).is_ok());
  EXPECT_EQ(testing::adopt(*b), "+1");
  EXPECT_EQ(picks(*b, 3), "aaa");
  set_healthy(g->peer(0), false, 0);
  EXPECT_EQ(picks(*b, 3), "bbb");
}

}  // namespace
}  // namespace portico::upstream
