// Runtime: the process-wide server. Owns the listening sockets (one per worker per address,
// SO_REUSEPORT) and the workers; applies new snapshots on reload by diffing listen addresses,
// so unchanged sockets are kept and no pending connection is lost. Control thread only.
#pragma once

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
  // Binds every listen address, then starts the workers. On error nothing is left open.
  Status start(std::shared_ptr<const Snapshot> snapshot);
  // Binds new addresses first; if any fails, the old configuration stays in force.
  Status reload(std::shared_ptr<const Snapshot> snapshot);
  void stop(bool graceful);
  void join();
  bool finished() const;
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }

 private:
  Status open_address(const config::ListenAddr& a, int workers, std::vector<int>* fds);
  void close_address(const std::string& key);

  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, std::vector<int>> sockets_;  // key -> fd per worker (or one, shared)
  std::map<std::string, std::string> unix_paths_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace portico::server
