#include "upstream/balancers/least_busy.h"

#include <gtest/gtest.h>

#include "../upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::histogram;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;

std::vector<PeerConfig> processes(int n, uint32_t concurrency) {
  std::vector<PeerConfig> peers;
  for (int i = 0; i < n; i++) {
    peers.push_back(peer_cfg(i));
    peers.back().max_conns = concurrency;
  }
  return peers;
}

// Passenger routes to the first process on ties, so at low load the others stay idle.
TEST(UpstreamLeastBusy, FirstOnTies) {
  auto b = make_balancer(make_group(Method::kLeastBusy, processes(3, 4)));
  EXPECT_EQ(picks(*b, 5), "aaaaa");
}

TEST(UpstreamLeastBusy, LowestBusynessWins) {
  auto g = make_group(Method::kLeastBusy, processes(3, 4));
  auto b = make_balancer(g);
  std::string held;
  for (int n = 0; n < 12; n++) {  // never released: fills every process to its limit
    TriedSet t(g->size());
    int i = b->pick({}, t);
    ASSERT_GE(i, 0);
    held += char('a' + i);
  }
  EXPECT_EQ(held, "abcabcabcabc");
  TriedSet t(g->size());
  EXPECT_EQ(b->pick({}, t), -1);  // every process totally busy: the request would queue
  b->release(1, Outcome::kSuccess, 0);
  EXPECT_EQ(picks(*b, 1), "b");
}

// Busyness is a share of each process's own limit.
TEST(UpstreamLeastBusy, ComparesShareOfConcurrency) {
  std::vector<PeerConfig> peers = processes(2, 0);
  peers[0].max_conns = 10;
  peers[1].max_conns = 2;
  auto g = make_group(Method::kLeastBusy, peers);
  auto b = make_balancer(g);
  on_connect(g->peer(0));
  on_connect(g->peer(0));  // 2 of 10
  on_connect(g->peer(1));  // 1 of 2
  EXPECT_EQ(LeastBusyBalancer::busyness(g->peer(0)), (uint64_t{2} << 31) / 10);
  EXPECT_EQ(picks(*b, 1), "a");
}

// As in Passenger, a process without a limit is preferred to a limited one with requests.
TEST(UpstreamLeastBusy, UnlimitedBeforeLimited) {
  std::vector<PeerConfig> peers = processes(2, 0);
  peers[0].max_conns = 100;
  auto g = make_group(Method::kLeastBusy, peers);
  auto b = make_balancer(g);
  on_connect(g->peer(0));
  for (int i = 0; i < 5; i++) on_connect(g->peer(1));
  EXPECT_EQ(picks(*b, 1), "b");
}

TEST(UpstreamLeastBusy, ProcessesComeAndGo) {
  auto g = make_group(Method::kLeastBusy, processes(1, 1));
  auto b = make_balancer(g);
  TriedSet t(g->size());
  ASSERT_EQ(b->pick({}, t), 0);  // the only process is busy
  EXPECT_EQ(picks(*b, 1), "-");
  PeerConfig second = peer_cfg(1);
  second.max_conns = 1;
  ASSERT_TRUE(g->add_peer(second).is_ok());  // the supervisor started another one
  EXPECT_EQ(testing::adopt(*b), "+1");
  EXPECT_EQ(picks(*b, 2), "bb");
  ASSERT_TRUE(g->drain_peer(*g->peer(1).state).is_ok());  // and recycles it
  EXPECT_EQ(picks(*b, 1), "-");
  b->release(0, Outcome::kSuccess, 0);
  EXPECT_EQ(picks(*b, 2), "aa");
}

TEST(UpstreamLeastBusy, Validation) {
  GroupConfig c;
  c.name = "app";
  c.method = Method::kLeastBusy;
  c.peers = processes(2, 1);
  c.peers[1].backup = true;
  EXPECT_EQ(Group::validate(c).message(), "balancing method does not support parameter \"backup\"");
  EXPECT_EQ(method_name(Method::kLeastBusy), "least_busy");
}

}  // namespace
}  // namespace portico::upstream
