// Session: one proxied TCP connection of a stream{} server. On a `listen ... ssl` address it
// first runs the TLS handshake (after allow/deny, within ssl_handshake_timeout; a client
// certificate is checked as nginx's stream ssl module does). Then either answers `return VALUE`
// or picks a peer with the server's upstream group (retrying others while connecting, or with
// proxy_ssl the TLS handshake to the upstream, fails) and relays both directions: with splice(2)
// through a pipe each when both transports are plain (can_splice()), else through one buffer of
// proxy_buffer_size per direction (a TLS layer on either side). Honours proxy_half_close and the
// idle proxy_timeout, and writes the stream access log at the end. Owned by its Worker; lives on
// that worker's thread; deleted through the loop's deferred deletion.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/proxy_protocol.h"
#include "core/sockaddr.h"
#include "core/timer_wheel.h"
#include "core/transport.h"
#include "stream/stream_conf.h"
#include "tls/session.h"
#include "upstream/local.h"
#include "upstream/tried_set.h"

namespace portico::stream {

class Session final : public Deferred {
 public:
  // `proxy_protocol`: the connection came to a `listen ... proxy_protocol` address and starts
  // with a PROXY protocol header. `ssl`: to a `listen ... ssl` address (server->ssl_ctx set).
  Session(upstream::Local* ctx, const Server* server, std::shared_ptr<const void> pin, int fd,
          const SockAddr& peer, uint64_t id, void (*on_close)(void*, Session*), void* arg,
          bool proxy_protocol = false, bool ssl = false);
  ~Session() override;

  void start();
  void close_now();   // worker stopping
  uint32_t slot = 0;  // index in the worker's session list

 private:
  struct End final : IoHandler {
    Session* s;
    bool client;
    void on_io(uint32_t ev) override { s->on_io(client, ev); }
  };
  struct Dir {
    int pipe_r = -1, pipe_w = -1;
    size_t in_pipe = 0;
    // The buffered relay (a TLS side): bytes [start, end) of buf wait for the destination.
    std::unique_ptr<char[]> buf;
    size_t start = 0, end = 0;
    uint64_t bytes = 0;
    bool eof = false;   // source finished
    bool shut = false;  // destination shut down for writing
  };
  struct SessionTimer : Timer {
    Session* owner;
  };

  // After the PROXY protocol header (if any): realip, access, the first connect.
  void begin();
  // Reads the PROXY protocol header (peeked, then exactly its bytes consumed).
  void read_proxy_header();
  // Sends the PROXY protocol header to the upstream; false while some of it waits.
  bool flush_proxy_header();
  // limit_conn: false (and the session ends) when a limit refuses it.
  bool limit_conn();
  // After access (and the TLS handshake): `return`, or the first connect.
  void proceed();
  // The client's TLS handshake: started, then stepped on the client's events.
  void start_tls();
  void client_handshake();
  // `return VALUE`: writes it (as far as the client takes it), then ends the session.
  void write_return();
  // proxy_ssl: the TLS layer on the connected upstream socket; then its handshake steps.
  void start_upstream_tls();
  void upstream_handshake();
  // The upstream connection (attempt) failed: release the peer, try the next.
  void upstream_failed();
  // Connected (and, with proxy_ssl, handshaken): records $upstream_connect_time.
  void note_connected();
  // Then the relay starts.
  void start_relay();
  void connect_next();
  void on_io(bool client, uint32_t ev);
  void pump();
  bool move(Transport& from, Transport& to, Dir& d);
  bool move_buffered(Transport& from, Transport& to, Dir& d);
  void finish(int status);
  static void on_timer(Timer* t);
  void log();
  void append_per_attempt(std::string& out, uint64_t bytes) const;
  // Appends a compiled value (a log line, the `hash` key) with this session's variables.
  // `log`: a log line, where a variable that is not found ($ssl_* on a plain connection)
  // writes "-", as nginx's stream log (elsewhere: nothing).
  void append_value(const LogFormat& f, std::string& out, bool log = false);
  const SockAddr& local_addr();  // getsockname, once

  upstream::Local* ctx_;
  const Server* server_;
  std::shared_ptr<const void> pin_;              // keeps the snapshot (and server_) alive
  std::shared_ptr<upstream::LocalGroup> group_;  // this worker's side of the upstream group
  upstream::TriedSet tried_;
  // Declared before the transports, destroyed after them (a transport's close uses its layer).
  std::unique_ptr<tls::Session> client_tls_;
  std::unique_ptr<tls::Session> up_tls_;
  Transport client_t_;
  Transport up_t_;
  int peer_ = -1;  // the slot picked, until released
  uint32_t tries_ = 0;
  uint32_t tries_seen_ = 0;  // see LocalGroup::try_limit
  SockAddr client_;          // the client's address (the PROXY protocol source after realip)
  SockAddr peer_addr_;       // the connection's own peer ($realip_remote_addr)
  // limit_conn counts this session holds, released when it ends.
  std::vector<std::atomic<uint64_t>*> conn_holds_;
  std::unique_ptr<ProxyHeader> pp_;  // the received header, when it had addresses
  bool reading_pp_ = false;
  bool in_epoll_ = false;
  char pp_out_[kProxyV1MaxHeader];  // the header for the upstream
  uint8_t pp_out_len_ = 0, pp_out_sent_ = 0;
  SockAddr local_{};
  bool local_known_ = false;
  uint64_t first_try_ms_ = 0;  // proxy_next_upstream_timeout counts from here
  uint64_t id_;
  End client_end_, up_end_;
  bool connecting_ = false;
  bool ssl_ = false;             // a `listen ... ssl` address
  bool handshaking_ = false;     // the client's TLS handshake runs
  bool up_handshaking_ = false;  // the upstream's TLS handshake runs
  bool splice_ = true;           // relay with splice(2): both transports plain
  bool returning_ = false;       // writing `return`'s value
  std::string ret_;
  size_t ret_sent_ = 0;
  bool done_ = false;
  Dir c2u_, u2c_;
  SessionTimer timer_;
  struct timespec start_ {};
  uint64_t attempt_ms_ = 0;
  int64_t connect_ms_ = -1;
  std::string upstream_addr_;
  std::string connect_times_;  // per attempt: its connect time, "-" when it did not connect
  int status_ = 200;
  void (*on_close_)(void*, Session*);
  void* on_close_arg_;
};

}  // namespace portico::stream
