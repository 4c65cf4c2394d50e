// WorkerStats: one worker's traffic counters, for `portico_status` and `portico_metrics`
// (server/status_module.cpp). Single writer: only the owning worker thread changes them, with
// a relaxed load and store (a plain add, no locked instruction, no cache line shared with
// another worker); any thread may read them (relaxed) for a status page. Monotonic except
// `active`.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "tls/stats.h"

namespace portico::http {

struct alignas(64) WorkerStats {
  std::atomic<uint64_t> accepted{0};  // connections accepted
  std::atomic<uint64_t> active{0};    // connections open now
  std::atomic<uint64_t> requests{0};  // requests finished (logged or not)
  // Responses by class: [0] other (no status: the client went away), [1] 1xx ... [5] 5xx.
  std::array<std::atomic<uint64_t>, 6> responses{};
  tls::Stats tls;  // the TLS handshakes of this worker's connections (http and stream)

  static void bump(std::atomic<uint64_t>& c, int64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + uint64_t(by), std::memory_order_relaxed);
  }
  void count_response(int status) {
    bump(requests);
    bump(responses[status >= 100 && status < 600 ? size_t(status / 100) : 0]);
  }
};

}  // namespace portico::http
