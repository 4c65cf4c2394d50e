// Connection: one accepted HTTP/1.1 client connection: its transport, the HTTP/1.1 codec and
// its request loop (read head -> process -> body -> write response -> keep-alive or close).
// It is the one owner of the client side: the head parser and the body decoder read through its
// transport, and every response (local content or a ContentSession's) goes out through one
// response path: a head event serialized by Http1Writer, body buffers (memory or file ranges),
// and an end, framed by the codec. Content that takes over the response (the proxy) sees it as a
// ClientStream and never touches the socket.
//
// Owned by its Worker; lives on that worker's thread only; destroyed through the loop's
// deferred deletion so a callback never frees the object it is running in.
// While idle in keep-alive it holds no buffer and no request: only this object (352 bytes).
//
// State and what is valid in it:
//   kReadingProxy: a `listen ... proxy_protocol` connection before its header; nothing read yet
//                 (the header is peeked, then exactly its bytes are consumed).
//   kIdle, kReadingHead: req_ may be null; buf_ holds received bytes [pos_, len_).
//   kReadingBody: the response is not out yet (discard before answering) or is (response_sent_);
//                 body_pos_/body_left_ (and the request's body_chunked) describe the body.
//   kWriting:     writer_ holds the response; out_skip_ body bytes of req_->out went out.
//   kProxying:    content_ (a ContentSession) drives; it reads the body and writes the response
//                 through the ClientStream calls below and ends with content_done/error/abort.
//   kDelaying:    limit_req delays the routed request (req_); the timer resumes it.
//   kLingering, kClosed: no request.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>

#include "core/event_loop.h"
#include "core/proxy_protocol.h"
#include "core/sockaddr.h"
#include "core/timer_wheel.h"
#include "core/transport.h"
#include "http/body_filter.h"
#include "http/client_stream.h"
#include "http/handler.h"
#include "http/http1_writer.h"
#include "http/worker_services.h"

namespace portico::tls {
class Session;
}

namespace portico::http {

struct Request;
struct AddrConf;
struct Module;
class ModuleWorkerState;
class ContentSession;

// A codec that takes the connection over after its first bytes (HTTP/2: the client preface on
// an `http2` address, or ALPN "h2" after the TLS handshake). The Connection keeps the socket,
// its transport and its timer and hands them its events; the codec owns the requests.
// Created by the factory the server installs (set_http2_codec), destroyed through the loop's
// deferred deletion when the connection closes. Worker thread only.
class ConnectionCodec : public Deferred {
 public:
  // Socket events (the transport already recorded them).
  virtual void on_io(uint32_t events) = 0;
  // The connection's timer fired.
  virtual void on_timer() = 0;
  // Graceful stop: finish the streams in flight, accept no new ones, then close.
  virtual void shutdown_gracefully() = 0;
  // The connection is closing: end every stream now (logs them), release what they hold.
  virtual void abort() = 0;
};

// Builds the HTTP/2 codec for `c`, whose first `n` received bytes are `data` (the codec takes a
// copy). Installed once at start-up by the layer that has one (server/modules.cpp).
using CodecFactory = ConnectionCodec* (*)(Connection& c, const char* data, size_t n);
void set_http2_codec(CodecFactory f);

class Connection final : public IoHandler, public Deferred, public ClientStream {
 public:
  Connection(WorkerServices* worker, ListenPoint* listener, int fd, const SockAddr& peer,
             uint64_t id);
  ~Connection() override;

  void start();
  void on_io(uint32_t events) override;

  // Graceful stop: close now if idle, else finish the current request with Connection: close.
  void shutdown_gracefully();
  void close();
  // The HTTP/2 codec is done (its GOAWAY is out): the codec goes, then lingering close as
  // nginx's (`lingering_time`, `lingering_timeout`), so what the client still sends does not
  // turn into a RST that destroys the last responses in flight.
  void close_codec_lingering(uint64_t linger_time, uint64_t linger_timeout);

  uint64_t id() const { return id_; }
  int fd() const { return transport_.fd(); }
  bool idle() const { return state_ == State::kIdle && len_ == pos_; }
  bool http2() const { return state_ == State::kHttp2; }
  // Waiting for a request with nothing received: may be closed to make room (nginx's
  // reusable connections).
  bool reusable() const {
    return (state_ == State::kIdle || state_ == State::kReadingHead) && len_ == pos_ && !req_;
  }
  const SockAddr& peer() const { return peer_; }
  uint32_t requests() const { return requests_; }
  // The worker loop's clock when the connection was accepted ($connection_time,
  // keepalive_time).
  uint64_t start_ms() const { return start_ms_; }
  WorkerServices* worker() const { return worker_; }
  // Index in the worker's connection list (O(1) removal); maintained by the worker.
  uint32_t slot = 0;
  ListenPoint* listener() const { return listener_; }
  // Local address of the socket ($server_addr/$server_port); fetched lazily.
  const SockAddr& local_addr();

  // The TLS layer of a connection accepted on a `listen ... ssl` address, else null.
  tls::Session* tls() const { return tls_.get(); }
  // The connection speaks TLS (not a plain request on a TLS port): $scheme is https.
  bool secure() const;

  // What the PROXY protocol header said on a `listen ... proxy_protocol` address, when it
  // carried addresses (v1 TCP4/TCP6, v2 PROXY over TCP); null otherwise, as nginx's
  // c->proxy_protocol.
  const ProxyHeader* proxy_protocol() const { return proxy_.get(); }

  // This worker's state of module `m` (Module::create_worker_state), or null.
  ModuleWorkerState* module_state(const Module& m);

  // For a ConnectionCodec that took the connection over (HTTP/2).
  Transport& transport() { return transport_; }
  void arm_timer(uint64_t ms) { arm(ms); }
  void cancel_timer() { worker_->loop().cancel(&timer_); }
  // The protocol the connection speaks: "h2" (over TLS), "h2c", or "" for HTTP/1.x ($http2).
  const char* http2_protocol() const { return codec_ ? (tls_ ? "h2" : "h2c") : ""; }
  // Requests served by the codec count too ($connection_requests).
  void count_request() { ++requests_; }

  // --- ClientStream: for the content session that produces the response (kProxying) ---
  uint64_t stream_id() const override { return id_; }
  void want_body() override;
  IoResult read_body(char* buf, size_t cap) override;
  bool body_complete() const override { return !body_pending_; }
  uint64_t body_received() const override;
  void send_head() override;
  IoResult send_body(std::span<const OutChunk> body, bool last) override;
  bool can_send() const override { return transport_.writable() && !rate_wait_; }
  bool output_pending() const override {
    return writer_.pending() || (req_ && req_->filter && req_->filter->pending());
  }
  bool response_complete() const override { return writer_.finished(); }
  bool client_closed() override;
  Transport& upgraded_transport() override { return transport_; }
  size_t take_buffered(char* buf, size_t cap) override;
  void content_done(bool keep_alive) override;
  void content_error(int status) override;
  void content_redirect(Step to) override;
  // After content ended without a response: what the pipeline decided instead.
  void content_outcome(Outcome out);
  void content_abort(int status) override;

 private:
  enum class State : uint8_t {
    kReadingProxy,  // a PROXY protocol header, before anything else (TLS included)
    kIdle,
    kReadingHead,
    kReadingBody,
    kWriting,
    kProxying,
    kDelaying,  // limit_req holds the request until the timer fires
    kLingering,
    kHttp2,  // codec_ drives the connection
    kClosed
  };
  struct ConnTimer : Timer {
    Connection* owner;
  };

  void drive();
  bool step_read_proxy();
  bool step_read_head();
  bool step_read_body();
  bool step_write();
  // read_body() for a consumer (limits: client_max_body_size on a chunked body) or for the
  // discard path (none, as nginx's discard_request_body).
  IoResult read_body_from(char* buf, size_t cap, bool enforce_limit);
  void send_continue();
  // The keep-alive decision and the head, for local and content-session responses alike.
  void start_response();
  // The body path: emit() runs the request's BodyFilter, if any, whose output (or the body
  // itself) goes to write_codec(), the HTTP/1.1 writer. Same results as send_body().
  IoResult emit(std::span<const OutChunk> body, size_t skip, bool last);
  IoResult write_codec(std::span<const OutChunk> body, size_t skip, bool last);
  IoResult write_paced(std::span<const OutChunk> body, size_t skip, bool last, bool use_sendfile);
  void step_linger();
  // The first bytes (or ALPN) say HTTP/2: hand the connection to the codec. Returns true when
  // the decision is made (check state_), false when more bytes are needed to tell.
  bool detect_http2();

  bool ensure_buffer();
  void release_buffer_if_empty();
  bool grow_buffer(size_t limit);
  void begin_request(size_t head_len);
  void after_phases(Outcome out);
  void fail_request(int status);
  void timeout_request(const char* while_doing);
  void ensure_request_with_generation();
  void prepare_response();
  void finish_request();
  void start_lingering_close(uint64_t linger_time);
  void start_content();
  bool start_tls();
  void set_nodelay();
  void end_content();
  // Bytes read past the end of a chunked body: the start of the next pipelined request.
  void stash_pipelined(const char* data, size_t n);
  static void on_timer(Timer* t);
  void arm(uint64_t ms);

  WorkerServices* worker_;
  ListenPoint* listener_;
  Transport transport_;  // edge-triggered readiness: assume readable until a read says drained
  std::unique_ptr<tls::Session> tls_;   // the transport's layer on a TLS address
  std::unique_ptr<ProxyHeader> proxy_;  // see proxy_protocol()
  uint64_t id_;
  State state_ = State::kIdle;
  bool keep_alive_ = true;
  bool body_pending_ = false;  // request body bytes not yet read
  bool local_known_ = false;
  bool response_sent_ = false;  // the response went out before the body was discarded
  bool nodelay_ = false;        // TCP_NODELAY set
  bool continue_sent_ = false;  // "100 Continue" went out for this request
  bool pipelined_ = false;      // the next request's bytes came with the last one ($pipe)
  bool h2_check_ = false;       // the first bytes may be HTTP/2's (detect_http2)
  bool rate_wait_ = false;      // limit_rate: the timer says when the response may go on
  uint32_t requests_ = 0;
  uint64_t start_ms_ = 0;
  ConnTimer timer_;
  char* buf_ = nullptr;  // read buffer: a pooled block or, for large heads, a heap buffer
  size_t cap_ = 0;
  size_t len_ = 0;          // bytes in buf_
  size_t pos_ = 0;          // start of the current request / unprocessed bytes
  size_t parsed_len_ = 0;   // bytes the parser already saw incomplete (picohttpparser's last_len)
  size_t body_pos_ = 0;     // next unread body byte in buf_ (kReadingBody)
  uint64_t body_left_ = 0;  // Content-Length body bytes still to read
  size_t out_skip_ = 0;     // body bytes of req_->out written (kWriting)
  Request* req_ = nullptr;
  ContentSession* content_ = nullptr;  // the content session while kProxying
  ConnectionCodec* codec_ = nullptr;   // the HTTP/2 codec while kHttp2
  Generation* gen_ = nullptr;
  Http1Writer writer_;  // the response's
  SockAddr peer_;
  SockAddr local_{};
  uint64_t linger_deadline_ = 0;
  uint32_t linger_timeout_ms_ = 5'000;  // lingering_timeout of the last request
};

}  // namespace portico::http
