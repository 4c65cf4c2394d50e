#include "upstream/local_group.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "loop_test_util.h"
#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::add;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;
using testing::run_for;
using testing::run_posted;
using testing::TestWaiter;

class UpstreamLocalGroup : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop.init().is_ok()); }

  std::shared_ptr<LocalGroup> local(std::shared_ptr<const Group> g) {
    return LocalGroup::make(std::move(g), loop, pool);
  }
  TestWaiter waiter(LocalGroup& lg, char id) {
    TestWaiter w;
    w.lg = &lg;
    w.loop = &loop;
    w.id = id;
    w.log = &log;
    return w;
  }
  // An idle pooled connection to `state`'s peer; returns its fd.
  int pool_idle(const std::shared_ptr<PeerState>& state) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    Pool::Conn* c = pool.attach(Transport(sv[0]), &no_owner);
    EXPECT_TRUE(pool.put(c, state.get(), 8, 60000));
    upstream_ends.push_back(sv[1]);
    return sv[0];
  }
  void TearDown() override {
    for (int fd : upstream_ends) ::close(fd);
  }

  struct NoOwner final : IoHandler {
    void on_io(uint32_t) override {}
  } no_owner;
  EventLoop loop;
  Pool pool{loop};
  std::string log;
  std::vector<int> upstream_ends;
};

bool fd_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

TEST_F(UpstreamLocalGroup, AdoptsPublishedListsThroughItsLoop) {
  auto g = make_group(Method::kRoundRobin, 1);
  auto lg = local(g);
  add(*g, 1);
  add(*g, 2);
  EXPECT_EQ(lg->members().version(), 1u);  // a worker adopts in its own loop, not before
  run_posted(loop);
  EXPECT_EQ(lg->members().version(), 3u);  // both publishes, one adoption
  EXPECT_EQ(picks(lg->balancer(), 6), "abcabc");
}

TEST_F(UpstreamLocalGroup, DrainedAndRemovedPeersLoseTheirIdleConnections) {
  auto g = make_group(Method::kRoundRobin, 3);
  auto lg = local(g);
  std::shared_ptr<PeerState> a = g->peer(0).state, b = g->peer(1).state, c = g->peer(2).state;
  int fa = pool_idle(a), fb = pool_idle(b), fc1 = pool_idle(c), fc2 = pool_idle(c);
  ASSERT_TRUE(g->remove_peer(*a).is_ok());
  ASSERT_TRUE(g->drain_peer(*b).is_ok());
  EXPECT_EQ(pool.idle_count(), 4u);
  run_posted(loop);
  EXPECT_EQ(pool.idle_count(), 2u);
  EXPECT_FALSE(fd_open(fa));
  EXPECT_FALSE(fd_open(fb));
  EXPECT_TRUE(fd_open(fc1));
  EXPECT_TRUE(fd_open(fc2));
}

TEST_F(UpstreamLocalGroup, RequestInFlightSurvivesRemoval) {
  auto g = make_group(Method::kLeastConn, 2);
  auto lg = local(g);
  TriedSet tried(lg->members().size());
  int slot = lg->pick({}, tried);
  ASSERT_GE(slot, 0);
  std::shared_ptr<PeerState> state = lg->peer(size_t(slot)).state;
  ASSERT_TRUE(g->remove_peer(*state).is_ok());
  add(*g, 5);
  run_posted(loop);
  EXPECT_EQ(lg->members().version(), 3u);
  EXPECT_EQ(lg->peer(size_t(slot)).state, state);  // still the request's peer
  EXPECT_EQ(g->reap(), 0u);
  lg->release(slot, Outcome::kSuccess, 0);
  EXPECT_EQ(state->active.load(), 0u);
  EXPECT_EQ(g->reap(), 1u);
}

TEST_F(UpstreamLocalGroup, ReleaseWakesWaitersInOrder) {
  std::vector<PeerConfig> peers = {peer_cfg(0)};
  peers[0].max_conns = 1;
  auto g = make_group(Method::kRoundRobin, peers);
  auto lg = local(g);
  TriedSet tried(1);
  int held = lg->pick({}, tried);
  ASSERT_EQ(held, 0);
  TestWaiter w[4] = {waiter(*lg, '0'), waiter(*lg, '1'), waiter(*lg, '2'), waiter(*lg, '3')};
  for (int i = 0; i < 3; i++) ASSERT_TRUE(w[i].wait(3));
  EXPECT_FALSE(w[3].wait(3));  // bounded: 503 for this one
  EXPECT_EQ(log, "");
  EXPECT_EQ(g->waiting().load(), 3u);
  lg->release(held, Outcome::kSuccess, 0);  // hands the peer to the head at once
  EXPECT_EQ(log, "0");
  lg->release(w[0].slot, Outcome::kSuccess, 0);
  EXPECT_EQ(log, "01");
  lg->release(w[1].slot, Outcome::kSuccess, 0);
  lg->release(w[2].slot, Outcome::kSuccess, 0);
  EXPECT_EQ(log, "012");
  EXPECT_EQ(lg->queued(), 0u);
  EXPECT_EQ(g->waiting().load(), 0u);
}

// A waiter whose own timeout fires leaves; the others keep their order.
TEST_F(UpstreamLocalGroup, TimedOutWaiterLeavesTheQueue) {
  std::vector<PeerConfig> peers = {peer_cfg(0)};
  peers[0].max_conns = 1;
  auto g = make_group(Method::kRoundRobin, peers);
  auto lg = local(g);
  TriedSet tried(1);
  int held = lg->pick({}, tried);
  TestWaiter w[3] = {waiter(*lg, 'a'), waiter(*lg, 'b'), waiter(*lg, 'c')};
  for (TestWaiter& x : w) ASSERT_TRUE(x.wait(10));
  struct Deadline : Timer {
    TestWaiter* w;
  } deadline;
  deadline.w = &w[1];
  deadline.cb = [](Timer* t) {
    TestWaiter* x = static_cast<Deadline*>(t)->w;
    x->lg->dequeue(x);  // proxy::Session answers 503 here
    *x->log += "503";
  };
  loop.schedule(&deadline, 20);
  run_for(loop, 60);
  EXPECT_EQ(log, "503");
  EXPECT_EQ(lg->queued(), 2u);
  lg->release(held, Outcome::kSuccess, 0);
  lg->release(w[0].slot, Outcome::kSuccess, 0);
  EXPECT_EQ(log, "503ac");
  lg->release(w[2].slot, Outcome::kSuccess, 0);
}

TEST_F(UpstreamLocalGroup, AddedPeerWakesWaiters) {
  std::vector<PeerConfig> peers = {peer_cfg(0)};
  peers[0].max_conns = 1;
  auto g = make_group(Method::kRoundRobin, peers);
  auto lg = local(g);
  TriedSet tried(1);
  int held = lg->pick({}, tried);
  TestWaiter w = waiter(*lg, 'w');
  ASSERT_TRUE(w.wait(10));
  std::thread publisher([&] { add(*g, 1); });  // e.g. the app supervisor, another thread
  publisher.join();
  EXPECT_EQ(log, "");
  run_posted(loop);
  EXPECT_EQ(log, "w");
  EXPECT_EQ(w.slot, 1);
  lg->release(w.slot, Outcome::kSuccess, 0);
  lg->release(held, Outcome::kSuccess, 0);
}

TEST_F(UpstreamLocalGroup, HealthyAgainWakesWaiters) {
  auto g = make_group(Method::kRoundRobin, 1);
  auto lg = local(g);
  set_healthy(g->peer(0), false, 0);
  TestWaiter w = waiter(*lg, 'w');
  ASSERT_TRUE(w.wait(10));
  run_posted(loop);
  EXPECT_EQ(log, "");
  set_healthy(g->peer(0), true, 0);  // what the health checker does, then:
  g->wake_waiters();
  run_posted(loop);
  EXPECT_EQ(log, "w");
  lg->release(w.slot, Outcome::kSuccess, 0);
}

// Nothing announces the end of a fail_timeout: the queue sets a timer for exactly then.
TEST_F(UpstreamLocalGroup, FailTimeoutEndWakesWaiters) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1)};
  for (PeerConfig& p : peers) p.fail_timeout_ms = 40;
  auto g = make_group(Method::kRoundRobin, peers);
  auto lg = local(g);
  run_posted(loop);  // fresh loop time
  report_failure(g->peer(0), loop.now_ms());
  report_failure(g->peer(1), loop.now_ms());
  TestWaiter w = waiter(*lg, 'w');
  w.stop_loop_when_served = true;
  ASSERT_TRUE(w.wait(10));
  EXPECT_EQ(log, "");
  const auto t0 = std::chrono::steady_clock::now();
  run_for(loop, 2000);  // stops early once served
  EXPECT_EQ(log, "w");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  lg->release(w.slot, Outcome::kSuccess, loop.now_ms());
}

// A peer freed on one worker wakes a request waiting on another, through that worker's loop.
TEST_F(UpstreamLocalGroup, ReleaseOnOneWorkerWakesAnother) {
  std::vector<PeerConfig> peers = {peer_cfg(0)};
  peers[0].max_conns = 1;
  auto g = make_group(Method::kRoundRobin, peers);
  auto lg = local(g);
  TriedSet tried(1);
  int held = lg->pick({}, tried);
  ASSERT_EQ(held, 0);

  EventLoop other_loop;
  ASSERT_TRUE(other_loop.init().is_ok());
  std::atomic<bool> queued{false}, served{false};
  std::string other_log;
  std::thread other([&] {
    Pool other_pool(other_loop);
    auto other_lg = LocalGroup::make(g, other_loop, other_pool);
    TestWaiter w;
    w.lg = other_lg.get();
    w.loop = &other_loop;
    w.id = 'x';
    w.log = &other_log;
    w.stop_loop_when_served = true;
    EXPECT_TRUE(w.wait(10));
    queued = true;
    other_loop.run();
    if (w.slot >= 0) {
      served = true;
      other_lg->release(w.slot, Outcome::kSuccess, 0);
    }
    other_lg->dequeue(&w);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!queued && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(queued);
  EXPECT_EQ(g->waiting().load(), 1u);
  lg->release(held, Outcome::kSuccess, 0);  // this worker has no waiter: the other is told
  while (!served && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!served) other_loop.post([&] { other_loop.stop(); });
  other.join();
  EXPECT_TRUE(served);
  EXPECT_EQ(other_log, "x");
  EXPECT_EQ(g->waiting().load(), 0u);
}

}  // namespace
}  // namespace portico::upstream
