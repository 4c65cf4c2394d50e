#include "stream/session.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/access_rule.h"
#include "core/log.h"
#include "core/time_cache.h"
#include "core/transport.h"
#include "tls/directives.h"
#include "tls/variables.h"

namespace portico::stream {

namespace {
constexpr size_t kChunk = 64 * 1024;  // per splice call (a pipe holds 64 KiB by default)

void append_ms(std::string& out, uint64_t ms) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%llu.%03llu", (unsigned long long)(ms / 1000),
                   (unsigned long long)(ms % 1000));
  out.append(buf, size_t(n));
}

// $binary_remote_addr: the address bytes (4 for IPv4, 16 for IPv6), as nginx.
void append_binary_addr(const SockAddr& a, std::string& out) {
  if (a.sa.sa_family == AF_INET)
    out.append(reinterpret_cast<const char*>(&a.v4.sin_addr), 4);
  else if (a.sa.sa_family == AF_INET6)
    out.append(reinterpret_cast<const char*>(&a.v6.sin6_addr), 16);
}
}  // namespace

Session::Session(upstream::Local* ctx, const Server* server, std::shared_ptr<const void> pin,
                 int fd, const SockAddr& peer, uint64_t id, void (*on_close)(void*, Session*),
                 void* arg, bool proxy_protocol, bool ssl)
    : ctx_(ctx),
      server_(server),
      pin_(std::move(pin)),
      client_t_(fd),
      client_(peer),
      peer_addr_(peer),
      reading_pp_(proxy_protocol),
      id_(id),
      ssl_(ssl && server->ssl_ctx),
      on_close_(on_close),
      on_close_arg_(arg) {
  client_t_.set_ready(true, true);  // until a splice says otherwise
  if (server_->tcp_nodelay && peer.sa.sa_family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  client_end_.s = up_end_.s = this;
  client_end_.client = true;
  up_end_.client = false;
  timer_.owner = this;
  timer_.cb = &Session::on_timer;
  clock_gettime(CLOCK_REALTIME, &start_);
}

Session::~Session() {
  for (Dir* d : {&c2u_, &u2c_}) {
    if (d->pipe_r >= 0) ::close(d->pipe_r);
    if (d->pipe_w >= 0) ::close(d->pipe_w);
  }
}

void Session::start() {
  if (!reading_pp_) {
    begin();
    return;
  }
  if (!ctx_->loop.add(client_t_.fd(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &client_end_)) {
    finish(500);
    return;
  }
  in_epoll_ = true;
  ctx_->loop.schedule(&timer_, server_->proxy_protocol_timeout_ms);
  read_proxy_header();
}

// nginx's ngx_stream_proxy_protocol_handler: the header within proxy_protocol_timeout, a broken
// one ends the session (400), then the stream realip module may take its source address.
void Session::read_proxy_header() {
  if (!client_t_.readable()) return;
  char buf[kProxyMaxHeader];
  IoResult rd = client_t_.raw_peek(buf, sizeof buf);
  if (rd.again()) return;
  if (!rd.progress()) {
    finish(200);  // closed (or failed) before the header
    return;
  }
  ProxyHeader h;
  size_t used = 0;
  const char* why = "";
  switch (parse_proxy_header(std::string_view(buf, rd.bytes()), &h, &used, &why)) {
    case ProxyParse::kIncomplete:
      if (client_t_.read_closed()) {
        (void)client_t_.raw_read(buf, rd.bytes());  // so that the close is a FIN, not a reset
        finish(200);
      } else
        client_t_.set_readable(false);
      return;
    case ProxyParse::kError: {
      std::string_view seen(buf, std::min(rd.bytes(), kProxyV1MaxHeader));
      seen = seen.substr(0, std::min(seen.find_first_of("\r\n"), seen.size()));
      PORTICO_LOG(LogLevel::kError, id_, "{}: \"{}\" while reading PROXY protocol, client: {}", why,
                  seen, addr_text(client_));
      finish(400);
      return;
    }
    case ProxyParse::kComplete:
      break;
  }
  IoResult taken = client_t_.raw_read(buf, used);
  if (!taken.progress() || taken.bytes() != used) {
    finish(200);
    return;
  }
  reading_pp_ = false;
  ctx_->loop.cancel(&timer_);
  if (h.has_addrs) {
    pp_ = std::make_unique<ProxyHeader>(std::move(h));
    const AccessRule* trusted = access_first_match(server_->realip_from, peer_addr_);
    if (trusted) client_ = pp_->src;
  }
  begin();
}

// nginx's stream limit_conn (preaccess, before allow/deny): each limit counts the session in
// until it ends.
bool Session::limit_conn() {
  thread_local std::string key;
  for (const ConnLimit& l : server_->conn_limits) {
    key.clear();
    append_value(l.zone->key, key);
    if (key.empty() || key.size() > 255) continue;
    bool full = false;
    if (auto* slot = l.zone->table->acquire(limit_key_hash(key), l.conn, &full)) {
      conn_holds_.push_back(slot);
      continue;
    }
    PORTICO_LOG(full ? LogLevel::kAlert : server_->conn_log, id_,
                "limiting connections{} by zone \"{}\", client: {}",
                server_->conn_dry_run ? ", dry run," : "", l.zone->name, addr_text(client_));
    if (server_->conn_dry_run) continue;
    finish(503);
    return false;
  }
  return true;
}

void Session::begin() {
  if (!server_->conn_limits.empty() && !limit_conn()) return;
  if (access_denied(server_->access, client_)) {
    std::string addr = addr_text(client_);
    PORTICO_LOG(LogLevel::kError, id_, "access forbidden by rule, client: {}, server: {}", addr,
                server_->listens.empty() ? std::string() : server_->listens[0].key);
    finish(403);
    return;
  }
  if (!in_epoll_ &&
      !ctx_->loop.add(client_t_.fd(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &client_end_)) {
    finish(500);
    return;
  }
  in_epoll_ = true;
  if (ssl_) {
    start_tls();
    return;
  }
  proceed();
}

void Session::proceed() {
  if (server_->return_value) {
    append_value(*server_->return_value, ret_);
    returning_ = true;
    write_return();
    return;
  }
  group_ = ctx_->group(server_->upstream->group);
  tried_ = upstream::TriedSet(group_->members().size());
  connect_next();
}

// nginx's ngx_stream_ssl_handler: the handshake within ssl_handshake_timeout; a failed one, or
// a client certificate the server's ssl_verify_client refuses, ends the session (500).
void Session::start_tls() {
  client_tls_ = std::make_unique<tls::Session>(server_->ssl_ctx->get(), id_, nullptr, nullptr);
  if (!client_tls_->attach(client_t_, /*detect_plain=*/false)) {
    finish(500);
    return;
  }
  handshaking_ = true;
  ctx_->loop.schedule(&timer_, server_->ssl_handshake_timeout_ms);
  client_handshake();
}

void Session::client_handshake() {
  IoResult r = client_tls_->handshake_step(client_t_);
  if (r.again()) return;
  handshaking_ = false;
  ctx_->loop.cancel(&timer_);
  if (!r.progress()) {
    finish(500);
    return;
  }
  const tls::Settings& s = client_tls_->context().settings();
  if (s.verify != tls::Settings::Verify::kOff &&
      tls::check_client_certificate(*client_tls_, s, id_) != 0) {
    finish(500);
    return;
  }
  proceed();
}

// nginx's stream return module: the value, then the end of the session (status 200).
void Session::write_return() {
  while (ret_sent_ < ret_.size()) {
    if (!client_t_.writable()) return;
    IoResult w = client_t_.write(ret_.data() + ret_sent_, ret_.size() - ret_sent_);
    if (w.again()) return;
    if (!w.progress()) break;  // the client is gone
    ret_sent_ += w.bytes();
    u2c_.bytes += w.bytes();
  }
  finish(200);
}

void Session::connect_next() {
  const auto& group = *server_->upstream->group;
  const uint32_t limit = group_->try_limit(server_->next_upstream_tries, &tries_seen_);
  const uint64_t now = ctx_->loop.now_ms();
  if (tries_ == 0) first_try_ms_ = now;
  const uint64_t budget = server_->next_upstream_timeout_ms;
  if (tries_ >= limit || (tries_ > 0 && !server_->next_upstream) ||
      (tries_ > 0 && budget && now - first_try_ms_ >= budget)) {
    finish(502);
    return;
  }
  upstream::PickContext pc;
  pc.now_ms = now;
  thread_local std::string key;  // reused: no allocation per session once warm
  if (server_->hash_key) {
    key.clear();
    append_value(*server_->hash_key, key);
    pc.hash_key = key;
  }
  int idx = group_->pick(pc, tried_);
  if (idx < 0) {
    PORTICO_LOG(LogLevel::kError, id_, "no live upstreams while connecting to upstream, client: {}",
                addr_text(client_));
    if (!upstream_addr_.empty()) upstream_addr_ += ", ";
    upstream_addr_ += group.name();
    finish(502);
    return;
  }
  peer_ = idx;
  ++tries_;
  const upstream::Peer& p = group_->peer(size_t(idx));
  if (!upstream_addr_.empty()) upstream_addr_ += ", ";
  upstream_addr_ += p.cfg.name;
  attempt_ms_ = ctx_->loop.now_ms();
  connect_ms_ = -1;
  const int family = p.cfg.addr.sa.sa_family;
  const int ufd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ufd >= 0) up_t_ = Transport(ufd);
  int rc = -1;
  if (ufd >= 0) {
    if (family == AF_UNIX) {
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      std::string path = p.cfg.name.substr(5);
      std::memcpy(un.sun_path, path.c_str(), std::min(path.size() + 1, sizeof un.sun_path - 1));
      rc = ::connect(ufd, reinterpret_cast<sockaddr*>(&un), socklen_t(sizeof un));
    } else {
      int one = 1;
      if (server_->tcp_nodelay) setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      rc = ::connect(ufd, &p.cfg.addr.sa,
                     family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    }
  }
  if (ufd < 0 || (rc < 0 && errno != EINPROGRESS) ||
      !ctx_->loop.add(ufd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &up_end_)) {
    PORTICO_LOG(LogLevel::kError, id_,
                "connect() failed ({}) while connecting to upstream, client: {}, upstream: \"{}\"",
                errno_text(errno), addr_text(client_), p.cfg.name);
    up_t_.close();
    group_->release(std::exchange(peer_, -1), upstream::Outcome::kFailure, ctx_->loop.now_ms());
    if (!connect_times_.empty()) connect_times_ += ", ";
    connect_times_ += '-';
    connect_next();
    return;
  }
  connecting_ = true;
  up_t_.set_ready(false, false);
  ctx_->loop.schedule(&timer_, server_->connect_timeout_ms);
  if (rc == 0) on_io(false, EPOLLOUT);
}

void Session::on_io(bool client, uint32_t ev) {
  if (done_) return;
  if (!client && connecting_) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(up_t_.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      PORTICO_LOG(
          LogLevel::kError, id_,
          "connect() failed ({}) while connecting to upstream, client: {}, upstream: \"{}\"",
          errno_text(err), addr_text(client_), group_->peer(size_t(peer_)).cfg.name);
      up_t_.close();
      group_->release(std::exchange(peer_, -1), upstream::Outcome::kFailure, ctx_->loop.now_ms());
      if (!connect_times_.empty()) connect_times_ += ", ";
      connect_times_ += '-';
      connecting_ = false;
      connect_next();
      return;
    }
    connecting_ = false;
    // The connect timer ends here: pump() arms proxy_timeout (a session that is quiet right
    // after connecting was cut at proxy_connect_timeout).
    ctx_->loop.cancel(&timer_);
    up_t_.on_events(ev);
    up_t_.set_writable(true);
    if (server_->proxy_ssl_ctx) {
      start_upstream_tls();
      return;
    }
    note_connected();
    start_relay();
    return;
  }
  if (client && handshaking_) {
    client_t_.on_events(ev);
    client_handshake();
    return;
  }
  if (client && returning_) {
    client_t_.on_events(ev);
    write_return();
    return;
  }
  if (!client && up_handshaking_) {
    up_t_.on_events(ev);
    upstream_handshake();
    return;
  }
  (client ? client_t_ : up_t_).on_events(ev);
  if (reading_pp_) {
    if (client) read_proxy_header();
    return;
  }
  if (connecting_ || up_handshaking_ || handshaking_) return;  // wait for the other side
  pump();
}

// nginx's ngx_stream_proxy_ssl_init_connection: SNI (proxy_ssl_server_name, never an address),
// verification of proxy_ssl_name (proxy_ssl_verify), the peer's last session
// (proxy_ssl_session_reuse); the handshake counts against proxy_connect_timeout and a failed one
// is a failed connection (next upstream).
void Session::start_upstream_tls() {
  thread_local tls::ClientSessions sessions;  // this worker's, for every stream server
  thread_local std::string name;
  name.clear();
  append_value(*server_->proxy_ssl_name, name);
  tls::Session::ClientOptions o;
  if (server_->proxy_ssl_server_name && !tls::is_address(name)) o.sni = name;
  o.verify = server_->proxy_ssl_verify;
  o.verify_name = name;
  if (server_->proxy_ssl_session_reuse)
    o.reuse = sessions.slot(group_->peer(size_t(peer_)).state.get(), name);
  up_tls_ = std::make_unique<tls::Session>(server_->proxy_ssl_ctx, id_, nullptr, nullptr);
  if (!up_tls_->attach_client(up_t_, o)) {
    finish(500);
    return;
  }
  up_handshaking_ = true;
  ctx_->loop.schedule(&timer_, server_->connect_timeout_ms);
  upstream_handshake();
}

void Session::upstream_handshake() {
  IoResult r = up_tls_->handshake_step(up_t_);
  if (r.again()) return;
  up_handshaking_ = false;
  ctx_->loop.cancel(&timer_);
  if (!r.progress()) {
    PORTICO_LOG(LogLevel::kError, id_,
                "SSL_do_handshake() failed while SSL handshaking to upstream, client: {}, "
                "upstream: \"{}\"",
                addr_text(client_), group_->peer(size_t(peer_)).cfg.name);
    upstream_failed();
    return;
  }
  note_connected();
  start_relay();
}

// $upstream_connect_time: as nginx, until the upstream's TLS handshake is done.
void Session::note_connected() {
  connect_ms_ = int64_t(ctx_->loop.now_ms() - attempt_ms_);
  if (!connect_times_.empty()) connect_times_ += ", ";
  append_ms(connect_times_, uint64_t(connect_ms_));
}

void Session::upstream_failed() {
  if (!connect_times_.empty()) connect_times_ += ", ";
  connect_times_ += '-';  // an attempt that did not connect (its bytes count 0)
  up_t_.close();          // also leaves epoll; the TLS layer (if any) is done with it
  up_tls_.reset();
  up_handshaking_ = false;
  connecting_ = false;
  group_->release(std::exchange(peer_, -1), upstream::Outcome::kFailure, ctx_->loop.now_ms());
  connect_next();
}

void Session::start_relay() {
  splice_ = client_t_.can_splice() && up_t_.can_splice();
  if (splice_) {
    // Pipes only once connected: a refused or denied session never pays for them.
    int p1[2], p2[2];
    if (pipe2(p1, O_NONBLOCK | O_CLOEXEC) < 0) {
      finish(500);
      return;
    }
    c2u_.pipe_r = p1[0];
    c2u_.pipe_w = p1[1];
    if (pipe2(p2, O_NONBLOCK | O_CLOEXEC) < 0) {
      finish(500);
      return;
    }
    u2c_.pipe_r = p2[0];
    u2c_.pipe_w = p2[1];
  }
  if (server_->proxy_protocol) {
    // As nginx: the client's address (after realip) and the address it connected to.
    pp_out_len_ = uint8_t(write_proxy_v1(client_, local_addr(), pp_out_));
    pp_out_sent_ = 0;
  }
  pump();
}

// Moves what it can from `from` to `to` through the direction's pipe. Returns true if any
// byte moved or an end was reached.
bool Session::move(Transport& from, Transport& to, Dir& d) {
  if (!splice_) return move_buffered(from, to, d);
  bool moved = false;
  for (int rounds = 0; rounds < 64; ++rounds) {
    if (d.in_pipe > 0 && to.writable()) {
      IoResult n = to.splice_from_pipe(d.pipe_r, d.in_pipe);
      if (n.progress() && n.bytes() > 0) {
        d.in_pipe -= n.bytes();
        d.bytes += n.bytes();
        moved = true;
        continue;
      }
      if (n.error()) {
        d.eof = true;  // the destination is gone
        d.in_pipe = 0;
        return true;
      }
    }
    const size_t chunk = std::min(kChunk, server_->buffer_size);
    if (d.eof || !from.readable() || d.in_pipe >= chunk) break;
    IoResult n = from.splice_to_pipe(d.pipe_w, chunk - d.in_pipe);
    if (n.progress()) {
      d.in_pipe += n.bytes();
      moved = true;
      continue;
    }
    if (n.again()) {
      // With an empty pipe the source is drained; with bytes in the pipe it may be the pipe
      // that is full, so keep trying once they have moved on.
      if (d.in_pipe == 0) from.set_readable(false);
      break;
    }
    d.eof = true;  // the end, or an error
    moved = true;
    break;
  }
  if (d.eof && d.in_pipe == 0 && !d.shut) {
    (void)to.shutdown_write();
    d.shut = true;
    moved = true;
  }
  return moved;
}

// The relay when a side is TLS: what `from` gives goes through d.buf (proxy_buffer_size, nginx's
// buffer) to `to`; reading stops while the buffer is full, so the peer that sends faster than
// the other takes waits (TCP flow control), and memory stays bounded.
bool Session::move_buffered(Transport& from, Transport& to, Dir& d) {
  const size_t cap = server_->buffer_size;
  if (!d.buf) d.buf = std::make_unique<char[]>(cap);
  bool moved = false;
  for (int rounds = 0; rounds < 64; ++rounds) {
    if (d.end > d.start && to.writable()) {
      IoResult n = to.write(d.buf.get() + d.start, d.end - d.start);
      if (n.progress()) {
        d.start += n.bytes();
        d.bytes += n.bytes();
        if (d.start == d.end) d.start = d.end = 0;
        moved = true;
        continue;
      }
      if (n.error()) {
        d.eof = true;  // the destination is gone
        d.start = d.end = 0;
        return true;
      }
    }
    if (d.eof || !from.readable() || d.end == cap) break;
    IoResult n = from.read(d.buf.get() + d.end, cap - d.end);
    if (n.progress()) {
      d.end += n.bytes();
      moved = true;
      continue;
    }
    if (n.again()) break;
    d.eof = true;  // the end, or an error
    moved = true;
    break;
  }
  if (d.eof && d.end == d.start && !d.shut) {
    (void)to.shutdown_write();
    d.shut = true;
    moved = true;
  }
  return moved;
}

bool Session::flush_proxy_header() {
  while (pp_out_sent_ < pp_out_len_) {
    if (!up_t_.writable()) return false;
    IoResult w = up_t_.write(pp_out_ + pp_out_sent_, size_t(pp_out_len_ - pp_out_sent_));
    if (w.progress()) {
      pp_out_sent_ = uint8_t(pp_out_sent_ + w.bytes());
      continue;
    }
    if (w.error()) {
      c2u_.eof = true;  // the upstream is gone: pump() ends the session
      c2u_.shut = true;
      pp_out_sent_ = pp_out_len_;
      return true;
    }
    return false;
  }
  return true;
}

void Session::pump() {
  bool any = false;
  for (;;) {
    // The PROXY protocol header goes to the upstream before any of the client's bytes.
    bool a = flush_proxy_header() && move(client_t_, up_t_, c2u_);
    bool b = move(up_t_, client_t_, u2c_);
    if (!a && !b) break;
    any = true;
    if (!server_->half_close && (c2u_.shut || u2c_.shut)) break;
    if (c2u_.shut && u2c_.shut) break;
  }
  // Without proxy_half_close (nginx's default), either side's EOF ends the session.
  if ((c2u_.shut && u2c_.shut) || (!server_->half_close && (c2u_.shut || u2c_.shut))) {
    finish(200);
    return;
  }
  if (any || !timer_.armed()) ctx_->loop.schedule(&timer_, server_->timeout_ms);
}

void Session::on_timer(Timer* t) {
  Session* s = static_cast<SessionTimer*>(t)->owner;
  if (s->done_) return;
  if (s->reading_pp_) {
    PORTICO_LOG(LogLevel::kInfo, s->id_,
                "client timed out (110: Connection timed out) while reading PROXY protocol, "
                "client: {}",
                addr_text(s->client_));
    s->finish(200);
    return;
  }
  if (s->handshaking_) {
    PORTICO_LOG(LogLevel::kInfo, s->id_,
                "client timed out (110: Connection timed out) while SSL handshaking, client: {}",
                addr_text(s->client_));
    s->finish(500);
    return;
  }
  if (s->up_handshaking_) {
    PORTICO_LOG(LogLevel::kError, s->id_,
                "upstream timed out (110: Connection timed out) while SSL handshaking to "
                "upstream, client: {}, upstream: \"{}\"",
                addr_text(s->client_), s->group_->peer(size_t(s->peer_)).cfg.name);
    s->upstream_failed();
    return;
  }
  if (s->connecting_) {
    PORTICO_LOG(LogLevel::kError, s->id_,
                "upstream timed out (110: Connection timed out) while connecting to upstream, "
                "client: {}, upstream: \"{}\"",
                addr_text(s->client_), s->group_->peer(size_t(s->peer_)).cfg.name);
    s->up_t_.close();  // also leaves epoll
    s->group_->release(std::exchange(s->peer_, -1), upstream::Outcome::kFailure,
                       s->ctx_->loop.now_ms());
    s->connecting_ = false;
    if (!s->connect_times_.empty()) s->connect_times_ += ", ";
    s->connect_times_ += '-';
    s->connect_next();
    return;
  }
  PORTICO_LOG(LogLevel::kInfo, s->id_,
              "timed out (110: Connection timed out) while proxying connection, client: {}",
              addr_text(s->client_));
  s->finish(200);  // nginx logs an idle timeout as a normal end
}

void Session::finish(int status) {
  if (done_) return;
  done_ = true;
  status_ = status;
  ctx_->loop.cancel(&timer_);
  if (peer_ >= 0) {
    group_->release(std::exchange(peer_, -1), upstream::Outcome::kSuccess, ctx_->loop.now_ms());
  }
  up_t_.close();
  log();
  for (std::atomic<uint64_t>* hold : conn_holds_) LimitConnTable::release(hold);
  conn_holds_.clear();
  client_t_.close();
  on_close_(on_close_arg_, this);
  ctx_->loop.defer_delete(this);
}

void Session::close_now() {
  if (!done_) finish(200);
}

const SockAddr& Session::local_addr() {
  if (!local_known_ && client_t_.is_open()) {
    socklen_t len = sizeof local_;
    getsockname(client_t_.fd(), &local_.sa, &len);
    local_known_ = true;
  }
  return local_;
}

void Session::append_value(const LogFormat& f, std::string& out, bool log) {
  using V = LogFormat::Var;
  for (const auto& p : f.parts) {
    switch (p.var) {
      case V::kLiteral:
        out += p.text;
        break;
      case V::kRemoteAddr:
        append_addr_text(client_, out);
        break;
      case V::kBinaryRemoteAddr:
        append_binary_addr(client_, out);
        break;
      case V::kRemotePort:
        out += std::to_string(addr_port(client_));
        break;
      case V::kServerAddr:
        append_addr_text(local_addr(), out);
        break;
      case V::kServerPort:
        out += std::to_string(addr_port(local_addr()));
        break;
      case V::kUpstreamAddr:
        out += upstream_addr_.empty() ? "-" : upstream_addr_;
        break;
      case V::kBytesSent:
        out += std::to_string(u2c_.bytes);
        break;
      case V::kBytesReceived:
        out += std::to_string(c2u_.bytes);
        break;
      case V::kUpstreamBytesSent:
        append_per_attempt(out, c2u_.bytes);
        break;
      case V::kUpstreamBytesReceived:
        append_per_attempt(out, u2c_.bytes);
        break;
      case V::kSessionTime: {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        const int64_t ms =
            (now.tv_sec - start_.tv_sec) * 1000 + (now.tv_nsec - start_.tv_nsec) / 1000000;
        append_ms(out, uint64_t(ms < 0 ? 0 : ms));
        break;
      }
      case V::kStatus:
        out += std::to_string(status_);
        break;
      case V::kTimeLocal:
        out += TimeCache::local().time_local();
        break;
      case V::kTimeIso8601:
        out += TimeCache::local().time_iso8601();
        break;
      case V::kMsec:
        out += TimeCache::local().msec();
        break;
      case V::kConnection:
        out += std::to_string(id_);
        break;
      case V::kProtocol:
        out += "TCP";
        break;
      case V::kUpstreamConnectTime:
        out += connect_times_.empty() ? "-" : connect_times_;
        break;
      case V::kPid:
        out += std::to_string(getpid());
        break;
      case V::kHostname: {
        char buf[256];
        if (gethostname(buf, sizeof buf) == 0) out += buf;
        break;
      }
      case V::kNginxVersion:
        out += PORTICO_VERSION;
        break;
      case V::kProxyProtocolAddr:
        if (pp_) out += pp_->src_text;
        break;
      case V::kProxyProtocolPort:
        if (pp_) out += std::to_string(pp_->src_port);
        break;
      case V::kProxyProtocolServerAddr:
        if (pp_) out += pp_->dst_text;
        break;
      case V::kProxyProtocolServerPort:
        if (pp_) out += std::to_string(pp_->dst_port);
        break;
      case V::kProxyProtocolTlv: {
        std::string num;
        std::string_view v;
        if (pp_ && find_proxy_tlv(pp_->tlvs, p.text, &v, &num)) out += v;
        break;
      }
      case V::kRealipRemoteAddr:
        append_addr_text(peer_addr_, out);
        break;
      case V::kRealipRemotePort:
        out += std::to_string(addr_port(peer_addr_));
        break;
      case V::kSsl:
        if (!tls::get_variable(p.index, client_tls_.get(), out) && log) out += '-';
        break;
    }
  }
}

// One value per attempt, as $upstream_addr lists them: 0 for an attempt that did not connect,
// `bytes` for the one that did.
void Session::append_per_attempt(std::string& out, uint64_t bytes) const {
  if (connect_times_.empty()) {
    out += std::to_string(bytes);
    return;
  }
  std::string_view rest = connect_times_;
  for (bool first = true; !rest.empty(); first = false) {
    const size_t comma = rest.find(", ");
    const std::string_view one = rest.substr(0, comma);
    if (!first) out += ", ";
    if (one == "-")
      out += '0';
    else
      out += std::to_string(bytes);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
  }
}

void Session::log() {
  if (server_->access_logs.empty()) return;
  std::string line;
  for (const auto& al : server_->access_logs) {
    line.clear();
    append_value(*al.format, line, /*log=*/true);
    line += '\n';
    al.file->write_line(-1, line);
  }
}
}  // namespace portico::stream
