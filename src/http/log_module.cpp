// The log module's directives (nginx's ngx_http_log_module): log_format and access_log; the
// log phase itself is http/access_log.cpp. Without an access_log at http level requests go to
// logs/access.log in the combined format, as nginx.
#include <cerrno>

#include <fmt/format.h>
#include "config/path.h"
#include "core/log.h"

#include <algorithm>
#include <cassert>
#include <map>

#include "core/strings.h"
#include "http/access_log.h"
#include "http/http_modules.h"
#include "http/level.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

// Formats by name, while the http{} block is built.
struct LogMainConf : ModuleConfOf<LogMainConf> {
  static Module& module() { return log_module; }
  std::map<std::string, const LogFormat*, std::less<>> formats;
};

// One LogFile per path for the whole snapshot (several access_log lines may name it).
std::shared_ptr<LogFile> log_file(Level& lv, const std::string& path, size_t buffer,
                                  uint64_t flush_ms = 0, int gzip = 0) {
  std::string e;
  return lv.host().log_files().get(path, buffer, lv.workers(), &e, flush_ms, gzip);
}

// error_log FILE|stderr [LEVEL] at http, server or location level: the messages of requests
// that run there (http/phases.cpp sets the scope). Several lines add targets; a level's own
// lines replace what it inherited.
void set_error_log(Level& lv, const Directive& d) {
  const auto& a = d.args;
  auto set = std::make_shared<ErrorLogSet>();
  if (!lv.first(d) && lv.loc.error_log) *set = *lv.loc.error_log;
  ErrorLogSet::Target t;
  if (a.size() > 2) return lv.error(d, "invalid number of arguments in \"error_log\" directive");
  if (a.size() == 2 && !parse_log_level(a[1], &t.level))
    return lv.error(d, fmt::format("invalid log level \"{}\"", a[1]));
  if (a[0].starts_with("memory:")) return lv.error(d, "nginx was built without debug support");
  if (a[0].starts_with("syslog:"))
    return lv.error(d, "syslog error logs are not supported by portico");
  if (a[0] != "stderr") {
    std::string path = config::resolve_path(lv.prefix(), a[0]);
    t.file = log_file(lv, path, 0);
    if (!t.file)
      return lv.error(d, fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)));
  }
  set->targets.push_back(std::move(t));
  set->max = std::max(set->max, set->targets.back().level);
  lv.loc.error_log = std::move(set);
}

// open_log_file_cache max=N [inactive=time] [min_uses=N] [valid=time] | off
void set_open_log_file_cache(Level& lv, const Directive& d) {
  const auto& a = d.args;
  if (a[0] == "off") {
    if (a.size() > 1) lv.error(d, fmt::format("invalid value \"{}\"", a[1]));
    lv.loc.open_log_cache.reset();
    return;
  }
  OpenLogCache::Params p;
  bool have_max = false;
  for (const std::string& x : a) {
    std::string_view v = x;
    uint64_t n = 0;
    if (v.starts_with("max=")) {
      auto m = parse_uint(v.substr(4));
      if (!m || *m == 0) return lv.error(d, fmt::format("invalid \"max\" value \"{}\"", x));
      p.max = size_t(*m);
      have_max = true;
    } else if (v.starts_with("inactive=")) {
      if (!lv.msec(d, v.substr(9), &n)) return;
      p.inactive_ms = n;
    } else if (v.starts_with("min_uses=")) {
      auto m = parse_uint(v.substr(9));
      if (!m || *m > UINT32_MAX)
        return lv.error(d, fmt::format("invalid \"min_uses\" value \"{}\"", x));
      p.min_uses = uint32_t(*m);
    } else if (v.starts_with("valid=")) {
      if (!lv.msec(d, v.substr(6), &n)) return;
      p.valid_ms = n;
    } else {
      return lv.error(d, fmt::format("invalid \"open_log_file_cache\" parameter \"{}\"", x));
    }
  }
  if (!have_max) {
    lv.error(d, "\"open_log_file_cache\" must have \"max\" parameter");
    return;
  }
  lv.loc.open_log_cache = std::make_shared<OpenLogCache>(p, lv.workers());
}

void build_log_format(Level& lv, LogMainConf& mc, const Directive& d) {
  auto f = std::make_unique<LogFormat>();
  f->name = d.args[0];
  size_t i = 1;
  if (d.args.size() > 2 && d.args[1].rfind("escape=", 0) == 0) {
    std::string_view e = std::string_view(d.args[1]).substr(7);
    if (e == "json")
      f->escape = LogFormat::Escape::kJson;
    else if (e == "none")
      f->escape = LogFormat::Escape::kNone;
    else if (e != "default") {
      lv.error(d, fmt::format("unknown log format escaping \"{}\"", e));
      return;
    }
    i = 2;
  }
  std::string text;
  for (; i < d.args.size(); ++i) text += d.args[i];
  if (f->name == "combined" || mc.formats.count(f->name)) {
    lv.error(d, fmt::format("duplicate \"log_format\" name \"{}\"", f->name));
    return;
  }
  if (!lv.value(d, text, &f->value)) return;
  mc.formats[f->name] = f.get();
  lv.http().log_formats.push_back(std::move(f));
}

void set_access_log(Level& lv, const Directive& d) {
  const auto& a = d.args;
  LogMainConf& mc = lv.main_conf<LogMainConf>();
  if (lv.first(d)) lv.loc.access_logs.clear();
  if (a[0] == "off") {
    lv.loc.access_logs.clear();
    return;
  }
  AccessLog al;
  std::string fmtname = a.size() > 1 ? a[1] : "combined";
  if (a[0].starts_with("syslog:")) {
    lv.error(d, "syslog access logs are not supported by portico");
    return;
  }
  auto it = mc.formats.find(fmtname);
  if (it == mc.formats.end()) {
    lv.error(d, fmt::format("unknown log format \"{}\"", fmtname));
    return;
  }
  al.format = it->second;
  uint64_t buffer = 0, flush_ms = 0;
  int gzip = 0;
  for (size_t i = 2; i < a.size(); ++i) {
    if (a[i].rfind("buffer=", 0) == 0) {
      if (!lv.size(d, std::string_view(a[i]).substr(7), &buffer)) return;
    } else if (a[i].rfind("flush=", 0) == 0) {
      if (!lv.msec(d, std::string_view(a[i]).substr(6), &flush_ms)) return;
    } else if (a[i] == "gzip") {
      gzip = 1;  // zlib's fastest, nginx's default
    } else if (a[i].rfind("gzip=", 0) == 0) {
      auto lvl = parse_uint(std::string_view(a[i]).substr(5));
      if (!lvl || *lvl < 1 || *lvl > 9) {
        lv.error(d, fmt::format("invalid compression level \"{}\"", a[i].substr(5)));
        return;
      }
      gzip = int(*lvl);
    } else if (a[i].rfind("if=", 0) == 0) {
      auto cv = std::make_shared<ComplexValue>();
      if (!lv.value(d, std::string_view(a[i]).substr(3), cv.get())) return;
      al.cond = std::move(cv);
    } else {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a[i]));
      return;
    }
  }
  if (flush_ms && !buffer && !gzip) {
    lv.error(d, fmt::format("no buffer is defined for access_log \"{}\"", a[0]));
    return;
  }
  if (gzip && !buffer) buffer = 64 * 1024;  // nginx's default buffer for gzip
  if (a[0].find('$') != std::string::npos) {
    if (buffer) {
      lv.error(d, "buffered logs cannot have variables in name");
      return;
    }
    auto cv = std::make_shared<ComplexValue>();
    if (!lv.value(d, a[0], cv.get())) return;
    al.path = std::move(cv);
    lv.loc.access_logs.push_back(al);
    return;
  }
  std::string path = config::resolve_path(lv.prefix(), a[0]);
  al.file = log_file(lv, path, buffer, flush_ms, gzip);
  if (!al.file) {
    lv.error(d, fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)));
    return;
  }
  lv.loc.access_logs.push_back(al);
}

void begin_http(Level& lv, const Directive& http) {
  LogMainConf& mc = lv.main_conf<LogMainConf>();
  auto combined = std::make_unique<LogFormat>();
  combined->name = "combined";
  Status st = ComplexValue::compile(kCombinedFormat, lv.vars(), &combined->value);
  assert(st);
  mc.formats["combined"] = combined.get();
  lv.http().log_formats.push_back(std::move(combined));
  for (const auto& d : http.block)
    if (d.name == "log_format") build_log_format(lv, mc, d);
}

// The default access log, for an http block without access_log.
void finish_level(Level& lv) {
  if (lv.context != kHttp || lv.used("access_log")) return;
  std::string path = config::resolve_path(lv.prefix(), "logs/access.log");
  auto f = log_file(lv, path, 0);
  if (!f) {
    lv.host().error("", 0, fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)));
    return;
  }
  lv.loc.access_logs.push_back(AccessLog{f, lv.main_conf<LogMainConf>().formats["combined"]});
}

const Command kCommands[] = {
    {{"log_format", kHttp, 2, kAnyArgs, BlockKind::kNone, 0, false}, nullptr, When::kBuilder},
    {{"access_log", kHSLI | config::kLimitExcept, 1, kAnyArgs, BlockKind::kNone, 0, false},
     set_access_log},
    {{"error_log", kHSL, 1, 2, BlockKind::kNone, 0, false}, set_error_log},
    {{"open_log_file_cache", kHSL, 1, 4, BlockKind::kNone, 0, true}, set_open_log_file_cache},
};

}  // namespace

Module log_module = {.name = "log",
                     .commands = kCommands,
                     .create_main_conf = create_conf<LogMainConf>,
                     .begin_http = begin_http,
                     .finish_level = finish_level};

}  // namespace portico::http
