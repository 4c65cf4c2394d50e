// Session: the HTTP/2 codec of one client connection (libnghttp2's server session), the
// http::ConnectionCodec an http::Connection hands itself to after the client preface (h2c on an
// `http2` address) or ALPN "h2" (TLS). The Connection keeps the socket, its Transport (plain or
// TLS) and its timer; the session reads through the transport into nghttp2_session_mem_recv and
// writes what nghttp2_session_mem_send produces, gathered in one bounded output buffer. Each
// request is a Stream (http2/stream.h).
//
// Work happens outside libnghttp2's callbacks: the callbacks record (a stream's head is complete,
// body bytes arrived, room to send) and queue the stream; run() then processes the queue, so
// content (the proxy) never runs inside libnghttp2 and a stream reset in the same read is never
// processed at all. Output that content produces from its own events asks the loop to run the
// session soon (EventLoop::soon), later in the same iteration.
//
// Limits, on by default (research/tls-h2-compression.md 2.5):
//  - concurrent streams: http2_max_concurrent_streams (SETTINGS, enforced by libnghttp2); new
//    streams in one read beyond twice that are refused (nginx 1.25.3's Rapid Reset answer);
//  - resets: the client's RST_STREAMs (libnghttp2's token bucket) and the ones we send because
//    of the client (MadeYouReset) share a budget: past it, GOAWAY ENHANCE_YOUR_CALM;
//  - CONTINUATION: at most 8 per header block (libnghttp2); header bytes bounded by
//    large_client_header_buffers, fields by count (HeadCollector); HPACK table 4096 bytes;
//  - PING/SETTINGS floods: queued acknowledgements bounded (libnghttp2's max_outbound_ack);
//  - empty DATA frames (and trailer-less empty frames) counted: past a budget, GOAWAY;
//  - input is not read while output waits for the socket: memory stays bounded;
//  - a connection whose streams make no progress for send_timeout (a zero window held open)
//    is closed.
//
// Owned by its Connection (destroyed through the loop's deferred deletion); worker thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "http/connection.h"
#include "http2/http2_module.h"

namespace portico::http2 {

class Stream;

class Session final : public http::ConnectionCodec {
 public:
  Session(http::Connection& c, const Http2Conf& conf);
  ~Session() override;

  // Creates the libnghttp2 session, queues our SETTINGS and feeds the bytes already received.
  // False: the input is not HTTP/2 (the connection is closed by the next run()).
  bool init(const char* data, size_t n);

  // ---- http::ConnectionCodec ----
  void on_io(uint32_t events) override;
  void on_timer() override;
  void shutdown_gracefully() override;
  void abort() override;

  // ---- for streams ----
  http::Connection& conn() { return conn_; }
  nghttp2_session* native() { return h_; }
  // abort() ran: libnghttp2 calls are over.
  bool native_closed() const { return closed_; }
  const Http2Conf& conf() const { return conf_; }
  // Queues `s` for run_pending() and makes sure the session runs (now if it is running,
  // else soon).
  void wake(Stream* s);
  // Output was queued in libnghttp2 (a response, a window update): flush it soon.
  void kick();
  // A reset we send because of what the client did (counts toward the reset budget).
  void count_reset();
  // A stream ended; it goes back to the pool.
  void release(Stream* s);

  // ---- libnghttp2 callbacks ----
  int on_begin_headers(const nghttp2_frame* f);
  int on_header(const nghttp2_frame* f, std::string_view name, std::string_view value);
  int on_frame_recv(const nghttp2_frame* f);
  int on_data_chunk(uint8_t flags, int32_t id, const uint8_t* data, size_t len);
  int on_stream_close(int32_t id, uint32_t error_code);
  int on_frame_send(const nghttp2_frame* f);
  int on_frame_not_send(const nghttp2_frame* f, int error);

 private:
  struct SoonEntry : Soon {
    Session* owner = nullptr;
  };

  void run();
  // Feeds input to libnghttp2. False (logged, dead_) when it is not valid HTTP/2.
  bool feed(const char* data, size_t n);
  bool read_input();
  bool flush();
  void append_frames(const uint8_t* p, size_t n);
  void dispatch();
  void rearm();
  void finish();
  void calm_down(const char* why);
  Stream* stream(int32_t id);

  http::Connection& conn_;
  const Http2Conf conf_;  // a copy: the snapshot it came from may go on reload
  nghttp2_session* h_ = nullptr;
  std::string wbuf_;  // frames to write; wpos_ bytes of it went out
  size_t wpos_ = 0;
  size_t open_head_ = std::string::npos;  // a header frame in wbuf_ a CONTINUATION may join
  // The client preface (magic and the first frame header) until it is judged: nginx lets a
  // client open with a frame other than SETTINGS (nginx's own test client does); libnghttp2
  // does not, so an empty SETTINGS is fed first for such a client.
  std::string preface_;
  bool preface_done_ = false;
  std::vector<int32_t> ready_;  // streams with work (ids: a stream may close meanwhile)
  std::vector<int32_t> running_;
  std::vector<Stream*> active_;
  std::vector<Stream*> free_;
  SoonEntry soon_;
  uint64_t last_progress_ms_ = 0;
  uint64_t reset_tokens_ = 0;  // the reset budget (token bucket)
  uint64_t reset_refill_ms_ = 0;
  uint32_t new_streams_in_read_ = 0;
  uint32_t empty_frames_ = 0;
  uint64_t streams_total_ = 0;
  bool busy_ = false;       // inside run()
  bool dead_ = false;       // close at the end of run()
  bool closed_ = false;     // abort() ran
  bool draining_ = false;   // GOAWAY sent: no new streams
  bool peer_gone_ = false;  // the client closed or the socket failed: no lingering
  bool hostile_ = false;    // a connection error (ENHANCE_YOUR_CALM, invalid frames): no lingering
};

}  // namespace portico::http2
