#include "http2/session.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <memory>

#include "core/log.h"
#include "http/http_config.h"
#include "http2/stream.h"

namespace portico::http2 {

namespace {

constexpr size_t kWriteHigh = 32 * 1024;    // stop producing frames past this much unwritten
constexpr size_t kReadBudget = 256 * 1024;  // bytes read per round before others get a turn
constexpr uint32_t kMaxEmptyFrames = 1024;  // empty DATA/HEADERS-less frames per connection
constexpr uint64_t kResetBurst = 256;       // resets (both directions) in a burst ...
constexpr uint64_t kResetPerSecond = 33;    // ... and sustained (nghttp2's rate)
constexpr size_t kPooledStreams = 8;        // closed streams a session keeps for its next ones
// ... and the worker keeps for any session: a connection with many streams in flight (a page's
// assets, h2load -m 32) would otherwise allocate and free a stream, and its field buffers, per
// request. Bounded: 512 closed streams of ~1 KiB each per worker at most.
constexpr size_t kWorkerPooledStreams = 512;
thread_local std::vector<std::unique_ptr<Stream>> t_stream_pool;
constexpr size_t kMaxResponseHead = 1024 * 1024;  // a response header block (HPACK input)
// SETTINGS_MAX_FRAME_SIZE we accept, as nginx (NGX_HTTP_V2_MAX_FRAME_SIZE): libnghttp2 reads
// frames in pieces (header blocks are decoded as they arrive, DATA goes to the stream's
// window), so a large frame costs no buffer; header bytes are bounded by
// large_client_header_buffers, bodies by the stream's window.
constexpr uint32_t kMaxFrameSize = (1u << 24) - 1;

// What libnghttp2's HTTP messaging checked for a request field, as nginx checks it
// (ngx_http_v2_validate_header): NUL, CR or LF anywhere, and in a name ':' past the first byte
// or an upper-case letter, make the request malformed (RST_STREAM PROTOCOL_ERROR); so do the
// connection-specific fields RFC 9113 8.2.2 forbids. Names with other odd bytes are left to
// ignore_invalid_headers (the HTTP/1.1 parser's rules).
bool field_error(std::string_view name, std::string_view value) {
  if (name.empty()) return true;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '\0' || c == '\r' || c == '\n' || (c == ':' && i > 0) || (c >= 'A' && c <= 'Z'))
      return true;
  }
  for (char c : value)
    if (c == '\0' || c == '\r' || c == '\n') return true;
  if (name[0] == ':') return false;
  switch (name.size()) {
    case 2:
      return name == "te" && value != "trailers";
    case 7:
      return name == "upgrade";
    case 10:
      return name == "connection" || name == "keep-alive";
    case 16:
      return name == "proxy-connection";
    case 17:
      return name == "transfer-encoding";
    default:
      return false;
  }
}

Session* of(void* user_data) {
  return static_cast<Session*>(user_data);
}

int cb_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* u) {
  return of(u)->on_begin_headers(f);
}
int cb_header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* u) {
  return of(u)->on_header(f, std::string_view(reinterpret_cast<const char*>(name), namelen),
                          std::string_view(reinterpret_cast<const char*>(value), valuelen));
}
int cb_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* u) {
  return of(u)->on_frame_recv(f);
}
int cb_data_chunk(nghttp2_session*, uint8_t flags, int32_t id, const uint8_t* data, size_t len,
                  void* u) {
  return of(u)->on_data_chunk(flags, id, data, len);
}
int cb_stream_close(nghttp2_session*, int32_t id, uint32_t code, void* u) {
  return of(u)->on_stream_close(id, code);
}
int cb_frame_send(nghttp2_session*, const nghttp2_frame* f, void* u) {
  return of(u)->on_frame_send(f);
}
int cb_frame_not_send(nghttp2_session*, const nghttp2_frame* f, int error, void* u) {
  return of(u)->on_frame_not_send(f, error);
}
int cb_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* u) {
  of(u)->count_reset();  // the client made us answer with an error
  return 0;
}

// The callbacks are the same for every session: built once.
nghttp2_session_callbacks* callbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    if (nghttp2_session_callbacks_new(&c) != 0) abort();
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(c, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, cb_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, cb_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, cb_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(c, cb_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(c, cb_frame_not_send);
    return c;
  }();
  return cbs;
}

nghttp2_option* options() {
  static nghttp2_option* opt = [] {
    nghttp2_option* o = nullptr;
    if (nghttp2_option_new(&o) != 0) abort();
    // The content decides when body bytes are consumed: the window is the request body buffer.
    nghttp2_option_set_no_auto_window_update(o, 1);
    // Request fields and the body's length are judged here, as nginx judges them: a body that
    // does not match its Content-Length gets 400 (libnghttp2 would reset the stream), fields
    // are checked by field_error() and the HTTP/1.1 parser the collected head goes through.
    nghttp2_option_set_no_http_messaging(o, 1);
    nghttp2_option_set_max_outbound_ack(o, 1000);  // PING/SETTINGS floods
    nghttp2_option_set_max_settings(o, 32);
    nghttp2_option_set_stream_reset_rate_limit(o, 1000, 33);  // Rapid Reset
    nghttp2_option_set_max_continuations(o, 8);               // CONTINUATION flood
    nghttp2_option_set_max_deflate_dynamic_table_size(o, 4096);
    // A response head may be as large as the configuration makes it (add_header with long
    // values, an upstream's head up to proxy_buffer_size): libnghttp2's 64 KiB default would
    // refuse it. It is bounded here, and a head over it ends the stream (on_frame_not_send).
    nghttp2_option_set_max_send_header_block_length(o, kMaxResponseHead);
    // RFC 9218 priorities for clients that say they use them (SETTINGS_NO_RFC7540_PRIORITIES),
    // RFC 7540's dependency tree for the others, as nginx 1.22 schedules them.
    nghttp2_option_set_server_fallback_rfc7540_priorities(o, 1);
    return o;
  }();
  return opt;
}

}  // namespace

Session::Session(http::Connection& c, const Http2Conf& conf) : conn_(c), conf_(conf) {
  soon_.owner = this;
  soon_.fn = [](Soon* s) { static_cast<SoonEntry*>(s)->owner->run(); };
  reset_tokens_ = kResetBurst;
}

Session::~Session() {
  assert(active_.empty());
  for (Stream* s : free_) delete s;
  if (h_) nghttp2_session_del(h_);
}

bool Session::init(const char* data, size_t n) {
  if (nghttp2_session_server_new2(&h_, callbacks(), this, options()) != 0) abort();  // no memory
  const uint32_t window = uint32_t(std::max<uint64_t>(conf_.body_preread_size, 1024));
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, conf_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, kMaxFrameSize},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},  // RFC 9218: urgency from `priority`
  };
  nghttp2_submit_settings(h_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  // The connection window bounds nothing here (each stream's does): open it wide, as nginx.
  nghttp2_session_set_local_window_size(h_, NGHTTP2_FLAG_NONE, 0, (1 << 30));
  last_progress_ms_ = conn_.worker()->loop().now_ms();
  reset_refill_ms_ = last_progress_ms_;
  return feed(data, n);
}

bool Session::feed(const char* data, size_t n) {
  constexpr size_t kMagic = 24, kHead = kMagic + 9;
  if (!preface_done_) {
    const size_t take = std::min(n, kHead - preface_.size());
    preface_.append(data, take);
    data += take;
    n -= take;
    if (preface_.size() < kHead) return true;
    preface_done_ = true;
    const uint8_t type = uint8_t(preface_[kMagic + 3]), flags = uint8_t(preface_[kMagic + 4]);
    if (type != NGHTTP2_SETTINGS || (flags & NGHTTP2_FLAG_ACK)) {
      static constexpr char kEmptySettings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
      std::string fixed = preface_.substr(0, kMagic);
      fixed.append(kEmptySettings, sizeof kEmptySettings);
      fixed += preface_.substr(kMagic);
      preface_.swap(fixed);
    }
    if (!feed(preface_.data(), preface_.size())) return false;
    std::string().swap(preface_);
  }
  if (n == 0) return true;
  new_streams_in_read_ = 0;
  const ssize_t rv = nghttp2_session_mem_recv(h_, reinterpret_cast<const uint8_t*>(data), n);
  if (rv < 0) {
    PORTICO_LOG(LogLevel::kInfo, conn_.id(), "client sent invalid HTTP/2 data ({})",
                nghttp2_strerror(int(rv)));
    dead_ = true;
    hostile_ = true;
    return false;
  }
  return true;
}

Stream* Session::stream(int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(h_, id));
}

// ---- the loop --------------------------------------------------------------------------------

void Session::on_io(uint32_t) {
  run();
}

void Session::run() {
  if (closed_ || busy_) return;
  busy_ = true;
  for (int round = 0; round < 64 && !dead_; ++round) {
    bool progress = read_input();
    dispatch();
    progress = flush() || progress;
    if (!progress && ready_.empty()) break;
    if (round == 63) conn_.worker()->loop().soon(&soon_);  // more to do: after the others
  }
  busy_ = false;
  if (!dead_ && !nghttp2_session_want_read(h_) && !nghttp2_session_want_write(h_) &&
      wpos_ == wbuf_.size() && active_.empty())
    dead_ = true;  // GOAWAY exchanged (or the client is done): nothing left to do
  if (!dead_ && draining_ && active_.empty() && wpos_ == wbuf_.size()) dead_ = true;
  if (dead_) {
    finish();
    return;
  }
  rearm();
}

// The end: a client that is gone is closed; otherwise our last frames (GOAWAY, the last
// responses) are out, and the socket lingers as nginx's lingering close (lingering_close off:
// closed at once).
void Session::finish() {
  const http::AddrConf* addr = conn_.listener()->addr;
  const http::LocationConf* loc =
      addr && addr->default_server ? addr->default_server->loc : nullptr;
  if (peer_gone_ || hostile_ || wpos_ != wbuf_.size() ||
      (loc && loc->lingering_close == http::LocationConf::Linger::kOff)) {
    conn_.close();  // -> abort()
    return;
  }
  conn_.close_codec_lingering(loc ? loc->lingering_time : 30'000,
                              loc ? loc->lingering_timeout : 5'000);
}

// Reads and feeds libnghttp2 until the socket is drained (or the round's budget is spent).
// Not while output waits for the socket: a client that does not read does not get to write.
bool Session::read_input() {
  if (wpos_ < wbuf_.size() && !conn_.transport().writable()) return false;
  Transport& t = conn_.transport();
  char buf[16384];
  size_t total = 0;
  while (t.readable() && total < kReadBudget && !dead_) {
    IoResult rd = t.read(buf, sizeof buf);
    if (rd.again()) break;
    if (!rd.progress()) {
      if (rd.error())
        PORTICO_LOG(LogLevel::kInfo, conn_.id(), "recv() failed ({}) while processing HTTP/2",
                    errno_text(rd.err()));
      dead_ = true;  // eof or error: the client is gone
      peer_gone_ = true;
      break;
    }
    total += rd.bytes();
    feed(buf, rd.bytes());
  }
  if (total > 0) last_progress_ms_ = conn_.worker()->loop().now_ms();
  return total > 0;
}

// Produces frames into the output buffer and writes it. True when bytes went out.
bool Session::flush() {
  Transport& t = conn_.transport();
  bool wrote = false;
  for (;;) {
    // A header block is produced whole (bounded by kMaxResponseHead), so its frames can join.
    while ((wbuf_.size() - wpos_ < kWriteHigh || open_head_ != std::string::npos) && !dead_) {
      const uint8_t* p = nullptr;
      const ssize_t n = nghttp2_session_mem_send(h_, &p);
      if (n < 0) {
        PORTICO_LOG(LogLevel::kAlert, conn_.id(), "nghttp2_session_mem_send() failed ({})",
                    nghttp2_strerror(int(n)));
        dead_ = true;
        break;
      }
      if (n == 0) break;
      append_frames(p, size_t(n));
    }
    if (wpos_ == wbuf_.size()) {
      wbuf_.clear();
      wpos_ = 0;
      return wrote;
    }
    if (!t.writable()) return wrote;
    IoResult w = t.write(wbuf_.data() + wpos_, wbuf_.size() - wpos_);
    if (w.again()) return wrote;
    if (!w.progress()) {
      PORTICO_LOG(LogLevel::kInfo, conn_.id(), "writev() failed ({}) while processing HTTP/2",
                  errno_text(w.err()));
      dead_ = true;
      peer_gone_ = true;
      wbuf_.clear();
      wpos_ = 0;
      return wrote;
    }
    wrote = true;
    last_progress_ms_ = conn_.worker()->loop().now_ms();
    wpos_ += w.bytes();
    if (wpos_ == wbuf_.size()) {
      wbuf_.clear();
      wpos_ = 0;
    } else if (wpos_ >= kWriteHigh) {
      wbuf_.erase(0, wpos_);
      wpos_ = 0;
    }
    open_head_ = std::string::npos;  // (partly) written: not to be changed any more
  }
}

// Appends what nghttp2_session_mem_send produced. libnghttp2 cuts every header block into
// 16 KiB frames whatever the peer accepts; nginx sends it in as few frames as the peer's
// SETTINGS_MAX_FRAME_SIZE allows. A CONTINUATION that follows a header frame still unwritten in
// the buffer is joined to it when the sum fits (libnghttp2 pads no header frame: the payloads
// are plain header block fragments).
void Session::append_frames(const uint8_t* p, size_t n) {
  auto u24 = [](const uint8_t* b) { return size_t(b[0]) << 16 | size_t(b[1]) << 8 | b[2]; };
  auto frame_of = [&](const uint8_t* b) { return 9 + u24(b); };
  if (n < 9 || frame_of(p) != n) {  // not one whole frame: as it is
    wbuf_.append(reinterpret_cast<const char*>(p), n);
    open_head_ = std::string::npos;
    return;
  }
  const uint8_t type = p[3], flags = p[4];
  if (type == NGHTTP2_CONTINUATION && open_head_ != std::string::npos && open_head_ >= wpos_ &&
      open_head_ + 9 <= wbuf_.size()) {
    auto* h = reinterpret_cast<uint8_t*>(wbuf_.data() + open_head_);
    const size_t len = u24(h), add = n - 9;
    const uint32_t peer_max =
        nghttp2_session_get_remote_settings(h_, NGHTTP2_SETTINGS_MAX_FRAME_SIZE);
    if (std::memcmp(h + 5, p + 5, 4) == 0 && open_head_ + 9 + len == wbuf_.size() &&
        len + add <= peer_max) {
      const size_t sum = len + add;
      h[0] = uint8_t(sum >> 16);
      h[1] = uint8_t(sum >> 8);
      h[2] = uint8_t(sum);
      h[4] |= flags & NGHTTP2_FLAG_END_HEADERS;
      wbuf_.append(reinterpret_cast<const char*>(p + 9), add);
      if (flags & NGHTTP2_FLAG_END_HEADERS) open_head_ = std::string::npos;
      return;
    }
  }
  open_head_ = std::string::npos;
  if ((type == NGHTTP2_HEADERS || type == NGHTTP2_CONTINUATION) &&
      !(flags & NGHTTP2_FLAG_END_HEADERS) && !(flags & NGHTTP2_FLAG_PADDED))
    open_head_ = wbuf_.size();
  wbuf_.append(reinterpret_cast<const char*>(p), n);
}

void Session::dispatch() {
  while (!ready_.empty() && !dead_) {
    running_.swap(ready_);
    for (int32_t id : running_) {
      Stream* s = stream(id);
      if (!s || !s->queued) continue;  // closed meanwhile
      s->queued = false;
      s->run_pending();
      if (dead_ || closed_) break;
    }
    running_.clear();
  }
}

void Session::wake(Stream* s) {
  if (!s->queued) {
    s->queued = true;
    ready_.push_back(s->id());
  }
  kick();
}

void Session::kick() {
  if (!busy_ && !closed_) conn_.worker()->loop().soon(&soon_);
}

// ---- timers -----------------------------------------------------------------------------------

void Session::rearm() {
  const http::AddrConf* addr = conn_.listener()->addr;
  const http::LocationConf* loc =
      addr && addr->default_server ? addr->default_server->loc : nullptr;
  if (active_.empty()) {
    // Idle: keepalive_timeout, as nginx; before the first stream keepalive_timeout 0 would end
    // the connection at once, so the client gets client_header_timeout to send one.
    uint64_t idle = loc ? loc->keepalive_timeout : 75'000;
    if (idle == 0 && streams_total_ == 0) idle = addr->default_server->client_header_timeout;
    conn_.arm_timer(idle);
    return;
  }
  conn_.arm_timer(loc ? loc->send_timeout : 60'000);
}

void Session::on_timer() {
  if (closed_) return;
  if (active_.empty()) {
    // Idle past keepalive_timeout: GOAWAY, then close.
    nghttp2_session_terminate_session(h_, NGHTTP2_NO_ERROR);
    dead_ = true;
    busy_ = true;
    flush();
    busy_ = false;
    finish();
    return;
  }
  // Streams in flight: a proxied one keeps its own time; anything else that made no progress
  // for send_timeout (a client holding a zero window, a body that never comes) ends here.
  const http::AddrConf* addr = conn_.listener()->addr;
  const uint64_t limit =
      addr && addr->default_server ? addr->default_server->loc->send_timeout : 60'000;
  const uint64_t now = conn_.worker()->loop().now_ms();
  bool stalled = false;
  for (Stream* s : active_)
    if (!s->has_content() && (s->output_waiting() || s->waiting_for_body())) stalled = true;
  if (stalled && now - last_progress_ms_ >= limit) {
    PORTICO_LOG(LogLevel::kInfo, conn_.id(),
                "client timed out (110: Connection timed out) while processing HTTP/2 connection");
    conn_.close();
    return;
  }
  rearm();
}

// ---- graceful stop, close ---------------------------------------------------------------------

void Session::shutdown_gracefully() {
  if (closed_ || draining_) return;
  draining_ = true;
  nghttp2_submit_goaway(h_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  run();
}

void Session::abort() {
  if (closed_) return;
  closed_ = true;
  dead_ = true;
  conn_.cancel_timer();
  // Streams log and release what they hold; the vector shrinks as they go.
  while (!active_.empty()) active_.back()->close(NGHTTP2_CANCEL);
}

void Session::release(Stream* s) {
  const uint32_t i = s->slot;
  assert(i < active_.size() && active_[i] == s);
  active_[i] = active_.back();
  active_[i]->slot = i;
  active_.pop_back();
  if (h_ && !closed_) nghttp2_session_set_stream_user_data(h_, s->id(), nullptr);
  if (free_.size() < kPooledStreams) {
    free_.push_back(s);
  } else if (t_stream_pool.size() < kWorkerPooledStreams) {
    t_stream_pool.emplace_back(s);
  } else {
    delete s;
  }
}

void Session::count_reset() {
  const uint64_t now = conn_.worker()->loop().now_ms();
  const uint64_t refill = (now - reset_refill_ms_) * kResetPerSecond / 1000;
  if (refill > 0) {
    reset_tokens_ = std::min(kResetBurst, reset_tokens_ + refill);
    reset_refill_ms_ = now;
  }
  if (reset_tokens_ > 0) {
    --reset_tokens_;
    return;
  }
  calm_down("too many stream resets");
}

void Session::calm_down(const char* why) {
  if (dead_) return;
  PORTICO_LOG(LogLevel::kInfo, conn_.id(), "client {}, closing HTTP/2 connection", why);
  hostile_ = true;  // closed at once once the GOAWAY is out: no lingering for an attacker
  nghttp2_session_terminate_session(h_, NGHTTP2_ENHANCE_YOUR_CALM);
  draining_ = true;
  // Streams in flight end with the connection once the GOAWAY is out.
  for (Stream* s : active_)
    nghttp2_submit_rst_stream(h_, NGHTTP2_FLAG_NONE, s->id(), NGHTTP2_CANCEL);
  kick();
}

// ---- libnghttp2 callbacks ---------------------------------------------------------------------

int Session::on_begin_headers(const nghttp2_frame* f) {
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (draining_) return 0;
  // Rapid Reset (nginx 1.25.3): a read that opens more than twice the concurrency limit is not
  // a browser's; the excess is refused.
  if (++new_streams_in_read_ > 2 * conf_.max_concurrent_streams) {
    nghttp2_submit_rst_stream(h_, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    count_reset();
    return 0;
  }
  Stream* s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else if (!t_stream_pool.empty()) {
    s = t_stream_pool.back().release();
    t_stream_pool.pop_back();
    s->rebind(this);
  } else {
    s = new Stream(this);
  }
  s->slot = uint32_t(active_.size());
  active_.push_back(s);
  nghttp2_session_set_stream_user_data(h_, f->hd.stream_id, s);
  s->open(f->hd.stream_id);
  // keepalive_requests applies to streams (nginx 1.19.7), and keepalive_time to the
  // connection's age when a stream opens: the last one gets GOAWAY with it.
  const http::AddrConf* addr = conn_.listener()->addr;
  const http::LocationConf* loc =
      addr && addr->default_server ? addr->default_server->loc : nullptr;
  const uint64_t max = loc ? loc->keepalive_requests : 1000;
  const uint64_t max_age = loc ? loc->keepalive_time : 3'600'000;
  const uint64_t age = conn_.worker()->loop().now_ms() - conn_.start_ms();
  const bool no_keepalive = loc && loc->keepalive_timeout == 0;
  if ((++streams_total_ >= max || age > max_age || no_keepalive) && !draining_) {
    draining_ = true;
    nghttp2_submit_goaway(h_, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  return 0;
}

int Session::on_header(const nghttp2_frame* f, std::string_view name, std::string_view value) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = stream(f->hd.stream_id);
  if (!s) return 0;
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: not used
  if (s->rejected()) return 0;
  if (field_error(name, value)) {
    PORTICO_LOG(LogLevel::kInfo, conn_.id(), "client sent invalid header in HTTP/2 request");
    s->reject();
    nghttp2_submit_rst_stream(h_, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
    count_reset();
    return 0;
  }
  const Stream::Field got = s->on_field(name, value);
  if (got == Stream::Field::kOk) return 0;
  if (got == Stream::Field::kOverLimit) {
    // nginx: "client exceeded http2_max_field_size / http2_max_header_size limit", a
    // connection error.
    calm_down("exceeded the header size limit (large_client_header_buffers)");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  // Over large_client_header_buffers or the field count: the stream ends here (the rest of
  // the block is still decoded by libnghttp2, to keep HPACK in step, and dropped).
  PORTICO_LOG(LogLevel::kInfo, conn_.id(), "client sent too large header in HTTP/2 request");
  count_reset();
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int Session::on_frame_recv(const nghttp2_frame* f) {
  const bool end_stream = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
  switch (f->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = stream(f->hd.stream_id);
      if (!s) return 0;
      if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (s->rejected()) return 0;  // its RST_STREAM is on the way
        // $request_length counts the header block as sent (HPACK-coded), as nginx.
        size_t block = f->hd.length;
        if (f->hd.flags & NGHTTP2_FLAG_PADDED) block -= std::min(block, f->headers.padlen + 1);
        if (f->hd.flags & NGHTTP2_FLAG_PRIORITY) block -= std::min<size_t>(block, 5);
        s->on_head_done(end_stream, block);
        wake(s);
      } else if (end_stream) {
        s->on_body_end();  // trailers end the body
      }
      return 0;
    }
    case NGHTTP2_DATA: {
      if (f->hd.length == 0 && !end_stream && ++empty_frames_ > kMaxEmptyFrames)
        calm_down("sent too many empty frames");
      if (!end_stream) return 0;
      if (Stream* s = stream(f->hd.stream_id)) s->on_body_end();
      return 0;
    }
    case NGHTTP2_RST_STREAM:
      count_reset();
      return 0;
    case NGHTTP2_CONTINUATION:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_WINDOW_UPDATE:
      if (f->hd.type == NGHTTP2_PRIORITY && ++empty_frames_ > 16 * kMaxEmptyFrames)
        calm_down("sent too many PRIORITY frames");
      return 0;
    default:
      return 0;
  }
}

int Session::on_data_chunk(uint8_t, int32_t id, const uint8_t* data, size_t len) {
  Stream* s = stream(id);
  if (!s) {
    nghttp2_session_consume_connection(h_, len);  // a stream we refused or ended
    return 0;
  }
  if (!s->on_data(data, len)) {
    nghttp2_session_consume_connection(h_, len);
    nghttp2_submit_rst_stream(h_, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
    count_reset();
  }
  return 0;
}

int Session::on_stream_close(int32_t id, uint32_t error_code) {
  if (Stream* s = stream(id)) s->close(error_code);
  return 0;
}

int Session::on_frame_send(const nghttp2_frame* f) {
  if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    if (Stream* s = stream(f->hd.stream_id)) s->on_response_sent();
  }
  return 0;
}

// A frame libnghttp2 could not send. A response head it refused (over kMaxResponseHead) would
// leave the stream open with no answer coming: the stream is reset, so it ends (logged 500).
int Session::on_frame_not_send(const nghttp2_frame* f, int error) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  PORTICO_LOG(LogLevel::kError, conn_.id(), "HTTP/2 response header not sent ({})",
              nghttp2_strerror(error));
  if (Stream* s = stream(f->hd.stream_id); s && f->headers.cat == NGHTTP2_HCAT_RESPONSE)
    s->on_head_not_sent();
  nghttp2_submit_rst_stream(h_, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
  return 0;
}

// ---- the factory --------------------------------------------------------------------------------

http::ConnectionCodec* make_codec(http::Connection& c, const char* data, size_t n) {
  const http::AddrConf* addr = c.listener()->addr;
  static const Http2Conf kDefaults;
  const Http2Conf& conf =
      addr && addr->default_server ? addr->default_server->loc->conf<Http2Conf>() : kDefaults;
  auto* s = new Session(c, conf);
  s->init(data, n);
  return s;
}

}  // namespace portico::http2
