#include "tls/stats.h"

namespace portico::tls {

namespace {
thread_local Stats* t_bound = nullptr;
}  // namespace

void Stats::bind(Stats* s) {
  t_bound = s;
}

Stats& Stats::local() {
  if (t_bound) [[likely]]
    return *t_bound;
  thread_local Stats unbound;
  return unbound;
}

}  // namespace portico::tls
