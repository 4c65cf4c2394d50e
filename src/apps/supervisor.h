// Supervisor: runs the processes of the managed apps (apps/app_conf.h) on the control thread,
// through the ChildHost it is given (server::Control): Passenger's ApplicationPool with the
// Enterprise parts free.
//
//   spawn      `/bin/sh -c "exec COMMAND"` (generic), node with portico's listen shim, or
//              python with portico's WSGI loader, through apps/spawn.h (never a plain fork:
//              see there); in the app root, in a session and process group of its own, with
//              PORT (a free loopback port) and the app's environment; PR_SET_PDEATHSIG(SIGKILL),
//              so no process outlives portico, even after a kill -9 of portico.
//   output     stdout and stderr through pipes into the app's log (or the error log), one line
//              at a time with the pid and the stream; never blocking (partial lines are
//              bounded); reopen_logs() on USR1.
//   ready      TCP connect to the port, or `GET uri` answered 2xx/3xx, retried every 50 ms
//              until start_timeout (then SIGKILL): only then is the process add_peer()ed to
//              the app's groups.
//   death      noticed at once (pidfd): its peers are removed and a replacement started,
//              after the crash backoff (apps/backoff.h). While no process is ready and the
//              last start failed, the groups say so (Group::set_unavailable) and requests get
//              503 with Retry-After instead of waiting.
//   reload     configure(): an app whose settings did not change keeps its processes (they are
//              published into the new snapshot's groups before it goes live); a changed app is
//              replaced one process at a time (new one ready and added, then an old one drained
//              and stopped), so its capacity never drops; if the new version never becomes
//              ready the old processes keep serving; removed apps stop.
//   recycle    every 250 ms (tick): a process past max_requests, memory_limit (PSS from
//              /proc, read each second) or max_lifetime is replaced like a changed one (new
//              one first); requests waiting for the app scale it up towards max_instances;
//              a process above the minimum idle for idle_time stops; a new mtime of the
//              restart file (restart.txt) restarts the app (apps/pool.h decides, pure).
//   stop       stop(): peers drained, the stop signal to each process group, SIGKILL after
//              stop_timeout; `done` runs once every process has been reaped.
//
// Threads: the host's thread only. Publishing into groups is the upstream layer's publisher API
// (group.h), the only thing workers see of the supervisor.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "apps/app_conf.h"
#include "core/child_host.h"
#include "core/status.h"

namespace portico::apps {

class Supervisor {
 public:
  explicit Supervisor(ChildHost& host);
  // SIGKILLs the process group of every process still running and reaps nothing (the host
  // goes away too); stop() first for a graceful end.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Phase one of a (re)configuration, before the snapshot holding `apps` goes live: every ready
  // process of an app that stays unchanged is published into that app's new groups, so the
  // new snapshot never sees them empty. Harmless if the snapshot is then dropped.
  void prepare(const std::vector<std::shared_ptr<const AppConf>>& apps);
  // Phase two, once the snapshot is live: starts new apps (min_instances at once), replaces
  // changed ones one process at a time, stops removed ones.
  void configure(const std::vector<std::shared_ptr<const AppConf>>& apps);
  // Stops every app (graceful: the stop signal, then SIGKILL after each app's stop_timeout;
  // fast: the stop signal, then SIGKILL after 1 s at most); `done` runs on the host thread once
  // no process is left (at once if there is none).
  void stop(bool graceful, std::function<void()> done);
  // USR1: reopens every app log file.
  void reopen_logs();
  // `portico app restart NAME` (and a touched restart.txt): a new generation replaces every
  // process, one at a time unless rolling restarts are off.
  Status restart(const std::string& name);
  // `portico app scale NAME N`: N processes from now on (the new minimum; max still bounds
  // scaling up) until the app's configuration changes.
  Status scale(const std::string& name, uint32_t n);

  // `portico status --json`: every app (state, generation, target, waiting requests, restarts,
  // the last start failure with the tail of its stderr) and each of its processes (pid, state,
  // generation, port, requests in flight and processed, RSS/PSS, CPU seconds, uptime, why it
  // is being replaced).
  std::string status_json() const;
  // The same, as a table for people (`portico status`).
  std::string status_text() const;
  // The last status (as status_json's object) the supervisor published (once a second while
  // it runs apps), for status pages on worker threads; null before the first.
  static std::shared_ptr<const nlohmann::json> published_status();

  // For tests and status: the pids of an app's processes that are ready.
  std::vector<int> ready_pids(const std::string& app) const;
  size_t process_count() const;

  class App;
  class Process;

 private:
  friend class App;
  friend class Process;
  void maybe_done();
  const std::string& node_shim();
  const std::string& wsgi_loader();
  // A directory of portico's own (mode 0755, removed at exit) for the loaders and the
  // processes' socket directories; empty when it could not be made.
  const std::string& runtime_dir();
  uint64_t next_socket_id() { return ++sockets_made_; }

  nlohmann::json status_object() const;  // {"apps": [...]}
  void publish_status();
  struct PublishTimer : Timer {
    Supervisor* owner = nullptr;
  };
  PublishTimer publish_timer_;

  ChildHost& host_;
  std::map<std::string, std::unique_ptr<App>> apps_;
  bool stopping_ = false;
  std::function<void()> done_;
  std::string loader_dir_;  // private directory with the node shim and the WSGI loader
  std::string node_shim_path_, wsgi_loader_path_;
  uint64_t sockets_made_ = 0;
};

}  // namespace portico::apps
