// RateLimit: the response pace of limit_rate / limit_rate_after (see the header).
#include "http/limit_rate.h"

#include <algorithm>

#include "core/strings.h"
#include "http/request.h"

namespace portico::http {

uint64_t RateLimit::allowance(uint64_t elapsed_ms, uint64_t sent, uint64_t* delay_ms) const {
  // Budget at this instant: `after` and one second's worth at once (as nginx's
  // rate * (elapsed + 1)), then `rate` per second (no overflow for rates up to 2^40 B/s over a
  // year).
  const uint64_t budget = after + rate + rate * elapsed_ms / 1000;
  const uint64_t granule = std::clamp<uint64_t>(rate / 8, 1, 16384);
  const uint64_t avail = budget > sent ? budget - sent : 0;
  // Wait for a whole granule (inside `after` the allowance is always more than one).
  if (avail >= granule) return avail;
  const uint64_t need = granule - std::min(avail, granule);
  *delay_ms = std::max<uint64_t>(1, (need * 1000 + rate - 1) / rate);
  return 0;
}

namespace {

uint64_t eval_size(Request& r, const ComplexValue& cv) {
  thread_local std::string text;
  text.clear();
  cv.eval(r, text);
  auto v = parse_size(text);
  return v ? *v : 0;  // an empty or invalid value: unlimited (nginx's default of 0)
}

}  // namespace

void begin_rate_limit(Request& r) {
  if (r.rate.evaluated || !r.loc) return;
  r.rate.evaluated = true;
  const LocationConf& l = *r.loc;
  if (l.has_limit_rate && !r.rate.rate_set) r.rate.rate = eval_size(r, l.limit_rate);
  if (l.has_limit_rate_after && !r.rate.after_set) r.rate.after = eval_size(r, l.limit_rate_after);
}

}  // namespace portico::http
