// The app pool's decisions as pure functions of figures the supervisor samples (apps/
// supervisor.cpp), unit-tested: when a process is recycled, when the pool grows or shrinks,
// and the /proc parsing behind the memory and CPU figures.
#pragma once

#include <cstdint>
#include <string_view>

#include "apps/app_conf.h"

namespace portico::apps {

// What the supervisor knows of one ready process.
struct ProcessFigures {
  uint64_t requests = 0;      // picked for it, in every group it serves
  uint64_t pss_kb = 0;        // 0: not sampled (yet)
  uint64_t ready_for_ms = 0;  // since it became ready
};

// Why `f`'s process is due to be replaced ("max_requests", "memory_limit", "max_lifetime"), or
// null. A recycled process keeps serving until its replacement is ready.
const char* recycle_reason(const AppConf& c, const ProcessFigures& f);

// What the supervisor knows of the whole pool, for scaling.
struct PoolFigures {
  uint32_t target = 0;    // processes the pool runs now (min <= target <= max)
  uint32_t ready = 0;     // ready processes of the current generation
  uint32_t starting = 0;  // current-generation processes not ready yet
  uint32_t busy = 0;      // ready processes at their concurrency limit (0 when unlimited)
  uint32_t waiting = 0;   // requests queued for the app in any worker
};

// The pool's next target: one more when requests wait (or every process is at its concurrency
// limit) and nothing is starting, up to max_instances (Passenger spawns on demand the same way);
// the same otherwise. Shrinking is per process, after idle_time (Supervisor).
uint32_t next_target(const AppConf& c, uint32_t min_instances, const PoolFigures& f);

// From /proc/PID/smaps_rollup: the Rss and Pss lines, in kB. False if neither is there.
bool parse_smaps_rollup(std::string_view text, uint64_t* rss_kb, uint64_t* pss_kb);

// From /proc/PID/stat: utime + stime (fields 14 and 15), in clock ticks. The command name
// (field 2) may hold spaces and parentheses: the fields are counted from the last ')'.
bool parse_stat_cpu_ticks(std::string_view text, uint64_t* ticks);

}  // namespace portico::apps
