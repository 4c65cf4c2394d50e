// Runtime: the process-wide server. Owns the listening sockets (one per worker per address,
// SO_REUSEPORT) and the workers; applies new snapshots on reload by diffing listen addresses,
// so unchanged sockets are kept and no pending connection is lost. Owned by server::Master;
// control thread only, except the exit hook, which runs on the worker threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "server/snapshot.h"
#include "server/worker.h"

namespace portico::server {

class Runtime {
 public:
  ~Runtime();
  // Runs on each worker's thread when that worker has ended (see Worker::set_exit_hook); must
  // only hand over to the control thread (EventLoop::post). REQUIRES: before start().
  void set_worker_exit_hook(std::function<void()> fn) { exit_hook_ = std::move(fn); }
  // Binds every listen address, then starts the workers. On error nothing is left open.
  Status start(std::shared_ptr<const Snapshot> snapshot);
  // Binds new addresses first; if any fails, the old configuration stays in force.
  Status reload(std::shared_ptr<const Snapshot> snapshot);
  void stop(bool graceful);
  void join();
  // Every worker has ended (after stop()).
  bool finished() const;
  // Workers running; fixed at start (worker_processes changes apply on restart).
  int workers() const { return int(workers_.size()); }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }

 private:
  Status open_address(const config::ListenAddr& a, int workers, std::vector<int>* fds);
  void close_address(const std::string& key);

  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, std::vector<int>> sockets_;  // key -> fd per worker (or one, shared)
  std::map<std::string, std::string> unix_paths_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::function<void()> exit_hook_;
};

}  // namespace portico::server
