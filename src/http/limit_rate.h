// RateLimit: the pace of one response (limit_rate, limit_rate_after, $limit_rate,
// X-Accel-Limit-Rate; nginx's r->limit_rate in ngx_http_write_filter). The codec asks it how
// many body bytes may go out now; when none, it waits on the worker's timer for the delay it
// names and never blocks. The budget grows linearly from the request's start: `after` bytes and
// one second's worth at once (as nginx), then `rate` bytes per second. Writes are batched into
// granules (1/8 s of the rate, at most 16 KiB) so a slow rate wakes the worker a few times a
// second, not at every tick.
//
// Lives in the pooled http::Request; worker thread only. A zero rate (the default) is never
// consulted: the codecs test `rate` first, so limit_rate off costs one branch per write.
#pragma once

#include <cstdint>

namespace portico::http {

struct Request;

struct RateLimit {
  uint64_t rate = 0;      // bytes per second; 0: unlimited
  uint64_t after = 0;     // bytes sent at full speed first
  bool rate_set = false;  // decided (X-Accel-Limit-Rate, `set $limit_rate`): config is not read
  bool after_set = false;
  bool evaluated = false;  // the location's values were read for this response

  // Body bytes that may be sent now, `sent` having gone already, `elapsed_ms` after the start.
  // 0: nothing now; then *delay_ms (>= 1) says when to ask again. REQUIRES: rate > 0.
  uint64_t allowance(uint64_t elapsed_ms, uint64_t sent, uint64_t* delay_ms) const;

  void clear() { *this = RateLimit{}; }
};

// Reads the location's limit_rate and limit_rate_after (complex values) into r.rate unless they
// were decided already; once per response, when its head is ready. No-op without them.
void begin_rate_limit(Request& r);

}  // namespace portico::http
