// proxy::Session, the request: its head (proxy/headers.cpp builds it), the client's body read
// from the codec, buffered (memory, then a temporary file) or streamed, and sending both.
#include "proxy/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"
#include "http/client_stream.h"
#include "proxy/headers.h"
#include "proxy/session_internal.h"

namespace portico::proxy {

namespace {

void append_hex(std::string& out, size_t n) {
  char buf[24];
  int len = snprintf(buf, sizeof buf, "%zx", n);
  out.append(buf, size_t(len));
}

}  // namespace

// Appends body bytes to the request's stored body (http::RequestBody: memory up to
// client_body_buffer_size, then a temporary file under client_body_temp_path), so a large
// upload never grows the process. Returns false (after answering) if the file cannot be written.
bool Session::store_body(const char* data, size_t n) {
  const http::LocationConf& loc = *r_->loc;
  int err = n > 0 ? r_->body.append(loc, loc.client_body_temp_path, data, n) : 0;
  if (err == 0 && body_done_) err = r_->body.finish(loc, loc.client_body_temp_path);
  if (err == 0) return true;
  PORTICO_LOG(LogLevel::kCrit, client_->stream_id(), "{}() \"{}\" failed ({}){}",
              r_->body.failed_call(), r_->body.path(), errno_text(err), log_suffix());
  state_ = State::kDone;
  client_->content_error(500);
  return false;
}

bool Session::build_request_head() {
  body_mode_ = request_body_mode(r_->head, *conf_);
  body_done_ = client_->body_complete();  // also when the body is read and dropped (kNone)
  // A body read whole by an earlier session of this request (before an internal redirect) is
  // still in r.body; a partly read one starts over.
  if (!body_done_) r_->body.reset();
  if (body_mode_ == BodyMode::kSet) {
    set_body_.clear();
    conf_->set_body.eval(*r_, set_body_);
  }
  return proxy::build_request_head(*r_, *conf_, *pass_, var_has_uri_ ? &var_uri_ : nullptr,
                                   body_mode_, head_);
}

// A stored body's head ends with its length, known once the body is whole.
void Session::end_stored_head() {
  if (body_mode_ == BodyMode::kBuffered) end_buffered_head(head_, r_->body.size());
  if (body_mode_ == BodyMode::kSet) end_buffered_head(head_, set_body_.size());
}

// Reads more client body into ubuf_ (the codec removes the chunked framing). Returns false when
// the caller must stop (waiting, or the session ended). *progress: body bytes became available.
bool Session::read_client_body(bool* progress) {
  *progress = false;
  if (body_done_) return true;
  IoResult rd = client_->read_body(ubuf_.get(), kBufferSize);
  if (rd.again()) {
    wait(Wait::kClientRead, r_->loc->client_body_timeout);
    return false;
  }
  if (rd.error()) {
    client_body_failed(rd.err());
    return false;
  }
  const size_t data_len = rd.progress() ? rd.bytes() : 0;
  if (data_len > 0) client_progress();
  body_done_ = client_->body_complete();
  switch (body_mode_) {
    case BodyMode::kNone:  // proxy_pass_request_body off: read and dropped
    case BodyMode::kSet:   // proxy_set_body replaces it
      return true;
    case BodyMode::kBuffered:
      if (!store_body(ubuf_.get(), data_len)) return false;
      *progress = true;
      return true;
    case BodyMode::kLength:
    case BodyMode::kChunked:
      // Streamed: once sent, these bytes exist nowhere else (nginx does not pass an unbuffered
      // request to the next upstream once it was sent). A small body stays visible to
      // $request_body, as nginx's body buffer.
      if (data_len > 0) {
        body_replayable_ = false;
        r_->body.note_streamed(*r_->loc, ubuf_.get(), data_len);
      }
      break;
  }
  ubuf_off_ = 0;
  ubuf_len_ = data_len;
  frame_.clear();
  post_.clear();
  frame_off_ = post_off_ = 0;
  if (body_mode_ == BodyMode::kChunked) {
    if (data_len > 0) {
      append_hex(frame_, data_len);
      frame_ += "\r\n";
      post_ = "\r\n";
    }
    if (body_done_) post_ += "0\r\n\r\n";
  }
  *progress = true;
  return true;
}

// The client's body cannot be read on (read_body() failed with `err`): answer or close.
void Session::client_body_failed(int err) {
  int status = 499;
  if (err == http::kBodyMalformed) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "client sent invalid chunked body{}",
                log_suffix());
    status = 400;
  } else if (err == http::kBodyLengthMismatch) {
    PORTICO_LOG(LogLevel::kInfo, client_->stream_id(),
                "client sent request body data other than the declared {} bytes{}",
                r_->head.content_length, log_suffix());
    status = 400;
  } else if (err == http::kBodyTooLarge) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(),
                "client intended to send too large chunked body: {} bytes{}",
                client_->body_received(), log_suffix());
    status = 413;
  } else {
    PORTICO_LOG(LogLevel::kInfo, client_->stream_id(),
                "client prematurely closed connection while reading client request body{}",
                log_suffix());
  }
  release_peer(false);
  close_upstream();
  state_ = State::kDone;
  if (status != 499 && !request_sent_any_)
    client_->content_error(status);  // nothing went upstream: error_page applies
  else
    client_->content_abort(status);
}

// A send to the upstream made no progress: wait for room, or fail the attempt.
void Session::upstream_send_failed(const char* call, IoResult res) {
  if (res.again()) {
    wait(Wait::kUpstreamWrite, send_timeout_ms());
    return;
  }
  upstream_failed(kNextError, 502,
                  fmt::format("{}() failed ({}) while sending request to upstream", call,
                              errno_text(res.err())));
}

// Sends the head and streams the body. Returns true when the state changed.
bool Session::send_request() {
  if (!up_) {
    // A body that must be whole before connecting (see start()).
    while (!body_done_) {
      bool progress;
      if (!read_client_body(&progress)) return false;
    }
    end_stored_head();
    ctx_->loop.cancel(&timer_);
    connect_next();
    return false;
  }
  for (;;) {
    // A stored body goes out after the head: from memory, or from its file with sendfile.
    const bool stored = body_mode_ == BodyMode::kBuffered || body_mode_ == BodyMode::kSet;
    const int body_fd = body_mode_ == BodyMode::kBuffered ? r_->body.fd() : -1;
    const std::string_view body_mem =
        body_mode_ == BodyMode::kSet ? std::string_view(set_body_) : r_->body.memory();
    const size_t stored_size = body_fd >= 0 ? r_->body.size() : body_mem.size();
    if (stored && head_off_ == head_.size() && stored_off_ < stored_size) {
      if (!up_->writable()) {
        wait(Wait::kUpstreamWrite, send_timeout_ms());
        return false;
      }
      IoResult w = body_fd >= 0
                       ? up_->sendfile(body_fd, off_t(stored_off_), stored_size - stored_off_)
                       : up_->write(body_mem.data() + stored_off_, stored_size - stored_off_);
      if (!w.progress()) {
        // eof: the body file is shorter than it was written: a failed disk.
        upstream_send_failed(body_fd >= 0 ? "sendfile" : "send",
                             w.eof() ? IoResult::failed(EIO) : w);
        return false;
      }
      stored_off_ += w.bytes();
      upstream_progress();
      r_->upstream.bytes_sent += w.bytes();
      continue;
    }
    struct iovec iov[4];
    int cnt = 0;
    if (head_off_ < head_.size()) iov[cnt++] = {head_.data() + head_off_, head_.size() - head_off_};
    if (frame_off_ < frame_.size())
      iov[cnt++] = {frame_.data() + frame_off_, frame_.size() - frame_off_};
    if (ubuf_off_ < ubuf_len_) iov[cnt++] = {ubuf_.get() + ubuf_off_, ubuf_len_ - ubuf_off_};
    if (post_off_ < post_.size()) iov[cnt++] = {post_.data() + post_off_, post_.size() - post_off_};
    if (cnt == 0) {
      if (body_done_) {
        state_ = State::kReadingHead;
        wait(Wait::kUpstreamRead, conf_->read_timeout_ms);
        return true;
      }
      bool progress;
      if (!read_client_body(&progress)) return false;
      continue;
    }
    // The upstream may answer before the body is complete (e.g. 413): then stop uploading.
    if (up_->readable() && request_sent_any_) {
      IoResult pk = up_->peek();
      if (pk.progress()) {
        state_ = State::kReadingHead;
        return true;
      }
      if (!pk.again()) {
        upstream_failed(kNextError, 502,
                        "upstream prematurely closed connection while sending request to upstream");
        return false;
      }
      up_->set_readable(false);
    }
    if (!up_->writable()) {
      wait(Wait::kUpstreamWrite, send_timeout_ms());
      return false;
    }
    IoResult w = up_->writev(iov, size_t(cnt));
    if (!w.progress()) {
      upstream_send_failed("writev", w);
      return false;
    }
    request_sent_any_ = true;
    upstream_progress();
    r_->upstream.bytes_sent += w.bytes();
    size_t left = w.bytes();
    auto advance = [&left](size_t& off, size_t len) {
      size_t take = std::min(left, len - off);
      off += take;
      left -= take;
    };
    advance(head_off_, head_.size());
    advance(frame_off_, frame_.size());
    advance(ubuf_off_, ubuf_len_);
    advance(post_off_, post_.size());
  }
}

}  // namespace portico::proxy
