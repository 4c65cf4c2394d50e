#include "server/master.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "apps/directives.h"
#include "core/log.h"
#include "core/strings.h"
#include "http/access_log.h"
#include "http/ssl_module.h"
#include "proxy/directives.h"
#include "server/status_module.h"

namespace portico::server {

namespace {

// Written to a temporary file and renamed, so a reader never sees half a pid.
bool write_pid(const std::string& path) {
  if (path.empty()) return true;
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    LOG_EMERG("open() \"{}\" failed ({})", path, errno_text(errno));
    return false;
  }
  std::string s = std::to_string(getpid()) + "\n";
  bool ok = ::write(fd, s.data(), s.size()) == ssize_t(s.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    LOG_EMERG("write pid file \"{}\" failed ({})", path, errno_text(errno));
    return false;
  }
  return true;
}

}  // namespace

bool apply_error_logs(const Snapshot& s) {
  std::string err;
  if (!Logger::instance().set_targets(s.main.error_logs, &err)) {
    LOG_EMERG("{}", err);
    return false;
  }
  return true;
}

namespace {

// worker_rlimit_nofile N sets the descriptor limit (soft and, where allowed, hard); without it
// the soft limit is raised to the hard one: portico uses epoll, never select(), so systemd's
// 1024 soft default only gets in the way of worker_connections.
void apply_rlimit_nofile(const MainConf& m) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  struct rlimit want = rl;
  if (m.rlimit_nofile) {
    want.rlim_cur = rlim_t(m.rlimit_nofile);
    if (want.rlim_max != RLIM_INFINITY && want.rlim_cur > want.rlim_max)
      want.rlim_max = want.rlim_cur;
  } else {
    want.rlim_cur = rl.rlim_max;
  }
  if (want.rlim_cur == rl.rlim_cur && want.rlim_max == rl.rlim_max) return;
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    if (m.rlimit_nofile)
      LOG_ALERT("setrlimit(RLIMIT_NOFILE, {}) failed ({}), the limit is {}", m.rlimit_nofile,
                errno_text(errno), (unsigned long long)rl.rlim_cur);
    return;
  }
}

}  // namespace

int Master::run(std::shared_ptr<const Snapshot> snapshot) {
  signal(SIGPIPE, SIG_IGN);
  // Before the workers start: they inherit the signal mask set here.
  if (Status st = control_.init(); !st) {
    LOG_EMERG("{}", st.message());
    return 1;
  }
  if (Status st = handle_signals(); !st) {
    LOG_EMERG("{}", st.message());
    return 1;
  }
  const auto apps = apps::configured_apps(snapshot->http);
  apps_.prepare(apps);
  refresh_dns(*snapshot);
  runtime_.set_worker_exit_hook(
      [this] { control_.loop().post([this] { stop_loop_if_finished(); }); });
  apply_rlimit_nofile(snapshot->main);
  if (Status st = runtime_.start(snapshot); !st) {
    LOG_EMERG("{}", st.message());
    runtime_.stop(false);  // workers that did start
    return 1;
  }
  const std::string pid_path = snapshot->main.pid_path;
  if (!write_pid(pid_path)) {
    runtime_.stop(false);
    runtime_.join();
    return 1;
  }
  Logger::instance().set_stderr_mirror(false);
  LOG_NOTICE("portico/{} started, {} worker(s)", PORTICO_VERSION, snapshot->main.worker_processes);
  sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=serving", (unsigned long)getpid());
  check_health(*snapshot);
  watch_certificates(*snapshot);
  apps_.configure(apps);
  if (Status st = control_socket_.open(snapshot->main.control_socket); !st)
    LOG_ALERT("{}: `portico status` and `portico app` will not reach this server", st.message());

  control_.run();
  control_socket_.close();

  checker_.configure({});
  dns_.configure({});
  certs_.configure({});
  runtime_.join();
  if (!pid_path.empty()) ::unlink(pid_path.c_str());
  LOG_NOTICE("exit");
  return 0;
}

std::string Master::command(std::string_view line) {
  std::vector<std::string> w;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    if (j > i) w.emplace_back(line.substr(i, j - i));
    i = j;
  }
  auto answer = [](const Status& st, std::string out = {}) {
    return st ? "ok\n" + out : "error: " + st.message() + "\n";
  };
  if (w.size() == 1 && w[0] == "status") return answer(Status::ok(), apps_.status_text());
  if (w.size() == 2 && w[0] == "status" && w[1] == "--json")
    return answer(Status::ok(), apps_.status_json());
  if (w.size() == 3 && w[0] == "app" && w[1] == "restart") return answer(apps_.restart(w[2]));
  if (w.size() == 4 && w[0] == "app" && w[1] == "scale") {
    auto n = parse_uint(w[3]);
    if (!n) return answer(Status::error("invalid number \"" + w[3] + "\""));
    return answer(apps_.scale(w[2], uint32_t(std::min<uint64_t>(*n, UINT32_MAX))));
  }
  return answer(Status::error("unknown command \"" + std::string(line) +
                              "\" (status [--json], app restart NAME, app scale NAME N)"));
}

Status Master::handle_signals() {
  using Info = const signalfd_siginfo&;
  struct {
    int signo;
    Control::SignalHandler fn;
  } const table[] = {
      {SIGHUP, [this](Info) { reload(); }},
      {SIGUSR1, [this](Info) { reopen_logs(); }},
      {SIGQUIT,
       [this](Info) {
         if (stopping_) return;
         LOG_NOTICE("signal 3 (SIGQUIT) received, shutting down gracefully");
         stop(true);
       }},
      {SIGTERM,
       [this](Info) {
         LOG_NOTICE("signal {} received, exiting", SIGTERM);
         stop(false);
       }},
      {SIGINT,
       [this](Info) {
         LOG_NOTICE("signal {} received, exiting", SIGINT);
         stop(false);
       }},
      // nginx's binary upgrade and worker shutdown, and SIGCHLD (children are watched through
      // pidfds): taken and ignored, so that none of them acts the default way.
      {SIGUSR2, nullptr},
      {SIGWINCH, nullptr},
      {SIGCHLD, nullptr},
  };
  for (const auto& s : table)
    if (Status st = control_.on_signal(s.signo, s.fn); !st) return st;
  return Status::ok();
}

std::shared_ptr<const Snapshot> Master::load_for_reload() {
  LoadOptions lo = load_;
  lo.previous = runtime_.snapshot().get();
  lo.workers_hint = runtime_.workers();  // access-log buffers for the workers that run
  LoadResult res = load(lo);
  for (const auto& w : res.warnings) LOG_WARN("{}", w);
  for (const auto& e : res.errors) LOG_EMERG("{}", e.to_string());
  return res.snapshot;
}

void Master::reload() {
  // systemd (Type=notify-reload) wants the CLOCK_MONOTONIC time the reload began beside it.
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
  LOG_NOTICE("signal 1 (SIGHUP) received, reconfiguring");
  auto fresh = load_for_reload();
  // Apps' ready processes join the new groups before the snapshot goes live.
  if (fresh) apps_.prepare(apps::configured_apps(fresh->http));
  // Names already resolved go into the new groups before the snapshot goes live.
  if (fresh) refresh_dns(*fresh);
  if (!fresh) {
    LOG_ALERT("reload failed, the running configuration is kept");
  } else if (Status st = runtime_.reload(fresh); !st) {
    refresh_dns(*runtime_.snapshot());
    LOG_EMERG("{}", st.message());
    LOG_ALERT("reload failed, the running configuration is kept");
  } else {
    apply_error_logs(*fresh);
    apply_rlimit_nofile(fresh->main);
    if (!stopping_) check_health(*fresh);
    if (!stopping_) watch_certificates(*fresh);
    if (!stopping_) apps_.configure(apps::configured_apps(fresh->http));
    LOG_NOTICE("reconfigured");
  }
  sd_notify(0, "READY=1");
}

void Master::reopen_logs() {
  LOG_NOTICE("signal 10 (SIGUSR1) received, reopening logs");
  Logger::instance().reopen();
  runtime_.snapshot()->log_files.reopen();  // http and stream access logs
  apps_.reopen_logs();
}

void Master::stop(bool graceful) {
  sd_notify(0, "STOPPING=1");
  const bool again = stopping_;
  stopping_ = true;
  checker_.configure({});
  dns_.configure({});
  certs_.configure({});
  runtime_.stop(graceful);
  // The apps stop once the workers are done with them (requests in flight finish); a fast
  // stop (or a second signal) stops them at once.
  if (!graceful || again) apps_stop(false);
  stop_loop_if_finished();
}

void Master::apps_stop(bool graceful) {
  apps_stopping_ = true;
  apps_.stop(graceful, [this] {
    apps_stopped_ = true;
    stop_loop_if_finished();
  });
}

void Master::stop_loop_if_finished() {
  if (!stopping_ || !runtime_.finished()) return;
  if (!apps_stopped_ && !apps_stopping_) {
    apps_stopping_ = true;
    apps_stop(true);  // may finish at once
  }
  if (apps_stopped_) control_.stop();
}

void Master::watch_certificates(const Snapshot& snapshot) {
  std::vector<TlsServer> servers;
  for (const auto& [srv, slot] : http::ssl_slots(snapshot.http))
    servers.push_back({!srv->names.empty() && !srv->names[0].empty()
                           ? srv->names[0]
                           : fmt::format("{}:{}", srv->file, srv->line),
                       slot});
  for (const auto& srv : snapshot.stream.servers)
    if (srv->ssl_ctx)
      servers.push_back({fmt::format("stream {}:{}", srv->file, srv->line), srv->ssl_ctx});
  std::vector<std::shared_ptr<tls::ContextSlot>> slots;
  for (const TlsServer& s : servers) slots.push_back(s.slot);
  certs_.configure(std::move(slots));
  publish_tls_servers(std::move(servers));
}

void Master::refresh_dns(const Snapshot& snapshot) {
  dns_.configure(upstream::resolved_groups({&snapshot.http.upstreams, &snapshot.stream.upstreams}));
}

void Master::check_health(const Snapshot& snapshot) {
  // Only the proxy module defines health checks today (http `health_check`).
  std::vector<std::shared_ptr<const upstream::HealthCheck>> checks;
  if (const auto* pm = snapshot.http.main_conf<proxy::ProxyMainConf>())
    checks.assign(pm->health_checks.begin(), pm->health_checks.end());
  checker_.configure(checks);
}

}  // namespace portico::server
