#include "tls/session.h"

#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "tls/stats.h"

namespace portico::tls {

namespace {

// Gathered writes and file reads go through one buffer per thread: a record's bytes are copied
// once, and a write OpenSSL asks to repeat is rebuilt from the same caller data.
constexpr size_t kScratch = 16384;
thread_local char t_scratch[kScratch];
// File ranges without kTLS are read in pieces of up to 64 KiB and written as records from
// there: one pread per four records instead of one per record.
constexpr size_t kFileChunk = 65536;
thread_local char t_file[kFileChunk];

int g_session_index = -1;

// Why a server handshake failed, from SSL_get_error's answer and the first queued error.
Failure classify(int ssl_error, unsigned long e) {
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN)
    return Failure::kIncomplete;
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return Failure::kMalformed;
  const int reason = ERR_GET_REASON(e);
  if (reason >= SSL_AD_REASON_OFFSET) return Failure::kPeerAlert;  // the client's alert
  switch (reason) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_INAPPROPRIATE_FALLBACK:
      return Failure::kProtocol;
    case SSL_R_CALLBACK_FAILED:  // the ClientHello callback refused the name
    case SSL_R_CLIENTHELLO_TLSEXT:
      return Failure::kRejected;
    default:
      return Failure::kMalformed;
  }
}

}  // namespace

Session::Session(std::shared_ptr<const Context> ctx, uint64_t conn_id, SniLookup sni,
                 const void* sni_arg)
    : ctx_(std::move(ctx)), sni_(sni), sni_arg_(sni_arg), conn_id_(conn_id) {}

Session::~Session() {
  // A client that sent part of a handshake and went away (or was timed out).
  if (server_ && checked_ && !plain_ && !done_ && !counted_)
    Stats::local().fail(Failure::kIncomplete);
  if (ssl_) SSL_free(ssl_);
}

void Session::install_callbacks(SSL_CTX* ctx) {
  if (g_session_index < 0)  // first called from Context::build on the control thread
    g_session_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  SSL_CTX_set_client_hello_cb(ctx, &Session::on_client_hello, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, &Session::on_servername);
}

// The server name from the ClientHello's server_name extension (RFC 6066 3), or "".
static std::string_view hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5) return {};
  const size_t list = (size_t(p[0]) << 8) | p[1];
  if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name) return {};
  const size_t n = (size_t(p[3]) << 8) | p[4];
  if (n == 0 || n + 5 > len) return {};
  return {reinterpret_cast<const char*>(p + 5), n};
}

// SNI is resolved here, before OpenSSL looks up a session to resume: a session is then checked
// against the named server's context, so one server's session never resumes on another's
// (TLS 1.2 would otherwise resume it under the default server's context).
int Session::on_client_hello(SSL* ssl, int* alert, void*) {
  auto* s = static_cast<Session*>(SSL_get_ex_data(ssl, g_session_index));
  if (!s) return SSL_CLIENT_HELLO_SUCCESS;
  std::string_view name = hello_server_name(ssl);
  if (!name.empty()) s->use_server_name(ssl, name);
  const Context* now = s->sni_ctx_ ? s->sni_ctx_.get() : s->ctx_.get();
  if (now->settings().reject_handshake) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

void Session::use_server_name(SSL* ssl, std::string_view name) {
  server_name_.assign(name);
  for (char& c : server_name_) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!sni_) return;
  const Context* now = sni_ctx_ ? sni_ctx_.get() : ctx_.get();
  std::shared_ptr<const Context> c = sni_(sni_arg_, server_name_);
  if (!c || c.get() == now) return;
  SSL_CTX* n = c->native();
  SSL_set_SSL_CTX(ssl, n);
  // As nginx: the named server's verification and options apply to this connection.
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(n), SSL_CTX_get_verify_callback(n));
  SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(n));
  SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(n));
  SSL_set_options(ssl, SSL_CTX_get_options(n));
  sni_ctx_ = std::move(c);
}

void Session::install_client_callbacks(SSL_CTX* ctx) {
  if (g_session_index < 0)
    g_session_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  SSL_CTX_sess_set_new_cb(ctx, &Session::on_new_session);
}

// A session (TLS 1.2) or ticket (TLS 1.3) from the upstream: kept for the next connection.
int Session::on_new_session(SSL* ssl, SSL_SESSION* sess) {
  auto* s = static_cast<Session*>(SSL_get_ex_data(ssl, g_session_index));
  if (!s || !s->reuse_) return 0;
  if (*s->reuse_) SSL_SESSION_free(*s->reuse_);
  *s->reuse_ = sess;
  return 1;  // we hold the reference now
}

bool Session::attach_client(Transport& t, const ClientOptions& o) {
  ssl_ = SSL_new(ctx_->native());
  if (!ssl_ || SSL_set_fd(ssl_, t.fd()) != 1) {
    PORTICO_LOG(LogLevel::kAlert, conn_id_, "SSL_new() failed{}", ssl_error_text());
    return false;
  }
  SSL_set_ex_data(ssl_, g_session_index, this);
  SSL_set_connect_state(ssl_);
  checked_ = true;  // the peer is a TLS server: no plain-HTTP look
  if (!o.sni.empty()) {
    std::string name(o.sni);
    SSL_set_tlsext_host_name(ssl_, name.c_str());
  }
  if (o.verify) {
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    if (!o.verify_name.empty()) {
      std::string name(o.verify_name);
      SSL_set1_host(ssl_, name.c_str());
    }
  }
  reuse_ = o.reuse;
  if (reuse_ && *reuse_) {
    // A copy: an OpenSSL 3 client marks a TLS 1.3 session it resumed as used up, and the
    // upstream may send no new ticket on resumption; the kept one stays offerable (as nginx).
    SSL_SESSION* copy = SSL_SESSION_dup(*reuse_);
    if (copy) {
      SSL_set_session(ssl_, copy);
      SSL_SESSION_free(copy);
    }
  }
  t.set_layer(this);
  return true;
}

std::string_view Session::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  if (ssl_) SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

// Watches the socket BIO's reads: a read that returned less than OpenSSL asked for drained the
// socket (edge-triggered, as Transport::raw_read's rule), so after a record has been handed
// over with nothing left in OpenSSL, the connection need not read again only to hear EAGAIN.
long Session::on_bio(BIO* b, int oper, const char*, size_t len, int, long, int ret,
                     size_t* processed) {
  if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
    auto* s = static_cast<Session*>(static_cast<void*>(BIO_get_callback_arg(b)));
    s->sock_drained_ = ret <= 0 || (processed && *processed < len);
  }
  return ret;
}

bool Session::attach(Transport& t, bool detect_plain) {
  ssl_ = SSL_new(ctx_->native());
  if (!ssl_ || SSL_set_fd(ssl_, t.fd()) != 1) {
    PORTICO_LOG(LogLevel::kAlert, conn_id_, "SSL_new() failed{}", ssl_error_text());
    return false;
  }
  BIO* rbio = SSL_get_rbio(ssl_);
  BIO_set_callback_ex(rbio, &Session::on_bio);
  BIO_set_callback_arg(rbio, static_cast<char*>(static_cast<void*>(this)));
  SSL_set_ex_data(ssl_, g_session_index, this);
  SSL_set_accept_state(ssl_);
  server_ = true;
  checked_ = !detect_plain;
  t.set_layer(this);
  return true;
}

// nginx's ngx_http_ssl_servername: the server named in the ClientHello lends its context
// (certificates, verification, options); ssl_reject_handshake refuses the name.
int Session::on_servername(SSL* ssl, int* alert, void*) {
  auto* s = static_cast<Session*>(SSL_get_ex_data(ssl, g_session_index));
  if (!s) return SSL_TLSEXT_ERR_NOACK;
  if (s->done_) {
    *alert = SSL_AD_NO_RENEGOTIATION;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  // The client hello callback chose the context already; this acknowledges the name.
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name && *name && s->server_name_.empty()) s->use_server_name(ssl, name);
  const Context* now = s->sni_ctx_ ? s->sni_ctx_.get() : s->ctx_.get();
  if (now->settings().reject_handshake) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

void Session::on_events(Transport& t, uint32_t ev) {
  if (read_wants_write_ && (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))) t.set_readable(true);
  if (write_wants_read_ && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
    t.set_writable(true);
}

IoResult Session::result(Transport& t, int n, bool reading, const char* op) {
  const int e = SSL_get_error(ssl_, n);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      if (reading) {
        read_wants_write_ = false;
      } else {
        write_wants_read_ = true;
        t.set_writable(false);
      }
      t.set_readable(false);
      return IoResult::blocked();
    case SSL_ERROR_WANT_WRITE:
      if (reading) {
        read_wants_write_ = true;
        t.set_readable(false);
      } else {
        write_wants_read_ = false;
      }
      t.set_writable(false);
      return IoResult::blocked();
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return IoResult::ended();
    case SSL_ERROR_SYSCALL: {
      const int err = errno;
      failed_ = true;
      // SSL_OP_IGNORE_UNEXPECTED_EOF makes a bare EOF a ZERO_RETURN; what is left is an errno.
      if (ERR_peek_error() == 0 && err == 0) return IoResult::ended();
      ERR_clear_error();
      return IoResult::failed(err ? err : EIO);
    }
    default: {
      failed_ = true;
      std::string why = ssl_error_text();
      PORTICO_LOG(LogLevel::kInfo, conn_id_, "{}() failed{}{}", op, why,
                  done_ ? "" : " while SSL handshaking");
      return done_ ? IoResult::failed(EPROTO) : IoResult::ended();
    }
  }
}

IoResult Session::handshake(Transport& t) {
  if (!checked_) {
    // nginx's ngx_http_ssl_handshake: a first byte that cannot start a TLS (0x16) or SSLv2
    // (high bit) record is a plain HTTP request on a TLS port.
    char b;
    IoResult pk = t.raw_peek(&b, 1);
    if (!pk.progress()) return pk;
    checked_ = true;
    if (b != 0x16 && !(static_cast<unsigned char>(b) & 0x80)) {
      plain_ = true;
      if (server_) Stats::local().fail(Failure::kPlainHttp);
      return IoResult::moved(0);
    }
  }
  ERR_clear_error();
  const int n = SSL_do_handshake(ssl_);
  if (n == 1) {
    done_ = true;
    read_wants_write_ = write_wants_read_ = false;
    t.set_ready(true, true);  // records may already be buffered; the socket may take more
    if (server_) {
      Stats& st = Stats::local();
      Stats::bump(SSL_session_reused(ssl_) ? st.resumed : st.full);
      const int v = SSL_version(ssl_);
      if (v == TLS1_3_VERSION)
        Stats::bump(st.tls13);
      else if (v == TLS1_2_VERSION)
        Stats::bump(st.tls12);
    }
    return IoResult::moved(0);
  }
  const int ssl_error = SSL_get_error(ssl_, n);
  const unsigned long first = ERR_peek_error();
  IoResult r = result(t, n, /*reading=*/true, "SSL_do_handshake");
  if (server_ && !r.again() && !counted_) {
    counted_ = true;
    Stats::local().fail(classify(ssl_error, first));
  }
  return r;
}

IoResult Session::read(Transport& t, char* buf, size_t len) {
  if (!done_) {
    if (!plain_) {
      IoResult h = handshake(t);
      if (!h.progress()) return h;
    }
    if (plain_) return t.raw_read(buf, len);
  }
  ERR_clear_error();
  size_t n = 0;
  const int rc = SSL_read_ex(ssl_, buf, len, &n);
  if (rc == 1) {
    read_wants_write_ = false;
    // Stay readable while the next record may be buffered or on the socket; a short socket read
    // with nothing left in OpenSSL says drained (unless the peer half-closed: no new edge would
    // announce its close_notify or EOF).
    if (sock_drained_ && !SSL_has_pending(ssl_)) t.set_readable(t.read_closed());
    return IoResult::moved(n);
  }
  return result(t, 0, /*reading=*/true, "SSL_read");
}

IoResult Session::peek(Transport& t) {
  if (!done_) {
    if (plain_) {
      char c;
      return t.raw_peek(&c, 1);
    }
    IoResult h = handshake(t);
    if (!h.progress()) return h;
    if (plain_) return IoResult::moved(1);
  }
  ERR_clear_error();
  char c;
  size_t n = 0;
  if (SSL_peek_ex(ssl_, &c, 1, &n) == 1) return IoResult::moved(1);
  IoResult r = result(t, 0, /*reading=*/true, "SSL_peek");
  return r;
}

IoResult Session::write_bytes(Transport& t, const char* data, size_t len) {
  ERR_clear_error();
  size_t n = 0;
  if (SSL_write_ex(ssl_, data, len, &n) == 1) {
    write_wants_read_ = false;
    done_ = true;  // a client's first write ran its handshake
    return IoResult::moved(n);
  }
  IoResult r = result(t, 0, /*reading=*/false, "SSL_write");
  if (r.eof()) return IoResult::failed(EPIPE);  // the peer closed: nothing more goes out
  return r;
}

IoResult Session::writev(Transport& t, const struct iovec* iov, size_t cnt, bool more) {
  if (plain_) return t.raw_writev(iov, cnt, more);
  // One piece goes out as it is (large bodies: several records per call); several are gathered
  // into one record-sized buffer so a head and a small body leave in one record.
  if (cnt == 1 || iov[0].iov_len >= kScratch)
    return write_bytes(t, static_cast<const char*>(iov[0].iov_base), iov[0].iov_len);
  const size_t cap = std::min(kScratch, std::max<size_t>(ctx_->settings().buffer_size, 512));
  size_t used = 0;
  for (size_t i = 0; i < cnt && used < cap; ++i) {
    const size_t k = std::min(iov[i].iov_len, cap - used);
    std::memcpy(t_scratch + used, iov[i].iov_base, k);
    used += k;
  }
  return write_bytes(t, t_scratch, used);
}

IoResult Session::sendfile(Transport& t, int file_fd, off_t offset, size_t len) {
  if (!plain_ && BIO_get_ktls_send(SSL_get_wbio(ssl_))) {
    // The kernel encrypts: file pages go out without a copy.
    ERR_clear_error();
    ossl_ssize_t n = SSL_sendfile(ssl_, file_fd, offset, len, 0);
    if (n > 0) return IoResult::moved(size_t(n));
    if (n == 0) return IoResult::ended();
    return result(t, int(n), /*reading=*/false, "SSL_sendfile");
  }
  // No kTLS (this kernel has no tls module, or the cipher is not offloaded): read, then write.
  const size_t want = std::min(len, kFileChunk);
  ssize_t got;
  do {
    got = ::pread(file_fd, t_file, want, offset);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return IoResult::failed(errno);
  if (got == 0) return IoResult::ended();  // the file is shorter than asked
  if (plain_) {
    struct iovec iov = {t_file, size_t(got)};
    return t.raw_writev(&iov, 1, false);
  }
  // SSL_MODE_ENABLE_PARTIAL_WRITE: each SSL_write returns once a record is out, so the piece
  // goes out record by record. A record the socket did not take whole stays pending in
  // OpenSSL; the bytes before it are reported, and the next call reads the file again from
  // there, so the retry hands OpenSSL the same bytes (in a moving buffer, as the mode allows).
  size_t done = 0;
  while (done < size_t(got)) {
    IoResult w = write_bytes(t, t_file + done, size_t(got) - done);
    if (!w.progress()) return done > 0 ? IoResult::moved(done) : w;
    done += w.bytes();
  }
  return IoResult::moved(done);
}

IoResult Session::shutdown_write(Transport& t) {
  if (!plain_ && done_ && !failed_ && !shut_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // close_notify; the peer's may come later, reads go on
    ERR_clear_error();
    shut_ = true;
  }
  if (::shutdown(t.fd(), SHUT_WR) == 0) return IoResult::moved(0);
  return IoResult::failed(errno);
}

void Session::close(Transport&) {
  if (!ssl_ || plain_ || !done_) return;
  if (failed_ || shut_) {
    // As nginx's ngx_ssl_shutdown: mark the shutdown done, so OpenSSL does not take a failed
    // connection's session for a bad one (it would drop it from the cache and from reuse).
    SSL_set_quiet_shutdown(ssl_, 1);
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return;
  }
  // A close_notify, best effort: the socket is non-blocking, so this never waits.
  ERR_clear_error();
  if (SSL_shutdown(ssl_) < 0) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  ERR_clear_error();
  shut_ = true;
}

}  // namespace portico::tls
