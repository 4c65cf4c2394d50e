// The apps module's directives: `app NAME { ... }` (http), the Passenger location directives,
// and the binding of `server app:NAME` upstreams to their app. One Command row per directive.
#include "apps/directives.h"

#include <sys/stat.h>

#include <cctype>
#include <span>

#include <fmt/format.h>

#include "config/path.h"
#include "core/strings.h"
#include "http/level.h"
#include "http/request.h"
#include "proxy/directives.h"
#include "proxy/proxy_conf.h"

namespace portico::apps {

using config::BlockKind;
using config::ConfigError;
using config::Directive;
using http::Command;
using http::kHSL;
using http::Level;
using http::When;
using namespace config;  // context constants

namespace {

constexpr uint32_t kUnlimitedQueue = 65536;  // "0 = unlimited", still bounded
constexpr uint32_t kAppKeepalive = 64;       // idle connections per worker to an app's processes

void err(std::vector<ConfigError>& errors, const Directive& d, std::string msg) {
  errors.push_back({std::move(msg), d.file, d.line});
}

bool parse_ms(std::string_view v, uint64_t* out) {
  auto t = parse_time_ms(v);
  if (!t) return false;
  *out = *t;
  return true;
}

bool parse_count(std::string_view v, uint32_t* out, bool allow_zero = true) {
  auto n = parse_uint(v);
  if (!n || *n > 100000 || (!allow_zero && *n == 0)) return false;
  *out = uint32_t(*n);
  return true;
}

// `ready_check tcp` | `ready_check http URI`
bool parse_ready(std::span<const std::string> a, ReadyCheck* out) {
  if (a.size() == 1 && a[0] == "tcp") {
    out->kind = ReadyCheck::Kind::kTcp;
    out->uri.clear();
    return true;
  }
  if (a.size() == 2 && a[0] == "http" && !a[1].empty() && a[1][0] == '/') {
    out->kind = ReadyCheck::Kind::kHttp;
    out->uri = a[1];
    return true;
  }
  return false;
}

// KEY=VALUE parameters: `set(key, value)` applies one and says whether it was valid; the first
// that is not (or has no '=') goes to *bad.
template <typename Set>
bool parse_params(std::span<const std::string> a, std::string* bad, Set set) {
  for (const std::string& s : a) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos ||
        !set(std::string_view(s).substr(0, eq), std::string_view(s).substr(eq + 1))) {
      *bad = s;
      return false;
    }
  }
  return true;
}

// `liveness_check tcp|http URI [interval=T] [timeout=T] [fails=N]` | `liveness_check off`
bool parse_liveness(const std::vector<std::string>& a, LivenessCheck* out, std::string* bad) {
  if (a.size() == 1 && a[0] == "off") {
    out->on = false;
    return true;
  }
  size_t n = a.size();
  while (n > 0 && a[n - 1].find('=') != std::string::npos) --n;
  const std::span<const std::string> args(a);
  if (!parse_ready(args.first(n), &out->check)) {
    *bad = a.empty() ? std::string() : a[0];
    return false;
  }
  if (!parse_params(args.subspan(n), bad, [out](std::string_view key, std::string_view val) {
        if (key == "interval") return parse_ms(val, &out->interval_ms) && out->interval_ms > 0;
        if (key == "timeout") return parse_ms(val, &out->timeout_ms) && out->timeout_ms > 0;
        if (key != "fails") return false;
        auto f = parse_uint(val);
        if (!f || *f == 0 || *f > 1000) return false;
        out->fails = uint32_t(*f);
        return true;
      }))
    return false;
  out->on = true;
  return true;
}

bool parse_type(std::string_view v, AppType* out) {
  if (v == "node" || v == "nodejs")
    *out = AppType::kNode;
  else if (v == "python" || v == "wsgi")
    *out = AppType::kPython;
  else if (v == "generic")
    *out = AppType::kGeneric;
  else
    return false;
  return true;
}

// `socket` / `app_socket`: 0 tcp, 1 unix, -1 anything else.
int parse_socket(std::string_view v) {
  return v == "tcp" ? 0 : v == "unix" ? 1 : -1;
}

// backoff initial=100ms max=30s factor=2 reset_after=60s
bool parse_backoff(const std::vector<std::string>& a, BackoffPolicy* p, std::string* bad) {
  if (!parse_params(a, bad, [p](std::string_view key, std::string_view val) {
        if (key == "initial") return parse_ms(val, &p->initial_ms) && p->initial_ms > 0;
        if (key == "max") return parse_ms(val, &p->max_ms);
        if (key == "reset_after") return parse_ms(val, &p->reset_after_ms);
        if (key != "factor") return false;
        char* end = nullptr;
        const std::string v(val);
        const double f = std::strtod(v.c_str(), &end);
        if (!end || *end != '\0' || f < 1.0 || f > 100.0) return false;
        p->factor = f;
        return true;
      }))
    return false;
  if (p->max_ms < p->initial_ms) p->max_ms = p->initial_ms;
  return true;
}

}  // namespace

bool parse_memory_limit(std::string_view v, uint64_t* kb) {
  if (auto n = parse_uint(v)) {
    *kb = *n * 1024;  // Passenger: megabytes
    return *n < (uint64_t(1) << 40);
  }
  auto bytes = parse_size(v);
  if (!bytes) return false;
  *kb = *bytes / 1024;
  return true;
}

std::string restart_file(const std::string& root, const std::string& dir) {
  // Passenger: APP_ROOT/tmp/restart.txt; a relative passenger_restart_dir is under the app root.
  std::string d = dir.empty() ? "tmp" : dir;
  if (d[0] != '/') d = (root == "/" ? std::string() : root) + "/" + d;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + "/restart.txt";
}

std::string shell_words(const std::vector<std::string>& args) {
  // One argument is a shell command line as written; several are words, each kept whole
  // (double-quoted when it holds blanks or shell syntax), with $VAR still expanded.
  if (args.size() == 1) return args[0];
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty();
    for (char c : a)
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) ||
                        std::string_view("$_-./=:,+@%{}").find(c) != std::string_view::npos);
    if (plain) {
      out += a;
      continue;
    }
    out += '"';
    for (char c : a) {
      if (c == '"' || c == '\\' || c == '`') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

void parse_app_block(const Directive& d, const std::string& prefix, AppConf* c,
                     std::vector<ConfigError>& errors) {
  c->name = d.args[0];
  c->file = d.file;
  c->line = d.line;
  c->type = AppType::kGeneric;
  bool has_command = false, has_root = false;
  int socket = -1;  // unset: the type's default
  std::string restart_dir;
  for (const auto& x : d.block) {
    const auto& a = x.args;
    auto invalid = [&](const std::string& v) {
      err(errors, x, fmt::format("invalid value \"{}\" in \"{}\" directive", v, x.name));
    };
    auto nargs = [&](size_t lo, size_t hi) {
      if (a.size() >= lo && a.size() <= hi) return true;
      err(errors, x, fmt::format("invalid number of arguments in \"{}\" directive", x.name));
      return false;
    };
    if (x.name == "command") {
      if (!nargs(1, 1000)) continue;
      c->command = shell_words(a);
      has_command = true;
    } else if (x.name == "root") {
      if (nargs(1, 1)) c->root = config::resolve_path(prefix, a[0]);
      has_root = true;
    } else if (x.name == "type") {
      if (nargs(1, 1) && !parse_type(a[0], &c->type)) invalid(a[0]);
    } else if (x.name == "startup_file") {
      if (nargs(1, 1)) c->startup_file = a[0];
    } else if (x.name == "socket") {
      if (nargs(1, 1) && (socket = parse_socket(a[0])) < 0) invalid(a[0]);
    } else if (x.name == "instances") {
      if (!nargs(1, 2)) continue;
      if (!parse_count(a[0], &c->min_instances, false)) invalid(a[0]);
      if (a.size() == 2 &&
          (!parse_count(a[1], &c->max_instances, false) || c->max_instances < c->min_instances))
        invalid(a[1]);
    } else if (x.name == "concurrency") {
      if (nargs(1, 1) && !parse_count(a[0], &c->concurrency)) invalid(a[0]);
    } else if (x.name == "env") {
      if (nargs(2, 2)) c->env.emplace_back(a[0], a[1]);
    } else if (x.name == "app_env") {
      if (nargs(1, 1)) c->app_env = a[0];
    } else if (x.name == "user") {
      if (nargs(1, 1)) c->user = a[0];
    } else if (x.name == "group") {
      if (nargs(1, 1)) c->group = a[0];
    } else if (x.name == "start_timeout" || x.name == "stop_timeout" || x.name == "drain_timeout") {
      if (!nargs(1, 1)) continue;
      uint64_t* f = x.name == "start_timeout"  ? &c->start_timeout_ms
                    : x.name == "stop_timeout" ? &c->stop_timeout_ms
                                               : &c->drain_timeout_ms;
      if (!parse_ms(a[0], f)) invalid(a[0]);
    } else if (x.name == "liveness_check") {
      std::string bad;
      if (!parse_liveness(a, &c->liveness, &bad))
        err(errors, x, fmt::format("invalid parameter \"{}\" in \"liveness_check\"", bad));
    } else if (x.name == "ready_check") {
      if (!parse_ready(a, &c->ready))
        err(errors, x, "invalid \"ready_check\", expected \"tcp\" or \"http /URI\"");
    } else if (x.name == "stop_signal") {
      if (nargs(1, 1) && !(c->stop_signal = signal_by_name(a[0]))) invalid(a[0]);
    } else if (x.name == "backoff") {
      std::string bad;
      if (nargs(1, 4) && !parse_backoff(a, &c->backoff, &bad))
        err(errors, x, fmt::format("invalid parameter \"{}\"", bad));
    } else if (x.name == "log") {
      if (nargs(1, 1)) c->log_path = config::resolve_path(prefix, a[0]);
    } else if (x.name == "max_requests") {
      auto n = nargs(1, 1) ? parse_uint(a[0]) : std::nullopt;
      if (a.size() == 1 && !n) invalid(a[0]);
      if (n) c->max_requests = *n;
    } else if (x.name == "memory_limit") {
      // A size ("512m"), or Passenger's plain number of megabytes.
      if (!nargs(1, 1)) continue;
      if (!parse_memory_limit(a[0], &c->memory_limit_kb)) invalid(a[0]);
    } else if (x.name == "max_lifetime" || x.name == "idle_time" || x.name == "max_request_time") {
      if (!nargs(1, 1)) continue;
      uint64_t* to = x.name == "idle_time"          ? &c->idle_time_ms
                     : x.name == "max_request_time" ? &c->max_request_time_ms
                                                    : &c->max_lifetime_ms;
      if (!parse_ms(a[0], to)) invalid(a[0]);
    } else if (x.name == "rolling_restarts") {
      if (!nargs(1, 1)) continue;
      if (a[0] == "on" || a[0] == "off")
        c->rolling_restarts = a[0] == "on";
      else
        invalid(a[0]);
    } else if (x.name == "restart_dir") {
      if (nargs(1, 1)) restart_dir = a[0];
    } else {
      err(errors, x, fmt::format("unknown directive \"{}\" in app", x.name));
    }
  }
  if (c->type == AppType::kGeneric && !has_command)
    err(errors, d, fmt::format("no \"command\" in app \"{}\"", c->name));
  c->unix_socket = socket < 0 ? c->type != AppType::kGeneric : socket == 1;
  if (c->type != AppType::kGeneric && c->startup_file.empty())
    c->startup_file = c->type == AppType::kNode ? "app.js" : "passenger_wsgi.py";
  if (!has_root) c->root = prefix.empty() ? std::string("/") : prefix;
  c->restart_file = restart_file(c->root, restart_dir);
}

std::vector<std::shared_ptr<const AppConf>> configured_apps(const http::HttpConf& http) {
  std::vector<std::shared_ptr<const AppConf>> out;
  if (const auto* mc = http.main_conf<AppsMainConf>()) out.assign(mc->apps.begin(), mc->apps.end());
  return out;
}

namespace {

http::Step passenger_handle(http::Request& r) {
  // Static files under root are the web server's (GET and HEAD of an existing regular file),
  // and so is a directory's index.html: Passenger's nginx module serves public/index.html for
  // "/" itself.
  const http::LocationConf& loc = *r.loc;
  if ((r.head.method == http::Method::kGet || r.head.method == http::Method::kHead) && !loc.alias &&
      !r.uri.empty()) {
    std::string path;
    loc.root.eval(r, path);
    path += r.uri;
    if (r.uri.back() == '/') path += "index.html";
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
      return http::default_content().handle(r);
  }
  return http::Step::take_over();
}

http::ContentSession* passenger_open(http::ClientStream* c, http::Request* r) {
  return proxy::kProxyContent.open(c, r);
}

}  // namespace

const http::ContentHandler kPassengerContent = {
    .name = "passenger", .handle = passenger_handle, .open = passenger_open};

namespace {

// Before the servers (after the proxy module built the upstreams): `app` blocks, then every
// `server app:NAME` upstream joins its app.
void begin_http(Level& lv, const Directive& http) {
  AppsMainConf& mc = lv.main_conf<AppsMainConf>();
  for (const auto& d : http.block) {
    if (d.name != "app") continue;
    if (mc.by_name.count(d.args[0])) {
      lv.error(d, fmt::format("duplicate app \"{}\"", d.args[0]));
      continue;
    }
    auto c = std::make_shared<AppConf>();
    std::vector<ConfigError> errors;
    parse_app_block(d, lv.prefix(), c.get(), errors);
    for (auto& e : errors) lv.host().error(e.file, e.line, std::move(e.message));
    mc.by_name[c->name] = mc.apps.size();
    mc.apps.push_back(std::move(c));
  }
  for (const auto& [name, uc] : lv.http().upstreams) {
    if (uc->app.empty()) continue;
    auto it = mc.by_name.find(uc->app);
    if (it == mc.by_name.end()) {
      lv.host().error(uc->file, uc->line,
                      fmt::format("unknown app \"{}\" in upstream \"{}\"", uc->app, name));
      continue;
    }
    mc.apps[it->second]->groups.push_back(uc->group);
  }
}

std::string parent_dir(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? std::string("/") : p.substr(0, slash);
}

// After a level: a passenger_enabled location proxies to its app's processes (one app per
// distinct app root, shared by every location naming it).
void finish_level(Level& lv) {
  PassengerConf& pc = lv.conf<PassengerConf>();
  proxy::ProxyConf& xc = lv.conf<proxy::ProxyConf>();
  if (lv.loc.content == &kPassengerContent && pc.pass) {
    xc.pass = pc.pass;  // an `if` inside a passenger location
    return;
  }
  if (!pc.enabled || (lv.context != kLocation && lv.context != kServer)) return;
  if (lv.loc.content && lv.loc.content != &proxy::kProxyContent) return;  // claimed elsewhere
  if (lv.loc.content == &proxy::kProxyContent && xc.pass) return;         // its own proxy_pass
  AppsMainConf& mc = lv.main_conf<AppsMainConf>();
  std::string root = pc.app_root;
  if (root.empty()) {
    if (!lv.loc.root.is_literal()) {
      lv.host().error(pc.enabled_file, pc.enabled_line,
                      "\"passenger_enabled\" needs \"passenger_app_root\" when \"root\" has "
                      "variables");
      return;
    }
    root = parent_dir(config::resolve_path(lv.prefix(), lv.loc.root.literal()));
  } else {
    root = config::resolve_path(lv.prefix(), root);
  }
  auto c = std::make_shared<AppConf>();
  c->name = "passenger:" + root;
  c->root = root;
  c->type = pc.start_command.empty() ? pc.type : AppType::kGeneric;
  c->unix_socket = pc.socket < 0 ? c->type != AppType::kGeneric : pc.socket == 1;
  c->command = pc.start_command;
  c->startup_file = pc.startup_file.empty()
                        ? (c->type == AppType::kPython ? "passenger_wsgi.py" : "app.js")
                        : pc.startup_file;
  c->app_env = pc.app_env;
  c->env = pc.env;
  c->user = pc.user;
  c->group = pc.group;
  c->passenger_users = true;
  c->user_switching = pc.user_switching;
  c->default_user = pc.default_user;
  c->default_group = pc.default_group;
  c->min_instances = std::max<uint32_t>(pc.min_instances, 1);
  c->max_instances = pc.max_instances;
  c->concurrency = pc.concurrency;
  c->start_timeout_ms = pc.start_timeout_ms;
  c->ready = pc.ready;
  c->log_path = pc.app_log_file.empty() ? "" : config::resolve_path(lv.prefix(), pc.app_log_file);
  c->liveness = pc.liveness;
  c->max_requests = pc.max_requests;
  c->memory_limit_kb = pc.memory_limit_kb;
  c->max_lifetime_ms = pc.max_lifetime_ms;
  c->max_request_time_ms = pc.max_request_time_ms;
  c->idle_time_ms = pc.idle_time_ms;
  c->rolling_restarts = pc.rolling_restarts;
  c->restart_file = restart_file(root, pc.restart_dir);
  std::shared_ptr<const upstream::UpstreamConf> uc;
  auto it = mc.by_name.find(c->name);
  if (it != mc.by_name.end()) {
    // Another location of the same app: the first one's settings win.
    uc = mc.passenger_upstreams[c->name];
  } else {
    upstream::GroupConfig gc;
    gc.name = c->name;
    gc.method = upstream::Method::kLeastBusy;
    gc.live = true;
    auto u = std::make_shared<upstream::UpstreamConf>();
    u->app = c->name;
    u->queue_max = pc.max_request_queue_size ? pc.max_request_queue_size : kUnlimitedQueue;
    // Keep-alive connections to the app's processes, as Passenger's core keeps its sessions'
    // sockets: a new TCP connection per request cost two thirds of the throughput (bench row 9).
    u->keepalive = kAppKeepalive;
    if (pc.queue_time_ms) u->queue_timeout_ms = pc.queue_time_ms;
    const upstream::Group* prev = nullptr;
    if (lv.previous()) {
      auto p = lv.previous()->upstreams.find("\x02" + c->name);
      if (p != lv.previous()->upstreams.end()) prev = p->second->group.get();
    }
    if (Status st = upstream::Group::create(std::move(gc), prev, &u->group); !st) {
      lv.host().error(pc.enabled_file, pc.enabled_line, st.message());
      return;
    }
    c->groups.push_back(u->group);
    uc = u;
    mc.passenger_upstreams[c->name] = uc;
    mc.by_name[c->name] = mc.apps.size();
    mc.apps.push_back(std::move(c));
  }
  auto pp = std::make_shared<proxy::ProxyPass>();
  pp->upstream = uc;
  pp->proxy_host = "127.0.0.1";
  pp->proxy_port = "80";
  pp->location = std::string(lv.location);
  xc.pass = pp;
  pc.pass = std::move(pp);
  lv.loc.content = &kPassengerContent;
  // The app sees the client's Host, as under Passenger (not the loopback address), and the
  // connection to it is kept alive: HTTP/1.1 without nginx's default "Connection: close".
  if (xc.http_minor == 0) xc.http_minor = 1;
  for (auto& h : xc.set_headers) {
    const char* want = h.lname == "host" && h.value.source() == "$proxy_host"   ? "$http_host"
                       : h.lname == "connection" && h.value.source() == "close" ? ""
                                                                                : nullptr;
    if (!want) continue;
    http::ComplexValue v;
    if (http::ComplexValue::compile(want, lv.vars(), &v)) h.value = std::move(v);
  }
}

// Passenger apps' groups join the http upstreams under "\x02NAME" (a reload finds them there).
void end_http(Level& lv) {
  for (const auto& [name, uc] : lv.main_conf<AppsMainConf>().passenger_upstreams)
    lv.http().upstreams["\x02" + name] = uc;
}

void set_enabled(Level& lv, const Directive& d) {
  PassengerConf& c = lv.conf<PassengerConf>();
  lv.flag(d, &c.enabled);
  c.enabled_file = d.file;
  c.enabled_line = d.line;
}

void set_app_type(Level& lv, const Directive& d) {
  PassengerConf& c = lv.conf<PassengerConf>();
  if (!parse_type(d.args[0], &c.type))
    lv.error(d, fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"node\", "
                            "\"python\" or \"generic\"",
                            d.args[0], d.name));
  c.type_set = true;
}

template <std::string PassengerConf::*F>
void set_string(Level& lv, const Directive& d) {
  lv.conf<PassengerConf>().*F = d.args[0];
}

template <uint32_t PassengerConf::*F>
void set_count(Level& lv, const Directive& d) {
  uint32_t v;
  if (!parse_count(d.args[0], &v))
    lv.error(d, fmt::format("invalid value \"{}\" in \"{}\" directive", d.args[0], d.name));
  else
    lv.conf<PassengerConf>().*F = v;
}

void set_env_var(Level& lv, const Directive& d) {
  PassengerConf& c = lv.conf<PassengerConf>();
  if (lv.first(d)) c.env.clear();
  c.env.emplace_back(d.args[0], d.args[1]);
}

void set_start_timeout(Level& lv, const Directive& d) {
  // Passenger's value is in seconds ("90"); a unit ("90s") is taken too.
  uint64_t ms;
  if (!lv.msec(d, d.args[0], &ms)) return;
  lv.conf<PassengerConf>().start_timeout_ms = ms;
}

void set_socket(Level& lv, const Directive& d) {
  int v = parse_socket(d.args[0]);
  if (v < 0)
    lv.error(d, fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"tcp\" or "
                            "\"unix\"",
                            d.args[0], d.name));
  else
    lv.conf<PassengerConf>().socket = int8_t(v);
}

void set_ready_check(Level& lv, const Directive& d) {
  PassengerConf& c = lv.conf<PassengerConf>();
  if (!parse_ready(d.args, &c.ready))
    lv.error(d, "invalid \"app_ready_check\", expected \"tcp\" or \"http /URI\"");
  c.ready_set = true;
}

template <uint64_t PassengerConf::*F>
void set_number(Level& lv, const Directive& d) {
  uint64_t v;
  if (lv.number(d, d.args[0], &v)) lv.conf<PassengerConf>().*F = v;
}

template <bool PassengerConf::*F>
void set_flag(Level& lv, const Directive& d) {
  lv.flag(d, &(lv.conf<PassengerConf>().*F));
}

// Passenger's values are seconds ("300"); a unit ("5m") is taken too.
template <uint64_t PassengerConf::*F>
void set_seconds(Level& lv, const Directive& d) {
  uint64_t ms;
  if (lv.msec(d, d.args[0], &ms)) lv.conf<PassengerConf>().*F = ms;
}

void set_memory_limit(Level& lv, const Directive& d) {
  if (!parse_memory_limit(d.args[0], &lv.conf<PassengerConf>().memory_limit_kb))
    lv.error(d, fmt::format("invalid value \"{}\" in \"{}\" directive", d.args[0], d.name));
}

void set_liveness_check(Level& lv, const Directive& d) {
  std::string bad;
  if (!parse_liveness(d.args, &lv.conf<PassengerConf>().liveness, &bad))
    lv.error(d, fmt::format("invalid parameter \"{}\" in \"{}\" directive", bad, d.name));
}

void set_max_pool_size(Level& lv, const Directive& d) {
  uint64_t v;
  if (!lv.number(d, d.args[0], &v) || v == 0)
    lv.error(d, fmt::format("invalid value \"{}\" in \"{}\" directive", d.args[0], d.name));
  // Accepted: the per-app counts (min/max instances) bound the processes today.
}

const Command kCommands[] = {
    {{"app", kHttp, 1, 1, BlockKind::kFreeform, kMap, false}, nullptr, When::kBuilder},
    {{"passenger_enabled", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_enabled},
    {{"passenger_app_root", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::app_root>},
    {{"passenger_app_type", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_app_type},
    {{"passenger_startup_file", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::startup_file>},
    {{"passenger_app_start_command", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::start_command>},
    {{"passenger_min_instances", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_count<&PassengerConf::min_instances>},
    {{"passenger_max_instances", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_count<&PassengerConf::max_instances>},
    {{"passenger_force_max_concurrent_requests_per_process", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_count<&PassengerConf::concurrency>},
    {{"passenger_max_pool_size", kHttp, 1, 1, BlockKind::kNone, 0, true}, set_max_pool_size},
    {{"passenger_env_var", kHSL, 2, 2, BlockKind::kNone, 0, false}, set_env_var},
    {{"passenger_app_env", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::app_env>},
    {{"passenger_start_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_start_timeout},
    {{"passenger_max_request_queue_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_count<&PassengerConf::max_request_queue_size>},
    {{"passenger_app_log_file", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::app_log_file>},
    {{"passenger_user", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_string<&PassengerConf::user>},
    {{"passenger_group", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_string<&PassengerConf::group>},
    {{"passenger_user_switching", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&PassengerConf::user_switching>},
    {{"passenger_default_user", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::default_user>},
    {{"passenger_default_group", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::default_group>},
    {{"app_ready_check", kHSL, 1, 2, BlockKind::kNone, 0, true}, set_ready_check},
    {{"app_socket", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_socket},
    {{"passenger_max_requests", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_number<&PassengerConf::max_requests>},
    {{"passenger_memory_limit", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_memory_limit},
    {{"app_liveness_check", kHSL, 1, 5, BlockKind::kNone, 0, true}, set_liveness_check},
    {{"app_max_lifetime", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_seconds<&PassengerConf::max_lifetime_ms>},
    {{"passenger_max_request_time", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_seconds<&PassengerConf::max_request_time_ms>},
    {{"passenger_pool_idle_time", kHttp, 1, 1, BlockKind::kNone, 0, true},
     set_seconds<&PassengerConf::idle_time_ms>},
    {{"passenger_max_request_queue_time", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_seconds<&PassengerConf::queue_time_ms>},
    {{"passenger_rolling_restarts", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&PassengerConf::rolling_restarts>},
    {{"passenger_resist_deployment_errors", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&PassengerConf::resist_deployment_errors>},
    {{"passenger_restart_dir", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_string<&PassengerConf::restart_dir>},
};

}  // namespace

http::Module apps_module = {.name = "apps",
                            .commands = kCommands,
                            .create_conf = http::create_conf<PassengerConf>,
                            .create_main_conf = http::create_conf<AppsMainConf>,
                            .begin_http = begin_http,
                            .finish_level = finish_level,
                            .end_http = end_http};

}  // namespace portico::apps
