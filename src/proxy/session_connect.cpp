// proxy::Session, connecting: the target of proxy_pass, a peer from the balancer (or the queue),
// a pooled keep-alive connection or a new one.
#include "proxy/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"
#include "core/strings.h"
#include "http/cidr.h"
#include "http/phases.h"
#include "proxy/session_internal.h"
#include "proxy/ssl_directives.h"
#include "tls/session.h"

namespace portico::proxy {

// Finds the group to use: the location's, or for a URL with variables the named upstream, the
// address it evaluates to, or the addresses the resolver finds for the name.
Session::Target Session::resolve_target() {
  http::Request& r = *r_;
  if (!pass_->has_variables) {
    ssl_ = pass_->ssl;
    upstream_ = pass_->upstream.get();
    r.upstream.proxy_host = pass_->proxy_host;
    r.upstream.proxy_port = pass_->proxy_port;
    return Target::kReady;
  }
  std::string url;
  pass_->url.eval(r, url);
  std::string_view rest = url;
  ssl_ = istarts_with(rest, "https://") && conf_->ssl_ctx;
  if (!ssl_ && !istarts_with(rest, "http://")) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "invalid URL prefix in \"{}\"{}", url,
                http::log_context(r));
    client_->content_error(500);
    return Target::kFailed;
  }
  rest.remove_prefix(ssl_ ? 8 : 7);
  const bool unix_socket = istarts_with(rest, "unix:");
  size_t slash = unix_socket ? rest.find(':', 5) : rest.find('/');
  std::string hostport(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    var_has_uri_ = true;
    var_uri_.assign(rest.substr(unix_socket ? slash + 1 : slash));
  }
  auto colon = hostport.rfind(':');
  bool has_port =
      colon != std::string::npos && hostport.find(']', colon) == std::string::npos && !unix_socket;
  r.upstream.proxy_host = unix_socket ? std::string("localhost") : hostport;
  r.upstream.proxy_port = has_port ? hostport.substr(colon + 1) : ssl_ ? "443" : "80";
  if (!has_port) {
    auto it = r.http->upstreams.find(hostport);
    if (it != r.http->upstreams.end()) {
      upstream_ = it->second.get();
      return Target::kReady;
    }
  }
  if (ssl_ && !has_port && !unix_socket) hostport += ":443";
  // The implicit group of another location's `proxy_pass http://host:port` (nginx looks
  // among implicit upstreams too, by host and port).
  if (auto it = r.http->upstreams.find("\x01" + hostport); it != r.http->upstreams.end()) {
    upstream_ = it->second.get();
    return Target::kReady;
  }
  // A name (not an address) with a resolver: looked up at run time, as nginx does.
  std::string host = has_port ? hostport.substr(0, colon) : hostport;
  if (!unix_socket && r.loc->resolver && !host.empty() && host[0] != '[') {
    in6_addr a6;
    in_addr a4;
    auto port = parse_uint(r.upstream.proxy_port);
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1 && inet_pton(AF_INET6, host.c_str(), &a6) != 1 &&
        port && *port >= 1 && *port <= 65535) {
      std::string error;
      resolver_ = ctx_->resolver(*r.loc->resolver, r.loc->resolver_timeout, &error);
      if (!resolver_) {
        PORTICO_LOG(LogLevel::kError, client_->stream_id(), "resolver: {}{}", error,
                    http::log_context(r));
        client_->content_error(502);
        return Target::kFailed;
      }
      dns_hostport_ = has_port ? hostport : host + ":" + r.upstream.proxy_port;
      dns_port_ = uint16_t(*port);
      if (const dns::Answer* a = resolver_->cached(host))
        return use_answer(*a) ? Target::kReady : Target::kFailed;
      dns_wait_.owner = this;
      dns_wait_.fn = &Session::on_resolved;
      resolver_->resolve(host, &dns_wait_);
      return Target::kResolving;
    }
  }
  std::string error;
  dynamic_upstream_ = ctx_->dynamic_upstream(hostport, &error);
  upstream_ = dynamic_upstream_.get();
  if (!upstream_) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "{}{}", error, http::log_context(r));
    client_->content_error(502);
    return Target::kFailed;
  }
  return Target::kReady;
}

bool Session::use_answer(const dns::Answer& a) {
  std::string_view host(dns_hostport_);
  host = host.substr(0, host.rfind(':'));
  if (!a.ok()) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "{} could not be resolved ({}){}", host,
                a.error, http::log_context(*r_));
    client_->content_error(502);
    return false;
  }
  dynamic_upstream_ = ctx_->resolved_upstream(dns_hostport_, dns_port_, a);
  upstream_ = dynamic_upstream_.get();
  if (!upstream_) {
    client_->content_error(502);
    return false;
  }
  return true;
}

void Session::on_resolved(dns::Resolver::Waiter* w, const dns::Answer& a) {
  Session* s = static_cast<DnsWait*>(w)->owner;
  if (s->state_ != State::kResolving) return;
  if (!s->use_answer(a)) {
    s->state_ = State::kDone;
    return;
  }
  s->state_ = State::kConnecting;
  s->start_upstream();
}

void Session::connect_next() {
  const uint64_t now = ctx_->loop.now_ms();
  const uint32_t limit = try_limit();
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
  if (idx < 0 && tries_ == 0) {
    if (uint32_t retry = upstream_->group->unavailable_retry_after()) {
      respond_unavailable(retry);
      return;
    }
  }
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
    r_->upstream.add_addr(upstream_->group->name());  // nginx logs the group's name here
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
  r_->upstream.begin_attempt();
  upstream_progress();  // a new attempt: its own timeouts
  head_off_ = 0;
  stored_off_ = 0;  // a stored body is sent again from its start
  request_sent_any_ = false;
  const upstream::Peer& p = group_->peer(size_t(idx));
  r_->upstream.add_addr(p.cfg.name);

  upstream::Pool::Conn* pooled =
      upstream_->keepalive ? ctx_->upstreams.pool.take(p.state.get(), this) : nullptr;
  pooled_ = pooled != nullptr;
  if (pooled) {
    // Still registered in epoll from its first use: no system call to take it.
    pconn_ = pooled;
    up_ = &pooled->transport;
    up_requests_ = pooled->requests;
    up_->set_ready(false, true);
    r_->upstream.cur_connect_ms = 0;
    connected();
    return;
  }
  int fd = -1;
  r_->upstream.cur_connect_ms = UINT64_MAX;  // "-" until the connection is established
  up_requests_ = 0;
  const int family = p.cfg.addr.sa.sa_family;
  fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    upstream_failed(kNextError, 502, "socket() failed (" + errno_text(errno) + ")");
    return;
  }
  own_up_ = Transport(fd);  // closes the previous attempt's (through its TLS layer, if any)
  up_ = &own_up_;
  up_tls_.reset();
  if (ssl_ && !start_upstream_tls(p)) return;
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
    if (conf_->has_bind && !bind_local(fd)) return;
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
    if (pconn_) {
      up_ = &pconn_->transport;
      pconn_->layer_owner = up_tls_;  // a pooled connection keeps its TLS layer
    }
  } else {
    registered = bool(ctx_->loop.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this));
  }
  if (!registered) {
    upstream_failed(kNextError, 502, "epoll_ctl() failed");
    return;
  }
  up_->set_ready(false, false);
  if (rc == 0) {
    r_->upstream.cur_connect_ms = ctx_->loop.now_ms() - attempt_ms_;
    connected();
    return;
  }
  state_ = State::kConnecting;
  wait(Wait::kConnect, conf_->connect_timeout_ms);
}

// proxy_pass https://: the TLS layer on the new upstream socket; the handshake runs with the
// first write of the request. SNI (proxy_ssl_server_name), verification (proxy_ssl_verify with
// proxy_ssl_name) and the session to resume (proxy_ssl_session_reuse) as nginx.
bool Session::start_upstream_tls(const upstream::Peer& p) {
  if (!conf_->ssl_ctx) {
    upstream_failed(kNextError, 502, "no TLS context for an https upstream");
    return false;
  }
  std::string name;
  ssl_name(*r_, *conf_, name);
  tls::Session::ClientOptions o;
  if (conf_->ssl_server_name && !tls::is_address(name))
    o.sni = name;  // never an address in SNI (RFC 6066)
  o.verify = conf_->ssl_verify;
  o.verify_name = name;
  if (conf_->ssl_session_reuse) o.reuse = ctx_->tls_session_slot(p.state.get(), name);
  up_tls_ = std::make_shared<tls::Session>(conf_->ssl_ctx, client_->stream_id(), nullptr, nullptr);
  if (!up_tls_->attach_client(own_up_, o)) {
    upstream_failed(kNextError, 502, "SSL_new() failed");
    return false;
  }
  return true;
}

bool Session::handshaking() const {
  // Only TLS layers are installed on upstream transports.
  return up_ && up_->layer() && !static_cast<tls::Session*>(up_->layer())->handshake_done();
}

void Session::connected() {
  upstream_progress();
  state_ = State::kSending;
  up_->set_writable(true);
  pump();
}

void Session::respond_unavailable(uint32_t retry_after_s) {
  static constexpr std::string_view kBody =
      "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
      "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
      "<hr><center>portico</center>\r\n</body>\r\n</html>\r\n";
  if (state_ == State::kQueued) {
    group_->dequeue(this);
    ctx_->loop.cancel(&timer_);
    wait_ = Wait::kNone;
  }
  PORTICO_LOG(LogLevel::kError, client_->stream_id(),
              "app processes are not available (restarting after failures) while connecting to "
              "upstream{}",
              log_suffix());
  r_->upstream.add_addr(upstream_->group->name());
  http::Request& r = *r_;
  r.resp.status = 503;
  r.resp.content_type = "text/html";
  r.resp.content_length = int64_t(kBody.size());
  r.resp.header_only = r.head.method == http::Method::kHead;
  char num[16];
  auto len = fmt::format_to_n(num, sizeof num, "{}", retry_after_s).size;
  r.resp.add("Retry-After", std::string_view(num, len));
  client_->send_head();
  response_started_ = true;
  upstream_ended_ = true;  // there is none
  resp_done_ = true;
  out_data_ = r.resp.header_only ? nullptr : kBody.data();
  out_data_len_ = r.resp.header_only ? 0 : kBody.size();
  state_ = State::kRelaying;
  relay_response();
}

bool Session::on_wake() {
  if (state_ == State::kQueued) connect_next();
  return !queued();
}

// proxy_bind: the upstream sees this local address (nginx's ngx_http_upstream_set_local and
// ngx_event_connect_peer). An empty value binds nothing; one that is not an address is logged
// and binds nothing; a bind that fails (families differ, address not local) fails the attempt.
bool Session::bind_local(int fd) {
  thread_local std::string text;
  text.clear();
  conf_->bind.eval(*r_, text);
  if (text.empty()) return true;
  SockAddr b;
  if (!http::parse_addr_port(text, &b)) {
    PORTICO_LOG(LogLevel::kError, client_->stream_id(), "invalid local address \"{}\"{}", text,
                http::log_context(*r_));
    return true;
  }
  const bool v4 = b.sa.sa_family == AF_INET;
  int one = 1;
  if (conf_->bind_transparent &&
      (v4 ? setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one)
          : setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof one)) != 0) {
    upstream_failed(kNextError, 502,
                    fmt::format("setsockopt({}) failed ({}) while connecting to upstream",
                                v4 ? "IP_TRANSPARENT" : "IPV6_TRANSPARENT", errno_text(errno)));
    return false;
  }
  // No port: the kernel picks it at connect() time, so a busy local address does not run out
  // of ports for every upstream at once (as nginx).
  if (addr_port(b) == 0) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (::bind(fd, &b.sa, v4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)) != 0) {
    upstream_failed(
        kNextError, 502,
        "bind(" + text + ") failed (" + errno_text(errno) + ") while connecting to upstream");
    return false;
  }
  return true;
}

}  // namespace portico::proxy
