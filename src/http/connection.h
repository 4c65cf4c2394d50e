// Connection: one accepted HTTP/1.1 client connection and its request loop
// (read head -> process -> discard body -> write response -> keep-alive or close).
// Owned by its Worker; lives on that worker's thread only; destroyed through the loop's
// deferred deletion so a callback never frees the object it is running in.
// While idle in keep-alive it holds no buffer and no request: only this object (~200 bytes).
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "core/event_loop.h"
#include "core/sockaddr.h"
#include "core/timer_wheel.h"
#include "core/transport.h"
#include "http/chunked.h"
#include "http/worker_services.h"

namespace portico::http {

struct Request;
struct AddrConf;
struct Module;
class ModuleWorkerState;
class ContentSession;

class Connection final : public IoHandler, public Deferred {
 public:
  Connection(WorkerServices* worker, ListenPoint* listener, int fd, const SockAddr& peer,
             uint64_t id);
  ~Connection() override;

  void start();
  void on_io(uint32_t events) override;

  // Graceful stop: close now if idle, else finish the current request with Connection: close.
  void shutdown_gracefully();
  void close();

  uint64_t id() const { return id_; }
  int fd() const { return transport_.fd(); }
  bool idle() const { return state_ == State::kIdle && len_ == pos_; }
  // Waiting for a request with nothing received: may be closed to make room (nginx's
  // reusable connections).
  bool reusable() const {
    return (state_ == State::kIdle || state_ == State::kReadingHead) && len_ == pos_ && !req_;
  }
  const SockAddr& peer() const { return peer_; }
  uint32_t requests() const { return requests_; }
  WorkerServices* worker() const { return worker_; }
  // Index in the worker's connection list (O(1) removal); maintained by the worker.
  uint32_t slot = 0;
  ListenPoint* listener() const { return listener_; }
  // Local address of the socket ($server_addr/$server_port); fetched lazily.
  const SockAddr& local_addr();

  // This worker's state of module `m` (Module::create_worker_state), or null.
  ModuleWorkerState* module_state(const Module& m);

  // --- for content producers that take over the connection's I/O (proxy::Session) ---
  // Request body bytes that arrived with the head and are not consumed yet.
  std::string_view buffered_body() const;
  // The client socket. Content producers use it only through this object (TLS-safe).
  Transport& transport() { return transport_; }
  void consume_buffered(size_t n);
  // Bytes read past the end of the body: the start of the next pipelined request.
  void stash_pipelined(const char* data, size_t n);
  void set_body_done() { body_pending_ = false; }
  // The response went out whole; keep_alive: the connection may serve another request.
  void proxy_done(bool keep_alive);
  // Nothing was sent yet: answer `status` (error_page applies).
  void proxy_error(int status);
  // The response cannot be completed: log (with `status` if nothing was sent) and close.
  void proxy_abort(int status);

 private:
  enum class State : uint8_t {
    kIdle,
    kReadingHead,
    kReadingBody,
    kWriting,
    kProxying,
    kLingering,
    kClosed
  };
  struct ConnTimer : Timer {
    Connection* owner;
  };

  void drive();
  bool step_read_head();
  bool step_read_body();
  bool step_write();
  void step_linger();

  bool ensure_buffer();
  void release_buffer_if_empty();
  bool grow_buffer(size_t limit);
  void begin_request(size_t head_len);
  void fail_request(int status);
  void timeout_request(const char* while_doing);
  void ensure_request_with_generation();
  void prepare_response();
  void finish_request();
  void start_lingering_close();
  void start_proxy();
  void set_nodelay();
  void end_proxy();
  static void on_timer(Timer* t);
  void arm(uint64_t ms);

  WorkerServices* worker_;
  ListenPoint* listener_;
  Transport transport_;  // edge-triggered readiness: assume readable until a read says drained
  uint64_t id_;
  State state_ = State::kIdle;
  bool keep_alive_ = true;
  bool body_pending_ = false;  // request body bytes not yet read
  bool local_known_ = false;
  bool response_sent_ = false;
  bool nodelay_ = false;  // TCP_NODELAY set  // the response went out before the body was discarded
  uint32_t requests_ = 0;
  ConnTimer timer_;
  char* buf_ = nullptr;  // read buffer: a pooled block or, for large heads, a heap buffer
  size_t cap_ = 0;
  size_t len_ = 0;          // bytes in buf_
  size_t pos_ = 0;          // start of the current request / unprocessed bytes
  size_t parsed_len_ = 0;   // bytes the parser already saw incomplete (picohttpparser's last_len)
  size_t body_pos_ = 0;     // next unread body byte in buf_ (kReadingBody)
  uint64_t body_left_ = 0;  // Content-Length body bytes still to read
  size_t out_idx_ = 0;      // next output piece (0 = head)
  size_t out_off_ = 0;      // bytes of that piece already sent
  Request* req_ = nullptr;
  ContentSession* proxy_ = nullptr;  // the content session while kProxying
  Generation* gen_ = nullptr;
  ChunkedDecoder chunked_;
  SockAddr peer_;
  SockAddr local_{};
  uint64_t linger_deadline_ = 0;
};

}  // namespace portico::http
