#include "http2/stream.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/log.h"
#include "core/time_cache.h"
#include "http/body_filter.h"
#include "http/connection.h"
#include "http/handler.h"
#include "http/http_config.h"
#include "http/phases.h"
#include "http2/response_head.h"
#include "http2/session.h"

namespace portico::http2 {

namespace {

ssize_t provide_data(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                     nghttp2_data_source* source, void*) {
  return static_cast<Stream*>(source->ptr)->read_data(buf, length, flags);
}

// Response buffers of the usual size (2 x the default http2_chunk_size) go back to a list per
// worker thread when their stream ends, and the next stream of any connection of the worker
// takes one from there. Without it a connection with many streams in flight allocated and
// freed one per request, and the freed buffers piling up at the top of the worker's heap made
// glibc trim it (madvise) and fault the pages in again for the next ones: a fifth of the
// worker's time under h2load -m 32. At most kMaxPooledOut are kept (4 MiB per worker).
constexpr size_t kPooledOutCap = 16384;
constexpr size_t kMaxPooledOut = 256;
thread_local std::vector<std::unique_ptr<char[]>> t_out_pool;

std::unique_ptr<char[]> take_out_buffer(size_t cap) {
  if (cap == kPooledOutCap && !t_out_pool.empty()) {
    std::unique_ptr<char[]> b = std::move(t_out_pool.back());
    t_out_pool.pop_back();
    return b;
  }
  return std::unique_ptr<char[]>(new char[cap]);
}

void give_out_buffer(std::unique_ptr<char[]> b, size_t cap) {
  if (b && cap == kPooledOutCap && t_out_pool.size() < kMaxPooledOut)
    t_out_pool.push_back(std::move(b));
}

}  // namespace

Stream::~Stream() {
  assert(!req_ && !content_);
}

uint64_t Stream::stream_id() const {
  return session_->conn().id();
}

// ---- the request ------------------------------------------------------------------------------

void Stream::open(int32_t id) {
  http::Connection& c = session_->conn();
  id_ = id;
  req_ = c.worker()->acquire_request();
  req_->conn = &c;
  gen_ = c.worker()->acquire_generation();
  req_->http = gen_->http;
  const http::AddrConf* addr = c.listener()->addr;
  const http::ServerConf* srv = addr ? addr->default_server : nullptr;
  // nginx's accounting (names and values) is the limit; the collector's HTTP/1.1 text adds
  // ": " and CRLF per field (at most 1000 fields) and the request line, so its own bound is
  // looser and only a backstop.
  field_max_ = srv ? srv->large_client_header_buffers_size : 8192;
  header_budget_ = srv ? srv->large_client_header_buffers_num * field_max_ : 32768;
  head_.reset(2 * header_budget_ + 8192);
  in_pos_ = in_len_ = 0;
  body_read_ = body_total_ = unconsumed_ = 0;
  in_end_ = discard_ = started_ = body_empty_ = rejected_ = false;
  out_pos_ = out_len_ = 0;
  local_skip_ = 0;
  local_ = head_sent_ = out_last_ = eof_sent_ = closed_ = logged_ = false;
  queued_reset();
}

void Stream::queued_reset() {
  queued = start_pending = false;
  events = 0;
  file_error_ = 0;
}

void Stream::on_head_done(bool end_stream, size_t block) {
  in_end_ = end_stream;
  has_body_ = !end_stream;
  head_block_ = block;
  start_pending = true;
}

bool Stream::on_data(const uint8_t* data, size_t len) {
  body_total_ += len;
  if (discard_ || closed_) {
    nghttp2_session_consume(session_->native(), id_, len);
    session_->kick();
    return true;
  }
  if (!in_) {
    in_cap_ = size_t(std::max<uint64_t>(session_->conf().body_preread_size, 1024)) + 16384;
    in_.reset(new char[in_cap_]);
  }
  if (in_pos_ == in_len_) in_pos_ = in_len_ = 0;
  if (in_cap_ - in_len_ < len && in_pos_ > 0) {
    std::memmove(in_.get(), in_.get() + in_pos_, in_len_ - in_pos_);
    in_len_ -= in_pos_;
    in_pos_ = 0;
  }
  if (in_cap_ - in_len_ < len) return false;  // past the window we gave
  std::memcpy(in_.get() + in_len_, data, len);
  in_len_ += len;
  unconsumed_ += len;
  if (content_) {
    events |= EPOLLIN;
    session_->wake(this);
  }
  return true;
}

void Stream::on_body_end() {
  in_end_ = true;
  if (content_) {
    events |= EPOLLIN;
    session_->wake(this);
  }
}

void Stream::run_pending() {
  if (closed_) return;
  if (start_pending) {
    start_pending = false;
    begin();
    return;
  }
  if (content_) {
    const uint32_t ev = events ? events : uint32_t(EPOLLOUT);
    events = 0;
    content_->on_client_io(ev);
    return;
  }
  if (local_) pump_local();
}

void Stream::begin() {
  http::Connection& c = session_->conn();
  http::Request& r = *req_;
  const http::AddrConf* addr = c.listener()->addr;
  c.count_request();
  http::ParseLimits limits;
  if (addr && addr->default_server) {
    // Each name and value is within one buffer already (on_field, nginx's rule); the HTTP/1.1
    // text's line around them ("name: value", "METHOD path HTTP/1.1") may be longer.
    const size_t line = 2 * addr->default_server->large_client_header_buffers_size + 16;
    limits.max_request_line = line;
    limits.max_header_line = line;
    limits.ignore_invalid = addr->default_server->ignore_invalid_headers;
    limits.underscores = addr->default_server->underscores_in_headers;
  }
  limits.max_head_size = SIZE_MAX;  // HeadCollector bounded it
  // HEADERS without END_STREAM: a body follows, maybe empty (its END_STREAM may have arrived
  // already, in the same read); nginx reads it, so a proxied request says Content-Length: 0.
  const int status = head_.finish(limits, has_body_, r.head);
  r.header_bytes = r.request_length = head_block_;
  started_ = true;
  // Content-Length: 0 with DATA frames to come (maybe empty ones): nginx reads no body.
  if (status == 0 && !in_end_ && r.head.content_length == 0) body_empty_ = true;
  if (!addr) {
    reset_stream(NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (status != 0) {
    // A bad request on the default server, as nginx: its error_page applies (the stream is
    // not the connection, so nothing else is lost).
    if (r.head.request_line.empty()) r.head.request_line = head_.request_line();
    http::respond_error_early(r, addr, status);
    if (r.loc) {
      respond(http::respond_with_status(r, status));
    } else {
      respond(http::Outcome::kRespond);
    }
    return;
  }
  respond(http::process_request(r, *addr));
}

void Stream::respond(http::Outcome out) {
  http::Request& r = *req_;
  if (out == http::Outcome::kDelay) {  // limit_req: wait, then resume at preaccess
    delay_timer_.stream = this;
    delay_timer_.cb = [](Timer* t) {
      Stream* s = static_cast<DelayTimer*>(t)->stream;
      s->respond(http::resume_request(*s->req_));
    };
    session_->conn().worker()->loop().schedule(&delay_timer_, r.delay_ms);
    return;
  }
  if (out == http::Outcome::kClose) {  // return 444: the stream ends without an answer
    if (r.resp.status == 0) r.resp.status = 444;
    reset_stream(NGHTTP2_NO_ERROR);
    return;
  }
  if (out == http::Outcome::kTakeOver) {
    content_ = r.loc->content->open(this, &r);
    content_->start();  // may finish (content_done/content_error) before it returns
    return;
  }
  if (!in_end_) discard_body();  // no local content reads a body
  local_ = true;
  start_response();
  pump_local();
}

void Stream::discard_body() {
  discard_ = true;
  if (unconsumed_ > 0) {
    nghttp2_session_consume(session_->native(), id_, unconsumed_);
    unconsumed_ = 0;
    session_->kick();
  }
  in_pos_ = in_len_ = 0;
}

IoResult Stream::read_body(char* buf, size_t cap) {
  http::Request& r = *req_;
  // Checked before handing over what arrived: a body that turns out shorter or longer than its
  // Content-Length never reaches an upstream whole (nginx: 400).
  if (length_mismatch()) return IoResult::failed(http::kBodyLengthMismatch);
  if (body_empty_ && in_pos_ == in_len_) return IoResult::ended();
  if (in_len_ > in_pos_) {
    const size_t n = std::min(cap, in_len_ - in_pos_);
    std::memcpy(buf, in_.get() + in_pos_, n);
    in_pos_ += n;
    if (in_pos_ == in_len_) in_pos_ = in_len_ = 0;
    body_read_ += n;
    r.request_length += n;
    unconsumed_ -= n;
    nghttp2_session_consume(session_->native(), id_, n);  // opens the window again
    session_->kick();
    const uint64_t max = r.loc ? r.loc->client_max_body_size : 0;
    if (r.head.chunked && max && body_read_ > max) return IoResult::failed(http::kBodyTooLarge);
    return IoResult::moved(n);
  }
  if (in_end_) return IoResult::ended();
  if (closed_) return IoResult::failed(http::kBodyEndedEarly);
  return IoResult::blocked();
}

// ---- the response -----------------------------------------------------------------------------

void Stream::start_response() {
  http::Request& r = *req_;
  if (head_sent_ || closed_) return;
  if (r.resp.status == 0) r.resp.status = 200;
  http::apply_headers_filter(r);  // expires, add_header, whether add_trailer applies
  if (!r.filter) r.filter = http::find_body_filter(r);
  if (r.filter) r.filter->on_head(r);
  http::begin_rate_limit(r);
  const int st = r.resp.status;
  const bool no_body = r.resp.header_only || st == 204 || st == 304 || st < 200 ||
                       (r.resp.content_length == 0 && !r.filter);
  thread_local std::string store;
  thread_local std::vector<nghttp2_nv> nva;
  build_response_fields(r, store, nva);
  for (const nghttp2_nv& nv : nva) r.bytes_sent += nv.namelen + nv.valuelen + 4;
  nghttp2_data_provider prd;
  prd.source.ptr = this;
  prd.read_callback = provide_data;
  head_sent_ = true;
  if (no_body) {
    out_last_ = eof_sent_ = true;
    r.out.clear();
  } else if (const size_t cap = std::max<size_t>(2 * frame_chunk(), 16384);
             !out_ || out_cap_ < cap) {
    give_out_buffer(std::move(out_), out_cap_);
    out_ = take_out_buffer(cap);
    out_cap_ = cap;
  }
  // No body but add_trailer's fields: the head without END_STREAM, then the trailers.
  const bool trailers_only = no_body && !r.resp.header_only && st >= 200 && st != 204 &&
                             st != 304 && r.resp.expect_trailers;
  int rv;
  if (trailers_only) {
    rv = nghttp2_submit_headers(session_->native(), NGHTTP2_FLAG_NONE, id_, nullptr, nva.data(),
                                nva.size(), nullptr);
    // Every value empty after all: an empty DATA frame ends the stream.
    if (rv == 0 && !submit_trailers())
      rv = nghttp2_submit_data(session_->native(), NGHTTP2_FLAG_END_STREAM, id_, &prd);
  } else {
    rv = nghttp2_submit_response(session_->native(), id_, nva.data(), nva.size(),
                                 no_body ? nullptr : &prd);
  }
  if (rv != 0) {
    PORTICO_LOG(LogLevel::kAlert, stream_id(), "nghttp2_submit_response() failed ({})",
                nghttp2_strerror(rv));
    reset_stream(NGHTTP2_INTERNAL_ERROR);
  }
  session_->kick();
}

// Local content: r.out through the filter into the output buffer, as far as it fits.
void Stream::pump_local() {
  http::Request& r = *req_;
  while (!out_last_ && !closed_) {
    IoResult w = emit(r.out, local_skip_, /*last=*/true);
    if (w.again()) return;
    if (!w.progress()) {
      if (w.eof()) {
        if (file_error_)
          PORTICO_LOG(LogLevel::kCrit, stream_id(), "pread() failed ({}) while sending response",
                      errno_text(file_error_));
        else
          PORTICO_LOG(LogLevel::kAlert, stream_id(), "file was truncated while sending response");
      }
      reset_stream(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    local_skip_ += w.bytes();
  }
}

IoResult Stream::send_body(std::span<const http::OutChunk> body, bool last) {
  return emit(body, 0, last);
}

IoResult Stream::emit(std::span<const http::OutChunk> body, size_t skip, bool last) {
  if (http::BodyFilter* f = req_->filter) [[unlikely]] {
    struct Sink final : http::BodySink {
      Stream* s;
      explicit Sink(Stream* st) : s(st) {}
      IoResult write(std::span<const http::OutChunk> b, size_t k, bool l) override {
        return s->write_codec(b, k, l);
      }
    } sink(this);
    return f->write(body, skip, last, sink);
  }
  return write_codec(body, skip, last);
}

IoResult Stream::write_codec(std::span<const http::OutChunk> body, size_t skip, bool last) {
  if (closed_) return IoResult::failed(EPIPE);
  if (out_last_) return eof_sent_ ? IoResult::moved(0) : IoResult::blocked();
  if (out_pos_ == out_len_) out_pos_ = out_len_ = 0;
  if (out_pos_ > 0 && out_cap_ - out_len_ < out_cap_ / 2) {
    std::memmove(out_.get(), out_.get() + out_pos_, out_len_ - out_pos_);
    out_len_ -= out_pos_;
    out_pos_ = 0;
  }
  size_t taken = 0;
  bool all = true;
  for (const http::OutChunk& c : body) {
    if (skip >= c.len) {
      skip -= c.len;
      continue;
    }
    const size_t want = c.len - skip;
    const size_t room = out_cap_ - out_len_;
    if (room == 0) {
      all = false;
      break;
    }
    size_t n = std::min(want, room);
    if (c.fd < 0) {
      std::memcpy(out_.get() + out_len_, c.data + skip, n);
    } else {
      const ssize_t rd = pread(c.fd, out_.get() + out_len_, n, c.offset + off_t(skip));
      if (rd <= 0) {
        file_error_ = rd < 0 ? errno : 0;
        if (taken > 0) break;  // give what we have; the next call reports it
        return IoResult::ended();
      }
      n = size_t(rd);
    }
    out_len_ += n;
    taken += n;
    skip = 0;
    if (n < want) {
      all = false;
      break;
    }
  }
  if (all && last) out_last_ = true;
  if (taken == 0 && !out_last_) return IoResult::blocked();
  if (!head_sent_) start_response();
  nghttp2_session_resume_data(session_->native(), id_);
  session_->kick();
  return IoResult::moved(taken);
}

size_t Stream::frame_chunk() const {
  // http2_chunk_size, as nginx: no DATA frame is larger than the peer's SETTINGS_MAX_FRAME_SIZE
  // (16384 unless it raised it); the stream's output buffer (two chunks) stays within 128 KiB
  // whatever the peer says. The request's location decides (http2_chunk_size is a location
  // directive in nginx), the address's default server before there is one.
  const uint64_t chunk =
      req_ && req_->loc ? req_->loc->conf<Http2Conf>().chunk_size : session_->conf().chunk_size;
  const uint32_t peer_max =
      nghttp2_session_get_remote_settings(session_->native(), NGHTTP2_SETTINGS_MAX_FRAME_SIZE);
  return size_t(std::min<uint64_t>({chunk, peer_max ? peer_max : 16384, uint64_t(64) * 1024}));
}

ssize_t Stream::read_data(uint8_t* buf, size_t length, uint32_t* flags) {
  size_t n = std::min({length, out_len_ - out_pos_, frame_chunk()});
  if (req_->rate.rate != 0 && n > 0) [[unlikely]] {
    // limit_rate: DATA frames only as the response's budget allows; the timer resumes them.
    uint64_t delay = 0;
    const uint64_t elapsed = TimeCache::local().now_ms() - req_->start_ms;
    const uint64_t allow = req_->rate.allowance(elapsed, req_->body_bytes_sent, &delay);
    if (allow == 0) {
      delay_timer_.stream = this;
      delay_timer_.cb = [](Timer* t) {
        Stream* st = static_cast<DelayTimer*>(t)->stream;
        nghttp2_session_resume_data(st->session_->native(), st->id_);
        st->session_->kick();
      };
      session_->conn().worker()->loop().schedule(&delay_timer_, delay);
      return NGHTTP2_ERR_DEFERRED;
    }
    n = size_t(std::min<uint64_t>(n, allow));
  }
  if (n > 0) {
    std::memcpy(buf, out_.get() + out_pos_, n);
    out_pos_ += n;
    if (out_pos_ == out_len_) out_pos_ = out_len_ = 0;
    req_->bytes_sent += n;
    req_->body_bytes_sent += n;
  }
  if (out_last_ && out_pos_ == out_len_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (req_->resp.expect_trailers && submit_trailers()) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    eof_sent_ = true;
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;
  }
  // Room in the buffer (or the end): the producer may go on.
  if (content_) events |= EPOLLOUT;
  if (content_ || local_) session_->wake(this);
  return ssize_t(n);
}

bool Stream::submit_trailers() {
  http::Request& r = *req_;
  http::collect_trailers(r);
  if (r.resp.trailer_count == 0) return false;
  thread_local std::string names;  // lowercased (RFC 9113 8.2.1); reused
  thread_local std::vector<nghttp2_nv> nva;
  names.clear();
  nva.clear();
  for (size_t i = 0; i < r.resp.trailer_count; ++i)
    for (char c : r.resp.trailers[i].name) names += (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
  size_t off = 0;
  for (size_t i = 0; i < r.resp.trailer_count; ++i) {
    const http::ResponseHeader& h = r.resp.trailers[i];
    nghttp2_nv nv;
    nv.name = reinterpret_cast<uint8_t*>(names.data() + off);
    nv.namelen = h.name.size();
    nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data()));
    nv.valuelen = h.value.size();
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    nva.push_back(nv);
    off += h.name.size();
    r.bytes_sent += nv.namelen + nv.valuelen + 4;
  }
  return nghttp2_submit_trailer(session_->native(), id_, nva.data(), nva.size()) == 0;
}

void Stream::on_response_sent() {
  // The answer is complete while the client still sends a body nobody reads: tell it to stop
  // (RFC 9113 8.1: RST_STREAM with NO_ERROR), as nginx does.
  if (!in_end_)
    nghttp2_submit_rst_stream(session_->native(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
}

bool Stream::can_send() const {
  return !closed_ && !out_last_ && out_len_ - out_pos_ < out_cap_ / 2 + 1;
}

Transport& Stream::upgraded_transport() {
  return session_->conn().transport();  // never used: HTTP/2 has no Upgrade (nghttp2 refuses it)
}

// ---- the end ----------------------------------------------------------------------------------

void Stream::end_content() {
  if (!content_) return;
  session_->conn().worker()->loop().defer_delete(content_);
  content_ = nullptr;
}

void Stream::content_done(bool) {
  end_content();
  if (!in_end_) discard_body();
  session_->kick();
}

void Stream::content_error(int status) {
  end_content();
  if (head_sent_) {  // (the contract says nothing was sent; be safe)
    reset_stream(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  respond(http::respond_with_status(*req_, status));
}

void Stream::content_redirect(http::Step to) {
  end_content();
  if (head_sent_) {
    reset_stream(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  respond(http::redirect_from_content(*req_, to));
}

void Stream::content_abort(int status) {
  end_content();
  // The client's fault (a body that does not match its length, too large) while nothing was
  // answered yet: the stream still gets its status (nginx finalizes the request with it).
  if ((status == 400 || status == 413) && !head_sent_ && !closed_) {
    if (!in_end_) discard_body();
    respond(http::respond_with_status(*req_, status));
    return;
  }
  if (status) req_->resp.status = status;
  if (req_->resp.status == 0) req_->resp.status = 502;
  reset_stream(NGHTTP2_INTERNAL_ERROR);
}

void Stream::reset_stream(uint32_t code) {
  if (closed_) return;
  nghttp2_submit_rst_stream(session_->native(), NGHTTP2_FLAG_NONE, id_, code);
  session_->kick();
}

void Stream::log_once() {
  if (logged_) return;
  logged_ = true;
  http::log_request(*req_);
}

void Stream::close(uint32_t error_code) {
  closed_ = true;
  http::Request& r = *req_;
  if (content_) {
    content_->abort();
    end_content();
  }
  (void)error_code;
  // Ended before an answer (the client reset the stream, the connection closed): nginx's 499.
  if (r.resp.status == 0) r.resp.status = 499;
  if (r.head.request_line.empty()) r.head.request_line = head_.request_line();
  if (r.server || r.start.tv_sec) {  // a stream reset before its request began is not logged
    if (!r.server && session_->conn().listener()->addr)
      r.server = session_->conn().listener()->addr->default_server;
    if (!r.loc && r.server) r.loc = r.server->loc;
    log_once();
  }
  if (unconsumed_ > 0 && !session_->native_closed()) {
    nghttp2_session_consume_connection(session_->native(), unconsumed_);
    unconsumed_ = 0;
  }
  http::WorkerServices* w = session_->conn().worker();
  w->loop().cancel(&delay_timer_);
  w->release_request(req_);
  req_ = nullptr;
  w->release_generation(gen_);
  gen_ = nullptr;
  in_pos_ = in_len_ = out_pos_ = out_len_ = 0;
  give_out_buffer(std::move(out_), out_cap_);
  out_cap_ = 0;
  session_->release(this);
}

}  // namespace portico::http2
