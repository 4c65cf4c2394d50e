// The ssl_* and proxy_ssl_* directives as every protocol module reads them (http's ssl module,
// http's proxy, stream): one parser for their arguments, nginx's error texts, the pairing of
// certificates with keys and the checks made before a context is built. The protocol modules
// keep their own Command rows (where a directive may stand) and call these; each keeps a Written
// per level and inherits it as its own levels do. Configuration time only (control thread).
//
//   tls::Written w;                                     // one level's ssl_* settings
//   if (!tls::apply_directive(d, "ssl_ciphers", first, prefix, &w, &e)) error(d, e);
//   tls::Settings s;
//   if (tls::pair_keys(w, "ssl_certificate_key", &s, &be)) ctx = tls::Context::build(s, ...);
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/ast.h"
#include "tls/context.h"
#include "tls/settings.h"

namespace portico::tls {

// The settings written at one level, with the key files kept apart from the certificates until
// the context is built (nginx pairs them by position then).
struct Written {
  Settings s;
  std::vector<std::string> keys;  // ssl_certificate_key, by position
  std::vector<Origin> keys_at;
};

// Applies directive `d` to `w`. `key` is its name without a protocol's prefix ("ssl_ciphers" for
// proxy_ssl_ciphers too); `first`: its first occurrence at this level (a list directive then
// drops what the level inherited); `prefix`: -p, for relative paths. False with *error in
// nginx's words when the value is bad, or when `key` is not one of these directives.
bool apply_directive(const config::Directive& d, std::string_view key, bool first,
                     const std::string& prefix, Written* w, std::string* error);

// The settings of `w` with each certificate paired with its key. False with *error at the
// certificate that has none (nginx: no "<key_directive>" is defined for certificate "...").
bool pair_keys(const Written& w, std::string_view key_directive, Settings* out, BuildError* error);

// The client context of a proxy_ssl_* level (`verify`: proxy_ssl_verify on). Null with *errors
// appended (nginx's words, at the directive) when it cannot be built.
std::shared_ptr<const Context> build_client_context(const Written& w, bool verify,
                                                    std::vector<BuildError>* errors);

class Session;

// nginx's client certificate check after the handshake of a server that verifies them: 0 when
// the connection may go on, 495 when the certificate did not verify (optional_no_ca forgives an
// unknown issuer), 496 when `ssl_verify_client on` and the client sent none. Logged (info).
int check_client_certificate(const Session& t, const Settings& s, uint64_t conn_id);

// The name for SNI and verification of a TLS upstream: `name` without its port ("[::1]:8443"
// -> "::1", "example.com:443" -> "example.com"), in place.
void strip_port(std::string& name);
// Whether `name` is an IPv4 or IPv6 address (never sent in SNI, RFC 6066 3).
bool is_address(const std::string& name);

// proxy_ssl_session_reuse: the last TLS session of each upstream peer on this worker, offered
// to the next connection; keyed by the peer's state object and the verified name (a session
// verified for one name is never offered for another). Owns the references; bounded (names may
// come from variables). One per worker thread.
class ClientSessions {
 public:
  ClientSessions() = default;
  ClientSessions(const ClientSessions&) = delete;
  ClientSessions& operator=(const ClientSessions&) = delete;
  ~ClientSessions() { clear(); }

  // Where the session for (peer, name) is kept (null inside until one is there).
  SSL_SESSION** slot(const void* peer, std::string_view name);

 private:
  void clear();
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

}  // namespace portico::tls
