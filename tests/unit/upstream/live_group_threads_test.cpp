// A publisher thread changes a group's membership (add, drain, resume, remove, reweigh, reap)
// while worker threads, each with its own EventLoop and LocalGroup, pick and release as fast
// as they can. Bounded by time, not by counts. Checks the promises of group.h and
// member_list.h:
//  - a request releases the peer it picked, whatever lists were adopted meanwhile;
//  - once the publisher has drained or removed a peer and then seen it idle, no worker ever
//    gets it again;
//  - workers adopt newer lists as they are published, never an older one;
//  - at the end every count is back to 0 and every removed peer's slot can be freed.
// No lock on the workers' path: only atomics and their own loops.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <thread>

#include "upstream/local_group.h"
#include "upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::make_group;
using testing::peer_cfg;

// Peers the publisher has seen drained: set once, never cleared (they are removed next).
struct Drained {
  std::array<std::atomic<const PeerState*>, 4096> peers{};
  std::atomic<size_t> count{0};
  void add(const PeerState* p) {
    size_t n = count.load();
    ASSERT_LT(n, peers.size());
    peers[n].store(p);
    count.store(n + 1);
  }
  bool contains(const PeerState* p) const {
    size_t n = count.load();
    for (size_t i = 0; i < n; i++) {
      if (peers[i].load() == p) return true;
    }
    return false;
  }
};

struct Shared {
  std::shared_ptr<const Group> group;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> picks{0};
  Drained drained;
  // Progress the publisher waits for (a slow or loaded machine gets more time, not a failure).
  static constexpr int kWorkers = 3;
  std::atomic<uint64_t> live_picks{0};
  std::array<std::atomic<uint64_t>, kWorkers> live_versions{};
};

uint64_t lcg(uint64_t& x) {
  x = x * 6364136223846793005u + 1442695040888963407u;
  return x >> 33;
}

void worker(Shared& sh, int index, uint64_t seed, uint64_t* versions_seen) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().is_ok());
  Pool pool(loop);
  auto lg = LocalGroup::make(sh.group, loop, pool, seed);
  struct Held {
    int slot;
    std::shared_ptr<PeerState> state;
  };
  std::vector<Held> held;
  uint64_t x = seed, last_version = 0, picked = 0, reported = 0;
  auto steps = [&] {
    for (int k = 0; k < 64; k++) {
      if (held.size() < 8 && lcg(x) % 3 != 0) {
        TriedSet tried(lg->members().size());
        std::string key = std::to_string(lcg(x) % 1000);
        int slot = lg->pick({loop.now_ms(), key}, tried);
        if (slot < 0) continue;
        ASSERT_LT(size_t(slot), lg->members().size());
        const Peer& p = lg->peer(size_t(slot));
        ASSERT_TRUE(p.state);
        ASSERT_FALSE(sh.drained.contains(p.state.get())) << "picked a drained peer";
        held.push_back({slot, p.state});
        picked++;
      } else if (!held.empty()) {
        size_t i = size_t(lcg(x) % held.size());
        ASSERT_EQ(lg->peer(size_t(held[i].slot)).state, held[i].state) << "peer changed";
        lg->release(held[i].slot, Outcome::kSuccess, loop.now_ms());
        held.erase(held.begin() + long(i));
      }
    }
    uint64_t v = lg->members().version();
    ASSERT_GE(v, last_version);
    last_version = v;
    sh.live_versions[size_t(index)].store(v);
    sh.live_picks.fetch_add(picked - reported, std::memory_order_relaxed);
    reported = picked;
  };
  std::function<void()> batch = [&] {
    steps();
    if (::testing::Test::HasFailure()) sh.stop = true;  // end everyone's loop, not hang
    if (sh.stop.load()) {
      for (const Held& h : held) lg->release(h.slot, Outcome::kSuccess, loop.now_ms());
      held.clear();
      loop.stop();
      return;
    }
    loop.post(batch);  // through the loop, so that posted adoptions interleave
  };
  loop.post(batch);
  loop.run();
  sh.picks += picked;
  *versions_seen = last_version;
}

// The run has shown what the test checks: many published lists, each worker adopted some,
// many picks.
bool enough(const Shared& sh) {
  if (sh.group->members().version() <= 20 || sh.live_picks.load() <= 1000) return false;
  for (const auto& v : sh.live_versions)
    if (v.load() <= 1) return false;
  return true;
}

// The publisher: random changes for at least `ms` milliseconds and until enough() (bounded by
// a generous cap: a stuck worker fails the expectations below instead of hanging).
void publish(Shared& sh, Method m, uint64_t ms, std::vector<std::shared_ptr<PeerState>>& all) {
  const Group& g = *sh.group;
  std::vector<std::shared_ptr<PeerState>> members, draining, removed;
  for (uint32_t s : g.members().order()) members.push_back(g.peer(s).state);
  all = members;
  uint64_t x = 12345;
  int next_name = 100;
  auto confirm = [&](const std::shared_ptr<PeerState>& p) {
    if (p->active.load() == 0) sh.drained.add(p.get());  // read after the flag was set
  };
  const auto start = std::chrono::steady_clock::now();
  const auto min_end = start + std::chrono::milliseconds(ms);
  const auto cap = start + std::chrono::seconds(30);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (sh.stop.load() || now >= cap || (now >= min_end && enough(sh))) break;
    switch (lcg(x) % 7) {
      case 0:
      case 1: {
        if (members.size() + draining.size() >= 10) break;
        PeerConfig c = peer_cfg(next_name++, uint32_t(1 + lcg(x) % 3));
        if (m == Method::kLeastBusy) c.max_conns = 3;
        std::shared_ptr<PeerState> s;
        ASSERT_TRUE(g.add_peer(c, &s).is_ok());
        members.push_back(s);
        all.push_back(s);
        break;
      }
      case 2: {  // drain one
        if (members.size() < 2) break;
        size_t i = size_t(lcg(x) % members.size());
        ASSERT_TRUE(g.drain_peer(*members[i]).is_ok());
        confirm(members[i]);
        draining.push_back(members[i]);
        members.erase(members.begin() + long(i));
        break;
      }
      case 3: {  // resume a draining one nobody has seen drained yet
        if (draining.empty() || sh.drained.contains(draining.back().get())) break;
        ASSERT_TRUE(g.drain_peer(*draining.back(), false).is_ok());
        members.push_back(draining.back());
        draining.pop_back();
        break;
      }
      case 4: {  // remove a draining one (the supervisor's way) or a member (DNS's)
        auto& from = !draining.empty() && lcg(x) % 2 ? draining : members;
        if (from.empty() || (&from == &members && members.size() < 2)) break;
        size_t i = size_t(lcg(x) % from.size());
        ASSERT_TRUE(g.remove_peer(*from[i]).is_ok());
        confirm(from[i]);
        removed.push_back(from[i]);
        from.erase(from.begin() + long(i));
        break;
      }
      case 5: {  // reweigh
        if (members.empty()) break;
        size_t i = size_t(lcg(x) % members.size());
        for (uint32_t s : g.members().order()) {
          if (g.peer(s).state != members[i]) continue;
          PeerConfig c = g.peer(s).cfg;
          c.weight = uint32_t(1 + lcg(x) % 4);
          ASSERT_TRUE(g.update_peer(*members[i], c).is_ok());
          break;
        }
        break;
      }
      case 6:
        g.reap();
        for (const auto& p : draining) {
          if (!sh.drained.contains(p.get())) confirm(p);
        }
        break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void run(Method m) {
  std::vector<PeerConfig> peers;
  for (int i = 0; i < 4; i++) {
    peers.push_back(peer_cfg(i, uint32_t(i + 1)));
    if (i == 0 || m == Method::kLeastBusy) peers.back().max_conns = 3;
  }
  Shared sh;
  sh.group = make_group(m, peers);
  constexpr int kWorkers = Shared::kWorkers;
  std::array<uint64_t, kWorkers> versions{};
  std::vector<std::thread> workers;
  for (int t = 0; t < kWorkers; t++) {
    workers.emplace_back([&, t] { worker(sh, t, uint64_t(t + 1), &versions[size_t(t)]); });
  }
  std::vector<std::shared_ptr<PeerState>> all;
  publish(sh, m, 200, all);
  sh.stop = true;
  for (auto& w : workers) w.join();

  const Group& g = *sh.group;
  EXPECT_GT(g.members().version(), 20u);
  for (uint64_t v : versions) EXPECT_GT(v, 1u);  // each worker adopted published lists
  uint64_t requests = 0;
  for (const auto& p : all) {
    EXPECT_EQ(p->active.load(), 0u);
    requests += p->requests.load();
  }
  EXPECT_EQ(requests, sh.picks.load());
  EXPECT_GT(sh.picks.load(), 1000u);
  g.reap();
  for (const Peer& p : g.peers()) EXPECT_NE(p.membership, Membership::kRemoved);
  EXPECT_EQ(g.waiting().load(), 0u);
}

TEST(UpstreamLiveGroupThreads, PublisherWhileWorkersPickAndRelease) {
  for (Method m :
       {Method::kRoundRobin, Method::kLeastConn, Method::kIpHash, Method::kHash,
        Method::kHashConsistent, Method::kRandom, Method::kRandomTwo, Method::kLeastBusy}) {
    SCOPED_TRACE(std::string(method_name(m)));
    run(m);
  }
}

}  // namespace
}  // namespace portico::upstream
