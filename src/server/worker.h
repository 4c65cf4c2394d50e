// Worker: one thread with its own event loop, its own listening sockets (SO_REUSEPORT) and the
// connections it accepted. A connection lives and dies on one worker; nothing here is shared
// with other workers, so the request path takes no lock. The control thread talks to a worker
// only through EventLoop::post (new snapshot, stop); a worker tells the control thread that it
// has ended through the exit hook, which posts to the control thread's loop.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/event_loop.h"
#include "core/file_cache.h"
#include "http/module.h"
#include "http/worker_services.h"
#include "server/snapshot.h"
#include "upstream/local.h"

namespace portico::http {
class Connection;
struct Request;
struct AddrConf;
}  // namespace portico::http

namespace portico::stream {
class Session;
struct Server;
}  // namespace portico::stream

namespace portico::server {

class Worker;

// One listening socket of one worker.
class Listener final : public IoHandler, public http::ListenPoint {
 public:
  Listener(Worker* w, std::string key, int fd, bool shared);
  ~Listener();
  void on_io(uint32_t events) override;

  const std::string& key() const { return key_; }
  int fd() const { return fd_; }
  bool shared() const { return shared_; }
  // http::ListenPoint::addr: servers for this address in the worker's current snapshot; null
  // once removed by a reload.
  // Or, for a stream{} listener, its server (null once removed by a reload).
  const stream::Server* stream_server = nullptr;
  bool stream_proxy_protocol = false;  // that server's `listen ... proxy_protocol` here
  bool stream_ssl = false;             // that server's `listen ... ssl` here
  uint32_t connections = 0;
  // Registered in the worker's epoll for accept events. Set only by Worker::watch/unwatch;
  // close_socket clears it.
  bool watched = false;
  void close_socket();

 private:
  Worker* worker_;
  std::string key_;
  int fd_;
  bool shared_;  // the socket is shared by all workers (unix:): not closed here
};

// A config generation as seen by one worker: the snapshot plus how many requests use it.
struct Generation : http::Generation {
  explicit Generation(std::shared_ptr<const Snapshot> s) : snapshot(std::move(s)) {
    http = &snapshot->http;
  }
  std::shared_ptr<const Snapshot> snapshot;
};

// What the control thread hands a worker for one listen address.
struct ListenerSocket {
  std::string key;
  int fd = -1;
  bool shared = false;
};

class Worker final : public http::WorkerServices {
 public:
  Worker(int index, std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> sockets);
  ~Worker();

  // Called on the worker thread once its loop has ended and finished() is true; the control
  // thread uses it to learn of the end without polling. REQUIRES: before start().
  void set_exit_hook(std::function<void()> fn) { on_exit_ = std::move(fn); }
  Status start();  // spawns the thread
  void join();

  // Control thread: adopt a new snapshot; `added` sockets are new listen addresses for this
  // worker, `removed` keys are closed.
  void post_reload(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> added,
                   std::vector<std::string> removed);
  void post_stop(bool graceful);
  bool finished() const { return finished_.load(std::memory_order_acquire); }

  // Stops watching the listeners (connection limit reached, or accept() failing with EMFILE);
  // with retry_ms, tries again after that long.
  void pause_accepting(uint64_t retry_ms);
  // Watches every listener again. One that cannot be registered is logged and retried every
  // kAcceptRetryMs by the accept timer, never left silently deaf.
  void resume_accepting();
  static constexpr uint64_t kAcceptRetryMs = 500;  // as nginx after an accept() failure
  // Closes up to 32 idle keep-alive connections; false if there were none.
  bool reuse_idle_connections(int limit);

  // --- worker thread only (http::WorkerServices) ---
  EventLoop& loop() override { return loop_; }
  http::ModuleWorkerState* module_state(int i) override { return module_states_[size_t(i)].get(); }
  http::WorkerStats& stats() override { return stats_; }
  const http::WorkerStats& stats() const { return stats_; }
  int index() const override { return index_; }
  Generation* acquire_generation() override;
  void release_generation(http::Generation* g) override;
  const Snapshot& snapshot() const { return *current_->snapshot; }
  bool draining() const override { return draining_; }

  http::Request* acquire_request() override;
  void release_request(http::Request* r) override;
  char* acquire_block() override;
  void release_block(char* b) override;

  void on_accept(Listener* l);
  void connection_opened(http::Connection* c) override;
  void connection_closed(http::Connection* c) override;
  uint64_t next_connection_id();

 private:
  void run();
  void apply_reload(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> added,
                    std::vector<std::string> removed);
  void bind_listeners_to_snapshot();
  Status watch(Listener& l);
  void unwatch(Listener& l);
  void watch_listeners();
  void begin_stop(bool graceful);
  void maybe_finish_stop();

  int index_;
  EventLoop loop_;
  std::thread thread_;
  Generation* current_ = nullptr;
  std::vector<Generation*> old_generations_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Listener>> retired_listeners_;
  std::vector<ListenerSocket> initial_sockets_;
  std::vector<http::Request*> free_requests_;
  std::vector<char*> free_blocks_;
  // Connections, for graceful stop and close-idle: intrusive list would be leaner; a vector with
  // swap-remove keeps it simple and cache-friendly.
  std::vector<http::Connection*> connections_;
  std::vector<stream::Session*> stream_sessions_;
  static void stream_closed(void* self, stream::Session* s);
  FileCache file_cache_;
  upstream::Local upstreams_{loop_};  // after loop_: destroyed before it
  // Per-module worker state (the proxy's Context), after upstreams_: destroyed before it.
  std::vector<std::unique_ptr<http::ModuleWorkerState>> module_states_;
  std::function<void()> on_exit_;
  uint32_t active_connections_ = 0;
  http::WorkerStats stats_;  // http connections and requests, for status pages
  bool draining_ = false;
  bool stopping_ = false;
  bool accept_paused_ = false;
  struct AcceptTimer : Timer {
    Worker* worker = nullptr;
  } accept_timer_, shutdown_timer_, flush_timer_;
  void arm_flush_timer();  // every access_log flush= interval of the current snapshot
  std::atomic<bool> finished_{false};
};

}  // namespace portico::server
