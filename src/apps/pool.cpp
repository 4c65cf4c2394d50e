#include "apps/pool.h"

#include <algorithm>
#include <charconv>

namespace portico::apps {

const char* recycle_reason(const AppConf& c, const ProcessFigures& f) {
  if (c.max_requests && f.requests >= c.max_requests) return "max_requests";
  if (c.memory_limit_kb && f.pss_kb > c.memory_limit_kb) return "memory_limit";
  if (c.max_lifetime_ms && f.ready_for_ms >= c.max_lifetime_ms) return "max_lifetime";
  return nullptr;
}

uint32_t next_target(const AppConf& c, uint32_t min_instances, const PoolFigures& f) {
  const uint32_t max = std::max(c.max_instances, min_instances);
  uint32_t target = std::clamp(f.target, min_instances, max);
  const bool all_busy = f.ready > 0 && f.busy >= f.ready;
  if ((f.waiting > 0 || all_busy) && f.starting == 0 && target < max &&
      f.ready + f.starting >= target)
    ++target;
  return target;
}

namespace {

bool field_kb(std::string_view text, std::string_view name, uint64_t* out) {
  size_t at = 0;
  while ((at = text.find(name, at)) != std::string_view::npos) {
    if (at == 0 || text[at - 1] == '\n') break;
    at += name.size();
  }
  if (at == std::string_view::npos) return false;
  size_t i = at + name.size();
  while (i < text.size() && text[i] == ' ') ++i;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
  if (ec != std::errc()) return false;
  *out = v;
  return true;
}

}  // namespace

bool parse_smaps_rollup(std::string_view text, uint64_t* rss_kb, uint64_t* pss_kb) {
  const bool rss = field_kb(text, "Rss:", rss_kb);
  const bool pss = field_kb(text, "Pss:", pss_kb);
  return rss || pss;
}

bool parse_stat_cpu_ticks(std::string_view text, uint64_t* ticks) {
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) return false;
  std::string_view rest = text.substr(close + 1);
  // rest: " S ppid ..." -- field 3 is the first; utime is field 14, stime 15.
  uint64_t vals[2] = {0, 0};
  int field = 2;
  size_t i = 0;
  while (i < rest.size() && field < 15) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ') ++j;
    ++field;
    if (field == 14 || field == 15) {
      auto [end, ec] = std::from_chars(rest.data() + i, rest.data() + j, vals[field - 14]);
      if (ec != std::errc() || end != rest.data() + j) return false;
    }
    i = j;
  }
  if (field < 15) return false;
  *ticks = vals[0] + vals[1];
  return true;
}

}  // namespace portico::apps
