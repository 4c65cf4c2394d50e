// The apps module as the http host sees it (apps/directives.cpp): `app NAME { ... }` blocks at
// http level, usable as `server app:NAME` inside an `upstream`, and Passenger's location
// directives (passenger_enabled, passenger_app_root, passenger_app_type, ...), which make a
// location's content the proxy to its app's processes. Control thread while a snapshot is
// built; read-only afterwards. The supervisor (apps/supervisor.h) runs what `apps` lists.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/app_conf.h"
#include "http/module.h"
#include "proxy/proxy_conf.h"
#include "upstream/upstream_conf.h"

namespace portico::apps {

extern http::Module apps_module;

// Location settings of the Passenger directives (inherited http -> server -> location).
struct PassengerConf : http::ModuleConfOf<PassengerConf> {
  static http::Module& module() { return apps_module; }
  bool enabled = false;
  std::string enabled_file;  // where passenger_enabled stands, for messages
  int enabled_line = 0;
  std::string app_root;  // empty: the parent of `root`
  AppType type = AppType::kNode;
  bool type_set = false;
  std::string startup_file;
  std::string start_command;  // passenger_app_start_command: a generic app
  int8_t socket = -1;         // app_socket: 0 tcp, 1 unix, -1 the type's default
  uint32_t min_instances = 1;
  uint32_t max_instances = 0;
  uint32_t concurrency = 0;  // passenger_force_max_concurrent_requests_per_process
  std::vector<std::pair<std::string, std::string>> env;
  std::string app_env = "production";
  uint64_t start_timeout_ms = 90'000;
  uint32_t max_request_queue_size = 100;  // 0 = unlimited (bounded at kUnlimitedQueue)
  std::string app_log_file;
  ReadyCheck ready;
  bool ready_set = false;
  LivenessCheck liveness;  // app_liveness_check
  std::string user, group;
  bool user_switching = true;            // passenger_user_switching
  std::string default_user = "nobody";   // passenger_default_user
  std::string default_group;             // passenger_default_group
  uint64_t max_requests = 0;             // passenger_max_requests
  uint64_t memory_limit_kb = 0;          // passenger_memory_limit (MB)
  uint64_t max_lifetime_ms = 0;          // app_max_lifetime
  uint64_t max_request_time_ms = 0;      // passenger_max_request_time; 0 = no limit
  uint64_t idle_time_ms = 300'000;       // passenger_pool_idle_time
  uint64_t queue_time_ms = 0;            // passenger_max_request_queue_time; 0 = the default
  bool rolling_restarts = true;          // passenger_rolling_restarts
  bool resist_deployment_errors = true;  // passenger_resist_deployment_errors
  std::string restart_dir;               // passenger_restart_dir; empty: APP_ROOT/tmp
  // Set where passenger_enabled made the location's content the app: kept here because the
  // proxy module drops ProxyConf::pass at levels whose content is not its own (an `if` inside
  // the location inherits it from here).
  std::shared_ptr<const proxy::ProxyPass> pass;
};

// The content of a passenger_enabled location: a file under `root` is served as a static file
// (Passenger leaves public/ to the web server); anything else goes to the app's processes.
extern const http::ContentHandler kPassengerContent;

// http-wide: every app of the configuration (`app` blocks first, then one per distinct
// passenger app root), with the groups they publish into.
struct AppsMainConf : http::ModuleConfOf<AppsMainConf> {
  static http::Module& module() { return apps_module; }
  std::vector<std::shared_ptr<AppConf>> apps;
  std::map<std::string, size_t> by_name;  // name -> index in apps
  // The implicit upstream of each passenger app (by app name).
  std::map<std::string, std::shared_ptr<const upstream::UpstreamConf>> passenger_upstreams;
};

// The apps of a built configuration, for the supervisor (empty without any).
std::vector<std::shared_ptr<const AppConf>> configured_apps(const http::HttpConf& http);

// passenger_memory_limit / memory_limit: a size ("512m") or a plain number of megabytes.
bool parse_memory_limit(std::string_view v, uint64_t* kb);
// The restart file of an app: DIR/restart.txt, DIR relative to the app root, default "tmp".
std::string restart_file(const std::string& root, const std::string& dir);

// The shell command line of `command ARGS...` (see directives.cpp).
std::string shell_words(const std::vector<std::string>& args);

// Parses one `app NAME { ... }` block into *out; errors (file:line) go to `errors`. For tests
// and the module.
void parse_app_block(const config::Directive& d, const std::string& prefix, AppConf* out,
                     std::vector<config::ConfigError>& errors);

}  // namespace portico::apps
