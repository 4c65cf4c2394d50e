// Snapshot: one complete, validated configuration. Built by server/loader.cpp on the control
// thread, then shared read-only (std::shared_ptr<const Snapshot>) by every worker. Reload builds
// a new one and swaps it in; requests in flight keep the one they started with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/log_file.h"
#include "http/http_config.h"
#include "stream/stream_conf.h"

namespace portico {

struct MainConf {
  int worker_processes = 1;
  bool daemon = false;  // portico stays in the foreground unless told otherwise
  std::string pid_path;
  // control_socket: the command channel (server/control_socket.h); by default the pid file's
  // path with ".sock" for ".pid"; empty ("off", or no pid file): none.
  std::string control_socket;
  bool control_socket_set = false;
  std::vector<LogTarget> error_logs;
  int worker_connections = 512;
  uint64_t worker_shutdown_timeout = 0;  // 0 = wait for in-flight requests forever, as nginx
  uint64_t rlimit_nofile = 0;  // worker_rlimit_nofile; 0: the soft limit is raised to the hard one
};

struct Snapshot {
  std::string prefix;     // -p, with trailing '/'
  std::string conf_path;  // absolute path of the main config file
  MainConf main;
  http::HttpConf http;
  bool has_http = false;
  stream::StreamConf stream;
  bool has_stream = false;
  std::vector<std::string> files;  // every file read, for -T
  // Every access log file, http and stream: what USR1 reopens and a worker flushes.
  LogFiles log_files;
};

}  // namespace portico
