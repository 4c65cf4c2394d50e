// AppConf: one managed application as the configuration describes it: an `app NAME { ... }`
// block, or the app behind a `passenger_enabled on` location (apps/directives.cpp). Built with
// the snapshot on the control thread and read-only afterwards; the supervisor
// (apps/supervisor.h) runs its processes and publishes them into `groups`.
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/backoff.h"
#include "upstream/group.h"

namespace portico::apps {

enum class AppType : uint8_t {
  kGeneric,  // `command` (passenger_app_start_command): any program that listens on $PORT
  kNode,     // node with portico's listen shim: app.listen(3000) listens where portico says
  kPython,   // portico's WSGI loader serving passenger_wsgi.py's `application`
};

struct ReadyCheck {
  enum class Kind : uint8_t { kTcp, kHttp };
  Kind kind = Kind::kTcp;
  std::string uri;  // kHttp: GET this; a 2xx or 3xx answer means ready
};

// A ready process is checked every `interval`; `fails` checks in a row that fail or get no
// answer within `timeout` mean it hangs: it is stopped and replaced (app_liveness_check).
struct LivenessCheck {
  bool on = false;
  ReadyCheck check;
  uint64_t interval_ms = 10'000;
  uint64_t timeout_ms = 5'000;
  uint32_t fails = 3;
  bool enabled() const { return on; }
  bool operator==(const LivenessCheck& o) const {
    return on == o.on && check.kind == o.check.kind && check.uri == o.check.uri &&
           interval_ms == o.interval_ms && timeout_ms == o.timeout_ms && fails == o.fails;
  }
};

struct AppConf {
  std::string name;  // `app NAME`, or "passenger:<app root>"
  AppType type = AppType::kGeneric;
  std::string command;       // kGeneric: run by /bin/sh with $PORT in the environment
  std::string startup_file;  // kNode, kPython: relative to root unless absolute
  std::string root;          // the processes' working directory
  // Where a process listens: a unix socket portico names in $PORTICO_SOCKET, in a directory
  // only the app's user can enter (node's listen shim and the WSGI loader use it; the default for
  // those types, as under Passenger: no other local user can reach the app around portico, and no
  // port can be taken between portico picking it and the app binding it), or a loopback TCP port
  // in $PORT (the default for a generic command, which only knows $PORT). `socket`/`app_socket`.
  bool unix_socket = false;
  std::string app_env = "production";
  std::vector<std::pair<std::string, std::string>> env;  // in order; later ones win
  std::string user, group;                               // empty: portico's own
  // Passenger apps: Passenger's user switching rules apply when portico runs as root (the
  // startup file's owner, never root; see credentials() in supervisor.cpp).
  bool passenger_users = false;
  bool user_switching = true;           // passenger_user_switching
  std::string default_user = "nobody";  // passenger_default_user
  std::string default_group;            // passenger_default_group; empty: default_user's group
  uint32_t min_instances = 1;
  uint32_t max_instances = 0;  // 0: min_instances; above it: scaled by load (apps/pool.h)
  uint32_t concurrency = 0;    // requests per process at once (max_conns); 0 = unlimited
  // passenger_max_request_time: a request a process has been on for longer gets a 504 and the
  // process is shut down (SIGKILL) and replaced; 0 = no limit.
  uint64_t max_request_time_ms = 0;
  uint64_t start_timeout_ms = 90'000;
  ReadyCheck ready;
  LivenessCheck liveness;  // off unless configured
  int stop_signal = SIGTERM;
  uint64_t stop_timeout_ms = 30'000;
  uint64_t drain_timeout_ms = 30'000;
  BackoffPolicy backoff;
  std::string log_path;  // empty: the error log
  // Recycling and restarts (not part of the processes' identity: a reload that changes only
  // these applies them to the running processes).
  uint64_t max_requests = 0;        // passenger_max_requests: replaced after this many; 0 = never
  uint64_t memory_limit_kb = 0;     // passenger_memory_limit (MB): replaced above this PSS
  uint64_t max_lifetime_ms = 0;     // app_max_lifetime: replaced after this long ready
  uint64_t idle_time_ms = 300'000;  // passenger_pool_idle_time: processes above min stop
  bool rolling_restarts = true;     // passenger_rolling_restarts
  std::string restart_file;  // passenger_restart_dir/restart.txt: a new mtime restarts the app
  // Where it was defined, for messages.
  std::string file;
  int line = 0;

  // The upstream groups the app's ready processes are published into (its own, for a
  // passenger location, and every `upstream` with `server app:NAME`). Not part of the app's
  // identity: a reload that only rebuilds the groups keeps the processes.
  std::vector<std::shared_ptr<const upstream::Group>> groups;

  // Whether `o` runs the same processes (everything but where it was written and its groups):
  // a reload keeps the processes of an app whose settings did not change.
  bool same_processes(const AppConf& o) const;
};

// The signal named `name` ("TERM", "SIGTERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"),
// or 0.
int signal_by_name(const std::string& name);

}  // namespace portico::apps
