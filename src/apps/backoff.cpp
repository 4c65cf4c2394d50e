#include "apps/backoff.h"

#include <cmath>

namespace portico::apps {

uint64_t backoff_delay_ms(const BackoffPolicy& p, uint32_t failures) {
  if (failures == 0) return 0;
  const double factor = p.factor < 1.0 ? 1.0 : p.factor;
  double d = double(p.initial_ms);
  for (uint32_t i = 1; i < failures && d < double(p.max_ms); ++i) d *= factor;
  if (d > double(p.max_ms)) d = double(p.max_ms);
  return uint64_t(std::llround(d));
}

uint32_t next_failures(const BackoffPolicy& p, uint32_t failures, bool was_ready,
                       uint64_t ready_for_ms) {
  if (was_ready && ready_for_ms >= p.reset_after_ms) return 1;
  return failures == UINT32_MAX ? failures : failures + 1;
}

}  // namespace portico::apps
