#include "proxy/ssl_directives.h"

#include <arpa/inet.h>

#include <cerrno>
#include <fstream>

#include <fmt/format.h>

#include "config/path.h"
#include "core/log.h"
#include "http/request.h"

namespace portico::proxy {

using config::Directive;
using http::Level;

namespace {

tls::Origin at(const Directive& d) {
  return {d.file, d.line};
}

std::string path_of(Level& lv, const std::string& p) {
  return config::resolve_path(lv.prefix(), p);
}

}  // namespace

void set_ssl_protocols(Level& lv, const Directive& d) {
  uint32_t p = 0;
  for (const std::string& a : d.args)
    if (!tls::add_protocol(a, &p)) return lv.error(d, fmt::format("invalid value \"{}\"", a));
  lv.conf<ProxyConf>().ssl.protocols = p;
}

void set_ssl_ciphers(Level& lv, const Directive& d) {
  lv.conf<ProxyConf>().ssl.ciphers = d.args[0];
}

void set_ssl_name(Level& lv, const Directive& d) {
  ProxyConf& pc = lv.conf<ProxyConf>();
  if (lv.value(d, d.args[0], &pc.ssl_name)) pc.has_ssl_name = true;
}

void set_ssl_certificate(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<ProxyConf>().ssl;
  s.certs.clear();
  s.certs.push_back({path_of(lv, d.args[0]), {}, at(d)});
}

void set_ssl_certificate_key(Level& lv, const Directive& d) {
  ProxyConf& pc = lv.conf<ProxyConf>();
  pc.ssl_keys.assign(1, path_of(lv, d.args[0]));
}

void set_ssl_password_file(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<ProxyConf>().ssl;
  const std::string path = path_of(lv, d.args[0]);
  std::ifstream f(path);
  if (!f) return lv.error(d, fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)));
  s.passwords.clear();
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) s.passwords.push_back(line);
  }
  if (s.passwords.empty()) lv.error(d, fmt::format("no passphrases found in \"{}\"", path));
}

void set_ssl_trusted_certificate(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<ProxyConf>().ssl;
  s.trusted_certificate = path_of(lv, d.args[0]);
  s.verify_at = at(d);
}

void set_ssl_crl(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<ProxyConf>().ssl;
  s.crl = path_of(lv, d.args[0]);
  s.verify_at = at(d);
}

void set_ssl_verify_depth(Level& lv, const Directive& d) {
  uint64_t v;
  if (lv.number(d, d.args[0], &v)) lv.conf<ProxyConf>().ssl.verify_depth = int(v);
}

void set_ssl_conf_command(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<ProxyConf>().ssl;
  if (lv.first(d)) {
    s.conf_commands.clear();
    s.conf_commands_at.clear();
  }
  s.conf_commands.emplace_back(d.args[0], d.args[1]);
  s.conf_commands_at.push_back(at(d));
}

void build_ssl_context(Level& lv, ProxyConf& pc) {
  if (!pc.pass || !pc.pass->ssl) {
    pc.ssl_ctx = nullptr;
    return;
  }
  tls::Settings s = pc.ssl;
  if (!s.certs.empty()) {
    if (pc.ssl_keys.empty()) {
      lv.host().error(s.certs[0].at.file, s.certs[0].at.line,
                      fmt::format("no \"proxy_ssl_certificate_key\" is defined for certificate "
                                  "\"{}\"",
                                  s.certs[0].cert));
      return;
    }
    s.certs[0].key = pc.ssl_keys[0];
  }
  if (pc.ssl_verify && s.trusted_certificate.empty()) {
    lv.host().error(s.verify_at.file, s.verify_at.line,
                    "no proxy_ssl_trusted_certificate for proxy_ssl_verify");
    return;
  }
  std::vector<tls::BuildError> errs;
  pc.ssl_ctx = tls::Context::build_client(s, &errs);
  for (const auto& e : errs) lv.host().error(e.at.file, e.at.line, e.message);
}

void ssl_name(http::Request& r, const ProxyConf& pc, std::string& out) {
  out.clear();
  if (pc.has_ssl_name) {
    pc.ssl_name.eval(r, out);
  } else {
    out = r.upstream.proxy_host;
  }
  // The host without its port ("[::1]:8443" -> "::1").
  if (!out.empty() && out[0] == '[') {
    const size_t close = out.find(']');
    out = out.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (const size_t colon = out.rfind(':');
             colon != std::string::npos && out.find(':') == colon) {
    out.resize(colon);
  }
}

}  // namespace portico::proxy
