#include "server/loader.h"

#include <unistd.h>

#include <thread>

#include "config/parser.h"
#include "config/path.h"
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

const Registry& registry() {
  static const Registry* reg = [] {
    auto* r = new Registry();
    r->add({
        {"worker_processes", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"pid", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"daemon", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"master_process", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"worker_rlimit_nofile", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"worker_shutdown_timeout", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"pcre_jit", kMain, 1, 1, BlockKind::kNone, 0, true},
        {"load_module", kMain, 1, 1, BlockKind::kNone, 0, false},
        {"user", kMain, 1, 2, BlockKind::kNone, 0, true},
        {"error_log", kMain, 1, kAnyArgs, BlockKind::kNone, 0, false},
        {"events", kMain, 0, 0, BlockKind::kBlock, kEvents, true},
        {"worker_connections", kEvents, 1, 1, BlockKind::kNone, 0, true},
        {"use", kEvents, 1, 1, BlockKind::kNone, 0, true},
        {"multi_accept", kEvents, 1, 1, BlockKind::kNone, 0, true},
        {"accept_mutex", kEvents, 1, 1, BlockKind::kNone, 0, true},
        {"http", kMain, 0, 0, BlockKind::kBlock, kHttp, true},
    });
    register_http_modules();
    http::register_directives(*r);
    stream::register_directives(*r);
    return r;
  }();
  return *reg;
}

namespace {

bool parse_flag(const Directive& d, bool* out, std::vector<ConfigError>& errors) {
  if (d.args[0] == "on") {
    *out = true;
  } else if (d.args[0] == "off") {
    *out = false;
  } else {
    errors.push_back(
        {fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                     d.args[0], d.name),
         d.file, d.line});
    return false;
  }
  return true;
}

void build_main(const std::vector<Directive>& top, Snapshot& s, std::vector<ConfigError>& errors) {
  MainConf& m = s.main;
  m.pid_path = resolve_path(s.prefix, "logs/portico.pid");
  for (const auto& d : top) {
    const std::string& n = d.name;
    if (n == "worker_processes") {
      if (d.args[0] == "auto") {
        m.worker_processes = int(std::max(1u, std::thread::hardware_concurrency()));
      } else if (auto v = parse_uint(d.args[0]); v && *v > 0 && *v <= 1024) {
        m.worker_processes = int(*v);
      } else {
        errors.push_back(
            {fmt::format("invalid value \"{}\" in \"worker_processes\" directive", d.args[0]),
             d.file, d.line});
      }
    } else if (n == "pid") {
      m.pid_path = d.args[0] == "off" ? "" : resolve_path(s.prefix, d.args[0]);
    } else if (n == "daemon") {
      parse_flag(d, &m.daemon, errors);
    } else if (n == "load_module") {
      // Debian's nginx.conf includes modules-enabled/*.conf: the stream module is built into
      // portico, so loading it is a no-op; any other module's directives would not exist.
      std::string_view file = d.args[0];
      if (size_t slash = file.rfind('/'); slash != std::string_view::npos)
        file.remove_prefix(slash + 1);
      if (file != "ngx_stream_module.so")
        errors.push_back({fmt::format("module \"{}\" is not available in portico (only the "
                                      "stream module, which is built in)",
                                      d.args[0]),
                          d.file, d.line});
    } else if (n == "master_process") {
      bool ignored;
      parse_flag(d, &ignored, errors);
    } else if (n == "worker_shutdown_timeout") {
      auto v = parse_time_ms(d.args[0]);
      if (!v)
        errors.push_back(
            {"invalid value \"" + d.args[0] + "\" in \"worker_shutdown_timeout\" directive", d.file,
             d.line});
      else
        m.worker_shutdown_timeout = *v;
    } else if (n == "error_log") {
      LogTarget t;
      t.path = resolve_path(s.prefix, d.args[0]);
      t.level = LogLevel::kError;
      if (d.args.size() > 1 && !parse_log_level(d.args[1], &t.level))
        errors.push_back({fmt::format("invalid log level \"{}\"", d.args[1]), d.file, d.line});
      m.error_logs.push_back(t);
    } else if (n == "events") {
      for (const auto& e : d.block) {
        if (e.name == "worker_connections") {
          auto v = parse_uint(e.args[0]);
          if (!v || *v < 1 || *v > 10'000'000)
            errors.push_back({fmt::format("invalid number \"{}\"", e.args[0]), e.file, e.line});
          else
            m.worker_connections = int(*v);
        } else if (e.name == "use" && e.args[0] != "epoll") {
          errors.push_back({fmt::format("invalid event type \"{}\"", e.args[0]), e.file, e.line});
        }
      }
    }
  }
  if (m.error_logs.empty())
    m.error_logs.push_back({resolve_path(s.prefix, "logs/error.log"), LogLevel::kError, -1});
}

}  // namespace

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
