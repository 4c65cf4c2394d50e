// The http ssl module (nginx's ngx_http_ssl_module): `listen ... ssl`, the ssl_* directives of
// http{} and server{}, the contexts built from them (one per server with certificates, src/tls/),
// SNI to the server's context, the request-time checks (plain HTTP on a TLS port, client
// certificates) and the $ssl_* / $https variables. Directives in http/ssl_module.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "http/module.h"
#include "tls/context.h"
#include "tls/directives.h"
#include "tls/settings.h"
#include "tls/slot.h"

namespace portico::http {

struct Request;

// A server's (or http's) TLS settings as written; location levels carry an unused copy.
// The written settings (tls::Written: s, keys, keys_at) are parsed by src/tls/directives.cpp.
struct SslConf : ModuleConfOf<SslConf>, tls::Written {
  static Module& module();
  bool enable = false;  // the obsolete `ssl on`
  tls::Origin enable_at;
  // Built at the end of http{} for a server that has certificates or rejects handshakes; the
  // slot follows its files on disk (tls/slot.h).
  std::shared_ptr<tls::ContextSlot> ctx;
};

extern Module ssl_module;

// The request-time check of a request that arrived on a TLS address (nginx's part of
// ngx_http_process_request): 421 when Host names another server than SNI and that server
// verifies client certificates, 497 for plain HTTP on a TLS port, 495 when the client certificate
// did not verify, 496 when a required one is missing; 0 when the request may go on. The three
// are answered as nginx does: 400 with their own text, unless error_page catches them.
int ssl_check_request(Request& r);

struct HttpConf;
struct ServerConf;
// Every server's TLS context slot (for tls::CertWatch and the status pages), with the server.
struct SslSlot {
  const ServerConf* server;
  std::shared_ptr<tls::ContextSlot> slot;
};
std::vector<SslSlot> ssl_slots(const HttpConf& h);

}  // namespace portico::http
