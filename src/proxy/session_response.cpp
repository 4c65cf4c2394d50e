// proxy::Session, the response head: read and validate it, retry on statuses proxy_next_upstream
// names, intercept errors, then hand the codec the head event (proxy/headers.cpp fills it).
#include "proxy/session.h"

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/strings.h"
#include "http/handler.h"
#include "http/http_config.h"
#include "http/phases.h"
#include "http/uri.h"
#include "proxy/headers.h"
#include "proxy/session_internal.h"

namespace portico::proxy {

namespace {

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

}  // namespace

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
        r_->upstream.head_bytes += consumed;
        r_->upstream.head_complete = !head_in_.is_informational();
        r_->upstream.cur_status = head_in_.status;
        if (r_->upstream.head_complete)
          r_->upstream.keep_head(std::string_view(rbuf_.get() + rpos_ - consumed, consumed),
                                 head_in_.headers);
        if (head_in_.status == 101) {
          // As nginx (r->headers_in.upgrade): the client's Upgrade header asked for it. An
          // HTTP/1.0 client's Upgrade does not count (RFC 9110 7.8: a server MUST ignore it;
          // nginx tunnels anyway).
          if (r_->head.find("upgrade") != nullptr && !r_->head.is_http10()) {
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
        r_->upstream.cur_header_ms = ctx_->loop.now_ms() - attempt_ms_;
        const uint32_t cond = status_condition(status);
        if (cond && (conf_->next_upstream & cond)) {
          const bool failure = status_is_failure(status);
          // Retry where allowed; otherwise this response goes to the client.
          const uint32_t limit = try_limit();
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

void Session::accel_redirect(std::string_view to) {
  http::Request& r = *r_;
  note_attempt_end(head_in_.status);
  // Fields the new location's response keeps (nginx's upstream headers with `redirect`);
  // the rest of this response, its body included, is dropped with the connection.
  r.resp.clear();
  for (const http::Header& h : head_in_.headers) {
    if (iequals(h.name, "content-type")) {
      r.resp.content_type_buf.assign(h.value);
      r.resp.content_type = r.resp.content_type_buf;
      r.resp.content_type_kept = true;
    } else if (iequals(h.name, "set-cookie") &&
               (!conf_->cookie_domains.empty() || !conf_->cookie_paths.empty())) {
      std::string v;
      if (!rewrite_set_cookie(r, conf_->cookie_domains, conf_->cookie_paths, h.value, v))
        v.assign(h.value);
      r.resp.add(h.name, v);
    } else if (iequals(h.name, "set-cookie") || iequals(h.name, "content-disposition") ||
               iequals(h.name, "cache-control") || iequals(h.name, "expires") ||
               iequals(h.name, "accept-ranges")) {
      r.resp.add(h.name, h.value);
    }
  }
  release_peer(false);
  close_upstream();
  state_ = State::kDone;
  ctx_->loop.cancel(&timer_);
  if (!to.empty() && to[0] == '@') {
    const void* named = r.server->matcher.find_named(to);
    if (!named) {
      PORTICO_LOG(LogLevel::kError, client_->stream_id(), "could not find named location \"{}\"{}",
                  to, log_suffix());
      client_->content_error(500);
      return;
    }
    r.loc = static_cast<const http::LocationConf*>(named);
    client_->content_redirect(http::Step::named_redirect());
    return;
  }
  std::string uri, args;
  if (!http::parse_unsafe_uri(to, uri, args)) {
    // nginx names the decoded URI when only decoding showed it unsafe.
    PORTICO_LOG(LogLevel::kError, client_->stream_id(),
                "unsafe URI \"{}\" was detected while reading response header from upstream{}",
                uri.empty() ? to : std::string_view(uri), log_suffix());
    client_->content_error(404);
    return;
  }
  if (r.head.method != http::Method::kHead) r.method_name = "GET";
  r.uri = std::move(uri);
  r.args = std::move(args);
  client_->content_redirect(http::Step::internal_redirect());
}

void Session::begin_response() {
  http::Request& r = *r_;
  const int status = head_in_.status;
  r_->upstream.cur_header_ms = ctx_->loop.now_ms() - attempt_ms_;
  // proxy_intercept_errors: a status >= 300 with an error_page for it is answered by us.
  if (conf_->intercept_errors && status >= 300) {
    for (const auto& ep : r.loc->error_pages) {
      for (int c : ep.codes) {
        if (c != status) continue;
        note_attempt_end(status);
        // The error page answers for the upstream, with its challenge (nginx: every
        // WWW-Authenticate of an intercepted 401).
        if (status == 401)
          for (const auto& h : head_in_.headers)
            if (iequals(h.name, "www-authenticate")) r.resp.add(h.name, h.value);
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
  if (!conf_->ignore_x_accel_limit_rate) {
    // X-Accel-Limit-Rate: the response's limit_rate, over the location's (nginx: "off" or a
    // number of bytes per second).
    if (const http::Header* xl = head_in_.find("x-accel-limit-rate")) {
      if (iequals(xl->value, "off")) {
        r.rate.rate = 0;
        r.rate.rate_set = true;
      } else if (auto v = parse_uint(xl->value)) {
        r.rate.rate = *v;
        r.rate.rate_set = true;
      }
    }
  }
  if (!conf_->ignore_x_accel_redirect) {
    if (const http::Header* xar = head_in_.find("x-accel-redirect")) {
      accel_redirect(xar->value);
      return;
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

}  // namespace portico::proxy
