#include "http/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/time_cache.h"
#include "http/handler.h"
#include "http/module.h"
#include "http/phases.h"
#include "http/request.h"
#include "http/ssl_module.h"
#include "http/uri.h"
#include "http/user_agent.h"
#include "http/worker_services.h"
#include "tls/session.h"

namespace portico::http {

namespace {
CodecFactory g_http2_codec = nullptr;

// nginx's keep-alive checks past keepalive_requests/_timeout: keepalive_time (the connection's
// age) and keepalive_disable (MSIE 6 after a POST, Safari on Mac OS X).
bool keepalive_allowed(const Request& r, uint64_t age_ms) {
  const LocationConf& l = *r.loc;
  if (age_ms > l.keepalive_time) return false;
  if (l.keepalive_disable == 0) return true;
  const Header* ua = r.head.find("user-agent");
  if (!ua) return true;
  const uint8_t f = user_agent_flags(ua->value);
  if ((f & kUaMsie6) && (l.keepalive_disable & kUaMsie6) && r.head.method == Method::kPost)
    return false;
  return !((f & kUaSafari) && (l.keepalive_disable & kUaSafari));
}
}  // namespace

void set_http2_codec(CodecFactory f) {
  g_http2_codec = f;
}

Connection::Connection(WorkerServices* worker, ListenPoint* listener, int fd, const SockAddr& peer,
                       uint64_t id)
    : worker_(worker), listener_(listener), transport_(fd), id_(id), peer_(peer) {
  // A deferred accept hands over a connection whose first request is (likely) readable.
  transport_.set_ready(true, true);
  timer_.cb = &Connection::on_timer;
  timer_.owner = this;
}

Connection::~Connection() {
  assert(!transport_.is_open() && buf_ == nullptr && req_ == nullptr);
}

void Connection::start() {
  start_ms_ = worker_->loop().now_ms();
  worker_->connection_opened(this);
  if (!worker_->loop().add(transport_.fd(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this)) {
    close();
    return;
  }
  const auto* addr = listener_->addr;
  // The first request gets client_header_timeout from accept (nginx: post_accept_timeout).
  arm(addr && addr->default_server ? addr->default_server->client_header_timeout : 60'000);
  state_ = State::kReadingHead;
  if (addr && addr->listen.proxy_protocol) {
    state_ = State::kReadingProxy;  // TLS starts after the header
  } else if (addr && addr->tls && !start_tls()) {
    close();
    return;
  }
  // HTTP/2: ALPN on a TLS address, the client preface on a plain `http2` one.
  h2_check_ = g_http2_codec && addr && (addr->tls || addr->listen.http2);
  drive();
}

// Reads the PROXY protocol header (nginx's ngx_proxy_protocol_read in the first read handler),
// under client_header_timeout from accept. It peeks, so not a byte past the header is taken:
// what follows is the request or a TLS ClientHello, read by the codec or the TLS layer as if
// the header had never been there. Returns true when the state changed.
bool Connection::step_read_proxy() {
  if (!transport_.readable()) return false;
  char buf[kProxyMaxHeader];
  IoResult rd = transport_.raw_peek(buf, sizeof buf);
  if (rd.again()) return false;
  if (!rd.progress()) {
    if (rd.error())
      PORTICO_LOG(LogLevel::kInfo, id_, "recv() failed ({}) while reading PROXY protocol",
                  errno_text(rd.err()));
    close();
    return false;
  }
  ProxyHeader h;
  size_t used = 0;
  const char* why = "";
  switch (parse_proxy_header(std::string_view(buf, rd.bytes()), &h, &used, &why)) {
    case ProxyParse::kIncomplete:
      if (transport_.read_closed()) {
        // The peer will send no more. Taking what it sent lets the close be a FIN, not a reset.
        (void)transport_.raw_read(buf, rd.bytes());
        close();
        return false;
      }
      transport_.set_readable(false);  // the next edge brings more
      return false;
    case ProxyParse::kError: {
      std::string_view seen(buf, rd.bytes());
      seen = seen.substr(0, std::min(seen.find_first_of("\r\n"), seen.size()));
      PORTICO_LOG(LogLevel::kError, id_,
                  "{}: \"{}\" while reading PROXY protocol, client: {}, server: {}", why,
                  seen.substr(0, kProxyV1MaxHeader), addr_text(peer_), listener_->addr->listen.key);
      close();
      return false;
    }
    case ProxyParse::kComplete:
      break;
  }
  // Exactly the header's bytes, which the peek showed are there.
  IoResult taken = transport_.raw_read(buf, used);
  if (!taken.progress() || taken.bytes() != used) {
    close();
    return false;
  }
  if (h.has_addrs) proxy_ = std::make_unique<ProxyHeader>(std::move(h));
  state_ = State::kReadingHead;
  if (listener_->addr->tls && !start_tls()) {
    close();
    return false;
  }
  return true;
}

// SNI: the server named in the ClientHello on this connection's address lends its context.
static std::shared_ptr<const tls::Context> sni_lookup(const void* arg, std::string_view name) {
  const AddrConf* addr = static_cast<const ListenPoint*>(arg)->addr;
  thread_local std::string host;  // reused: no allocation per handshake once warm
  if (!addr || !validate_host(name, host)) return nullptr;
  const void* srv = addr->names.lookup(host, nullptr).payload;
  if (!srv) return nullptr;
  const auto& slot = static_cast<const ServerConf*>(srv)->loc->conf<SslConf>().ctx;
  return slot ? slot->get() : nullptr;
}

bool Connection::start_tls() {
  tls_ = std::make_unique<tls::Session>(listener_->addr->tls->get(), id_, &sni_lookup, listener_);
  return tls_->attach(transport_);
}

bool Connection::secure() const {
  return tls_ && !tls_->plain_http();
}

const SockAddr& Connection::local_addr() {
  if (!local_known_) {
    socklen_t len = sizeof local_;
    if (getsockname(transport_.fd(), &local_.sa, &len) < 0) local_.sa.sa_family = AF_UNSPEC;
    local_known_ = true;
  }
  return local_;
}

void Connection::arm(uint64_t ms) {
  worker_->loop().schedule(&timer_, ms);
}

void Connection::on_timer(Timer* t) {
  Connection* c = static_cast<ConnTimer*>(t)->owner;
  switch (c->state_) {
    case State::kReadingProxy:
      PORTICO_LOG(LogLevel::kInfo, c->id_,
                  "client timed out (110: Connection timed out) while reading PROXY protocol");
      c->close();
      return;
    case State::kReadingHead:
      if (c->len_ > c->pos_) {
        // As nginx: a partial request that stalls is logged as 408 and closed; a response
        // would only feed a slowloris client.
        c->timeout_request("reading client request headers");
      } else {
        c->close();  // idle keep-alive or a connection that never sent anything
      }
      return;
    case State::kIdle:
      c->close();
      return;
    case State::kReadingBody:
      c->timeout_request("reading client request body");
      return;
    case State::kWriting:
      if (c->rate_wait_) {  // limit_rate: the budget allows more now
        c->rate_wait_ = false;
        c->arm(c->req_->loc ? c->req_->loc->send_timeout : 60'000);
        c->drive();
        return;
      }
      PORTICO_LOG(LogLevel::kInfo, c->id_,
                  "client timed out (110: Connection timed out) while sending response to client");
      c->close();
      return;
    case State::kLingering:
    case State::kClosed:
      c->close();
      return;
    case State::kProxying:
      // The session keeps its own time; this timer only paces limit_rate.
      if (c->rate_wait_) {
        c->rate_wait_ = false;
        c->content_->on_client_io(EPOLLOUT);
      }
      return;
    case State::kDelaying:
      c->after_phases(resume_request(*c->req_));
      c->drive();
      return;
    case State::kHttp2:
      c->codec_->on_timer();
      return;
  }
}

void Connection::on_io(uint32_t events) {
  if (state_ == State::kClosed) return;
  // Edge-triggered: an edge the session sees is not reported again, so the connection records
  // it too and finds the client's data (or its close) when the session hands back. A stale
  // "ready" costs one recv that says EAGAIN; a lost one would hang the connection.
  transport_.on_events(events);
  if (state_ == State::kHttp2) {
    codec_->on_io(events);
    return;
  }
  if (state_ == State::kProxying) {
    content_->on_client_io(events);  // resume: the client may take more, or sent more
    return;
  }
  drive();
}

void Connection::drive() {
  for (;;) {
    bool progress = false;
    switch (state_) {
      case State::kReadingProxy:
        progress = step_read_proxy();
        break;
      case State::kIdle:
      case State::kReadingHead:
        progress = step_read_head();
        break;
      case State::kReadingBody:
        progress = step_read_body();
        break;
      case State::kWriting:
        progress = step_write();
        break;
      case State::kLingering:
        step_linger();
        return;
      case State::kDelaying:
        if (transport_.read_closed() && client_closed()) {
          // As nginx: a client that leaves while its request is delayed ends it (499).
          req_->resp.status = 499;
          log_request(*req_);
          close();
        }
        return;
      case State::kProxying:
      case State::kHttp2:
      case State::kClosed:
        return;
    }
    if (!progress) return;
  }
}

bool Connection::ensure_buffer() {
  if (buf_) return true;
  buf_ = worker_->acquire_block();
  cap_ = WorkerServices::kBlockSize;
  len_ = pos_ = 0;
  return true;
}

void Connection::release_buffer_if_empty() {
  if (!buf_ || len_ != pos_ || req_) return;
  if (cap_ == WorkerServices::kBlockSize)
    worker_->release_block(buf_);
  else
    delete[] buf_;
  buf_ = nullptr;
  cap_ = len_ = pos_ = 0;
}

bool Connection::grow_buffer(size_t limit) {
  // Only the unprocessed tail matters: move it to the front of a bigger buffer.
  size_t used = len_ - pos_;
  if (pos_ > 0 && used < cap_) {
    std::memmove(buf_, buf_ + pos_, used);
    len_ = used;
    pos_ = 0;
    if (len_ < cap_) return true;
  }
  if (cap_ >= limit) return false;
  char* nb = new char[limit];
  std::memcpy(nb, buf_ + pos_, used);
  if (cap_ == WorkerServices::kBlockSize)
    worker_->release_block(buf_);
  else
    delete[] buf_;
  buf_ = nb;
  cap_ = limit;
  len_ = used;
  pos_ = 0;
  return true;
}

// Reads and parses a request head. Returns true when the state changed (continue driving).
bool Connection::step_read_head() {
  const AddrConf* addr = listener_->addr;
  const ServerConf* srv = addr ? addr->default_server : nullptr;
  ParseLimits limits;
  size_t large = srv ? srv->large_client_header_buffers_size : 8192;
  size_t total = srv ? srv->large_client_header_buffers_num * large : 32768;
  limits.max_request_line = large;
  limits.max_header_line = large;
  limits.max_head_size = total;
  if (srv) {
    limits.ignore_invalid = srv->ignore_invalid_headers;
    limits.underscores = srv->underscores_in_headers;
  }

  for (;;) {
    if (len_ > pos_ && (!h2_check_ || detect_http2())) {
      // Handed to the HTTP/2 codec (which may already have closed the connection).
      if (state_ == State::kHttp2 || state_ == State::kClosed) return false;
      // Parse what we have: a pipelined request may already be complete.
      if (!req_) {
        req_ = worker_->acquire_request();
        req_->conn = this;
        req_->pipelined = pipelined_;
        pipelined_ = false;
      }
      size_t consumed = 0;
      int err = 0;
      ParseStatus st = parse_request_head(std::string_view(buf_ + pos_, len_ - pos_), limits,
                                          req_->head, &consumed, &err, parsed_len_);
      parsed_len_ = st == ParseStatus::kIncomplete ? len_ - pos_ : 0;
      if (st == ParseStatus::kComplete) {
        begin_request(consumed);
        return true;
      }
      if (st == ParseStatus::kError) {
        fail_request(err);
        return true;
      }
      if (state_ == State::kIdle) {
        state_ = State::kReadingHead;
        arm(srv ? srv->client_header_timeout : 60'000);
      }
    }
    if (!transport_.readable()) {
      if (state_ == State::kIdle && req_ && len_ == pos_) {
        worker_->release_request(req_);
        req_ = nullptr;
      }
      release_buffer_if_empty();
      return false;
    }
    ensure_buffer();
    if (len_ == cap_ && !grow_buffer(total)) {
      fail_request(431);
      return true;
    }
    IoResult rd = transport_.read(buf_ + len_, cap_ - len_);
    if (rd.progress()) {
      len_ += rd.bytes();
      continue;
    }
    if (rd.again()) continue;  // loops once more to release idle resources
    if (rd.eof()) {
      if (len_ > pos_)
        PORTICO_LOG(LogLevel::kInfo, id_,
                    "client prematurely closed connection while reading client request headers");
    } else {
      PORTICO_LOG(LogLevel::kInfo, id_, "recv() failed ({}) while reading client request headers",
                  errno_text(rd.err()));
    }
    close();
    return false;
  }
}

bool Connection::detect_http2() {
  static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  constexpr size_t kLen = sizeof kPreface - 1;
  bool h2 = false;
  if (tls_) {
    h2 = !tls_->plain_http() && tls_->alpn() == "h2";
  } else {
    const size_t n = std::min(len_ - pos_, kLen);
    if (std::memcmp(buf_ + pos_, kPreface, n) == 0) {
      if (n < kLen) return false;  // a prefix of the preface: wait for the rest
      h2 = true;
    }
  }
  h2_check_ = false;
  if (!h2) return true;
  // The codec takes the connection: what arrived so far is its input.
  codec_ = g_http2_codec(*this, buf_ + pos_, len_ - pos_);
  state_ = State::kHttp2;
  worker_->loop().cancel(&timer_);
  if (req_) {
    worker_->release_request(req_);
    req_ = nullptr;
  }
  len_ = pos_ = 0;
  release_buffer_if_empty();
  // Many streams' frames interleave on one connection: none may wait for the ACK of another's
  // (Nagle with delayed ACKs costs 40 ms per flow-control round trip). nginx sets it too.
  const AddrConf* addr = listener_->addr;
  if (!nodelay_ && peer_.sa.sa_family != AF_UNIX &&
      (!addr || !addr->default_server || addr->default_server->loc->tcp_nodelay)) {
    int one = 1;
    setsockopt(transport_.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    nodelay_ = true;
  }
  codec_->on_io(0);  // starts it: the settings go out, buffered and further input is read
  return true;
}

void Connection::begin_request(size_t head_len) {
  assert(req_);
  ++requests_;
  gen_ = worker_->acquire_generation();
  Request& r = *req_;
  r.http = gen_->http;
  r.header_bytes = head_len;
  r.request_length = head_len;
  const AddrConf* addr = listener_->addr;
  body_pending_ = r.head.chunked || r.head.content_length > 0;
  body_pos_ = pos_ + head_len;
  body_left_ = r.head.content_length > 0 ? uint64_t(r.head.content_length) : 0;
  if (r.head.chunked) r.body_chunked.reset();
  continue_sent_ = false;
  keep_alive_ = r.head.keep_alive && !worker_->draining();

  after_phases(addr ? process_request(r, *addr) : Outcome::kClose);
}

// What the phases decided: a response to send, a content session, a delay, or a close.
void Connection::after_phases(Outcome out) {
  Request& r = *req_;
  if (out == Outcome::kClose) {
    log_request(r);
    close();
    return;
  }
  if (out == Outcome::kTakeOver) {
    start_content();
    return;
  }
  if (out == Outcome::kDelay) {
    // limit_req: the request waits on this connection's timer (nginx: a delayed request's
    // read events only watch for the client going away).
    state_ = State::kDelaying;
    arm(r.delay_ms);
    return;
  }
  const bool keep = r.resp.keep_alive && keep_alive_;
  if (body_pending_ && (keep || body_pos_ < len_)) {
    // No handler here consumes a body; as nginx's discard_request_body, drop what is already
    // here first (a malformed body still gets its 400, also on a connection that closes
    // after this response), answer, then drop the rest.
    if (keep && r.head.expect_continue && r.resp.status < 300) {
      send_continue();
    } else if (r.head.expect_continue) {
      keep_alive_ = false;  // the client may never send the body it announced
    }
    if (keep_alive_ || body_pos_ < len_) {
      state_ = State::kReadingBody;
      arm(r.loc ? r.loc->client_body_timeout : 60'000);
      if (step_read_body() || state_ == State::kClosed) return;
    }
  }
  prepare_response();
}

// Reads and discards the request body (no local handler consumes one), through the same decoder
// a content session reads it with. Returns true when the state changed.
bool Connection::step_read_body() {
  Request& r = *req_;
  char sink[16384];
  for (;;) {
    IoResult rd = read_body_from(sink, sizeof sink, /*enforce_limit=*/false);
    if (rd.progress()) {
      if (!body_pending_) break;
      arm(r.loc ? r.loc->client_body_timeout : 60'000);
      continue;
    }
    if (rd.eof()) break;
    if (rd.again()) return false;
    if (rd.err() == kBodyMalformed) {
      PORTICO_LOG(LogLevel::kError, id_, "client sent invalid chunked body{}", log_context(r));
      fail_request(400);
      return true;
    }
    if (rd.err() == kBodyEndedEarly)
      PORTICO_LOG(LogLevel::kInfo, id_,
                  "client prematurely closed connection while reading client request body");
    log_request(r);
    close();
    return false;
  }
  if (response_sent_) {
    finish_request();
  } else {
    prepare_response();
  }
  return true;
}

// The request body, de-framed: first what arrived with the head (copied out, then dropped from
// the read buffer so pipelined bytes have room), then from the transport straight into `buf`
// (a chunked body is decoded in place there). Bytes read past the end of a chunked body are the
// next pipelined request: they go back into the read buffer.
IoResult Connection::read_body_from(char* buf, size_t cap, bool enforce_limit) {
  Request& r = *req_;
  const bool chunked = r.head.chunked;
  for (;;) {
    if (!body_pending_) return IoResult::ended();
    const bool from_buf = body_pos_ < len_;
    size_t n;
    if (from_buf) {
      n = std::min(len_ - body_pos_, cap);
      if (!chunked) n = size_t(std::min<uint64_t>(n, body_left_));
      std::memcpy(buf, buf_ + body_pos_, n);
    } else {
      if (!transport_.readable()) return IoResult::blocked();
      const size_t want = chunked ? cap : size_t(std::min<uint64_t>(cap, body_left_));
      IoResult rd = transport_.read(buf, want);
      if (rd.eof()) return IoResult::failed(kBodyEndedEarly);
      if (!rd.progress()) return rd;
      n = rd.bytes();
    }
    size_t used = n, data = n;
    if (!chunked) {
      body_left_ -= n;
      body_pending_ = body_left_ > 0;
    } else {
      auto res = r.body_chunked.decode(std::string_view(buf, n), buf);
      if (res.error) return IoResult::failed(kBodyMalformed);
      used = res.done ? res.consumed : n;
      data = res.data_len;
      body_pending_ = !res.done;
      if (res.done && !from_buf) stash_pipelined(buf + used, n - used);
      const uint64_t max = r.loc ? r.loc->client_max_body_size : 0;
      if (enforce_limit && max && r.body_chunked.total_body() > max)
        return IoResult::failed(kBodyTooLarge);
    }
    r.request_length += used;
    if (from_buf) {
      body_pos_ += used;
      if (body_pos_ == len_) len_ = body_pos_ = pos_ + r.header_bytes;  // buffered body done
    }
    if (data > 0) return IoResult::moved(data);
    // Only chunk framing so far: read on.
  }
}

// A request that ends before routing (timeout, parse error) still needs a Request (for the
// log) pinned to the current configuration.
void Connection::ensure_request_with_generation() {
  if (!req_) {
    req_ = worker_->acquire_request();
    req_->conn = this;
  }
  if (!gen_) {
    gen_ = worker_->acquire_generation();
    req_->http = gen_->http;
  }
}

void Connection::timeout_request(const char* while_doing) {
  PORTICO_LOG(LogLevel::kInfo, id_, "client timed out (110: Connection timed out) while {}",
              while_doing);
  ensure_request_with_generation();
  Request& r = *req_;
  if (!response_sent_) {
    if (r.head.request_line.empty() && len_ > pos_) {
      // Log the request line if it arrived whole, as nginx does.
      std::string_view data(buf_ + pos_, len_ - pos_);
      size_t nl = data.find('\n');
      if (nl != std::string_view::npos) {
        std::string_view line = data.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        r.head.request_line = line;
      }
    }
    if (!r.server && listener_->addr) r.server = listener_->addr->default_server;
    if (!r.loc && r.server) r.loc = r.server->loc;
    if (r.start.tv_sec == 0) clock_gettime(CLOCK_REALTIME, &r.start);
    r.resp.status = 408;
  }
  log_request(r);
  close();
}

void Connection::fail_request(int status) {
  if (response_sent_) {
    // The answer is out already; a broken body now just ends the connection.
    log_request(*req_);
    close();
    return;
  }
  // Anything that fails mid-request closes the connection afterwards: framing is unknown.
  ensure_request_with_generation();
  keep_alive_ = false;
  body_pending_ = false;
  respond_error_early(*req_, listener_->addr, status);
  prepare_response();
}

void Connection::start_response() {
  Request& r = *req_;
  if (!keep_alive_) r.resp.keep_alive = false;
  if (worker_->draining()) r.resp.keep_alive = false;
  if (r.loc && requests_ >= r.loc->keepalive_requests) r.resp.keep_alive = false;
  if (r.loc && r.loc->keepalive_timeout == 0) r.resp.keep_alive = false;
  if (r.loc && r.resp.keep_alive && !keepalive_allowed(r, worker_->loop().now_ms() - start_ms_))
    r.resp.keep_alive = false;
  if (r.resp.status == 0) r.resp.status = 200;
  apply_headers_filter(r);  // expires, add_header, whether add_trailer applies
  if (!r.filter) r.filter = find_body_filter(r);
  if (r.filter) [[unlikely]]
    r.filter->on_head(r);
  begin_rate_limit(r);
  writer_.start(r);  // may end keep-alive: a body of unknown length that cannot be chunked
  keep_alive_ = r.resp.keep_alive;
  // The connection is being kept alive: from now on a response's last segment must not
  // wait for the ACK of the previous one (nginx's tcp_nodelay applies at the same point).
  if (requests_ >= 2) set_nodelay();
}

void Connection::prepare_response() {
  Request& r = *req_;
  start_response();
  out_skip_ = 0;
  state_ = State::kWriting;
  arm(r.loc ? r.loc->send_timeout : 60'000);
}

// Writes the head and the body pieces of local content. Returns true when the state changed.
bool Connection::step_write() {
  Request& r = *req_;
  while (!writer_.finished()) {
    if (!transport_.writable()) return false;
    IoResult w = emit(r.out, out_skip_, /*last=*/true);
    if (w.again()) return false;
    if (w.eof()) {
      if (const int err = writer_.file_error())
        PORTICO_LOG(LogLevel::kCrit, id_, "pread() failed ({}) while sending response",
                    errno_text(err));
      else  // the promised length can no longer be delivered
        PORTICO_LOG(LogLevel::kAlert, id_, "file was truncated while sending response");
      close();
      return false;
    }
    if (w.error()) {
      PORTICO_LOG(LogLevel::kInfo, id_, "writev() failed ({}) while sending response to client",
                  errno_text(w.err()));
      r.resp.keep_alive = false;
      log_request(r);
      close();
      return false;
    }
    out_skip_ += w.bytes();
    arm(r.loc ? r.loc->send_timeout : 60'000);
  }
  if (body_pending_ && keep_alive_) {
    // The response is out; drop the rest of the body before the next request.
    response_sent_ = true;
    state_ = State::kReadingBody;
    arm(r.loc ? r.loc->client_body_timeout : 60'000);
    return true;
  }
  finish_request();
  return state_ != State::kClosed && state_ != State::kLingering;
}

// The body path's entry: through the request's filter, if any, to the codec.
IoResult Connection::emit(std::span<const OutChunk> body, size_t skip, bool last) {
  if (BodyFilter* f = req_->filter) [[unlikely]] {
    // The codec as the filter's next sink: made here, so idle connections carry no vtable
    // pointer for it.
    struct CodecSink final : BodySink {
      Connection* c;
      explicit CodecSink(Connection* conn) : c(conn) {}
      IoResult write(std::span<const OutChunk> b, size_t k, bool l) override {
        return c->write_codec(b, k, l);
      }
    } sink(this);
    return f->write(body, skip, last, sink);
  }
  return write_codec(body, skip, last);
}

IoResult Connection::write_codec(std::span<const OutChunk> body, size_t skip, bool last) {
  // Local content follows the location's `sendfile`; a content session's file pieces are its
  // own temporary files (the proxy's spool), always sent with sendfile.
  const bool use_sendfile = state_ == State::kProxying || !req_->loc || req_->loc->sendfile;
  if (req_->rate.rate != 0) [[unlikely]]
    return write_paced(body, skip, last, use_sendfile);
  return writer_.write(*req_, transport_, body, skip, last, use_sendfile);
}

// limit_rate: writes what the response's budget allows now; nothing allowed: again, with the
// connection's timer set for when it will be (rate_wait_: can_send() is false meanwhile).
IoResult Connection::write_paced(std::span<const OutChunk> body, size_t skip, bool last,
                                 bool use_sendfile) {
  Request& r = *req_;
  uint64_t delay = 0;
  const uint64_t elapsed = TimeCache::local().now_ms() - r.start_ms;
  const uint64_t allow = r.rate.allowance(elapsed, r.body_bytes_sent, &delay);
  if (allow == 0) {
    rate_wait_ = true;
    arm(delay);
    return IoResult::blocked();
  }
  thread_local std::vector<OutChunk> cut;  // reused: no allocation once warm
  cut.clear();
  const uint64_t want = skip + allow;
  uint64_t pos = 0;
  bool truncated = false;
  for (const OutChunk& c : body) {
    if (pos >= want) {
      truncated = truncated || c.len > 0;
      continue;
    }
    OutChunk p = c;
    if (pos + c.len > want) {
      p.len = size_t(want - pos);
      truncated = true;
    }
    cut.push_back(p);
    pos += c.len;
  }
  return writer_.write(r, transport_, cut, skip, last && !truncated, use_sendfile);
}

void Connection::finish_request() {
  Request& r = *req_;
  rate_wait_ = false;
  log_request(r);
  bool keep = keep_alive_ && r.resp.keep_alive && !worker_->draining();
  size_t next = body_pending_ ? len_ : std::max(body_pos_, pos_ + r.header_bytes);
  bool unread_body = body_pending_;
  response_sent_ = false;
  uint64_t keepalive_ms = r.loc ? r.loc->keepalive_timeout : 75'000;
  using Linger = LocationConf::Linger;
  const Linger linger = r.loc ? r.loc->lingering_close : Linger::kOn;
  const uint64_t linger_time = r.loc ? r.loc->lingering_time : 30'000;
  linger_timeout_ms_ =
      uint32_t(r.loc ? std::min<uint64_t>(r.loc->lingering_timeout, UINT32_MAX) : 5'000);
  worker_->release_generation(gen_);
  gen_ = nullptr;
  worker_->release_request(req_);
  req_ = nullptr;
  if (!keep) {
    if (linger == Linger::kAlways || (linger == Linger::kOn && (unread_body || len_ > next))) {
      start_lingering_close(linger_time);
    } else {
      close();
    }
    return;
  }
  pos_ = std::min(next, len_);
  pipelined_ = pos_ < len_;
  if (pos_ == len_) pos_ = len_ = 0;
  state_ = State::kIdle;
  arm(keepalive_ms);
  if (len_ == pos_) release_buffer_if_empty();
}

void Connection::close_codec_lingering(uint64_t linger_time, uint64_t linger_timeout) {
  if (state_ == State::kClosed) return;
  if (codec_) {
    state_ = State::kClosed;  // abort() must not find a live connection to close again
    codec_->abort();
    worker_->loop().defer_delete(codec_);
    codec_ = nullptr;
  }
  linger_timeout_ms_ = uint32_t(std::min<uint64_t>(linger_timeout, UINT32_MAX));
  start_lingering_close(linger_time);
}

void Connection::start_lingering_close(uint64_t linger_time) {
  // As nginx's lingering_close: stop sending, read and drop what the client still sends for a
  // while, so our response is not destroyed by a RST caused by unread data.
  state_ = State::kLingering;
  (void)transport_.shutdown_write();  // a failure shows in the reads below
  linger_deadline_ = worker_->loop().now_ms() + linger_time;
  arm(linger_timeout_ms_);
  step_linger();
}

void Connection::step_linger() {
  char sink[4096];
  for (;;) {
    IoResult rd = transport_.read(sink, sizeof sink);
    if (rd.progress()) {
      if (worker_->loop().now_ms() >= linger_deadline_) break;
      continue;
    }
    if (rd.again()) {
      arm(linger_timeout_ms_);
      return;
    }
    break;
  }
  close();
}

// ---- content sessions ------------------------------------------------------------------------

void Connection::set_nodelay() {
  if (nodelay_ || !req_ || !req_->loc || !req_->loc->tcp_nodelay || peer_.sa.sa_family == AF_UNIX)
    return;
  int one = 1;
  setsockopt(transport_.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  nodelay_ = true;
}

void Connection::start_content() {
  // A streamed response leaves in several writes as the content produces it: without
  // TCP_NODELAY each would wait for the previous one's ACK (delayed ACK: 40 ms).
  set_nodelay();
  state_ = State::kProxying;
  worker_->loop().cancel(&timer_);
  content_ = req_->loc->content->open(this, req_);
  content_->start();  // may finish (content_done/content_error) before it returns
}

void Connection::end_content() {
  if (!content_) return;
  worker_->loop().defer_delete(content_);  // other events of this batch may still name it
  content_ = nullptr;
}

ModuleWorkerState* Connection::module_state(const Module& m) {
  return worker_->module_state(m.index);
}

// ---- ClientStream: the request body and the response of a content session -------------------

void Connection::want_body() {
  const Request& r = *req_;
  // Nothing of the body here yet, and the client waits for our word before sending it. An empty
  // body gets the word too, as nginx gives it whenever a handler reads the body (a client may
  // wait for it before it sends the request's end).
  if (r.head.expect_continue && !continue_sent_ && (!body_pending_ || body_pos_ >= len_))
    send_continue();
}

void Connection::send_continue() {
  static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  continue_sent_ = true;
  // Best effort: a client that cannot take 25 bytes will time out later.
  (void)transport_.write(kContinue, sizeof kContinue - 1);
}

IoResult Connection::read_body(char* buf, size_t cap) {
  return read_body_from(buf, cap, /*enforce_limit=*/true);
}

uint64_t Connection::body_received() const {
  const Request& r = *req_;
  if (r.head.chunked) return r.body_chunked.total_body();
  return r.head.content_length > 0 ? uint64_t(r.head.content_length) - body_left_ : 0;
}

void Connection::send_head() {
  start_response();
}

IoResult Connection::send_body(std::span<const OutChunk> body, bool last) {
  return emit(body, 0, last);
}

bool Connection::client_closed() {
  IoResult pk = transport_.peek();
  return pk.eof() || pk.error();  // data waiting (a pipelined request) or nothing: still there
}

size_t Connection::take_buffered(char* buf, size_t cap) {
  if (!buf_ || body_pos_ >= len_) return 0;
  const size_t n = std::min(cap, len_ - body_pos_);
  std::memcpy(buf, buf_ + body_pos_, n);
  body_pos_ += n;
  return n;
}

void Connection::stash_pipelined(const char* data, size_t n) {
  if (n == 0) return;
  if (!buf_ || cap_ - len_ < n) {
    keep_alive_ = false;  // no room to keep it: the client will retry on a new connection
    return;
  }
  std::memmove(buf_ + len_, data, n);
  len_ += n;
}

void Connection::content_done(bool keep_alive) {
  end_content();
  if (!keep_alive) keep_alive_ = false;
  req_->resp.keep_alive = keep_alive_;
  if (body_pending_ && keep_alive_) {
    // The response is out before the body was read whole: drop the rest, then go on.
    response_sent_ = true;
    state_ = State::kReadingBody;
    arm(req_->loc ? req_->loc->client_body_timeout : 60'000);
  } else {
    state_ = State::kWriting;  // finish_request expects a request being completed
    finish_request();
  }
  drive();
}

void Connection::content_error(int status) {
  end_content();
  content_outcome(respond_with_status(*req_, status));
}

void Connection::content_redirect(Step to) {
  end_content();
  content_outcome(redirect_from_content(*req_, to));
}

void Connection::content_outcome(Outcome out) {
  Request& r = *req_;
  if (out == Outcome::kClose) {
    log_request(r);
    close();
    return;
  }
  if (out == Outcome::kTakeOver) {  // error_page led to another location with a session
    start_content();
    return;
  }
  if (body_pending_) keep_alive_ = false;  // the session may have read part of it
  if (out == Outcome::kDelay) {            // error_page led to a location whose limit_req delays it
    state_ = State::kDelaying;
    arm(r.delay_ms);
    return;
  }
  prepare_response();
  drive();
}

void Connection::content_abort(int status) {
  end_content();
  if (status) req_->resp.status = status;
  if (req_->resp.status == 0) req_->resp.status = 502;
  log_request(*req_);
  close();
}

void Connection::shutdown_gracefully() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kHttp2) {
    codec_->shutdown_gracefully();
    return;
  }
  if (state_ == State::kIdle && !req_) {
    close();
    return;
  }
  keep_alive_ = false;  // the in-flight request answers with Connection: close
}

void Connection::close() {
  if (state_ == State::kClosed) return;
  if (content_) {
    content_->abort();
    end_content();
  }
  if (codec_) {
    state_ = State::kClosed;
    codec_->abort();  // logs and releases its streams (they may still ask for the connection)
    worker_->loop().defer_delete(codec_);
    codec_ = nullptr;
  }
  state_ = State::kClosed;
  worker_->loop().cancel(&timer_);
  if (req_) {
    worker_->release_request(req_);
    req_ = nullptr;
  }
  if (gen_) {
    worker_->release_generation(gen_);
    gen_ = nullptr;
  }
  if (buf_) {
    len_ = pos_ = 0;
    release_buffer_if_empty();
  }
  transport_.close();  // also drops it from epoll
  worker_->connection_closed(this);
  worker_->loop().defer_delete(this);
}

}  // namespace portico::http
