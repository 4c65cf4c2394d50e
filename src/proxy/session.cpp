// proxy::Session: lifecycle, events, timers and failures. The stages live beside it:
// session_connect.cpp (target, peer, queue, connect), session_request.cpp (request head and
// body), session_response.cpp (response head), session_relay.cpp (body relay, spool, tunnel).
#include "proxy/session.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"
#include "http/phases.h"
#include "proxy/session_internal.h"

namespace portico::proxy {

Session::Session(http::ClientStream* client, http::Request* r, Context* ctx)
    : client_(client),
      r_(r),
      ctx_(ctx),
      conf_(&r->loc->conf<ProxyConf>()),
      pass_(conf_->pass.get()) {
  timer_.owner = this;
  timer_.cb = &Session::on_timer;
  rate_timer_.owner = this;
  rate_timer_.cb = [](Timer* t) {  // proxy_limit_rate: the upstream may be read again
    Session* s = static_cast<SessionTimer*>(t)->owner;
    if (s->state_ != State::kDone) s->pump();
  };
  head_ = ctx_->take_string();
  head_in_.headers = ctx_->take_headers();
}

Session::~Session() {
  if (resolver_) resolver_->cancel(&dns_wait_);
  ctx_->loop.cancel(&timer_);
  ctx_->loop.cancel(&rate_timer_);
  if (group_) group_->dequeue(this);
  close_upstream();
  ctx_->give_string(std::move(head_));
  ctx_->give_headers(std::move(head_in_.headers));
  ctx_->release_buffer(std::move(ubuf_));
  ctx_->release_buffer(std::move(rbuf_));
}

std::string Session::log_suffix() const {
  std::string s = http::log_context(*r_);
  if (peer_ >= 0 && upstream_) {
    s += ", upstream: \"http://";
    s += group_->peer(size_t(peer_)).cfg.name;
    s += r_->upstream.uri;
    s += '"';
  }
  return s;
}

void Session::start() {
  start_ms_ = ctx_->loop.now_ms();
  if (!r_->upstream.attempts.empty()) {
    // An internal redirect proxies again: nginx separates the two with " : ".
    r_->upstream.attempts.emplace_back().separator = true;
    r_->upstream.addr += " : ";
  }
  switch (resolve_target()) {
    case Target::kFailed:
      state_ = State::kDone;
      return;
    case Target::kResolving:
      state_ = State::kResolving;
      return;
    case Target::kReady:
      break;
  }
  start_upstream();
}

void Session::start_upstream() {
  group_ = ctx_->upstreams.group(upstream_->group);
  tried_ = upstream::TriedSet(group_->members().size());
  if (!build_request_head()) {
    PORTICO_LOG(LogLevel::kInfo, client_->stream_id(),
                "client sent too many fields in \"Connection\"{}", log_suffix());
    state_ = State::kDone;
    client_->content_error(400);
    return;
  }
  // 100 Continue, if the client waits for it: an empty body too, as nginx reading it says so.
  client_->want_body();
  ubuf_ = ctx_->acquire_buffer();
  rbuf_ = ctx_->acquire_buffer();
  rcap_ = kBufferSize;
  if (body_mode_ == BodyMode::kBuffered || body_mode_ == BodyMode::kNone ||
      body_mode_ == BodyMode::kSet) {
    // Read the whole body before connecting (request buffering, or a chunked body for an
    // HTTP/1.0 upstream); with proxy_pass_request_body off it is read and dropped first.
    if (!body_done_) {
      state_ = State::kSending;
      pump();
      return;
    }
  }
  // The body is whole already (none, empty, or read by an earlier session): an empty one still
  // gets its file under client_body_in_file_only, as nginx.
  if (body_mode_ == BodyMode::kBuffered && !store_body(nullptr, 0)) return;
  end_stored_head();
  connect_next();
}

void Session::on_io(uint32_t ev) {
  if (state_ == State::kDone || !up_) return;
  if (state_ == State::kConnecting) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(up_->fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      upstream_failed(kNextError, 502,
                      "connect() failed (" + errno_text(err) + ") while connecting to upstream");
      return;
    }
    r_->upstream.cur_connect_ms = ctx_->loop.now_ms() - attempt_ms_;
    up_->on_events(ev);
    connected();
    return;
  }
  up_->on_events(ev);
  pump();
}

void Session::on_client_io(uint32_t ev) {
  if (state_ == State::kDone) return;
  // The client may take more (resume), sent more, or went away.
  if ((ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && client_gone()) return;
  pump();
}

bool Session::client_gone() {
  // While the body is being read its own recv sees the end; a tunnel relays half-closes.
  if (!body_done_ || state_ == State::kTunnel || conf_->ignore_client_abort) return false;
  if (!client_->client_closed()) return false;
  const char* during = state_ == State::kRelaying      ? "reading upstream"
                       : state_ == State::kReadingHead ? "reading response header from upstream"
                       : state_ == State::kSending     ? "sending request to upstream"
                                                       : "connecting to upstream";
  if (response_started_) {
    fail_client(fmt::format("client prematurely closed connection while {}", during), Fault::kNone,
                LogLevel::kInfo);
    return true;
  }
  PORTICO_LOG(LogLevel::kInfo, client_->stream_id(),
              "client prematurely closed connection, so upstream connection is closed too while "
              "{}{}",
              during, log_suffix());
  abort();
  client_->content_abort(499);
  return true;
}

void Session::wait(Wait w, uint64_t ms) {
  const uint64_t now = ctx_->loop.now_ms();
  wait_ = w;
  if (w == Wait::kTunnelIdle || w == Wait::kQueue) {
    client_dl_.at = up_dl_.at = 0;
    ctx_->loop.schedule(&timer_, ms);
    return;
  }
  Deadline& d = w == Wait::kClientRead || w == Wait::kClientWrite ? client_dl_ : up_dl_;
  if (d.at == 0 || d.wait != w) {
    d.wait = w;
    d.at = now + ms;
  }
  if (&d == &up_dl_)
    if (const uint64_t o = overtime_at(); o && d.at > o) d.at = o;
  uint64_t at = UINT64_MAX;
  if (client_dl_.at) at = client_dl_.at;
  if (up_dl_.at) at = std::min(at, up_dl_.at);
  ctx_->loop.schedule(&timer_, at > now ? at - now : 0);
}

void Session::on_timer(Timer* t) {
  Session* s = static_cast<SessionTimer*>(t)->owner;
  if (s->state_ == State::kDone) return;
  Wait w = s->wait_;
  if (w != Wait::kTunnelIdle && w != Wait::kQueue) {
    // Which side ran out of time (the timer is set for the earlier of the two deadlines).
    const uint64_t now = s->ctx_->loop.now_ms();
    if (s->client_dl_.at && now >= s->client_dl_.at) {
      w = s->client_dl_.wait;
    } else if (s->up_dl_.at && now >= s->up_dl_.at) {
      w = s->up_dl_.wait;
    } else {
      uint64_t at = UINT64_MAX;
      if (s->client_dl_.at) at = s->client_dl_.at;
      if (s->up_dl_.at) at = std::min(at, s->up_dl_.at);
      if (at != UINT64_MAX) s->ctx_->loop.schedule(&s->timer_, at - now);
      return;
    }
  }
  if (w == Wait::kConnect || w == Wait::kUpstreamWrite || w == Wait::kUpstreamRead) {
    if (const uint64_t o = s->overtime_at(); o && s->ctx_->loop.now_ms() >= o) {
      s->overtime();
      return;
    }
  }
  switch (w) {
    case Wait::kConnect:
      s->upstream_failed(
          kNextTimeout, 504,
          "upstream timed out (110: Connection timed out) while connecting to upstream");
      return;
    case Wait::kUpstreamWrite:
      s->upstream_failed(kNextTimeout, 504,
                         s->handshaking() ? "upstream timed out (110: Connection timed out) while "
                                            "SSL handshaking to upstream"
                                          : "upstream timed out (110: Connection timed out) while "
                                            "sending request to upstream");
      return;
    case Wait::kUpstreamRead:
      if (s->state_ == State::kReadingHead || s->state_ == State::kSending)
        s->upstream_failed(kNextTimeout, 504,
                           "upstream timed out (110: Connection timed out) while reading response "
                           "header from upstream");
      else
        s->fail_client("upstream timed out (110: Connection timed out) while reading upstream",
                       Fault::kPeer);
      return;
    case Wait::kClientRead:
      PORTICO_LOG(LogLevel::kInfo, s->client_->stream_id(),
                  "client timed out (110: Connection timed out) while reading client request body");
      s->release_peer(false);
      s->close_upstream();
      s->state_ = State::kDone;
      s->client_->content_abort(408);
      return;
    case Wait::kClientWrite:
      s->fail_client("client timed out (110: Connection timed out) while sending to client",
                     Fault::kNone, LogLevel::kInfo);
      return;
    case Wait::kTunnelIdle:
      s->fail_client(
          "upstream timed out (110: Connection timed out) while proxying upgraded connection",
          Fault::kNone);
      return;
    case Wait::kQueue:
      s->group_->dequeue(s);
      PORTICO_LOG(LogLevel::kError, s->client_->stream_id(),
                  "upstream queue timed out while connecting to upstream{}", s->log_suffix());
      s->state_ = State::kDone;
      s->client_->content_error(503);
      return;
    case Wait::kNone:
      return;
  }
}

uint64_t Session::overtime_at() const {
  if (peer_ < 0) return 0;
  const uint64_t max = group_->peer(size_t(peer_)).cfg.max_request_ms;
  return max ? attempt_ms_ + max : 0;
}

void Session::overtime() {
  const upstream::Peer& p = group_->peer(size_t(peer_));
  // Counted before the peer is released: the supervisor shuts the process down (the request
  // may be what hangs it). Not retried: the next process would get the same request.
  p.state->overtime.fetch_add(1, std::memory_order_relaxed);
  upstream_failed(
      0, 504,
      fmt::format("upstream took longer than max_request_time ({} ms), so its "
                  "process is shut down, while {}",
                  p.cfg.max_request_ms,
                  state_ == State::kRelaying     ? "reading upstream"
                  : state_ == State::kConnecting ? "connecting to upstream"
                                                 : "reading response header from upstream"));
}

void Session::pump() {
  for (;;) {
    bool progress = false;
    switch (state_) {
      case State::kResolving:
      case State::kConnecting:
      case State::kQueued:
      case State::kDone:
        return;
      case State::kSending:
        progress = send_request();
        break;
      case State::kReadingHead:
        progress = read_response_head();
        break;
      case State::kRelaying:
        progress = relay_response();
        break;
      case State::kTunnel:
        progress = tunnel();
        break;
    }
    if (!progress) return;
  }
}

void Session::note_attempt_end(int status) {
  r_->upstream.end_attempt(status, ctx_->loop.now_ms() - attempt_ms_);
}

void Session::upstream_failed(uint32_t condition, int status, const std::string& why) {
  PORTICO_LOG(LogLevel::kError, client_->stream_id(), "{}{}", why, log_suffix());
  if (response_started_) {
    fail_client(why, Fault::kPeer);
    return;
  }
  if (peer_ >= 0) {
    note_attempt_end(status);
  }
  // A pooled connection the upstream had closed meanwhile is not the peer's fault, and does
  // not use up a try (nginx: u->peer.cached).
  const bool stale_pooled = pooled_ && condition == kNextError && !response_started_;
  if (stale_pooled && peer_ >= 0 && group_->balancer().all_tried(tried_)) {
    // No other peer to move to (a one-server group): this one may be tried again, on a fresh
    // connection or another pooled one (each bounded by the pool), as nginx does.
    tried_.erase(size_t(peer_));
  }
  release_peer(!stale_pooled);
  if (stale_pooled) --tries_;
  close_upstream();
  rlen_ = rpos_ = 0;
  parsed_ = 0;
  const uint32_t limit = try_limit();
  bool may = (conf_->next_upstream & condition) && tries_ < limit && body_replayable_;
  if (request_sent_any_ && !idempotent(r_->head.method) &&
      !(conf_->next_upstream & kNextNonIdempotent))
    may = false;
  if (conf_->next_upstream_timeout_ms &&
      ctx_->loop.now_ms() - start_ms_ >= conf_->next_upstream_timeout_ms)
    may = false;
  if (may) {
    connect_next();
    return;
  }
  state_ = State::kDone;
  ctx_->loop.cancel(&timer_);
  client_->content_error(status);
}

void Session::fail_client(const std::string& why, Fault fault, LogLevel level) {
  PORTICO_LOG(level, client_->stream_id(), "{}{}", why, log_suffix());
  if (peer_ >= 0) {
    note_attempt_end(head_in_.status ? head_in_.status : 502);
  }
  release_peer(fault == Fault::kPeer);
  close_upstream();
  state_ = State::kDone;
  ctx_->loop.cancel(&timer_);
  client_->content_abort(0);
}

void Session::release_peer(bool failed) {
  if (peer_ < 0) return;
  const int slot = peer_;
  peer_ = -1;
  // May hand the peer to a queued request before it returns.
  group_->release(slot, failed ? upstream::Outcome::kFailure : upstream::Outcome::kSuccess,
                  ctx_->loop.now_ms());
}

void Session::close_upstream() {
  if (!up_) return;
  if (pconn_) {
    ctx_->upstreams.pool.close(pconn_);  // closes the transport
    pconn_ = nullptr;
  } else {
    up_->close();
  }
  up_ = nullptr;
}

void Session::abort() {
  if (state_ == State::kDone) return;
  if (resolver_) resolver_->cancel(&dns_wait_);
  if (state_ == State::kQueued) group_->dequeue(this);
  // The attempt ends here (its response time logged, its status "-" without a head).
  if (r_->upstream.in_attempt) note_attempt_end(r_->upstream.cur_status);
  release_peer(false);
  close_upstream();
  state_ = State::kDone;
  ctx_->loop.cancel(&timer_);
}

}  // namespace portico::proxy
