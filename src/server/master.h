// Master: what a serving portico does on its control thread, nginx's master process cycle
// (ngx_master_process_cycle) as a thread with an event loop. It starts the Runtime (listeners,
// workers), writes the pid file, tells systemd (sd_notify READY, RELOADING, STOPPING), and then
// runs the Control loop, where
//   HUP        reloads: parse and build a new snapshot; if valid, the Runtime swaps it in
//              and the health checks follow it; if not, nothing changes and the log says why;
//   USR1       reopens the error log and the access logs (logrotate);
//   QUIT       stops gracefully: listeners close, requests in flight finish;
//   TERM, INT  stop fast;
// and the active health checks run (upstream::HealthChecker), so they load no worker.
// The loop ends when every worker has ended after a stop (workers post their exit to it).
//
// Ownership and threads: one per serving process, made by main() after start-up (options,
// first load, daemon) and run on the main thread, which is the control thread from then on.
#pragma once

#include <memory>

#include "apps/supervisor.h"
#include "core/status.h"
#include "server/control.h"
#include "server/control_socket.h"
#include "server/loader.h"
#include "server/runtime.h"
#include "server/snapshot.h"
#include "tls/slot.h"
#include "upstream/dns_refresh.h"
#include "upstream/health_check.h"

namespace portico::server {

// Points the error log at the snapshot's `error_log` targets. On failure logs the reason
// (emerg), keeps the current targets and returns false.
bool apply_error_logs(const Snapshot& snapshot);

class Master {
 public:
  // `load` is how reloads read the configuration (-p, -c, -g); `previous` is set per reload.
  explicit Master(LoadOptions load) : load_(std::move(load)) {}
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Serves `snapshot` (loaded, its error logs applied) until a stop signal and every worker
  // has ended; returns the process exit status (0, or 1 when start-up failed, which is
  // logged). Blocks for the life of the server.
  // REQUIRES: called on the main thread before any other thread of the process starts, so
  // that every thread inherits the blocked signals.
  int run(std::shared_ptr<const Snapshot> snapshot);

 private:
  Status handle_signals();
  void reload();
  void reopen_logs();
  void stop(bool graceful);
  void stop_loop_if_finished();
  void refresh_dns(const Snapshot& snapshot);
  void apps_stop(bool graceful);
  std::string command(std::string_view line);  // one control socket command
  void check_health(const Snapshot& snapshot);
  void watch_certificates(const Snapshot& snapshot);
  std::shared_ptr<const Snapshot> load_for_reload();

  LoadOptions load_;
  Control control_;  // first: the loop outlives the runtime's exit hook and the checker
  Runtime runtime_;
  upstream::HealthChecker checker_{control_.loop()};
  // Upstream groups with `server NAME resolve`, kept resolved (upstream/dns_refresh.h).
  upstream::DnsRefresh dns_{control_.loop()};
  // Certificates and keys renewed on disk are served without a reload (tls/slot.h).
  tls::CertWatch certs_{control_.loop()};
  apps::Supervisor apps_{control_};  // the managed apps' processes (apps/supervisor.h)
  // `portico status`, `portico app restart|scale` (server/control_socket.h).
  ControlSocket control_socket_{control_.loop(), [this](std::string_view l) { return command(l); }};
  bool apps_stopped_ = false;
  bool apps_stopping_ = false;
  bool stopping_ = false;
};

}  // namespace portico::server
