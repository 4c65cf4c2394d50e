// proxy::Session, the response body: relayed from the upstream to the client's codec, held in
// the spool when the client is slower (proxy_buffering), the upstream freed as soon as it is all
// here; after a 101, the tunnel.
#include "proxy/session.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"
#include "proxy/session_internal.h"

namespace portico::proxy {

// Sends what the client is owed, oldest first: held bytes (the spool), then the pending piece of
// rbuf_, and the codec's pending head and framing; the end of the body goes with the final bytes
// once the upstream's body is complete. Stops when the client is full (waiting for it) or there
// is nothing to send. Returns false when the session ended (the client failed).
bool Session::send_to_client() {
  for (;;) {
    http::OutChunk pieces[2];
    size_t n = 0;
    if (!spool_.empty()) {
      n = spool_.front(pieces);
    } else if (out_data_len_ > 0) {
      pieces[0] = http::OutChunk{out_data_, out_data_len_, -1, 0};
      n = 1;
    }
    uint64_t offered = 0;
    for (size_t i = 0; i < n; ++i) offered += pieces[i].len;
    const bool last = resp_done_ && offered == spool_.size() + out_data_len_;
    if (last ? client_->response_complete() : n == 0 && !client_->output_pending()) return true;
    if (!client_->can_send()) {
      wait(Wait::kClientWrite, r_->loc->send_timeout);
      return true;
    }
    IoResult w = client_->send_body(std::span<const http::OutChunk>(pieces, n), last);
    if (w.again()) {
      wait(Wait::kClientWrite, r_->loc->send_timeout);
      return true;
    }
    if (!w.progress()) {
      // The client went away (or a spool file failed): nginx logs this at info.
      const bool file = n > 0 && pieces[0].fd >= 0;
      fail_client(fmt::format("{}() failed ({}) while sending to client",
                              file ? "sendfile" : "writev", errno_text(w.eof() ? EIO : w.err())),
                  Fault::kNone, LogLevel::kInfo);
      return false;
    }
    client_progress();
    if (!spool_.empty()) {
      spool_.consume(w.bytes());
    } else {
      out_data_ += w.bytes();
      out_data_len_ -= w.bytes();
    }
  }
}

// Whether n more bytes can be held now (configures the spool and opens its file on need).
bool Session::can_spool(size_t n) {
  if (!spool_ready_) {
    const std::string& path = conf_->temp_path;
    std::string dir = path.empty()          ? r_->http->prefix + "proxy_temp"
                      : path.front() == '/' ? path
                                            : r_->http->prefix + path;
    spool_.configure(size_t(conf_->buffers_num) * conf_->buffers_size, conf_->max_temp_file_size,
                     std::move(dir));
    spool_ready_ = true;
  }
  std::string error;
  if (spool_.reserve(n, &error)) return true;
  if (!error.empty()) {
    // No temporary file: memory only from now on, then the client's pace (nginx fails the
    // request instead).
    PORTICO_LOG(LogLevel::kCrit, client_->stream_id(), "{} while reading upstream{}", error,
                log_suffix());
  }
  return false;
}

// Moves the pending piece into the spool: the client is not taking it, the upstream goes on.
bool Session::spool_data() {
  std::string error;
  const bool ok = spool_.append(out_data_, out_data_len_, &error);
  out_data_ = nullptr;
  out_data_len_ = 0;
  if (!ok) {
    fail_client(error + " while reading upstream", Fault::kNone, LogLevel::kCrit);
    return false;
  }
  return true;
}

bool Session::relay_response() {
  for (;;) {
    // Body bytes already here ride along with a pending head: decode them first, so a small
    // response leaves in one write.
    const bool attach = spool_.empty() && out_data_len_ == 0 && !resp_done_ && rpos_ < rlen_;
    if (!attach && !send_to_client()) return false;
    if (client_->response_complete()) {
      finish();
      return false;
    }
    // The client is slower than the upstream: hold the rest (proxy_buffering) and read on.
    if (out_data_len_ > 0 && buffering_ && !resp_done_ && can_spool(out_data_len_) && !spool_data())
      return false;
    if (resp_done_) {
      end_upstream();  // all of it is here: free the upstream while the client reads
      wait(Wait::kClientWrite, r_->loc->send_timeout);
      return false;
    }
    if (out_data_len_ > 0) {
      // The client sets the pace (proxy_buffering off, or the spool is full): the upstream is
      // not being read, so its read timeout does not run.
      upstream_progress();
      wait(Wait::kClientWrite, r_->loc->send_timeout);
      return false;
    }
    size_t limit = rcap_;  // what may be read now
    if (!spool_.empty()) {
      const uint64_t room = spool_.room();
      const size_t need = 1 + (rlen_ - rpos_);
      if (room < need || !can_spool(need)) {
        upstream_progress();  // not reading the upstream until the client takes some
        wait(Wait::kClientWrite, r_->loc->send_timeout);
        return false;
      }
      limit = size_t(std::min<uint64_t>(rcap_, room));
    }
    if (rpos_ < rlen_) {
      const char* data = rbuf_.get() + rpos_;
      size_t avail = rlen_ - rpos_;
      size_t n = 0;
      switch (framing_) {
        case BodyFraming::kLength:
          n = size_t(std::min<uint64_t>(avail, resp_left_));
          rpos_ += n;
          resp_left_ -= n;
          if (resp_left_ == 0) resp_done_ = true;
          break;
        case BodyFraming::kUntilClose:
          n = avail;
          rpos_ += n;
          break;
        case BodyFraming::kChunked: {
          char* out = rbuf_.get() + rpos_;
          auto res = resp_chunked_.decode(std::string_view(data, avail), out);
          if (res.error) {
            fail_client("upstream sent invalid chunked response while reading upstream",
                        Fault::kPeer);
            return false;
          }
          rpos_ += res.consumed;
          n = res.data_len;
          data = out;
          if (res.done) resp_done_ = true;
          if (res.consumed == 0 && !res.done) {
            // An incomplete chunk line at the end of the buffer: keep it, read more.
            std::memmove(rbuf_.get(), rbuf_.get() + rpos_, avail);
            rlen_ = avail;
            rpos_ = 0;
            goto read_more;
          }
          break;
        }
        case BodyFraming::kNone:
          resp_done_ = true;
          break;
      }
      if (n > 0) {
        out_data_ = data;
        out_data_len_ = n;
      }
      // Behind held bytes, new output joins them (order); rbuf_ is then free for the next read.
      if (!spool_.empty() && out_data_len_ > 0 && !spool_data()) return false;
      continue;
    }
    rlen_ = rpos_ = 0;
  read_more:
    if (!up_->readable()) {
      wait(Wait::kUpstreamRead, conf_->read_timeout_ms);
      return false;
    }
    size_t want = std::min(rcap_ - rlen_, limit);
    if (conf_->limit_rate != 0 && !upstream_rate_allows(&want)) [[unlikely]]
      return false;
    IoResult got = up_->read(rbuf_.get() + rlen_, want);
    if (got.progress()) {
      upstream_progress();
      r_->upstream.bytes_received += got.bytes();
      rlen_ += got.bytes();
      continue;
    }
    if (got.again()) continue;
    if (got.eof()) {
      if (framing_ == BodyFraming::kUntilClose) {
        resp_done_ = true;  // the end of the connection is the end of the body
        continue;
      }
      fail_client("upstream prematurely closed connection while reading upstream", Fault::kPeer);
      return false;
    }
    fail_client("recv() failed (" + errno_text(got.err()) + ") while reading upstream",
                Fault::kPeer);
    return false;
  }
}

bool Session::upstream_rate_allows(size_t* want) {
  http::RateLimit pace;
  pace.rate = conf_->limit_rate;
  uint64_t delay = 0;
  const uint64_t elapsed = ctx_->loop.now_ms() - attempt_ms_;
  const uint64_t allow = pace.allowance(elapsed, r_->upstream.bytes_received, &delay);
  if (allow == 0) {
    upstream_progress();  // not reading by choice: the read timeout does not run
    ctx_->loop.schedule(&rate_timer_, delay);
    return false;
  }
  *want = size_t(std::min<uint64_t>(*want, allow));
  return true;
}

void Session::end_upstream() {
  if (upstream_ended_) return;
  upstream_ended_ = true;
  upstream_progress();  // nothing more to wait for from it
  note_attempt_end(head_in_.status);
  const bool reusable =
      up_ && upstream_->keepalive > 0 && body_done_ && head_off_ == head_.size() &&
      rpos_ == rlen_ && connection_reusable(head_in_, framing_) &&
      up_requests_ + 1 < upstream_->keepalive_requests && conf_->http_minor == 1 &&
      (!pconn_ || ctx_->loop.now_ms() - pconn_->born_ms <= upstream_->keepalive_time_ms);
  if (reusable && pconn_) {
    const upstream::Peer& p = group_->peer(size_t(peer_));
    pconn_->requests = up_requests_ + 1;
    ctx_->upstreams.pool.put(pconn_, p.state.get(), upstream_->keepalive,
                             upstream_->keepalive_timeout_ms);
    pconn_ = nullptr;
    up_ = nullptr;
  }
  release_peer(false);
  close_upstream();
}

void Session::finish() {
  end_upstream();
  state_ = State::kDone;
  ctx_->loop.cancel(&timer_);
  client_->content_done(r_->resp.keep_alive && body_done_);
}

bool Session::tunnel() {
  // First the 101 head itself, whole: then the connection is a byte stream.
  if (!client_->response_complete()) {
    if (!client_->can_send()) {
      wait(Wait::kClientWrite, r_->loc->send_timeout);
      return false;
    }
    IoResult w = client_->send_body({}, /*last=*/true);
    if (w.again()) {
      wait(Wait::kClientWrite, r_->loc->send_timeout);
      return false;
    }
    if (!w.progress()) {
      fail_client("writev() failed (" + errno_text(w.err()) + ") while sending to client",
                  Fault::kNone, LogLevel::kInfo);
      return false;
    }
    client_progress();
    return true;  // again, until the head is out
  }
  const uint64_t before = tunnel_.to_a_bytes();
  const Tunnel::Result res = tunnel_.pump();
  const uint64_t to_client = tunnel_.to_a_bytes() - before;
  r_->bytes_sent += to_client;
  r_->body_bytes_sent += to_client;
  if (res == Tunnel::Result::kDone) {
    note_attempt_end(101);
    release_peer(false);
    close_upstream();
    state_ = State::kDone;
    ctx_->loop.cancel(&timer_);
    client_->content_done(false);
    return false;
  }
  wait(Wait::kTunnelIdle, conf_->read_timeout_ms);
  return false;
}

}  // namespace portico::proxy
