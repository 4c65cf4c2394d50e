// Several workers, each with its own Balancer over one shared Group, hammering the shared peer
// state. Worth running under -fsanitize=thread as well; no lock is involved, only atomics.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "upstream/balancer.h"
#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::make_group;
using testing::peer_cfg;

// Each worker keeps up to 8 requests in flight, releasing them out of order, with a failure
// now and then, on a fake clock.
uint64_t hammer(std::shared_ptr<const Group> g, uint64_t seed, int iterations) {
  auto b = make_balancer(g, seed);
  std::vector<int> held;
  uint64_t x = seed, picked = 0;
  auto rnd = [&] { return x = x * 6364136223846793005u + 1442695040888963407u, x >> 33; };
  for (int n = 0; n < iterations; n++) {
    uint64_t now = uint64_t(n);
    if (held.size() < 8 && rnd() % 3 != 0) {
      TriedSet tried(g->size());
      std::string key = std::to_string(rnd() % 1000);
      int i = b->pick({now, key}, tried);
      if (i >= 0) {
        held.push_back(i);
        picked++;
        const Peer& p = g->peer(size_t(i));
        uint32_t active = p.state->active.load();
        EXPECT_TRUE(p.cfg.max_conns == 0 || active <= p.cfg.max_conns) << active;
      }
    } else if (!held.empty()) {
      size_t k = size_t(rnd() % held.size());
      Outcome o = rnd() % 50 == 0 ? Outcome::kFailure : Outcome::kSuccess;
      b->release(held[k], o, now);
      held.erase(held.begin() + long(k));
    }
  }
  for (int i : held) b->release(i, Outcome::kSuccess, uint64_t(iterations));
  return picked;
}

void run_workers(Method m, int threads, int iterations) {
  std::vector<PeerConfig> peers;
  for (int i = 0; i < 5; i++) {
    PeerConfig p = peer_cfg(i, uint32_t(i + 1));
    p.max_fails = 3;
    p.fail_timeout_ms = 50;
    p.max_conns = i == 0 ? 2 : 0;
    peers.push_back(p);
  }
  auto g = make_group(m, peers);
  std::vector<std::thread> workers;
  std::atomic<uint64_t> picked{0};
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] { picked += hammer(g, uint64_t(t + 1), iterations); });
  }
  for (auto& w : workers) w.join();
  uint64_t requests = 0;
  for (const Peer& p : g->peers()) {
    EXPECT_EQ(p.state->active.load(), 0u) << p.cfg.name;
    requests += p.state->requests.load();
  }
  EXPECT_EQ(requests, picked.load());
  EXPECT_GT(picked.load(), uint64_t(iterations) / 2);
}

TEST(UpstreamBalancerThreads, LeastConnCountsReturnToZero) {
  run_workers(Method::kLeastConn, 2, 100000);
}

TEST(UpstreamBalancerThreads, EveryMethod) {
  for (Method m : {Method::kRoundRobin, Method::kIpHash, Method::kHash, Method::kHashConsistent,
                   Method::kRandom, Method::kRandomTwo}) {
    SCOPED_TRACE(std::string(method_name(m)));
    run_workers(m, 4, 20000);
  }
}

}  // namespace
}  // namespace portico::upstream
