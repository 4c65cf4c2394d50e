#include "upstream/balancers/random.h"

#include <gtest/gtest.h>

#include "../upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::histogram;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;

TEST(UpstreamRandom, WeightedDistribution) {
  auto b = make_balancer(make_group(Method::kRandom, 3, {5, 1, 1}), /*seed=*/42);
  std::vector<int> h = histogram(picks(*b, 10000), 3);
  EXPECT_NEAR(h[0], 10000 * 5 / 7, 250);
  EXPECT_NEAR(h[1], 10000 / 7, 250);
  EXPECT_NEAR(h[2], 10000 / 7, 250);
}

TEST(UpstreamRandom, SeededIsReproducible) {
  auto g = make_group(Method::kRandom, 4);
  auto a = make_balancer(g, 7), b = make_balancer(g, 7), c = make_balancer(g, 8);
  std::string sa = picks(*a, 200);
  EXPECT_EQ(picks(*b, 200), sa);
  EXPECT_NE(picks(*c, 200), sa);
}

TEST(UpstreamRandom, SkipsUnavailableAndTried) {
  auto g = make_group(Method::kRandom, 3);
  auto b = make_balancer(g, 1);
  set_healthy(g->peer(1), false, 0);
  std::vector<int> h = histogram(picks(*b, 1000), 3);
  EXPECT_EQ(h[1], 0);
  EXPECT_GT(h[0], 400);
  TriedSet tried(g->size());
  tried.insert(0);
  EXPECT_EQ(b->pick({}, tried), 2);
  EXPECT_EQ(b->pick({}, tried), -1);  // after 20 misses, round robin finds nothing either
  b->release(2, Outcome::kSuccess, 0);
}

TEST(UpstreamRandomTwo, PrefersTheLessLoaded) {
  auto g = make_group(Method::kRandomTwo, 3);
  auto b = make_balancer(g, 3);
  for (int n = 0; n < 10; n++) on_connect(g->peer(0));
  on_connect(g->peer(1));
  std::vector<int> h = histogram(picks(*b, 3000), 3);
  EXPECT_EQ(h[0], 0);            // a loses every draw it is in
  EXPECT_NEAR(h[1], 1000, 150);  // drawn with a: wins; drawn with c: loses
  EXPECT_NEAR(h[2], 2000, 150);
}

TEST(UpstreamRandomTwo, WeightsScaleTheLoad) {
  auto g = make_group(Method::kRandomTwo, 2, {4, 1});
  auto b = make_balancer(g, 5);
  for (int n = 0; n < 3; n++) on_connect(g->peer(0));
  on_connect(g->peer(1));
  EXPECT_EQ(picks(*b, 20), std::string(20, 'a'));  // 3/4 < 1/1
}

TEST(UpstreamRandomTwo, HeldConnectionsSpreadEvenly) {
  auto g = make_group(Method::kRandomTwo, 4);
  auto b = make_balancer(g, 9);
  std::vector<int> h(4);
  for (int n = 0; n < 4000; n++) {
    TriedSet t(g->size());
    int i = b->pick({}, t);
    ASSERT_GE(i, 0);
    h[size_t(i)]++;
  }
  for (int n : h) EXPECT_NEAR(n, 1000, 20);  // power of two choices keeps them level
}

TEST(UpstreamRandomTwo, OneServerLeftStillServes) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1)};
  peers[0].down = true;
  auto b = make_balancer(make_group(Method::kRandomTwo, peers), 1);
  EXPECT_EQ(picks(*b, 5), "bbbbb");  // no pair to draw: round robin
}

// ---- live membership --------------------------------------------------------------------

TEST(UpstreamRandom, AddedAndRemovedPeers) {
  for (Method m : {Method::kRandom, Method::kRandomTwo}) {
    SCOPED_TRACE(std::string(method_name(m)));
    auto g = make_group(m, 2);
    auto b = make_balancer(g, 3);
    testing::add(*g, 2, 2);
    EXPECT_EQ(testing::adopt(*b), "+2");
    std::vector<int> h = histogram(picks(*b, 8000), 3);
    if (m == Method::kRandom) {
      EXPECT_NEAR(h[2], 4000, 250);  // by weight: 2 of 4
    } else {
      EXPECT_GT(h[2], 1000);
    }
    ASSERT_TRUE(g->remove_peer(*g->peer(0).state).is_ok());
    ASSERT_TRUE(g->remove_peer(*g->peer(2).state).is_ok());
    EXPECT_EQ(testing::adopt(*b), "-0 -2");
    EXPECT_EQ(picks(*b, 5), "bbbbb");  // one primary left: round robin
  }
}

}  // namespace
}  // namespace portico::upstream
