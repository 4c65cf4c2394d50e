// The proxy_ssl_* directives (TLS to upstreams: proxy_pass https://), their client context and
// the per-request names (SNI, verification). Rows in proxy/directives.cpp's table.
#pragma once

#include <string>

#include "config/ast.h"
#include "http/level.h"
#include "proxy/proxy_conf.h"

namespace portico::proxy {

// proxy_ssl_protocols, _ciphers, _certificate, _certificate_key, _password_file,
// _trusted_certificate, _crl, _verify_depth, _conf_command (src/tls/directives.cpp).
void set_ssl(http::Level& lv, const config::Directive& d);
void set_ssl_name(http::Level& lv, const config::Directive& d);
// finish_level: the client context of a level whose proxy_pass may be https.
void build_ssl_context(http::Level& lv, ProxyConf& pc);
// The name for SNI and verification: proxy_ssl_name, or the host of $proxy_host.
void ssl_name(http::Request& r, const ProxyConf& pc, std::string& out);

}  // namespace portico::proxy
