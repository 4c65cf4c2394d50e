#include "upstream/balancers/least_conn.h"

#include <gtest/gtest.h>

#include "../upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::histogram;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;

TEST(UpstreamLeastConn, PrefersFewestActive) {
  auto g = make_group(Method::kLeastConn, 3);
  auto b = make_balancer(g);
  on_connect(g->peer(0));
  on_connect(g->peer(0));
  on_connect(g->peer(1));
  EXPECT_EQ(picks(*b, 3), "ccc");  // released each time: c stays the least busy
  on_connect(g->peer(2));
  on_connect(g->peer(2));
  EXPECT_EQ(picks(*b, 1), "b");
}

TEST(UpstreamLeastConn, ComparesActivePerWeight) {
  auto g = make_group(Method::kLeastConn, 2, {3, 1});
  auto b = make_balancer(g);
  on_connect(g->peer(0));
  on_connect(g->peer(0));
  on_connect(g->peer(1));
  EXPECT_EQ(picks(*b, 1), "a");  // 2/3 < 1/1
  on_connect(g->peer(0));
  on_connect(g->peer(0));
  EXPECT_EQ(picks(*b, 1), "b");  // 4/3 > 1/1
}

// With nothing in flight every pick is a tie, so the order is smooth weighted round robin's.
TEST(UpstreamLeastConn, TiesGoToWeightedRoundRobin) {
  auto b = make_balancer(make_group(Method::kLeastConn, 3, {5, 1, 1}));
  EXPECT_EQ(picks(*b, 14), "aabacaaaabacaa");
}

TEST(UpstreamLeastConn, HeldConnectionsFollowWeights) {
  auto g = make_group(Method::kLeastConn, 3, {5, 1, 1});
  auto b = make_balancer(g);
  std::vector<int> h(3);
  for (int n = 0; n < 7000; n++) {
    TriedSet t(g->size());
    int i = b->pick({}, t);
    ASSERT_GE(i, 0);
    h[size_t(i)]++;  // never released
  }
  EXPECT_NEAR(h[0], 5000, 2);
  EXPECT_NEAR(h[1], 1000, 2);
  EXPECT_NEAR(h[2], 1000, 2);
}

TEST(UpstreamLeastConn, BackupWhenPrimariesAreFull) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[0].max_conns = 1;
  peers[2].backup = true;
  peers[2].max_conns = 1;
  auto g = make_group(Method::kLeastConn, peers);
  auto b = make_balancer(g);
  on_connect(g->peer(1));
  on_connect(g->peer(1));
  EXPECT_EQ(picks(*b, 1), "a");  // the backup is idle but not a candidate
  TriedSet t(g->size());
  ASSERT_EQ(b->pick({}, t), 0);  // a full now
  TriedSet t2(g->size());
  t2.insert(1);                   // b tried by this request
  EXPECT_EQ(b->pick({}, t2), 2);  // backup
  TriedSet t3(g->size());
  t3.insert(1);
  EXPECT_EQ(b->pick({}, t3), -1);  // backup full too
}

// ---- live membership --------------------------------------------------------------------

TEST(UpstreamLeastConn, AddedPeerTakesTheLoad) {
  auto g = make_group(Method::kLeastConn, 2);
  auto b = make_balancer(g);
  on_connect(g->peer(0));
  on_connect(g->peer(1));
  testing::add(*g, 2);
  EXPECT_EQ(testing::adopt(*b), "+2");
  EXPECT_EQ(picks(*b, 3), "ccc");  // the idle newcomer
  ASSERT_TRUE(g->drain_peer(*g->peer(2).state).is_ok());
  EXPECT_EQ(testing::adopt(*b), "d2");
  EXPECT_EQ(histogram(picks(*b, 4), 3), (std::vector<int>{2, 2, 0}));
  ASSERT_TRUE(g->remove_peer(*g->peer(0).state).is_ok());  // in use (active 1): kept as removed
  EXPECT_EQ(testing::adopt(*b), "-0");
  EXPECT_EQ(picks(*b, 3), "bbb");
  on_release(g->peer(0));
  on_release(g->peer(1));
}

}  // namespace
}  // namespace portico::upstream
