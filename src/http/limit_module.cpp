// nginx's limit_req and limit_conn modules: request rate (leaky bucket with burst, nodelay,
// delay=) and concurrent requests per key, in zones shared by every worker thread.
//
// A zone is a lock-free table (core/limit_zone.h) owned by the http snapshot; a reload that
// declares the same zone (name, key, size, rate) keeps its table, so limits survive it as
// nginx's shared memory does. Per request: the key is evaluated into a thread-local buffer,
// hashed, and the table is read and updated with compare-and-swap on the key's slot: no lock,
// no allocation. A location without limit_req/limit_conn costs two emptiness tests.
//
// In the preaccess phase, after realip (so $binary_remote_addr is the real client) and before
// allow/deny, as nginx: limit_req first, then limit_conn. A delayed request waits on its
// connection's timer (Step::delay()), not in a blocked worker.
#include <time.h>

#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "core/limit_zone.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/http_modules.h"
#include "http/level.h"
#include "http/phases.h"
#include "http/request.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

// $limit_req_status / $limit_conn_status values (Request::limit_req_status ...).
enum : uint8_t { kReqPassed = 1, kReqDelayed, kReqRejected, kReqDelayedDry, kReqRejectedDry };
enum : uint8_t { kConnPassed = 1, kConnRejected, kConnRejectedDry };

constexpr uint64_t kMinZoneSize = 32768;  // nginx: 8 pages
constexpr uint64_t kBytesPerState = 64;   // nginx: 1 MB holds about 16,000 64-byte states
constexpr uint64_t kNoDelay = UINT64_MAX;

struct Zone {
  std::string name;
  bool req = false;
  uint64_t size = 0;
  std::string key_text;
  ComplexValue key;
  uint64_t rate = 0;  // limit_req: requests per 1000 s
  std::shared_ptr<LimitReqTable> req_table;
  std::shared_ptr<LimitConnTable> conn_table;
};

struct LimitMainConf : ModuleConfOf<LimitMainConf> {
  static Module& module();
  // Zones by name; shared so that a copy of the conf (never made) could not double-free.
  std::map<std::string, std::shared_ptr<Zone>, std::less<>> req_zones, conn_zones;
};

struct ReqLimit {
  const Zone* zone;
  uint64_t burst;  // millirequests
  uint64_t delay;  // millirequests; kNoDelay: nodelay
};

struct ConnLimit {
  const Zone* zone;
  uint32_t conn;
};

struct LimitConf : ModuleConfOf<LimitConf> {
  static Module& module();
  std::vector<ReqLimit> reqs;
  int req_status = 503;
  LogLevel req_log = LogLevel::kError;
  bool req_dry_run = false;
  std::vector<ConnLimit> conns;
  int conn_status = 503;
  LogLevel conn_log = LogLevel::kError;
  bool conn_dry_run = false;
};

// The clock of TimeCache::now_ms(), read directly: zones are built on the control thread.
uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// ---- zones (built before the levels: limit_req may name a zone defined further down) ----

bool parse_zone_arg(Level& lv, const Directive& d, std::string_view arg, Zone* z) {
  std::string_view v = arg.substr(5);
  const size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    lv.error(d, fmt::format("invalid zone size \"{}\"", arg));
    return false;
  }
  z->name.assign(v.substr(0, colon));
  auto size = parse_size(v.substr(colon + 1));
  if (!size) {
    lv.error(d, fmt::format("invalid zone size \"{}\"", arg));
    return false;
  }
  if (*size < kMinZoneSize) {
    lv.error(d, fmt::format("zone \"{}\" is too small", arg));
    return false;
  }
  z->size = *size;
  return true;
}

bool parse_rate(std::string_view v, uint64_t* rate) {
  // "Nr/s" or "Nr/m": requests per 1000 s, as nginx keeps them.
  uint64_t scale = 0;
  if (v.size() > 3 && v.substr(v.size() - 3) == "r/s")
    scale = 1;
  else if (v.size() > 3 && v.substr(v.size() - 3) == "r/m")
    scale = 60;
  if (!scale) return false;
  auto n = parse_uint(v.substr(0, v.size() - 3));
  if (!n || *n == 0 || *n > 1'000'000'000) return false;
  *rate = *n * 1000 / scale;
  return *rate > 0;
}

// The previous snapshot's zone of that name when it can be kept (same key, size, rate).
std::shared_ptr<Zone> previous_zone(Level& lv, const Zone& z) {
  const HttpConf* prev = lv.previous();
  if (!prev) return nullptr;
  const auto* mc = prev->main_conf<LimitMainConf>();
  if (!mc) return nullptr;
  const auto& zones = z.req ? mc->req_zones : mc->conn_zones;
  auto it = zones.find(z.name);
  if (it == zones.end()) return nullptr;
  const Zone& o = *it->second;
  if (o.size != z.size || o.key_text != z.key_text || o.rate != z.rate) return nullptr;
  return it->second;
}

void build_zone(Level& lv, const Directive& d, bool req) {
  auto z = std::make_shared<Zone>();
  z->req = req;
  bool have_zone = false, have_rate = false;
  for (size_t i = 1; i < d.args.size(); ++i) {
    std::string_view a = d.args[i];
    if (a.substr(0, 5) == "zone=") {
      if (!parse_zone_arg(lv, d, a, z.get())) return;
      have_zone = true;
    } else if (req && a.substr(0, 5) == "rate=") {
      if (!parse_rate(a.substr(5), &z->rate)) {
        lv.error(d, fmt::format("invalid rate \"{}\"", a));
        return;
      }
      have_rate = true;
    } else if (req && a == "sync") {
      // nginx Plus: zone synchronisation between instances; one instance here.
    } else {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a));
      return;
    }
  }
  if (!have_zone) {
    lv.error(d, fmt::format("\"{}\" must have \"zone\" parameter", d.name));
    return;
  }
  if (req && !have_rate) z->rate = 1000;  // nginx's default: 1r/s
  z->key_text = d.args[0];
  if (!lv.value(d, d.args[0], &z->key)) return;
  auto& zones =
      req ? lv.main_conf<LimitMainConf>().req_zones : lv.main_conf<LimitMainConf>().conn_zones;
  if (auto it = zones.find(z->name); it != zones.end()) {
    lv.error(d, fmt::format("{} \"{}\" is already bound to key \"{}\"", d.name, z->name,
                            it->second->key_text));
    return;
  }
  const size_t slots = size_t(z->size / kBytesPerState);
  if (auto prev = previous_zone(lv, *z)) {
    z->req_table = prev->req_table;
    z->conn_table = prev->conn_table;
  } else if (req) {
    z->req_table = std::make_shared<LimitReqTable>(slots, z->rate, monotonic_ms());
  } else {
    z->conn_table = std::make_shared<LimitConnTable>(slots);
  }
  zones.emplace(z->name, std::move(z));
}

void begin_http(Level& lv, const Directive& http) {
  for (const auto& d : http.block) {
    if (d.name == "limit_req_zone") build_zone(lv, d, true);
    if (d.name == "limit_conn_zone") build_zone(lv, d, false);
  }
}

const Zone* find_zone(Level& lv, const Directive& d, std::string_view name, bool req) {
  const auto& zones =
      req ? lv.main_conf<LimitMainConf>().req_zones : lv.main_conf<LimitMainConf>().conn_zones;
  auto it = zones.find(name);
  if (it != zones.end()) return it->second.get();
  lv.error(d, fmt::format("zero size shared memory zone \"{}\"", name));
  return nullptr;
}

// ---- location directives ----

void set_limit_req(Level& lv, const Directive& d) {
  auto& c = lv.conf<LimitConf>();
  if (lv.first(d)) c.reqs.clear();
  ReqLimit l{nullptr, 0, 0};
  std::string_view zone;
  for (std::string_view a : d.args) {
    if (a.substr(0, 5) == "zone=") {
      zone = a.substr(5);
    } else if (a.substr(0, 6) == "burst=") {
      auto v = parse_uint(a.substr(6));
      if (!v || *v == 0 || *v >= LimitReqTable::kMaxExcess / 1000) {
        lv.error(d, fmt::format("invalid burst value \"{}\"", a));
        return;
      }
      l.burst = *v * 1000;
    } else if (a.substr(0, 6) == "delay=") {
      auto v = parse_uint(a.substr(6));
      if (!v || *v == 0 || *v >= LimitReqTable::kMaxExcess / 1000) {
        lv.error(d, fmt::format("invalid delay value \"{}\"", a));
        return;
      }
      l.delay = *v * 1000;
    } else if (a == "nodelay") {
      l.delay = kNoDelay;
    } else {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a));
      return;
    }
  }
  if (zone.empty()) {
    lv.error(d, "\"limit_req\" must have \"zone\" parameter");
    return;
  }
  l.zone = find_zone(lv, d, zone, true);
  if (!l.zone) return;
  for (const auto& o : c.reqs)
    if (o.zone == l.zone) {
      lv.error(d, "\"limit_req\" directive is duplicate");  // nginx's words
      return;
    }
  c.reqs.push_back(l);
}

void set_limit_conn(Level& lv, const Directive& d) {
  auto& c = lv.conf<LimitConf>();
  if (lv.first(d)) c.conns.clear();
  const Zone* z = find_zone(lv, d, d.args[0], false);
  if (!z) return;
  auto n = parse_uint(d.args[1]);
  if (!n || *n == 0) {
    lv.error(d, fmt::format("invalid number of connections \"{}\"", d.args[1]));
    return;
  }
  if (*n > 65535) {
    lv.error(d, "connection limit must be less 65536");
    return;
  }
  for (const auto& o : c.conns)
    if (o.zone == z) {
      lv.error(d, "\"limit_conn\" directive is duplicate");
      return;
    }
  c.conns.push_back({z, uint32_t(*n)});
}

bool parse_status(Level& lv, const Directive& d, int* out) {
  auto v = parse_uint(d.args[0]);
  if (!v || *v < 400 || *v > 599) {
    lv.error(d, "value must be between 400 and 599");
    return false;
  }
  *out = int(*v);
  return true;
}

bool parse_level(Level& lv, const Directive& d, LogLevel* out) {
  static const std::pair<std::string_view, LogLevel> kLevels[] = {{"info", LogLevel::kInfo},
                                                                  {"notice", LogLevel::kNotice},
                                                                  {"warn", LogLevel::kWarn},
                                                                  {"error", LogLevel::kError}};
  for (const auto& [n, l] : kLevels)
    if (d.args[0] == n) {
      *out = l;
      return true;
    }
  lv.error(d, fmt::format("invalid value \"{}\"", d.args[0]));
  return false;
}

void set_req_status(Level& lv, const Directive& d) {
  parse_status(lv, d, &lv.conf<LimitConf>().req_status);
}
void set_conn_status(Level& lv, const Directive& d) {
  parse_status(lv, d, &lv.conf<LimitConf>().conn_status);
}
void set_req_log(Level& lv, const Directive& d) {
  parse_level(lv, d, &lv.conf<LimitConf>().req_log);
}
void set_conn_log(Level& lv, const Directive& d) {
  parse_level(lv, d, &lv.conf<LimitConf>().conn_log);
}
void set_req_dry(Level& lv, const Directive& d) {
  lv.flag(d, &lv.conf<LimitConf>().req_dry_run);
}
void set_conn_dry(Level& lv, const Directive& d) {
  lv.flag(d, &lv.conf<LimitConf>().conn_dry_run);
}

// Evaluates a zone's key into `key`: false when it is empty or too long (then not limited).
bool eval_key(Request& r, const Zone& z, std::string& key, size_t max) {
  key.clear();
  z.key.eval(r, key);
  if (key.empty()) return false;
  if (key.size() > max) {
    PORTICO_LOG(LogLevel::kError, r.conn->id(),
                "the value of the \"{}\" key is more than {} bytes: \"{}\"{}", z.key_text, max, key,
                log_context(r));
    return false;
  }
  return true;
}

void log_excess(Request& r, LogLevel level, std::string_view what, bool dry, uint64_t excess,
                const Zone& z) {
  PORTICO_LOG(level, r.conn->id(), "{}{}, excess: {}.{:03}{} by zone \"{}\"{}", what,
              dry ? ", dry run" : "", excess / 1000, excess % 1000,
              what == "delaying request" ? "," : "", z.name, log_context(r));
}

// nginx's ngx_http_limit_req_handler: every limit is checked first (read-only), then, when
// none refuses, each is accounted; the longest delay any of them asks for applies.
Step limit_req(Request& r) {
  const auto& c = r.loc->conf<LimitConf>();
  if (c.reqs.empty() || r.limit_req_status) return Step::next();
  // Per-limit scratch, reused by the thread: no allocation per request once warm.
  thread_local std::vector<LimitReqTable::Slot*> slots;
  thread_local std::vector<uint64_t> hashes;
  thread_local std::vector<uint8_t> used;
  thread_local std::string key;
  const size_t n = c.reqs.size();
  slots.resize(n);
  hashes.resize(n);
  used.assign(n, 0);
  const uint64_t now = TimeCache::local().now_ms();
  for (size_t i = 0; i < n; ++i) {
    const ReqLimit& l = c.reqs[i];
    if (!eval_key(r, *l.zone, key, 65535)) continue;
    hashes[i] = limit_key_hash(key);
    const uint64_t excess = l.zone->req_table->peek(hashes[i], now, &slots[i]);
    if (excess > l.burst) {
      log_excess(r, c.req_log, "limiting requests", c.req_dry_run, excess, *l.zone);
      r.limit_req_status = c.req_dry_run ? kReqRejectedDry : kReqRejected;
      return c.req_dry_run ? Step::next() : Step::status(c.req_status);
    }
    used[i] = 1;
  }
  uint64_t max_delay = 0, delay_excess = 0;
  const Zone* delay_zone = nullptr;
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    if (!used[i]) continue;
    any = true;
    const ReqLimit& l = c.reqs[i];
    const uint64_t excess = l.zone->req_table->account(slots[i], hashes[i], now, l.burst);
    if (excess > l.burst) {  // another worker took the last room since the check
      log_excess(r, c.req_log, "limiting requests", c.req_dry_run, excess, *l.zone);
      r.limit_req_status = c.req_dry_run ? kReqRejectedDry : kReqRejected;
      return c.req_dry_run ? Step::next() : Step::status(c.req_status);
    }
    if (l.delay == kNoDelay || excess <= l.delay) continue;
    const uint64_t d = (excess - l.delay) * 1000 / l.zone->rate;
    if (d > max_delay) {
      max_delay = d;
      delay_excess = excess;
      delay_zone = l.zone;
    }
  }
  if (!any) return Step::next();
  if (max_delay == 0) {
    r.limit_req_status = kReqPassed;
    return Step::next();
  }
  // nginx logs a delay one level below a refusal (info stays info).
  const LogLevel delay_level =
      c.req_log == LogLevel::kInfo ? LogLevel::kInfo : LogLevel(uint8_t(c.req_log) + 1);
  log_excess(r, delay_level, "delaying request", c.req_dry_run, delay_excess, *delay_zone);
  if (c.req_dry_run) {
    r.limit_req_status = kReqDelayedDry;
    return Step::next();
  }
  r.limit_req_status = kReqDelayed;
  r.delay_ms = max_delay;
  return Step::delay();
}

// nginx's ngx_http_limit_conn_handler: each limit counts the request in until it ends.
Step limit_conn(Request& r) {
  const auto& c = r.loc->conf<LimitConf>();
  if (c.conns.empty() || r.limit_conn_status) return Step::next();
  thread_local std::string key;
  for (const ConnLimit& l : c.conns) {
    if (!eval_key(r, *l.zone, key, 255)) continue;
    r.limit_conn_status = kConnPassed;
    bool full = false;
    std::atomic<uint64_t>* slot = l.zone->conn_table->acquire(limit_key_hash(key), l.conn, &full);
    if (slot) {
      r.conn_holds.push_back(slot);
      continue;
    }
    if (full) {
      PORTICO_LOG(LogLevel::kAlert, r.conn->id(),
                  "could not allocate node in limit_conn zone \"{}\"", l.zone->name);
    } else {
      PORTICO_LOG(c.conn_log, r.conn->id(), "limiting connections{} by zone \"{}\"{}",
                  c.conn_dry_run ? ", dry run," : "", l.zone->name, log_context(r));
    }
    for (std::atomic<uint64_t>* h : r.conn_holds) LimitConnTable::release(h);
    r.conn_holds.clear();
    r.limit_conn_status = c.conn_dry_run ? kConnRejectedDry : kConnRejected;
    return c.conn_dry_run ? Step::next() : Step::status(c.conn_status);
  }
  return Step::next();
}

Step preaccess(Request& r) {
  if (const Step s = limit_req(r); !s.is(Step::Kind::kNext)) return s;
  return limit_conn(r);
}

bool var_req_status(Request& r, const VarRef&, std::string& out) {
  static constexpr std::string_view kNames[] = {"",         "PASSED",          "DELAYED",
                                                "REJECTED", "DELAYED_DRY_RUN", "REJECTED_DRY_RUN"};
  if (!r.limit_req_status) return false;
  out += kNames[r.limit_req_status];
  return true;
}

bool var_conn_status(Request& r, const VarRef&, std::string& out) {
  static constexpr std::string_view kNames[] = {"", "PASSED", "REJECTED", "REJECTED_DRY_RUN"};
  if (!r.limit_conn_status) return false;
  out += kNames[r.limit_conn_status];
  return true;
}

const VariableDef kVariables[] = {
    {"limit_req_status", var_req_status},
    {"limit_conn_status", var_conn_status},
};

const Command kCommands[] = {
    {{"limit_req_zone", kHttp, 3, 4, BlockKind::kNone, 0, false}, nullptr, When::kBuilder},
    {{"limit_conn_zone", kHttp, 2, 2, BlockKind::kNone, 0, false}, nullptr, When::kBuilder},
    {{"limit_req", kHSL, 1, 3, BlockKind::kNone, 0, false}, set_limit_req},
    {{"limit_req_status", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_req_status},
    {{"limit_req_log_level", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_req_log},
    {{"limit_req_dry_run", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_req_dry},
    {{"limit_conn", kHSL, 2, 2, BlockKind::kNone, 0, false}, set_limit_conn},
    {{"limit_conn_status", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_conn_status},
    {{"limit_conn_log_level", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_conn_log},
    {{"limit_conn_dry_run", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_conn_dry},
};

}  // namespace

Module limit_module = {.name = "limit",
                       .commands = kCommands,
                       .variables = kVariables,
                       .create_conf = create_conf<LimitConf>,
                       .create_main_conf = create_conf<LimitMainConf>,
                       .begin_http = begin_http,
                       .preaccess = preaccess};

Module& LimitMainConf::module() {
  return limit_module;
}
Module& LimitConf::module() {
  return limit_module;
}

}  // namespace portico::http
