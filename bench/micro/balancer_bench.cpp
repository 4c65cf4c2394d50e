// Micro benchmark: one pick + release per iteration, per balancing method, over 2..256 peers
// (Google Benchmark). The cost nginx pays here is the same loop; what matters is that no
// method allocates or takes a lock and that the linear ones stay cheap at realistic sizes.
//
// Built with the tests when Google Benchmark is installed: `ninja -C build balancer_bench`.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "upstream/balancer.h"

namespace portico::upstream {
namespace {

std::shared_ptr<const Group> make(Method m, int n) {
  GroupConfig c;
  c.name = "bench";
  c.method = m;
  for (int i = 0; i < n; i++) {
    PeerConfig p;
    p.name = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":8080";
    p.weight = uint32_t(1 + i % 3);
    c.peers.push_back(std::move(p));
  }
  std::shared_ptr<const Group> g;
  if (!Group::create(std::move(c), nullptr, &g)) return nullptr;
  return g;
}

void pick_release(benchmark::State& state, Method m) {
  auto g = make(m, int(state.range(0)));
  auto b = make_balancer(g, 1);
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; i++) keys.push_back("/static/img/" + std::to_string(i) + ".png");
  TriedSet tried(g->size());
  size_t k = 0;
  uint64_t now = 1;
  for (auto _ : state) {
    tried.clear();
    int i = b->pick({now, keys[k++ & 1023]}, tried);
    benchmark::DoNotOptimize(i);
    b->release(i, Outcome::kSuccess, now);
  }
}

#define PORTICO_BALANCER_BENCH(name, method) \
  BENCHMARK_CAPTURE(pick_release, name, method)->RangeMultiplier(4)->Range(2, 256)

PORTICO_BALANCER_BENCH(round_robin, Method::kRoundRobin);
PORTICO_BALANCER_BENCH(least_conn, Method::kLeastConn);
PORTICO_BALANCER_BENCH(ip_hash, Method::kIpHash);
PORTICO_BALANCER_BENCH(hash, Method::kHash);
PORTICO_BALANCER_BENCH(hash_consistent, Method::kHashConsistent);
PORTICO_BALANCER_BENCH(random, Method::kRandom);
PORTICO_BALANCER_BENCH(random_two, Method::kRandomTwo);

}  // namespace
}  // namespace portico::upstream

BENCHMARK_MAIN();
