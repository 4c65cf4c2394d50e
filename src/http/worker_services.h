// WorkerServices: what an http Connection needs from the worker thread that owns it, so that
// http/ does not depend on server/ (server::Worker implements it). Everything here is called
// on that worker's thread only; nothing blocks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/event_loop.h"
#include "http/worker_stats.h"

namespace portico::http {

class Connection;
struct Request;
struct HttpConf;
struct AddrConf;
class ModuleWorkerState;

// One configuration generation as seen by one worker, and how many requests pin it: a
// request finishes on the generation it started with, whatever reloads happen meanwhile.
struct Generation {
  const HttpConf* http = nullptr;
  uint32_t refs = 0;
};

// A listening socket as its connections see it: the servers for its address in the worker's
// current generation (null once a reload removed the address).
struct ListenPoint {
  const AddrConf* addr = nullptr;
};

class WorkerServices {
 public:
  // Read buffers are fixed-size blocks recycled per worker.
  static constexpr size_t kBlockSize = 4096;

  virtual EventLoop& loop() = 0;
  virtual int index() const = 0;  // the worker's number (per-worker log buffers)
  // Graceful stop in progress: finish the current request, then close.
  virtual bool draining() const = 0;

  // The current generation, pinned until released.
  virtual Generation* acquire_generation() = 0;
  virtual void release_generation(Generation* g) = 0;
  // Requests and read blocks come from per-worker free lists: a warm request allocates none.
  virtual Request* acquire_request() = 0;
  virtual void release_request(Request* r) = 0;
  virtual char* acquire_block() = 0;
  virtual void release_block(char* b) = 0;

  virtual void connection_opened(Connection* c) = 0;
  virtual void connection_closed(Connection* c) = 0;
  // This worker's traffic counters (single writer: this thread).
  virtual WorkerStats& stats() = 0;
  // This worker's state of the http module with index `i`, or null.
  virtual ModuleWorkerState* module_state(int i) = 0;

 protected:
  ~WorkerServices() = default;
};

}  // namespace portico::http
