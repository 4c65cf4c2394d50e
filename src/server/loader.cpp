#include "server/loader.h"

#include <unistd.h>

#include <thread>

#include <fmt/format.h>

#include "config/parser.h"
#include "config/path.h"
#include "config/values.h"
#include "core/strings.h"
#include "http/builder.h"
#include "http/module.h"
#include "server/modules.h"
#include "stream/directives.h"

namespace portico::server {

using namespace config;  // contexts, Directive, ConfigError

const char* const kEmbeddedConfig = R"(# portico's embedded default configuration
error_log stderr notice;
pid off;  # nothing is written outside the terminal in this mode
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 8080;
        location / {
            default_type text/html;
            return 200 "<!DOCTYPE html>
<html><head><title>Welcome to portico</title></head>
<body><h1>Welcome to portico</h1>
<p>portico is running with its embedded default configuration.
Write <code>/etc/portico/portico.conf</code> (nginx syntax) or start it with <code>-c FILE</code>.</p>
</body></html>
";
        }
    }
}
)";

namespace {

// The main and events contexts' directives: one row each, spec and setter together (http's
// and stream's are in their modules). A null setter: a block read elsewhere, or a directive
// accepted for nginx compatibility with nothing to do in portico (see the row's comment).
struct MainLevel {
  Snapshot& s;
  std::vector<ConfigError>& errors;
  void error(const Directive& d, std::string msg) {
    errors.push_back({std::move(msg), d.file, d.line});
  }
  bool flag(const Directive& d, bool* out) {
    std::string e;
    if (config::parse_flag(d, out, &e)) return true;
    error(d, std::move(e));
    return false;
  }
};

struct MainCommand {
  DirectiveSpec spec;
  void (*set)(MainLevel&, const Directive&) = nullptr;
};

void set_worker_processes(MainLevel& lv, const Directive& d) {
  if (d.args[0] == "auto") {
    lv.s.main.worker_processes = int(std::max(1u, std::thread::hardware_concurrency()));
  } else if (auto v = parse_uint(d.args[0]); v && *v > 0 && *v <= 1024) {
    lv.s.main.worker_processes = int(*v);
  } else {
    lv.error(d, fmt::format("invalid value \"{}\" in \"worker_processes\" directive", d.args[0]));
  }
}

void set_pid(MainLevel& lv, const Directive& d) {
  lv.s.main.pid_path = d.args[0] == "off" ? "" : resolve_path(lv.s.prefix, d.args[0]);
}

void set_control_socket(MainLevel& lv, const Directive& d) {
  lv.s.main.control_socket = d.args[0] == "off" ? "" : resolve_path(lv.s.prefix, d.args[0]);
  lv.s.main.control_socket_set = true;
}

void set_daemon(MainLevel& lv, const Directive& d) {
  lv.flag(d, &lv.s.main.daemon);
}

// portico is one process with worker threads: the flag is checked and has no other effect.
void set_master_process(MainLevel& lv, const Directive& d) {
  bool ignored;
  lv.flag(d, &ignored);
}

void set_rlimit_nofile(MainLevel& lv, const Directive& d) {
  auto v = parse_uint(d.args[0]);
  if (!v || *v == 0)
    lv.error(d, fmt::format("invalid number \"{}\"", d.args[0]));
  else
    lv.s.main.rlimit_nofile = *v;
}

void set_shutdown_timeout(MainLevel& lv, const Directive& d) {
  auto v = parse_time_ms(d.args[0]);
  if (!v)
    lv.error(
        d, fmt::format("invalid value \"{}\" in \"worker_shutdown_timeout\" directive", d.args[0]));
  else
    lv.s.main.worker_shutdown_timeout = *v;
}

// Debian's nginx.conf includes modules-enabled/*.conf: the stream module is built into portico,
// so loading it is a no-op; any other module's directives would not exist.
void set_load_module(MainLevel& lv, const Directive& d) {
  std::string_view file = d.args[0];
  if (size_t slash = file.rfind('/'); slash != std::string_view::npos)
    file.remove_prefix(slash + 1);
  if (file != "ngx_stream_module.so")
    lv.error(d, fmt::format("module \"{}\" is not available in portico (only the stream module, "
                            "which is built in)",
                            d.args[0]));
}

void set_error_log(MainLevel& lv, const Directive& d) {
  LogTarget t;
  t.path = resolve_path(lv.s.prefix, d.args[0]);
  t.level = LogLevel::kError;
  if (d.args.size() > 1 && !parse_log_level(d.args[1], &t.level))
    lv.error(d, fmt::format("invalid log level \"{}\"", d.args[1]));
  lv.s.main.error_logs.push_back(t);
}

void set_worker_connections(MainLevel& lv, const Directive& d) {
  auto v = parse_uint(d.args[0]);
  if (!v || *v < 1 || *v > 10'000'000)
    lv.error(d, fmt::format("invalid number \"{}\"", d.args[0]));
  else
    lv.s.main.worker_connections = int(*v);
}

void set_use(MainLevel& lv, const Directive& d) {
  if (d.args[0] != "epoll") lv.error(d, fmt::format("invalid event type \"{}\"", d.args[0]));
}

const MainCommand kMainCommands[] = {
    {{"worker_processes", kMain, 1, 1, BlockKind::kNone, 0, true}, set_worker_processes},
    {{"pid", kMain, 1, 1, BlockKind::kNone, 0, true}, set_pid},
    {{"daemon", kMain, 1, 1, BlockKind::kNone, 0, true}, set_daemon},
    {{"control_socket", kMain, 1, 1, BlockKind::kNone, 0, true}, set_control_socket},
    {{"master_process", kMain, 1, 1, BlockKind::kNone, 0, true}, set_master_process},
    {{"worker_rlimit_nofile", kMain, 1, 1, BlockKind::kNone, 0, true}, set_rlimit_nofile},
    {{"worker_shutdown_timeout", kMain, 1, 1, BlockKind::kNone, 0, true}, set_shutdown_timeout},
    // PCRE2's JIT is always used where the library has it.
    {{"pcre_jit", kMain, 1, 1, BlockKind::kNone, 0, true}},
    {{"load_module", kMain, 1, 1, BlockKind::kNone, 0, false}, set_load_module},
    // Accepted, not applied yet: portico runs as the user that starts it (see
    // docs/ARCHITECTURE.md).
    {{"user", kMain, 1, 2, BlockKind::kNone, 0, true}},
    {{"error_log", kMain, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_error_log},
    {{"events", kMain, 0, 0, BlockKind::kBlock, kEvents, true}},
    {{"worker_connections", kEvents, 1, 1, BlockKind::kNone, 0, true}, set_worker_connections},
    {{"use", kEvents, 1, 1, BlockKind::kNone, 0, true}, set_use},
    // Each worker accepts until its listening socket's queue is drained, with no accept mutex:
    // both behaviours are built in.
    {{"multi_accept", kEvents, 1, 1, BlockKind::kNone, 0, true}},
    {{"accept_mutex", kEvents, 1, 1, BlockKind::kNone, 0, true}},
    {{"http", kMain, 0, 0, BlockKind::kBlock, kHttp, true}},
};

void apply_main(MainLevel& lv, const std::vector<Directive>& block, uint32_t context) {
  for (const auto& d : block) {
    for (const MainCommand& c : kMainCommands) {
      if (c.spec.name != d.name || !(c.spec.contexts & context)) continue;
      if (c.set) c.set(lv, d);
      if (c.spec.block == BlockKind::kBlock && c.spec.block_context == kEvents)
        apply_main(lv, d.block, kEvents);
      break;
    }
  }
}

void build_main(const std::vector<Directive>& top, Snapshot& s, std::vector<ConfigError>& errors) {
  s.main.pid_path = resolve_path(s.prefix, "logs/portico.pid");
  MainLevel lv{s, errors};
  apply_main(lv, top, kMain);
  if (!s.main.control_socket_set && !s.main.pid_path.empty()) {
    std::string p = s.main.pid_path;
    if (p.size() > 4 && p.compare(p.size() - 4, 4, ".pid") == 0) p.resize(p.size() - 4);
    s.main.control_socket = p + ".sock";
  }
  if (s.main.error_logs.empty())
    s.main.error_logs.push_back({resolve_path(s.prefix, "logs/error.log"), LogLevel::kError, -1});
}

}  // namespace

const Registry& registry() {
  static const Registry* reg = [] {
    auto* r = new Registry();
    for (const MainCommand& c : kMainCommands) r->add(c.spec);
    register_http_modules();
    http::register_directives(*r);
    stream::register_directives(*r);
    return r;
  }();
  return *reg;
}

LoadResult load(const LoadOptions& opts) {
  LoadResult res;
  ParseOptions po;
  ParseResult pr;
  // -g comes first, as in nginx: a directive repeated in the file is then a duplicate.
  if (!opts.globals.empty()) parse_command_line(opts.globals, po, pr);
  if (opts.conf_path.empty()) {
    po.conf_prefix = opts.prefix;
    parse_string(kEmbeddedConfig, "embedded default configuration", po, pr);
  } else {
    auto slash = opts.conf_path.rfind('/');
    po.conf_prefix = slash == std::string::npos ? "./" : opts.conf_path.substr(0, slash + 1);
    parse_file(opts.conf_path, po, pr);
  }
  res.files = std::move(pr.files);
  if (!pr.ok()) {
    res.errors = std::move(pr.errors);
    return res;
  }
  res.errors = registry().validate(pr.directives, kMain);
  if (!res.errors.empty()) return res;

  auto snap = std::make_shared<Snapshot>();
  snap->prefix = opts.prefix;
  snap->conf_path = opts.conf_path;
  for (const auto& f : res.files) snap->files.push_back(f.path);
  build_main(pr.directives, *snap, res.errors);
  int workers = opts.workers_hint > 0 ? opts.workers_hint : snap->main.worker_processes;
  for (const auto& d : pr.directives) {
    if (d.name == "http") {
      snap->has_http = true;
      const http::HttpConf* prev =
          opts.previous && opts.previous->has_http ? &opts.previous->http : nullptr;
      http::build_http(d, snap->prefix, workers, prev, snap->http, snap->log_files, res.errors,
                       res.warnings);
    } else if (d.name == "stream") {
      snap->has_stream = true;
      const stream::StreamConf* prev =
          opts.previous && opts.previous->has_stream ? &opts.previous->stream : nullptr;
      stream::build_stream(d, snap->prefix, workers, prev, snap->stream, snap->log_files,
                           res.errors);
    }
  }
  if (res.errors.empty()) res.snapshot = std::move(snap);
  return res;
}

}  // namespace portico::server
