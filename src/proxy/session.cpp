#include "proxy/session.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/http_date.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/handler.h"
#include "http/phases.h"
#include "http/request.h"
#include "http/uri.h"
#include "proxy/directives.h"

namespace portico::proxy {

namespace {

constexpr size_t kBufferSize = Context::kBufferSize;  // each direction

bool idempotent(http::Method m) {
  return m != http::Method::kPost && m != http::Method::kPatch && m != http::Method::kOther;
}

uint32_t status_condition(int status) {
  switch (status) {
    case 500:
      return kNextHttp500;
    case 502:
      return kNextHttp502;
    case 503:
      return kNextHttp503;
    case 504:
      return kNextHttp504;
    case 403:
      return kNextHttp403;
    case 404:
      return kNextHttp404;
    case 429:
      return kNextHttp429;
    default:
      return 0;
  }
}

// nginx counts these as failed attempts only when listed in proxy_next_upstream; 403 and 404
// never.
bool status_is_failure(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

void append_hex(std::string& out, size_t n) {
  char buf[24];
  int len = snprintf(buf, sizeof buf, "%zx", n);
  out.append(buf, size_t(len));
}

}  // namespace

Session::Session(http::ClientStream* client, http::Request* r, Context* ctx)
    : client_(client),
      r_(r),
      ctx_(ctx),
      conf_(&r->loc->conf<ProxyConf>()),
      pass_(conf_->pass.get()) {
  timer_.owner = this;
  timer_.cb = &Session::on_timer;
  head_ = ctx_->take_string();
  head_in_.headers = ctx_->take_headers();
}

Session::~Session() {
  ctx_->loop.cancel(&timer_);
  if (group_) group_->dequeue(this);
  close_upstream();
  ctx_->give_string(std::move(head_));
  ctx_->give_headers(std::move(head_in_.headers));
  ctx_->release_buffer(std::move(ubuf_));
  ctx_->release_buffer(std::move(rbuf_));
  if (body_file_ >= 0) ::close(body_file_);
}

// Appends body bytes to the stored body: memory up to kMemoryBody, then an anonymous temporary
// file (client_body_temp under the prefix, as nginx, or /tmp), so a large upload never grows
// the process. Returns false (after answering) if the file cannot be written.
bool Session::store_body(const char* data, size_t n) {
  constexpr size_t kMemoryBody = 64 * 1024;
  if (body_file_ < 0 && stored_size_ + n > kMemoryBody) {
    std::string dir = r_->loc->client_body_temp_path.empty() ? r_->http->prefix + "client_body_temp"
                                                             : r_->loc->client_body_temp_path;
    ::mkdir(dir.c_str(), 0700);
    body_file_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (body_file_ < 0) body_file_ = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (body_file_ < 0) {
      PORTICO_LOG(LogLevel::kCrit, client_->stream_id(),
                  "open() of a temporary file for the request body failed ({}){}",
                  errno_text(errno), log_suffix());
      state_ = State::kDone;
      client_->content_error(500);
      return false;
    }
    if (!write_file(stored_body_.data(), stored_body_.size())) return false;
    stored_body_.clear();
    stored_body_.shrink_to_fit();
  }
  if (body_file_ >= 0) {
    if (!write_file(data, n)) return false;
  } else {
    stored_body_.append(data, n);
  }
  stored_size_ += n;
  return true;
}

bool Session::write_file(const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(body_file_, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      PORTICO_LOG(LogLevel::kCrit, client_->stream_id(),
                  "write() to the request body file failed ({}){}", errno_text(errno),
                  log_suffix());
      state_ = State::kDone;
      client_->content_error(500);
      return false;
    }
    data += w;
    n -= size_t(w);
  }
  return true;
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

// ---- request head ---------------------------------------------------------------------------

bool Session::build_request_head() {
  body_mode_ = request_body_mode(r_->head, *conf_);
  body_done_ = client_->body_complete();  // also when the body is read and dropped (kNone)
  return proxy::build_request_head(*r_, *conf_, *pass_, var_has_uri_ ? &var_uri_ : nullptr,
                                   body_mode_, head_);
}

// ---- connecting -----------------------------------------------------------------------------

// Finds the group to use: the location's, or for a URL with variables the named upstream or
// the address it evaluates to. Returns false (after answering) when there is none.
bool Session::resolve_target() {
  http::Request& r = *r_;
  if (!pass_->has_variables) {
    upstream_ = pass_->upstream.get();
    r.upstream.proxy_host = pass_->proxy_host;
    r.upstream.proxy_port = pass_->proxy_port;
    return true;
  }
  std::string url;
  pass_->url.eval(r, url);
  std::string_view rest = url;
  if (!istarts_with(rest, "http://")) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "invalid URL prefix in \"{}\"{}", url,
                http::log_context(r));
    client_->content_error(500);
    return false;
  }
  rest.remove_prefix(7);
  size_t slash = istarts_with(rest, "unix:") ? rest.find(':', 5) : rest.find('/');
  std::string hostport(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    var_has_uri_ = true;
    var_uri_.assign(rest.substr(istarts_with(rest, "unix:") ? slash + 1 : slash));
  }
  auto colon = hostport.rfind(':');
  bool has_port = colon != std::string::npos && hostport.find(']', colon) == std::string::npos &&
                  !istarts_with(hostport, "unix:");
  r.upstream.proxy_host = istarts_with(hostport, "unix:") ? std::string("localhost") : hostport;
  r.upstream.proxy_port = has_port ? hostport.substr(colon + 1) : "80";
  if (!has_port) {
    auto it = r.http->upstreams.find(hostport);
    if (it != r.http->upstreams.end()) {
      upstream_ = it->second.get();
      return true;
    }
  }
  std::string error;
  dynamic_upstream_ = ctx_->dynamic_upstream(hostport, &error);
  upstream_ = dynamic_upstream_.get();
  if (!upstream_) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "{}{}", error, http::log_context(r));
    client_->content_error(502);
    return false;
  }
  return true;
}

void Session::start() {
  start_ms_ = ctx_->loop.now_ms();
  if (!resolve_target()) {
    state_ = State::kDone;
    return;
  }
  group_ = ctx_->upstreams.group(upstream_->group);
  tried_ = upstream::TriedSet(group_->members().size());
  if (!build_request_head()) {
    PORTICO_LOG(LogLevel::kInfo, client_->stream_id(),
                "client sent too many fields in \"Connection\"{}", log_suffix());
    state_ = State::kDone;
    client_->content_error(400);
    return;
  }
  if (!body_done_) client_->want_body();  // 100 Continue, if the client waits for it
  ubuf_ = ctx_->acquire_buffer();
  rbuf_ = ctx_->acquire_buffer();
  rcap_ = kBufferSize;
  if (body_mode_ == BodyMode::kBuffered || body_mode_ == BodyMode::kNone) {
    // Read the whole body before connecting (request buffering, or a chunked body for an
    // HTTP/1.0 upstream); with proxy_pass_request_body off it is read and dropped first.
    if (!body_done_) {
      state_ = State::kSending;
      pump();
      return;
    }
  }
  connect_next();
}

void Session::connect_next() {
  const uint64_t now = ctx_->loop.now_ms();
  const uint32_t limit =
      conf_->next_upstream_tries ? conf_->next_upstream_tries : group_->members().max_tries();
  // The first attempt always asks the balancer: with no peer available it queues or answers
  // "no live upstreams", as nginx does.
  if (tries_ > 0 && tries_ >= limit) {
    state_ = State::kDone;
    client_->content_error(502);
    return;
  }
  upstream::PickContext pc;
  pc.now_ms = now;
  std::string key;
  if (upstream_->group->method() == upstream::Method::kIpHash) {
    pc.hash_key = upstream::ip_hash_key(r_->client_addr());
  } else if (!upstream_->group->hash_key().empty()) {
    if (const http::ComplexValue* k = r_->http->hash_key(upstream_->group.get())) {
      k->eval(*r_, key);
      pc.hash_key = key;
    }
  }
  int idx = group_->pick(pc, tried_);
  if (idx < 0 && tries_ == 0 && upstream_->queue_max) {
    if (state_ == State::kQueued) return;  // woken, but nothing free for us: wait on
    if (!group_->enqueue(this, upstream_->queue_max)) {
      PORTICO_LOG(LogLevel::kError, client_->stream_id(),
                  "upstream queue is full while connecting to upstream{}", log_suffix());
      state_ = State::kDone;
      client_->content_error(503);
      return;
    }
    state_ = State::kQueued;
    wait(Wait::kQueue, upstream_->queue_timeout_ms);  // woken by the queue, not by this timer
    // A peer freed before this request counted as waiting woke nobody: look once more.
    idx = group_->pick(pc, tried_);
    if (idx < 0) return;
  }
  if (state_ == State::kQueued) {
    group_->dequeue(this);
    state_ = State::kConnecting;
    wait_ = Wait::kNone;
    ctx_->loop.cancel(&timer_);
  }
  if (idx < 0) {
    if (!r_->upstream.addr.empty()) r_->upstream.addr += ", ";
    r_->upstream.addr += upstream_->group->name();  // nginx logs the group's name here
    http::UpstreamAttempt& a = r_->upstream.attempts.emplace_back();
    a.status = 502;  // no time: no peer was tried
    PORTICO_LOG(LogLevel::kError, client_->stream_id(),
                "no live upstreams while connecting to upstream{}", log_suffix());
    state_ = State::kDone;
    client_->content_error(502);
    return;
  }
  peer_ = idx;
  ++tries_;
  attempt_ms_ = now;
  upstream_progress();  // a new attempt: its own timeouts
  head_off_ = 0;
  stored_off_ = 0;  // a stored body is sent again from its start
  request_sent_any_ = false;
  const upstream::Peer& p = group_->peer(size_t(idx));
  if (!r_->upstream.addr.empty()) r_->upstream.addr += ", ";
  r_->upstream.addr += p.cfg.name;

  upstream::Pool::Conn* pooled =
      upstream_->keepalive ? ctx_->upstreams.pool.take(p.state.get(), this) : nullptr;
  pooled_ = pooled != nullptr;
  if (pooled) {
    // Still registered in epoll from its first use: no system call to take it.
    pconn_ = pooled;
    up_ = &pooled->transport;
    up_requests_ = pooled->requests;
    up_->set_ready(false, true);
    connect_ms_ = 0;
    connected();
    return;
  }
  int fd = -1;
  connect_ms_ = UINT64_MAX;  // "-" until the connection is established
  up_requests_ = 0;
  const int family = p.cfg.addr.sa.sa_family;
  fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    upstream_failed(kNextError, 502, "socket() failed (" + errno_text(errno) + ")");
    return;
  }
  own_up_ = Transport(fd);
  up_ = &own_up_;
  int rc;
  if (family == AF_UNIX) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::string path = p.cfg.name.substr(5);
    std::memcpy(un.sun_path, path.c_str(), std::min(path.size() + 1, sizeof un.sun_path - 1));
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&un), socklen_t(sizeof un));
  } else {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (conf_->socket_keepalive) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (conf_->has_bind) {
      // proxy_bind: the upstream sees this local address (nginx fails the attempt when the
      // families differ, as bind() does).
      const SockAddr& b = conf_->bind_addr;
      socklen_t blen = b.sa.sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
      if (::bind(fd, &b.sa, blen) != 0) {
        upstream_failed(kNextError, 502,
                        "bind(" + addr_text(b) + ") failed (" + errno_text(errno) +
                            ") while connecting to upstream");
        return;
      }
    }
    rc = ::connect(fd, &p.cfg.addr.sa, len);
  }
  if (rc < 0 && errno != EINPROGRESS) {
    upstream_failed(kNextError, 502,
                    "connect() failed (" + errno_text(errno) + ") while connecting to upstream");
    return;
  }
  bool registered;
  if (upstream_->keepalive) {
    pconn_ = ctx_->upstreams.pool.attach(std::move(own_up_), this);
    registered = pconn_ != nullptr;
    if (pconn_) up_ = &pconn_->transport;
  } else {
    registered = bool(ctx_->loop.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this));
  }
  if (!registered) {
    upstream_failed(kNextError, 502, "epoll_ctl() failed");
    return;
  }
  up_->set_ready(false, false);
  if (rc == 0) {
    connect_ms_ = ctx_->loop.now_ms() - attempt_ms_;
    connected();
    return;
  }
  state_ = State::kConnecting;
  wait(Wait::kConnect, conf_->connect_timeout_ms);
}

void Session::connected() {
  upstream_progress();
  state_ = State::kSending;
  up_->set_writable(true);
  pump();
}

// ---- events ---------------------------------------------------------------------------------

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
    connect_ms_ = ctx_->loop.now_ms() - attempt_ms_;
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
  switch (w) {
    case Wait::kConnect:
      s->upstream_failed(
          kNextTimeout, 504,
          "upstream timed out (110: Connection timed out) while connecting to upstream");
      return;
    case Wait::kUpstreamWrite:
      s->upstream_failed(
          kNextTimeout, 504,
          "upstream timed out (110: Connection timed out) while sending request to upstream");
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

bool Session::on_wake() {
  if (state_ == State::kQueued) connect_next();
  return !queued();
}

void Session::pump() {
  for (;;) {
    bool progress = false;
    switch (state_) {
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

// ---- request body ---------------------------------------------------------------------------

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
      return true;
    case BodyMode::kBuffered:
      if (!store_body(ubuf_.get(), data_len)) return false;
      *progress = true;
      return true;
    case BodyMode::kLength:
    case BodyMode::kChunked:
      // Streamed: once sent, these bytes exist nowhere else (nginx does not pass an unbuffered
      // request to the next upstream once it was sent).
      if (data_len > 0) body_replayable_ = false;
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
    wait(Wait::kUpstreamWrite, conf_->send_timeout_ms);
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
    if (body_mode_ == BodyMode::kBuffered) end_buffered_head(head_, stored_size_);
    ctx_->loop.cancel(&timer_);
    connect_next();
    return false;
  }
  for (;;) {
    // A stored body goes out after the head: from memory, or from its file with sendfile.
    if (body_mode_ == BodyMode::kBuffered && head_off_ == head_.size() &&
        stored_off_ < stored_size_) {
      if (!up_->writable()) {
        wait(Wait::kUpstreamWrite, conf_->send_timeout_ms);
        return false;
      }
      IoResult w = body_file_ >= 0
                       ? up_->sendfile(body_file_, off_t(stored_off_), stored_size_ - stored_off_)
                       : up_->write(stored_body_.data() + stored_off_, stored_size_ - stored_off_);
      if (!w.progress()) {
        // eof: the body file is shorter than it was written: a failed disk.
        upstream_send_failed(body_file_ >= 0 ? "sendfile" : "send",
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
      wait(Wait::kUpstreamWrite, conf_->send_timeout_ms);
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

// ---- response head --------------------------------------------------------------------------

bool Session::read_response_head() {
  for (;;) {
    if (rlen_ > rpos_) {
      size_t consumed = 0;
      std::string why;
      ResponseParseLimits limits;
      limits.max_head_size = std::max<size_t>(conf_->buffer_size, 1024);
      ParseStatus st = parse_response_head(std::string_view(rbuf_.get() + rpos_, rlen_ - rpos_),
                                           limits, head_in_, &consumed, &why, parsed_);
      if (st == ParseStatus::kError) {
        upstream_failed(kNextInvalidHeader, 502,
                        why + " while reading response header from upstream");
        return false;
      }
      if (st == ParseStatus::kComplete) {
        parsed_ = 0;
        rpos_ += consumed;
        if (head_in_.status == 101) {
          if (r_->head.connection_upgrade) {
            begin_response();
            return true;
          }
          // A switch nobody asked for: what follows is another protocol, not a head.
          upstream_failed(kNextInvalidHeader, 502,
                          "upstream sent 101 Switching Protocols to a request that did not ask for "
                          "an upgrade while reading response header from upstream");
          return false;
        }
        if (head_in_.is_informational()) continue;  // 100 Continue, 103: not relayed
        const int status = head_in_.status;
        header_ms_ = ctx_->loop.now_ms() - attempt_ms_;
        const uint32_t cond = status_condition(status);
        if (cond && (conf_->next_upstream & cond)) {
          const bool failure = status_is_failure(status);
          // Retry where allowed; otherwise this response goes to the client.
          const uint32_t limit = conf_->next_upstream_tries ? conf_->next_upstream_tries
                                                            : group_->members().max_tries();
          bool may = tries_ < limit && body_replayable_ &&
                     (idempotent(r_->head.method) || (conf_->next_upstream & kNextNonIdempotent));
          if (conf_->next_upstream_timeout_ms &&
              ctx_->loop.now_ms() - start_ms_ >= conf_->next_upstream_timeout_ms)
            may = false;
          if (may) {
            note_attempt_end(status);
            release_peer(failure);
            close_upstream();
            rlen_ = rpos_ = 0;
            connect_next();
            return false;
          }
        }
        begin_response();
        return true;
      }
      parsed_ = rlen_ - rpos_;
      if (rlen_ == rcap_) {
        // Keep the head at the front so it can grow to the limit.
        std::memmove(rbuf_.get(), rbuf_.get() + rpos_, rlen_ - rpos_);
        rlen_ -= rpos_;
        rpos_ = 0;
        if (rlen_ == rcap_) {
          upstream_failed(
              kNextInvalidHeader, 502,
              "upstream sent too big header while reading response header from upstream");
          return false;
        }
      }
    } else {
      rlen_ = rpos_ = 0;
    }
    if (!up_->readable()) {
      wait(Wait::kUpstreamRead, conf_->read_timeout_ms);
      return false;
    }
    IoResult n = up_->read(rbuf_.get() + rlen_, rcap_ - rlen_);
    if (n.progress()) {
      upstream_progress();
      r_->upstream.bytes_received += n.bytes();
      rlen_ += n.bytes();
      continue;
    }
    if (n.again()) continue;
    if (n.eof()) {
      upstream_failed(
          kNextError, 502,
          "upstream prematurely closed connection while reading response header from upstream");
      return false;
    }
    upstream_failed(
        kNextError, 502,
        "recv() failed (" + errno_text(n.err()) + ") while reading response header from upstream");
    return false;
  }
}

void Session::note_attempt_end(int status) {
  auto ms = [](uint64_t v) {
    return uint32_t(std::min<uint64_t>(v, http::UpstreamAttempt::kNone - 1));
  };
  http::UpstreamAttempt& a = r_->upstream.attempts.emplace_back();
  a.status = status;
  a.timed = true;
  a.response_ms = ms(ctx_->loop.now_ms() - attempt_ms_);
  a.header_ms = header_ms_ == UINT64_MAX ? http::UpstreamAttempt::kNone : ms(header_ms_);
  a.connect_ms = connect_ms_ == UINT64_MAX ? http::UpstreamAttempt::kNone : ms(connect_ms_);
  header_ms_ = UINT64_MAX;
}

void Session::begin_response() {
  http::Request& r = *r_;
  const int status = head_in_.status;
  header_ms_ = ctx_->loop.now_ms() - attempt_ms_;
  // proxy_intercept_errors: a status >= 300 with an error_page for it is answered by us.
  if (conf_->intercept_errors && status >= 300) {
    for (const auto& ep : r.loc->error_pages) {
      for (int c : ep.codes) {
        if (c != status) continue;
        note_attempt_end(status);
        release_peer(false);
        close_upstream();
        state_ = State::kDone;
        client_->content_error(status);
        return;
      }
    }
  }
  const bool head_request = r.head.method == http::Method::kHead;
  buffering_ = conf_->buffering;
  if (!conf_->ignore_x_accel_buffering) {
    // The application may switch buffering per response (nginx's X-Accel-Buffering).
    if (const http::Header* xb = head_in_.find("x-accel-buffering")) {
      if (iequals(xb->value, "yes")) buffering_ = true;
      if (iequals(xb->value, "no")) buffering_ = false;
    }
  }
  framing_ = framing(head_in_, head_request);
  if (framing_ == BodyFraming::kLength) resp_left_ = uint64_t(head_in_.content_length);
  if (framing_ == BodyFraming::kChunked) resp_chunked_.reset();
  const bool upgrade = status == 101;
  if (!build_response_head(r, head_in_, framing_, *conf_, *pass_)) {
    upstream_failed(kNextInvalidHeader, 502,
                    "upstream sent too many fields in \"Connection\" while reading response header "
                    "from upstream");
    return;
  }
  // The head event: the codec serializes it (Server, Date, framing, Connection, add_header)
  // and sends it with the first body bytes.
  client_->send_head();
  response_started_ = true;
  out_data_ = nullptr;
  out_data_len_ = 0;
  if (upgrade) {
    state_ = State::kTunnel;
    // Bytes after the 101 head belong to the client side of the tunnel; bytes the client sent
    // after its head go to the upstream first.
    const size_t pre = client_->take_buffered(ubuf_.get(), kBufferSize);
    tunnel_.start(client_->upgraded_transport(), *up_, {ubuf_.get(), kBufferSize, 0, pre},
                  {rbuf_.get(), rcap_, rpos_, rlen_});
    return;
  }
  if (framing_ == BodyFraming::kNone || (framing_ == BodyFraming::kLength && resp_left_ == 0))
    resp_done_ = true;
  state_ = State::kRelaying;
}

// ---- relaying -------------------------------------------------------------------------------

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
    const size_t want = std::min(rcap_ - rlen_, limit);
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

void Session::end_upstream() {
  if (upstream_ended_) return;
  upstream_ended_ = true;
  upstream_progress();  // nothing more to wait for from it
  note_attempt_end(head_in_.status);
  const bool reusable = up_ && upstream_->keepalive > 0 && body_done_ &&
                        head_off_ == head_.size() && rpos_ == rlen_ &&
                        connection_reusable(head_in_, framing_) &&
                        up_requests_ + 1 < upstream_->keepalive_requests && conf_->http_minor == 1;
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

// ---- tunnel (101 Switching Protocols) -------------------------------------------------------

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

// ---- failures -------------------------------------------------------------------------------

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
  const uint32_t limit =
      conf_->next_upstream_tries ? conf_->next_upstream_tries : group_->members().max_tries();
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
  if (state_ == State::kQueued) group_->dequeue(this);
  release_peer(false);
  close_upstream();
  state_ = State::kDone;
  ctx_->loop.cancel(&timer_);
}

}  // namespace portico::proxy
