#include "proxy/ssl_directives.h"

#include <fmt/format.h>

#include "http/request.h"

namespace portico::proxy {

using config::Directive;
using http::Level;

void set_ssl(Level& lv, const Directive& d) {
  std::string e;
  const std::string_view key = std::string_view(d.name).substr(6);  // without "proxy_"
  if (!tls::apply_directive(d, key, lv.first(d), lv.prefix(), &lv.conf<ProxyConf>().ssl, &e))
    lv.error(d, e);
}

void set_ssl_name(Level& lv, const Directive& d) {
  ProxyConf& pc = lv.conf<ProxyConf>();
  if (lv.value(d, d.args[0], &pc.ssl_name)) pc.has_ssl_name = true;
}

void build_ssl_context(Level& lv, ProxyConf& pc) {
  pc.ssl_ctx = nullptr;
  if (!pc.pass || !pc.pass->ssl) return;
  std::vector<tls::BuildError> errs;
  pc.ssl_ctx = tls::build_client_context(pc.ssl, pc.ssl_verify, &errs);
  for (const auto& e : errs) lv.host().error(e.at.file, e.at.line, e.message);
}

void ssl_name(http::Request& r, const ProxyConf& pc, std::string& out) {
  out.clear();
  if (pc.has_ssl_name) {
    pc.ssl_name.eval(r, out);
  } else {
    out = r.upstream.proxy_host;
  }
  tls::strip_port(out);  // "[::1]:8443" -> "::1"
}

}  // namespace portico::proxy
