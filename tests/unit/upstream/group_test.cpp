#include "upstream/group.h"

#include <gtest/gtest.h>

#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::make_group;
using testing::peer_cfg;

Status validate_with(Method m, PeerConfig extra) {
  GroupConfig c;
  c.name = "backend";
  c.method = m;
  c.peers = {peer_cfg(0), std::move(extra)};
  return Group::validate(c);
}

TEST(UpstreamGroup, BackupOnlyWithRoundRobinAndLeastConn) {
  PeerConfig backup = peer_cfg(1);
  backup.backup = true;
  EXPECT_TRUE(validate_with(Method::kRoundRobin, backup).is_ok());
  EXPECT_TRUE(validate_with(Method::kLeastConn, backup).is_ok());
  for (Method m : {Method::kIpHash, Method::kHash, Method::kHashConsistent, Method::kRandom,
                   Method::kRandomTwo}) {
    Status s = validate_with(m, backup);
    ASSERT_FALSE(s.is_ok()) << method_name(m);
    EXPECT_EQ(s.message(), "balancing method does not support parameter \"backup\"");
  }
}

TEST(UpstreamGroup, SlowStartOnlyWithRoundRobinAndLeastConn) {
  PeerConfig slow = peer_cfg(1);
  slow.slow_start_ms = 30000;
  EXPECT_TRUE(validate_with(Method::kLeastConn, slow).is_ok());
  Status s = validate_with(Method::kHash, slow);
  EXPECT_EQ(s.message(), "balancing method does not support parameter \"slow_start=30s\"");
}

TEST(UpstreamGroup, OtherErrors) {
  PeerConfig zero = peer_cfg(1, 0);
  EXPECT_EQ(validate_with(Method::kRoundRobin, zero).message(), "invalid parameter \"weight=0\"");

  GroupConfig c;
  c.name = "backend";
  EXPECT_EQ(Group::validate(c).message(), "no servers in upstream \"backend\"");
  c.peers = {peer_cfg(0)};
  c.peers[0].backup = true;
  EXPECT_EQ(Group::validate(c).message(), "no servers in upstream \"backend\"");

  std::shared_ptr<const Group> out;
  EXPECT_FALSE(Group::create(c, nullptr, &out).is_ok());
  EXPECT_EQ(out, nullptr);
}

TEST(UpstreamGroup, Tables) {
  std::vector<PeerConfig> peers = {peer_cfg(0, 5), peer_cfg(1), peer_cfg(2, 2), peer_cfg(3)};
  peers[1].backup = true;
  peers[2].down = true;
  auto g = make_group(Method::kRoundRobin, peers);
  EXPECT_EQ(g->primaries(), (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(g->backups(), (std::vector<uint32_t>{1}));
  EXPECT_EQ(g->primary_weight(), 8u);  // down peers keep their weight
  EXPECT_EQ(g->ranges(), (std::vector<uint64_t>{0, 5, 7}));
  EXPECT_EQ(g->max_tries(), 3u);  // the down one is no try
  EXPECT_FALSE(g->single());
  EXPECT_TRUE(make_group(Method::kRoundRobin, 1)->single());
  EXPECT_FALSE(make_group(Method::kRoundRobin, 2)->single());
}

TEST(UpstreamGroup, ReloadKeepsStateOfPeersThatStayed) {
  auto old = make_group(Method::kRoundRobin, {peer_cfg(0), peer_cfg(1), peer_cfg(1)});
  old->peer(1).state->active = 7;
  old->peer(2).state->active = 9;
  // Same servers in another order, a new one, a changed weight and another method.
  auto fresh =
      make_group(Method::kLeastConn, {peer_cfg(2), peer_cfg(1, 3), peer_cfg(1)}, old.get());
  EXPECT_NE(fresh->peer(0).state, old->peer(0).state);
  EXPECT_EQ(fresh->peer(0).state->active.load(), 0u);
  EXPECT_EQ(fresh->peer(1).state, old->peer(1).state);  // duplicates matched in order
  EXPECT_EQ(fresh->peer(2).state, old->peer(2).state);
  for (const Peer& p : fresh->peers()) EXPECT_NE(p.state, nullptr);
}

TEST(UpstreamGroup, ConsistentHashRing) {
  auto g = make_group(Method::kHashConsistent, 3, {1, 2, 3});
  // 160 points per unit of weight, less the rare duplicate hash.
  EXPECT_LE(g->ring().size(), 960u);
  EXPECT_GE(g->ring().size(), 950u);
  for (size_t k = 1; k < g->ring().size(); k++) {
    EXPECT_LT(g->ring()[k - 1].hash, g->ring()[k].hash);
  }
  // Two addresses of one `server` share its points.
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[1].server = "app.example.com:8080";
  peers[2].server = "app.example.com:8080";
  auto shared = make_group(Method::kHashConsistent, peers);
  EXPECT_EQ(shared->server_id(1), shared->server_id(2));
  EXPECT_NE(shared->server_id(0), shared->server_id(1));
  EXPECT_EQ(shared->server_primaries(shared->server_id(1)), (std::vector<uint32_t>{1, 2}));
  EXPECT_LE(shared->ring().size(), 320u);
  EXPECT_TRUE(make_group(Method::kHash, 3)->ring().empty());
}

}  // namespace
}  // namespace portico::upstream
