// Micro benchmark: what limit_req and limit_conn cost per request in their zone tables
// (core/limit_zone.h): hash the key, find the slot, check and account with compare-and-swap;
// one key per thread (no sharing) and one key for every thread (all on one atomic word), over 1
// to 4 threads. There is no lock to wait on: contention shows only as CAS retries.
//
// Built with the tests when Google Benchmark is installed: `ninja -C build limit_zone_bench`.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "core/limit_zone.h"

namespace portico {
namespace {

constexpr uint64_t kT0 = 1'000'000'000;

LimitReqTable& req_table() {
  static LimitReqTable t(16384, 1'000'000'000, kT0);  // 1 MB zone, a rate that never refuses
  return t;
}

LimitConnTable& conn_table() {
  static LimitConnTable t(16384);
  return t;
}

void BM_LimitReq(benchmark::State& state) {
  const bool shared = state.range(0) != 0;
  const std::string key =
      shared ? std::string("\x7f\0\0\x01", 4) : "client-" + std::to_string(state.thread_index());
  uint64_t now = kT0;
  for (auto _ : state) {
    const uint64_t h = limit_key_hash(key);
    LimitReqTable::Slot* s = nullptr;
    uint64_t e = req_table().peek(h, now, &s);
    if (e <= 1'000'000) e = req_table().account(s, h, now, 1'000'000);
    benchmark::DoNotOptimize(e);
    ++now;
  }
}
BENCHMARK(BM_LimitReq)->Arg(0)->Arg(1)->ThreadRange(1, 4)->UseRealTime();

void BM_LimitConn(benchmark::State& state) {
  const bool shared = state.range(0) != 0;
  const std::string key =
      shared ? std::string("\x7f\0\0\x01", 4) : "client-" + std::to_string(state.thread_index());
  bool full = false;
  for (auto _ : state) {
    auto* slot = conn_table().acquire(limit_key_hash(key), 65535, &full);
    if (slot) LimitConnTable::release(slot);
    benchmark::DoNotOptimize(slot);
  }
}
BENCHMARK(BM_LimitConn)->Arg(0)->Arg(1)->ThreadRange(1, 4)->UseRealTime();

}  // namespace
}  // namespace portico

BENCHMARK_MAIN();
