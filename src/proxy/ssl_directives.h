// The proxy_ssl_* directives (TLS to upstreams: proxy_pass https://), their client context and
// the per-request names (SNI, verification). Rows in proxy/directives.cpp's table.
#pragma once

#include <string>

#include "config/ast.h"
#include "http/level.h"
#include "proxy/proxy_conf.h"

namespace portico::proxy {

void set_ssl_protocols(http::Level& lv, const config::Directive& d);
void set_ssl_ciphers(http::Level& lv, const config::Directive& d);
void set_ssl_name(http::Level& lv, const config::Directive& d);
void set_ssl_certificate(http::Level& lv, const config::Directive& d);
void set_ssl_certificate_key(http::Level& lv, const config::Directive& d);
void set_ssl_password_file(http::Level& lv, const config::Directive& d);
void set_ssl_trusted_certificate(http::Level& lv, const config::Directive& d);
void set_ssl_crl(http::Level& lv, const config::Directive& d);
void set_ssl_verify_depth(http::Level& lv, const config::Directive& d);
void set_ssl_conf_command(http::Level& lv, const config::Directive& d);
// finish_level: the client context of a level whose proxy_pass may be https.
void build_ssl_context(http::Level& lv, ProxyConf& pc);
// The name for SNI and verification: proxy_ssl_name, or the host of $proxy_host.
void ssl_name(http::Request& r, const ProxyConf& pc, std::string& out);

}  // namespace portico::proxy
