// Session: one proxied request: pick a peer, connect (or reuse a pooled connection), send the
// request head and stream the body, read and validate the response head, then stream the body
// back to the client; retry on another peer where proxy_next_upstream allows it; tunnel after a
// 101 (WebSocket).
//
// The client side is a ClientStream (the codec): the session reads the request body from it
// de-chunked, and hands it the response as a head event (r.resp with the upstream's fields),
// body buffers and an end; it never touches the client socket nor frames HTTP/1 itself. The
// upstream side is a Transport of its own (or of a pooled connection).
//
// Owned by the client Connection (created when the content phase hands the request to the
// proxy, destroyed when the connection has taken the outcome). Worker thread only. Never
// blocks. Memory: one 32 KiB buffer per direction, plus what proxy_buffering holds (the spool:
// proxy_buffers in memory, then a temporary file) and a buffered request body (memory, then a
// temporary file). With `queue N`, a request that finds no free peer waits in the group's queue
// (upstream::LocalGroup) as an upstream::Waiter until a peer frees up (on_wake) or its queue
// timeout answers 503.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/event_loop.h"
#include "core/log.h"
#include "core/timer_wheel.h"
#include "core/transport.h"
#include "core/tunnel.h"
#include "http/chunked.h"
#include "http/client_stream.h"
#include "http/module.h"
#include "proxy/context.h"
#include "proxy/headers.h"
#include "proxy/proxy_conf.h"
#include "proxy/response_parser.h"
#include "proxy/spool.h"
#include "upstream/local_group.h"
#include "upstream/tried_set.h"
#include "upstream/wait_queue.h"

namespace portico::tls {
class Session;
}

namespace portico::http {
struct Request;
}  // namespace portico::http

namespace portico::proxy {

class Session final : public IoHandler, public http::ContentSession, public upstream::Waiter {
 public:
  // `client`: the request's client side (the codec); the session reads the body and writes the
  // response only through it.
  Session(http::ClientStream* client, http::Request* r, Context* ctx);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() override;
  void on_io(uint32_t events) override;  // the upstream socket
  // The client can take more, sent more, or went away (forwarded by the connection).
  void on_client_io(uint32_t events) override;
  // The client connection is going away (closed, worker stopping): drop everything now.
  void abort() override;
  // upstream::Waiter: queued (`queue N`) and a peer may be free: tries to get one now. Returns
  // whether it left the queue.
  bool on_wake() override;

 private:
  // What is valid in each state:
  //   kConnecting: peer_ >= 0, up_ set (connect in progress); kQueued: no peer, in ctx_'s queue.
  //   kSending:    up_ null while a kBuffered/kNone body is read before connecting; else up_
  //                set and head_/the body go out.
  //   kReadingHead: the request is out (or the upstream answered early); rbuf_ holds the head.
  //   kRelaying:   response_started_; the head went to the codec; spool_/out_data_ hold body
  //                bytes the client has not taken (never both non-empty).
  //   kTunnel:     after a 101: tunnel_ relays both ways.
  //   kDone:       the outcome went to the client stream; nothing else is touched.
  enum class State : uint8_t {
    kResolving,  // waiting for the resolver (proxy_pass with a name computed per request)
    kConnecting,
    kSending,
    kReadingHead,
    kRelaying,
    kTunnel,
    kQueued,
    kDone
  };
  enum class Wait : uint8_t {
    kNone,
    kConnect,
    kUpstreamWrite,
    kUpstreamRead,
    kClientRead,
    kClientWrite,
    kTunnelIdle,
    kQueue
  };
  struct SessionTimer : Timer {
    Session* owner;
  };
  // After the response started: close the client (and the upstream).
  // kPeer: the upstream caused it (timeout, premature close, bad framing) and it counts toward
  // max_fails; a client going away or timing out, or an idle tunnel, does not (nginx counts
  // failures only where it would try the next upstream).
  enum class Fault : uint8_t { kNone, kPeer };

  // ---- session.cpp: lifecycle, events, timers, failures ----
  // Runs the state's step until one makes no progress (each returns true when the state
  // changed or may move on, false when it waits or the session ended).
  void pump();
  // The client closed its side while we wait on the upstream (nginx's check_broken_connection).
  bool client_gone();
  // Arms the timer for wait `w`. The client and the upstream side each keep a deadline, set
  // when a wait of that kind begins and kept until that side makes progress, so events that
  // move nothing (a client sending bytes while it reads none) never push a timeout back, and
  // when both sides are blocked both timeouts run.
  void wait(Wait w, uint64_t ms);
  void client_progress() { client_dl_.at = 0; }
  void upstream_progress() { up_dl_.at = 0; }
  static void on_timer(Timer* t);
  std::string log_suffix() const;
  void note_attempt_end(int status);
  // An attempt failed before anything reached the client: retry or answer `status`.
  void upstream_failed(uint32_t condition, int status, const std::string& why);
  // passenger_max_request_time (PeerConfig::max_request_ms): when this attempt must have ended
  // (loop ms; 0 = no limit), and what happens then (504, or the response cut short).
  uint64_t overtime_at() const;
  void overtime();
  void fail_client(const std::string& why, Fault fault, LogLevel level = LogLevel::kError);
  void release_peer(bool failed);
  void close_upstream();

  // ---- session_connect.cpp: target, peer (or the queue), connection ----
  // Finds the group to use: kFailed after answering when there is none, kResolving while the
  // resolver looks a name up (on_resolved() goes on).
  enum class Target : uint8_t { kReady, kFailed, kResolving };
  Target resolve_target();
  // The group of a name looked up at run time (its answer); false after answering 502.
  bool use_answer(const dns::Answer& a);
  static void on_resolved(dns::Resolver::Waiter* w, const dns::Answer& a);
  // start() once the group is known: the request head, the body, the first peer.
  void start_upstream();
  bool start_upstream_tls(const upstream::Peer& p);
  // proxy_bind on the new upstream socket; false after failing the attempt.
  bool bind_local(int fd);
  // The TLS handshake with the upstream is not done yet: it runs under proxy_connect_timeout.
  bool handshaking() const;
  uint64_t send_timeout_ms() const {
    return handshaking() ? conf_->connect_timeout_ms : conf_->send_timeout_ms;
  }
  void connect_next();
  uint32_t try_limit() { return group_->try_limit(conf_->next_upstream_tries, &tries_seen_); }
  void connected();

  // ---- session_request.cpp: request head and body ----
  bool build_request_head();
  // Reads more client body from the codec into ubuf_. Returns false when the caller must stop
  // (waiting, or the session ended). *progress: body bytes became available.
  bool read_client_body(bool* progress);
  void client_body_failed(int err);
  bool store_body(const char* data, size_t n);
  void end_stored_head();
  // Sends the head and streams the body. Returns true when the state changed.
  bool send_request();
  void upstream_send_failed(const char* call, IoResult res);

  // ---- session_response.cpp: response head ----
  bool read_response_head();
  void begin_response();
  // X-Accel-Redirect: the upstream named another URI (or @location) to answer with; its
  // connection is dropped and the request goes on there as a GET (HEAD stays HEAD).
  void accel_redirect(std::string_view to);

  // ---- session_relay.cpp: response body, spool, tunnel ----
  bool relay_response();
  // proxy_limit_rate: trims *want to what may be read now; false (timer set) when nothing may.
  bool upstream_rate_allows(size_t* want);
  // An app group in its crash backoff (Group::unavailable_retry_after): 503 with Retry-After
  // at once, produced here since the codec's error pages carry no extra fields.
  void respond_unavailable(uint32_t retry_after_s);
  // Sends what the client is owed (spool, pending piece, the codec's head and framing) while it
  // takes it. Returns false when the session ended.
  bool send_to_client();
  // Whether n more bytes can be held now (configures the spool and opens its file on need).
  bool can_spool(size_t n);
  bool spool_data();
  // The whole response has been read: the upstream connection goes back to the pool (or is
  // closed) and the peer is released, even while the client is still reading.
  void end_upstream();
  void finish();
  bool tunnel();

  http::ClientStream* client_;
  http::Request* r_;
  Context* ctx_;
  const ProxyConf* conf_;
  const ProxyPass* pass_;
  // The snapshot the request runs on keeps its upstreams alive, so a plain pointer: copying
  // the shared_ptr would bounce its reference count between workers on every request. Only a
  // group made at run time for a proxy_pass with variables is held (the per-worker cache may
  // drop it meanwhile).
  const upstream::UpstreamConf* upstream_ = nullptr;
  std::shared_ptr<const upstream::UpstreamConf> dynamic_upstream_;
  // proxy_pass with a name the resolver looks up (state kResolving).
  struct DnsWait : dns::Resolver::Waiter {
    Session* owner = nullptr;
  };
  DnsWait dns_wait_;
  dns::Resolver* resolver_ = nullptr;
  std::string dns_hostport_;
  uint16_t dns_port_ = 0;
  bool var_has_uri_ = false;  // proxy_pass with variables and a URI part: sent verbatim
  std::string var_uri_;
  // This worker's side of the group: its balancer (peers by slot), its wait queue.
  std::shared_ptr<upstream::LocalGroup> group_;
  upstream::TriedSet tried_;
  State state_ = State::kConnecting;
  Wait wait_ = Wait::kNone;
  SessionTimer timer_;
  SessionTimer rate_timer_;  // proxy_limit_rate: when the upstream may be read again
  struct Deadline {
    Wait wait = Wait::kNone;
    uint64_t at = 0;  // loop ms; 0 = not waiting on this side
  };
  Deadline client_dl_, up_dl_;

  // Upstream connection: up_ is pconn_'s transport (upstreams with keepalive) or own_up_.
  Transport* up_ = nullptr;
  // The TLS layer of own_up_ (proxy_pass https://); declared first, so it outlives the
  // transport that closes through it. A pooled connection shares it.
  std::shared_ptr<tls::Session> up_tls_;
  bool ssl_ = false;  // this request's upstream speaks TLS
  Transport own_up_;
  upstream::Pool::Conn* pconn_ = nullptr;
  int peer_ = -1;             // the slot picked for this attempt, until released
  uint32_t up_requests_ = 0;  // requests the connection carried before this one (pooled)
  uint32_t tries_ = 0;
  uint32_t tries_seen_ = 0;  // see LocalGroup::try_limit
  uint64_t start_ms_ = 0;
  uint64_t attempt_ms_ = 0;
  bool request_sent_any_ = false;

  // Request to the upstream
  std::string head_;  // serialized request head
  size_t head_off_ = 0;
  BodyMode body_mode_ = BodyMode::kNone;
  bool body_done_ = true;         // the whole client body has been read
  bool body_replayable_ = true;   // every body byte sent so far can be sent again
  std::unique_ptr<char[]> ubuf_;  // client -> upstream
  size_t ubuf_off_ = 0, ubuf_len_ = 0;
  std::string frame_;  // chunk header before ubuf_ data
  size_t frame_off_ = 0;
  std::string post_;  // CRLF after chunk data (and the last-chunk)
  size_t post_off_ = 0;
  bool pooled_ = false;  // this attempt reuses a keep-alive connection
  // kBuffered: the whole body is in r_->body; kSet: proxy_set_body's value.
  std::string set_body_;
  size_t stored_off_ = 0;  // of the stored body, sent so far in this attempt

  // Response from the upstream
  std::unique_ptr<char[]> rbuf_;  // upstream -> client
  size_t rcap_ = 0, rlen_ = 0, rpos_ = 0;
  size_t parsed_ = 0;
  ResponseHead head_in_;
  BodyFraming framing_ = BodyFraming::kNone;
  uint64_t resp_left_ = 0;
  http::ChunkedDecoder resp_chunked_;
  bool resp_done_ = false;
  bool response_started_ = false;
  bool buffering_ = false;       // proxy_buffering for this response (X-Accel-Buffering)
  bool upstream_ended_ = false;  // end_upstream() ran
  // Body bytes the client has not taken, oldest first: the spool (held, proxy_buffering), then
  // the pending piece of rbuf_ (decoded, never both: new bytes behind held ones join the spool).
  // The codec frames them on the way out.
  Spool spool_;
  bool spool_ready_ = false;  // configured (on first use)
  const char* out_data_ = nullptr;
  size_t out_data_len_ = 0;

  // After a 101: the client's stream and up_ relayed both ways through ubuf_ and rbuf_.
  Tunnel tunnel_;
};

}  // namespace portico::proxy
