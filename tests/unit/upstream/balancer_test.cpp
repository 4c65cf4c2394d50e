// Balancer under membership changes: what adopt() hears, and what requests in flight keep.
#include "upstream/balancer.h"

#include <gtest/gtest.h>

#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::add;
using testing::adopt;
using testing::histogram;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;

TEST(UpstreamBalancer, AdoptHearsEachChange) {
  auto g = make_group(Method::kRoundRobin, 3);
  auto b = make_balancer(g);
  EXPECT_EQ(adopt(*b), "");  // nothing new
  auto d = add(*g, 3);
  auto e = add(*g, 4);
  EXPECT_EQ(adopt(*b), "+3 +4");  // two publishes, one adoption
  ASSERT_TRUE(g->drain_peer(*d).is_ok());
  EXPECT_EQ(adopt(*b), "d3");
  ASSERT_TRUE(g->drain_peer(*d, false).is_ok());
  EXPECT_EQ(adopt(*b), "r3");
  PeerConfig cfg = g->peer(1).cfg;
  cfg.down = true;
  cfg.weight = 5;
  ASSERT_TRUE(g->update_peer(*g->peer(1).state, cfg).is_ok());
  EXPECT_EQ(adopt(*b), "v1 w1");
  cfg.down = false;
  ASSERT_TRUE(g->update_peer(*g->peer(1).state, cfg).is_ok());
  EXPECT_EQ(adopt(*b), "^1");
  cfg = g->peer(2).cfg;
  cfg.backup = true;  // moves to the backups: a new member there
  ASSERT_TRUE(g->update_peer(*g->peer(2).state, cfg).is_ok());
  EXPECT_EQ(adopt(*b), "-2 +2");
  ASSERT_TRUE(g->remove_peer(*e).is_ok());
  auto f = add(*g, 5);  // reuses slot 4
  EXPECT_EQ(adopt(*b), "-4 +4");
  EXPECT_EQ(b->peer(4).state, f);
  EXPECT_EQ(b->members().version(), g->members().version());
}

// Adopting the lists one by one or only the last gives the same balancer state.
TEST(UpstreamBalancer, SkippedListsAreFoldedIntoOneAdoption) {
  auto g = make_group(Method::kRoundRobin, 2);
  auto step = make_balancer(g), jump = make_balancer(g);
  auto c = add(*g, 2, 3);
  EXPECT_EQ(adopt(*step), "+2");
  ASSERT_TRUE(g->remove_peer(*g->peer(0).state).is_ok());
  EXPECT_EQ(adopt(*step), "-0");
  EXPECT_EQ(adopt(*jump), "-0 +2");
  EXPECT_EQ(picks(*step, 12), picks(*jump, 12));
}

TEST(UpstreamBalancer, RequestInFlightKeepsItsPeer) {
  auto g = make_group(Method::kRoundRobin, 2);
  auto b = make_balancer(g);
  TriedSet tried(b->members().size());
  tried.insert(1);
  ASSERT_EQ(b->pick({}, tried), 0);
  std::shared_ptr<PeerState> picked = b->peer(0).state;

  // While the request runs, its peer is removed and others come and go.
  ASSERT_TRUE(g->remove_peer(*picked).is_ok());
  auto c = add(*g, 2);
  EXPECT_EQ(adopt(*b), "-0 +2");
  EXPECT_EQ(b->peer(0).state, picked);  // slot 0 is still the request's peer
  EXPECT_EQ(b->peer(0).membership, Membership::kRemoved);
  EXPECT_EQ(histogram(picks(*b, 10), 3)[0], 0);  // but nobody else gets it

  b->release(0, Outcome::kSuccess, 0);
  EXPECT_EQ(picked->active.load(), 0u);
  EXPECT_EQ(picked->requests.load(), 1u);
  EXPECT_EQ(g->reap(), 1u);
  auto d = add(*g, 3);  // now slot 0 may take a new peer
  EXPECT_EQ(adopt(*b), "+0");
  EXPECT_EQ(b->peer(0).state, d);
  EXPECT_EQ(histogram(picks(*b, 30), 3), (std::vector<int>{10, 10, 10}));
}

// The flag is shared: a drained peer gets no request even from a worker that has not adopted
// the list that drains it yet.
TEST(UpstreamBalancer, DrainHoldsBeforeAdoption) {
  auto g = make_group(Method::kLeastConn, 3);
  auto b = make_balancer(g);
  ASSERT_TRUE(g->drain_peer(*g->peer(2).state).is_ok());
  EXPECT_EQ(histogram(picks(*b, 30), 3), (std::vector<int>{15, 15, 0}));
  EXPECT_EQ(b->members().version(), 1u);
}

TEST(UpstreamBalancer, DrainingPeerIsNeverAcquired) {
  auto g = make_group(Method::kRoundRobin, 1);
  auto b = make_balancer(g);
  const Peer& p = b->peer(0);
  ASSERT_TRUE(g->drain_peer(*p.state).is_ok());
  EXPECT_FALSE(try_acquire(p));  // even past available(): the publisher's guarantee
  EXPECT_EQ(p.state->active.load(), 0u);
}

TEST(UpstreamBalancer, TriedSetGrowsWithTheGroup) {
  auto g = make_group(Method::kRoundRobin, 2);
  auto b = make_balancer(g);
  TriedSet tried(b->members().size());
  ASSERT_GE(b->pick({}, tried), 0);
  for (int i = 2; i < 130; i++) add(*g, i);
  adopt(*b);
  int n = 1;
  while (b->pick({}, tried) >= 0) n++;  // every member once, the new ones included
  EXPECT_EQ(n, 130);
  EXPECT_EQ(tried.count(), 130u);
  EXPECT_GE(tried.capacity(), 130u);
}

TEST(UpstreamBalancer, AllTriedCountsMembersOnly) {
  auto g = make_group(Method::kRoundRobin, 3);
  auto b = make_balancer(g);
  ASSERT_TRUE(g->remove_peer(*g->peer(1).state).is_ok());
  adopt(*b);
  TriedSet tried(b->members().size());
  tried.insert(0);
  EXPECT_FALSE(b->all_tried(tried));
  tried.insert(2);
  EXPECT_TRUE(b->all_tried(tried));  // slot 1 is free: nothing left to try
}

TEST(UpstreamBalancer, RecoversAt) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1)};
  peers[0].fail_timeout_ms = 100;
  peers[1].fail_timeout_ms = 300;
  auto g = make_group(Method::kRoundRobin, peers);
  auto b = make_balancer(g);
  EXPECT_EQ(b->recovers_at(1000), 0u);
  report_failure(g->peer(1), 1000);
  report_failure(g->peer(0), 1050);
  EXPECT_EQ(b->recovers_at(1060), 1151u);
  EXPECT_EQ(b->recovers_at(1200), 1301u);
  EXPECT_EQ(b->recovers_at(1400), 0u);
}

}  // namespace
}  // namespace portico::upstream
