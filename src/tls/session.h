// tls::Session: the TLS layer of one accepted connection (Transport::Layer). It owns the
// connection's SSL object, runs the non-blocking handshake from the connection's own reads
// (the first read drives it), and then turns reads, gathered writes and file sends into
// SSL_read / SSL_write (SSL_sendfile when the kernel took over the record layer, kTLS; else
// pread into a scratch buffer and SSL_write). SNI picks the server's context through a lookup
// the protocol module gives (the http host: server_name -> that server's context).
//
// A first byte that is not a TLS record makes the session transparent (plain_http()): the
// request is read in the clear so the host can answer nginx's 400 "The plain HTTP request was
// sent to HTTPS port".
//
// Readiness: OpenSSL may need to write while reading (handshake, key update) or read while
// writing; the session records which and turns the socket's next EPOLLOUT (EPOLLIN) into
// readable (writable) again, so the owner's edge-triggered loop resumes the right operation.
//
// Owned by its connection (one worker thread); keeps the contexts it uses alive across reloads.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/transport.h"
#include "tls/context.h"

namespace portico::tls {

class Session final : public Transport::Layer {
 public:
  // The context for a server name from the ClientHello, or null to keep the current one.
  using SniLookup = std::shared_ptr<const Context> (*)(const void* arg, std::string_view name);

  Session(std::shared_ptr<const Context> ctx, uint64_t conn_id, SniLookup sni, const void* sni_arg);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Creates the SSL object on t's socket and installs the layer. False (logged) on failure.
  // `detect_plain`: a first byte that is not TLS makes the layer transparent (http's 400);
  // without it (stream) such a connection fails its handshake, as nginx's stream.
  bool attach(Transport& t, bool detect_plain = true);
  // Runs the handshake as far as the socket allows (stream does it before relaying, under its
  // handshake timeout; http lets the first read run it): progress(0) once done, again while it
  // waits for the socket, eof or error when it failed (logged at info).
  IoResult handshake_step(Transport& t) { return done_ ? IoResult::moved(0) : handshake(t); }

  // To an upstream (a client context): `sni` is sent as server_name unless empty; with
  // `verify`, the peer's certificate must chain to the context's trusted CAs and name
  // `verify_name`. `reuse` (may be null) holds the session to offer and receives the new one;
  // it must outlive the session (a per-worker table).
  struct ClientOptions {
    std::string_view sni;
    bool verify = false;
    std::string_view verify_name;
    SSL_SESSION** reuse = nullptr;
  };
  bool attach_client(Transport& t, const ClientOptions& o);

  bool plain_http() const { return plain_; }
  bool handshake_done() const { return done_; }
  SSL* native() const { return ssl_; }
  const Context& context() const { return *ctx_; }
  // The protocol ALPN selected ("h2", "http/1.1"), empty when none (or before the handshake).
  std::string_view alpn() const;
  // The name the client sent in SNI (lowercase), empty when none.
  const std::string& server_name() const { return server_name_; }

  // ---- Transport::Layer ----
  IoResult read(Transport& t, char* buf, size_t len) override;
  IoResult peek(Transport& t) override;
  IoResult writev(Transport& t, const struct iovec* iov, size_t cnt, bool more) override;
  IoResult sendfile(Transport& t, int file_fd, off_t offset, size_t len) override;
  IoResult shutdown_write(Transport& t) override;
  void close(Transport& t) override;
  void on_events(Transport& t, uint32_t events) override;

  // Sets the callbacks every server context needs (SNI). Called by Context::build.
  static void install_callbacks(SSL_CTX* ctx);
  static void install_client_callbacks(SSL_CTX* ctx);

 private:
  // Runs the handshake: progress(0) when done, else again / eof / error.
  IoResult handshake(Transport& t);
  // Maps an SSL_get_error result after an operation that returned n <= 0.
  IoResult result(Transport& t, int n, bool reading, const char* op);
  IoResult write_bytes(Transport& t, const char* data, size_t len);
  static int on_client_hello(SSL* ssl, int* alert, void* arg);
  static int on_new_session(SSL* ssl, SSL_SESSION* sess);
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static long on_bio(BIO* b, int oper, const char* argp, size_t len, int argi, long argl, int ret,
                     size_t* processed);
  void use_server_name(SSL* ssl, std::string_view name);

  std::shared_ptr<const Context> ctx_;
  std::shared_ptr<const Context> sni_ctx_;  // the context SNI switched to, kept alive
  SSL* ssl_ = nullptr;
  SniLookup sni_ = nullptr;
  const void* sni_arg_ = nullptr;
  uint64_t conn_id_;
  std::string server_name_;
  bool checked_ = false;  // the first byte was looked at
  bool plain_ = false;    // not TLS: bytes pass through
  bool done_ = false;     // handshake complete
  bool failed_ = false;   // a fatal error: no close_notify
  bool server_ = false;   // accepted (attach): its handshakes count in tls::Stats
  bool counted_ = false;  // its handshake failure is counted
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  bool shut_ = false;              // close_notify sent
  bool sock_drained_ = false;      // the last socket read was short (server sessions)
  SSL_SESSION** reuse_ = nullptr;  // client: where a new session goes
};

}  // namespace portico::tls
