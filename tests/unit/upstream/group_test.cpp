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

// ---- live membership --------------------------------------------------------------------

using testing::add;

TEST(UpstreamGroupLive, AddDrainResumeRemove) {
  auto g = make_group(Method::kRoundRobin, 2);
  EXPECT_EQ(g->members().version(), 1u);
  auto c = add(*g, 2);
  EXPECT_EQ(g->members().version(), 2u);
  ASSERT_EQ(g->size(), 3u);
  EXPECT_EQ(g->peer(2).state, c);
  EXPECT_EQ(g->members().order(), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(g->max_tries(), 3u);

  ASSERT_TRUE(g->drain_peer(*c).is_ok());
  EXPECT_EQ(g->peer(2).membership, Membership::kDraining);
  EXPECT_TRUE(c->draining.load());
  EXPECT_EQ(g->primaries(), (std::vector<uint32_t>{0, 1, 2}));  // keeps its place
  EXPECT_EQ(g->max_tries(), 2u);                                // but is no try
  EXPECT_FALSE(available(g->peer(2), 0));

  ASSERT_TRUE(g->drain_peer(*c, false).is_ok());
  EXPECT_EQ(g->peer(2).membership, Membership::kMember);
  EXPECT_TRUE(available(g->peer(2), 0));

  ASSERT_TRUE(g->remove_peer(*c).is_ok());  // idle: its slot is free at once
  EXPECT_EQ(g->peer(2).membership, Membership::kFree);
  EXPECT_EQ(g->peer(2).state, nullptr);
  EXPECT_EQ(g->members().order(), (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(c->draining.load());  // the handle says it is gone
  EXPECT_EQ(g->members().version(), 5u);
}

TEST(UpstreamGroupLive, RemovedPeerKeepsItsSlotWhileInUse) {
  auto g = make_group(Method::kRoundRobin, 3);
  std::shared_ptr<PeerState> b = g->peer(1).state;
  b->active = 1;  // a request is using it
  ASSERT_TRUE(g->remove_peer(*b).is_ok());
  EXPECT_EQ(g->peer(1).membership, Membership::kRemoved);
  EXPECT_EQ(g->peer(1).state, b);  // still named by its slot
  EXPECT_EQ(g->members().order(), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(g->primaries(), (std::vector<uint32_t>{0, 2}));

  auto d = add(*g, 3);
  EXPECT_EQ(g->peer(3).state, d);  // a new slot: 1 is still taken
  EXPECT_EQ(g->reap(), 0u);
  b->active = 0;  // the request ended
  EXPECT_EQ(g->reap(), 1u);
  EXPECT_EQ(g->peer(1).membership, Membership::kFree);
  auto e = add(*g, 4);
  EXPECT_EQ(g->peer(1).state, e);  // the freed slot is reused
  EXPECT_EQ(g->members().order(), (std::vector<uint32_t>{0, 2, 3, 1}));
}

TEST(UpstreamGroupLive, FreedSlotsAreReusedOldestFirst) {
  auto g = make_group(Method::kRoundRobin, 4);
  std::shared_ptr<PeerState> s2 = g->peer(2).state, s0 = g->peer(0).state;
  ASSERT_TRUE(g->remove_peer(*s2).is_ok());
  ASSERT_TRUE(g->remove_peer(*s0).is_ok());
  auto x = add(*g, 7);
  auto y = add(*g, 8);
  EXPECT_EQ(g->peer(2).state, x);
  EXPECT_EQ(g->peer(0).state, y);
  EXPECT_EQ(g->size(), 4u);
}

TEST(UpstreamGroupLive, ReplaceMatchesByIdentity) {
  auto g = make_group(Method::kRoundRobin, 3);
  std::shared_ptr<PeerState> a = g->peer(0).state, b = g->peer(1).state, c = g->peer(2).state;
  ASSERT_TRUE(g->drain_peer(*c).is_ok());
  // c again (now a full member), a with a new weight, a new one; b is gone.
  ASSERT_TRUE(g->replace_peers({peer_cfg(2), peer_cfg(0, 3), peer_cfg(5)}).is_ok());
  EXPECT_EQ(g->peer(0).state, a);
  EXPECT_EQ(g->peer(0).cfg.weight, 3u);
  EXPECT_EQ(g->peer(2).state, c);
  EXPECT_EQ(g->peer(2).membership, Membership::kMember);
  EXPECT_FALSE(c->draining.load());
  EXPECT_EQ(g->peer(3).cfg.name, testing::addr_name(5));
  EXPECT_EQ(g->peer(1).membership, Membership::kFree);  // b was idle
  EXPECT_TRUE(b->draining.load());
  EXPECT_EQ(g->members().order(), (std::vector<uint32_t>{2, 0, 3}));
  EXPECT_EQ(g->primary_weight(), 5u);
}

TEST(UpstreamGroupLive, UpdatePeer) {
  auto g = make_group(Method::kLeastConn, 2);
  PeerConfig cfg = g->peer(1).cfg;
  cfg.weight = 4;
  cfg.max_conns = 8;
  cfg.down = true;
  ASSERT_TRUE(g->update_peer(*g->peer(1).state, cfg).is_ok());
  EXPECT_EQ(g->peer(1).cfg.max_conns, 8u);
  EXPECT_EQ(g->primary_weight(), 5u);
  EXPECT_EQ(g->max_tries(), 1u);
  cfg.name = testing::addr_name(9);
  EXPECT_FALSE(g->update_peer(*g->peer(1).state, cfg).is_ok());  // a new address: a new peer
}

TEST(UpstreamGroupLive, InvalidChangesChangeNothing) {
  auto g = make_group(Method::kIpHash, 2);
  PeerConfig backup = peer_cfg(3);
  backup.backup = true;
  EXPECT_EQ(g->add_peer(backup).message(),
            "balancing method does not support parameter \"backup\"");
  EXPECT_EQ(g->add_peer(peer_cfg(3, 0)).message(), "invalid parameter \"weight=0\"");
  PeerState stranger;
  EXPECT_FALSE(g->drain_peer(stranger).is_ok());
  EXPECT_FALSE(g->remove_peer(stranger).is_ok());
  EXPECT_EQ(g->members().version(), 1u);
  EXPECT_EQ(g->size(), 2u);
}

TEST(UpstreamGroupLive, EmptyGroupPicksNothing) {
  for (Method m :
       {Method::kRoundRobin, Method::kLeastConn, Method::kIpHash, Method::kHash,
        Method::kHashConsistent, Method::kRandom, Method::kRandomTwo, Method::kLeastBusy}) {
    SCOPED_TRACE(std::string(method_name(m)));
    auto g = make_group(m, 2);
    auto b = make_balancer(g);
    ASSERT_TRUE(g->replace_peers({}).is_ok());
    EXPECT_EQ(testing::adopt(*b), "-0 -1");
    EXPECT_EQ(b->members().primary_weight(), 0u);
    EXPECT_EQ(b->members().max_tries(), 0u);
    EXPECT_EQ(testing::picks(*b, {"k", ""}), "--");
    testing::add(*g, 4);
    EXPECT_EQ(testing::adopt(*b), "+0");
    EXPECT_EQ(testing::picks(*b, {"k", ""}), "aa");
  }
}

TEST(UpstreamGroupLive, ReloadMakesDrainedPeersMembersAgain) {
  auto old = make_group(Method::kRoundRobin, 2);
  ASSERT_TRUE(old->drain_peer(*old->peer(1).state).is_ok());
  auto fresh = make_group(Method::kRoundRobin, {peer_cfg(0), peer_cfg(1)}, old.get());
  EXPECT_EQ(fresh->peer(1).state, old->peer(1).state);
  EXPECT_FALSE(fresh->peer(1).state->draining.load());  // configured: a member
}

}  // namespace
}  // namespace portico::upstream
