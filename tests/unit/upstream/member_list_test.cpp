#include "upstream/member_list.h"

#include <gtest/gtest.h>

#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::peer_cfg;

Peer member(int i, uint32_t weight = 1, Membership m = Membership::kMember) {
  return Peer{peer_cfg(i, weight), std::make_shared<PeerState>(), m};
}

// Slots and order part ways once a group changed: the tables follow the order.
TEST(UpstreamMemberList, TablesFollowTheOrder) {
  std::vector<Peer> peers(5);
  peers[1].membership = Membership::kFree;
  peers[0] = member(0, 2);
  peers[2] = member(2);
  peers[2].cfg.backup = true;
  peers[3] = member(3, 3, Membership::kDraining);
  peers[4] = member(4, 1, Membership::kRemoved);
  auto m = MemberList::build(Method::kRoundRobin, peers, {3, 0, 2}, 7);
  EXPECT_EQ(m->version(), 7u);
  EXPECT_EQ(m->size(), 5u);
  EXPECT_EQ(m->primaries(), (std::vector<uint32_t>{3, 0}));
  EXPECT_EQ(m->backups(), (std::vector<uint32_t>{2}));
  EXPECT_EQ(m->ranges(), (std::vector<uint64_t>{0, 3}));
  EXPECT_EQ(m->primary_weight(), 5u);  // the draining one keeps its weight (and place)
  EXPECT_EQ(m->max_tries(), 2u);       // but is no try
  EXPECT_FALSE(m->single());
  EXPECT_EQ(m->peer(4).membership, Membership::kRemoved);  // still named by its slot
}

// The ring depends on the members, not on their slots.
TEST(UpstreamMemberList, RingIndependentOfSlots) {
  auto dense =
      MemberList::build(Method::kHashConsistent, {member(0), member(1), member(2)}, {0, 1, 2}, 1);
  std::vector<Peer> sparse(6);
  for (Peer& p : sparse) p.membership = Membership::kFree;
  sparse[5] = member(0);
  sparse[1] = member(1);
  sparse[3] = member(2);
  auto m = MemberList::build(Method::kHashConsistent, sparse, {5, 1, 3}, 1);
  ASSERT_EQ(m->ring().size(), dense->ring().size());
  for (size_t k = 0; k < m->ring().size(); k++) {
    EXPECT_EQ(m->ring()[k].hash, dense->ring()[k].hash);
  }
  EXPECT_EQ(m->server_primaries(m->server_id(3)), (std::vector<uint32_t>{3}));
}

TEST(UpstreamMemberList, Empty) {
  auto m = MemberList::build(Method::kRandom, {}, {}, 2);
  EXPECT_EQ(m->size(), 0u);
  EXPECT_TRUE(m->primaries().empty());
  EXPECT_EQ(m->primary_weight(), 0u);
  EXPECT_FALSE(m->single());
}

}  // namespace
}  // namespace portico::upstream
