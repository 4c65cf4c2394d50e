// The ssl module's directives, context building and variables (see ssl_module.h).
#include "http/ssl_module.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "config/path.h"
#include "core/log.h"
#include "http/connection.h"
#include "http/level.h"
#include "http/request.h"
#include "tls/session.h"

namespace portico::http {

using config::Directive;
using namespace config;  // context constants

namespace {

constexpr uint32_t kHS = kHttp | kServer;

tls::Origin at(const Directive& d) {
  return {d.file, d.line};
}

std::string path_of(Level& lv, const std::string& p) {
  return config::resolve_path(lv.prefix(), p);
}

void set_enable(Level& lv, const Directive& d) {
  SslConf& c = lv.conf<SslConf>();
  if (!lv.flag(d, &c.enable)) return;
  c.enable_at = at(d);
  lv.warn(
      fmt::format("the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive "
                  "instead in {}:{}",
                  d.file, d.line));
}

void set_certificate(Level& lv, const Directive& d) {
  SslConf& c = lv.conf<SslConf>();
  if (lv.first(d)) c.s.certs.clear();
  c.s.certs.push_back({path_of(lv, d.args[0]), {}, at(d)});
}

void set_certificate_key(Level& lv, const Directive& d) {
  SslConf& c = lv.conf<SslConf>();
  if (lv.first(d)) {
    c.keys.clear();
    c.keys_at.clear();
  }
  c.keys.push_back(path_of(lv, d.args[0]));
  c.keys_at.push_back(at(d));
}

void set_password_file(Level& lv, const Directive& d) {
  SslConf& c = lv.conf<SslConf>();
  const std::string path = path_of(lv, d.args[0]);
  std::ifstream f(path);
  if (!f) {
    lv.error(d, fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)));
    return;
  }
  c.s.passwords.clear();
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) c.s.passwords.push_back(line);
  }
  if (c.s.passwords.empty()) lv.error(d, fmt::format("no passphrases found in \"{}\"", path));
  c.s.passwords_at = at(d);
}

void set_protocols(Level& lv, const Directive& d) {
  uint32_t p = 0;
  for (const std::string& a : d.args)
    if (!tls::add_protocol(a, &p)) return lv.error(d, fmt::format("invalid value \"{}\"", a));
  lv.conf<SslConf>().s.protocols = p;
}

void set_ciphers(Level& lv, const Directive& d) {
  lv.conf<SslConf>().s.ciphers = d.args[0];
}

void set_ecdh_curve(Level& lv, const Directive& d) {
  lv.conf<SslConf>().s.ecdh_curve = d.args[0];
}

void set_prefer_server_ciphers(Level& lv, const Directive& d) {
  lv.flag(d, &lv.conf<SslConf>().s.prefer_server_ciphers);
}

void set_conf_command(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<SslConf>().s;
  if (lv.first(d)) {
    s.conf_commands.clear();
    s.conf_commands_at.clear();
  }
  // File arguments are taken from the prefix, as nginx does for its own file directives.
  static constexpr std::string_view kFileCommands[] = {
      "Certificate",  "PrivateKey",    "ChainCAFile",  "ChainCAPath", "VerifyCAFile",
      "VerifyCAPath", "RequestCAFile", "ClientCAFile", "DHParameters"};
  bool is_file = false;
  for (std::string_view k : kFileCommands) is_file = is_file || d.args[0] == k;
  s.conf_commands.emplace_back(d.args[0], is_file ? path_of(lv, d.args[1]) : d.args[1]);
  s.conf_commands_at.push_back(at(d));
}

void set_dhparam(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<SslConf>().s;
  s.dhparam = path_of(lv, d.args[0]);
  s.dhparam_at = at(d);
}

// off | none | builtin[:N] | shared:NAME:SIZE (several may be given, as nginx).
void set_session_cache(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<SslConf>().s;
  for (const std::string& a : d.args) {
    if (a == "off") {
      s.cache = tls::Settings::Cache::kOff;
    } else if (a == "none") {
      s.cache = tls::Settings::Cache::kNone;
    } else if (a == "builtin" || a.rfind("builtin:", 0) == 0) {
      uint64_t n = 20480;  // OpenSSL's default cache size
      if (a.size() > 7 && (!lv.number(d, std::string_view(a).substr(8), &n) || n == 0))
        return lv.error(d, fmt::format("invalid session cache \"{}\"", a));
      s.cache = tls::Settings::Cache::kBuiltin;
      s.cache_sessions = std::max(s.cache_sessions, n);
    } else if (a.rfind("shared:", 0) == 0) {
      const size_t colon = a.find(':', 7);
      uint64_t size = 0;
      if (colon == std::string::npos || colon == 7 ||
          !lv.size(d, std::string_view(a).substr(colon + 1), &size))
        return lv.error(d, fmt::format("invalid session cache \"{}\"", a));
      if (size < 8192) return lv.error(d, fmt::format("session cache \"{}\" is too small", a));
      s.cache = tls::Settings::Cache::kShared;
      // nginx: about 4000 sessions per megabyte.
      s.cache_sessions = std::max<uint64_t>(s.cache_sessions, size / 256);
    } else {
      return lv.error(d, fmt::format("invalid session cache \"{}\"", a));
    }
  }
}

void set_session_timeout(Level& lv, const Directive& d) {
  uint64_t ms;
  if (lv.msec(d, d.args[0], &ms)) lv.conf<SslConf>().s.session_timeout_s = ms / 1000;
}

void set_session_tickets(Level& lv, const Directive& d) {
  lv.flag(d, &lv.conf<SslConf>().s.session_tickets);
}

void set_session_ticket_key(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<SslConf>().s;
  if (lv.first(d)) s.ticket_key_files.clear();
  s.ticket_key_files.push_back(path_of(lv, d.args[0]));
  s.ticket_keys_at = at(d);
}

void set_buffer_size(Level& lv, const Directive& d) {
  uint64_t v;
  if (lv.size(d, d.args[0], &v)) lv.conf<SslConf>().s.buffer_size = size_t(v);
}

void set_verify_client(Level& lv, const Directive& d) {
  using V = tls::Settings::Verify;
  const std::string& a = d.args[0];
  V v;
  if (a == "on")
    v = V::kOn;
  else if (a == "off")
    v = V::kOff;
  else if (a == "optional")
    v = V::kOptional;
  else if (a == "optional_no_ca")
    v = V::kOptionalNoCa;
  else
    return lv.error(d, fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\", "
                                   "\"off\", \"optional\" or \"optional_no_ca\"",
                                   a, d.name));
  lv.conf<SslConf>().s.verify = v;
}

void set_verify_depth(Level& lv, const Directive& d) {
  uint64_t v;
  if (lv.number(d, d.args[0], &v)) lv.conf<SslConf>().s.verify_depth = int(v);
}

template <std::string tls::Settings::*F>
void set_path(Level& lv, const Directive& d) {
  tls::Settings& s = lv.conf<SslConf>().s;
  s.*F = path_of(lv, d.args[0]);
  if (F != &tls::Settings::stapling_file) s.verify_at = at(d);
}

template <bool tls::Settings::*F>
void set_bool(Level& lv, const Directive& d) {
  lv.flag(d, &(lv.conf<SslConf>().s.*F));
}

void accept(Level&, const Directive&) {}

const Command kCommands[] = {
    {{"ssl", kHS, 1, 1, BlockKind::kNone, 0, true}, set_enable},
    {{"ssl_certificate", kHS, 1, 1}, set_certificate},
    {{"ssl_certificate_key", kHS, 1, 1}, set_certificate_key},
    {{"ssl_password_file", kHS, 1, 1, BlockKind::kNone, 0, true}, set_password_file},
    {{"ssl_protocols", kHS, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_protocols},
    {{"ssl_ciphers", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ciphers},
    {{"ssl_ecdh_curve", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ecdh_curve},
    {{"ssl_prefer_server_ciphers", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_prefer_server_ciphers},
    {{"ssl_conf_command", kHS, 2, 2}, set_conf_command},
    {{"ssl_dhparam", kHS, 1, 1, BlockKind::kNone, 0, true}, set_dhparam},
    {{"ssl_session_cache", kHS, 1, 2, BlockKind::kNone, 0, true}, set_session_cache},
    {{"ssl_session_timeout", kHS, 1, 1, BlockKind::kNone, 0, true}, set_session_timeout},
    {{"ssl_session_tickets", kHS, 1, 1, BlockKind::kNone, 0, true}, set_session_tickets},
    {{"ssl_session_ticket_key", kHS, 1, 1}, set_session_ticket_key},
    {{"ssl_buffer_size", kHS, 1, 1, BlockKind::kNone, 0, true}, set_buffer_size},
    {{"ssl_verify_client", kHS, 1, 1, BlockKind::kNone, 0, true}, set_verify_client},
    {{"ssl_verify_depth", kHS, 1, 1, BlockKind::kNone, 0, true}, set_verify_depth},
    {{"ssl_client_certificate", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_path<&tls::Settings::client_certificate>},
    {{"ssl_trusted_certificate", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_path<&tls::Settings::trusted_certificate>},
    {{"ssl_crl", kHS, 1, 1, BlockKind::kNone, 0, true}, set_path<&tls::Settings::crl>},
    {{"ssl_reject_handshake", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_bool<&tls::Settings::reject_handshake>},
    {{"ssl_early_data", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_bool<&tls::Settings::early_data>},
    {{"ssl_stapling_file", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_path<&tls::Settings::stapling_file>},
    // OCSP fetched from the responder needs a resolver and an HTTP client: accepted, not done
    // (ssl_stapling_file serves a response fetched elsewhere).
    {{"ssl_stapling", kHS, 1, 1, BlockKind::kNone, 0, true}, accept},
    {{"ssl_stapling_verify", kHS, 1, 1, BlockKind::kNone, 0, true}, accept},
    {{"ssl_stapling_responder", kHS, 1, 1, BlockKind::kNone, 0, true}, accept},
};

// ---- building the contexts ------------------------------------------------------------------

// The server's context from its settings, when it has certificates or rejects handshakes;
// errors in nginx's words at the directive's (or the server's) file:line.
void build_server_context(Level& lv, ServerConf& srv) {
  SslConf& c = static_cast<SslConf&>(*srv.own_loc->mods[size_t(ssl_module.index)]);
  if (c.s.certs.empty() && !c.s.reject_handshake) {
    if (c.enable)
      lv.host().error(c.enable_at.file, c.enable_at.line,
                      "no \"ssl_certificate\" is defined for the \"ssl\" directive");
    return;
  }
  if (c.keys.size() < c.s.certs.size()) {
    const tls::CertKey& ck = c.s.certs[c.keys.size()];
    lv.host().error(
        ck.at.file, ck.at.line,
        fmt::format("no \"ssl_certificate_key\" is defined for certificate \"{}\"", ck.cert));
    return;
  }
  for (size_t i = 0; i < c.s.certs.size(); ++i) c.s.certs[i].key = c.keys[i];
  // The http2 module's end_http (it runs first) put "h2" first for a server that speaks it.
  if (c.s.alpn.empty()) c.s.alpn = {"http/1.1"};
  std::vector<tls::BuildError> errs;
  if (auto ctx = tls::Context::build(c.s, &srv, &errs))
    c.ctx = std::make_shared<tls::ContextSlot>(std::move(ctx));
  for (const auto& e : errs) {
    if (e.at.file.empty())
      lv.host().error(srv.file, srv.line, e.message);
    else
      lv.host().error(e.at.file, e.at.line, e.message);
  }
}

const SslConf& ssl_conf(const ServerConf* s) {
  return s->loc->conf<SslConf>();
}

// nginx's ngx_http_ssl_init: a TLS address needs a default server with certificates; one that
// only rejects handshakes needs every server of the address to have either.
void check_address(Level& lv, const AddrConf& a) {
  const ServerConf* def = a.default_server;
  const SslConf& dc = ssl_conf(def);
  if (!dc.s.certs.empty()) return;
  const char* msg = "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive";
  if (!dc.s.reject_handshake) return lv.host().error(def->file, def->line, msg);
  for (const ServerConf* s : a.servers) {
    const SslConf& sc = ssl_conf(s);
    if (sc.s.certs.empty() && !sc.s.reject_handshake) return lv.host().error(s->file, s->line, msg);
  }
}

void end_http(Level& lv) {
  HttpConf& h = lv.http();
  for (auto& srv : h.servers) build_server_context(lv, *srv);
  for (auto& a : h.addrs) {
    const ServerConf* def = a->default_server;
    if (!def) continue;
    // The obsolete `ssl on` makes the default server's addresses TLS, as nginx 1.22 did.
    if (ssl_conf(def).enable) a->listen.ssl = true;
    if (!a->listen.ssl) continue;
    check_address(lv, *a);
    a->tls = ssl_conf(def).ctx;
  }
}

// ---- variables --------------------------------------------------------------------------------

SSL* ssl_of(Request& r) {
  tls::Session* t = r.conn ? r.conn->tls() : nullptr;
  return t && !t->plain_http() && t->handshake_done() ? t->native() : nullptr;
}

bool var_https(Request& r, const VarRef&, std::string& out) {
  if (ssl_of(r)) out += "on";
  return true;
}

bool var_protocol(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  out += SSL_get_version(s);
  return true;
}

bool var_cipher(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  out += SSL_get_cipher_name(s);
  return true;
}

bool var_server_name(Request& r, const VarRef&, std::string& out) {
  tls::Session* t = r.conn ? r.conn->tls() : nullptr;
  if (!ssl_of(r) || t->server_name().empty()) return false;
  out += t->server_name();
  return true;
}

bool var_session_reused(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  out += s && SSL_session_reused(s) ? "r" : ".";
  return true;
}

void hex(const unsigned char* p, size_t n, std::string& out, bool upper = false) {
  static const char* kLower = "0123456789abcdef";
  static const char* kUpper = "0123456789ABCDEF";
  const char* digits = upper ? kUpper : kLower;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
}

bool var_session_id(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  SSL_SESSION* sess = s ? SSL_get0_session(s) : nullptr;
  if (!sess) return false;
  unsigned int len = 0;
  const unsigned char* id = SSL_SESSION_get_id(sess, &len);
  hex(id, len, out);
  return true;
}

struct Cert {
  X509* x = nullptr;
  ~Cert() { X509_free(x); }
};

bool var_client_verify(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  Cert c{SSL_get1_peer_certificate(s)};
  const long rc = SSL_get_verify_result(s);
  if (rc != X509_V_OK) {
    out += "FAILED:";
    out += X509_verify_cert_error_string(rc);
  } else {
    out += c.x ? "SUCCESS" : "NONE";
  }
  return true;
}

bool name_text(X509_NAME* n, std::string& out) {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return false;
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_client_s_dn(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  return name_text(X509_get_subject_name(c.x), out);
}

bool var_client_i_dn(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  return name_text(X509_get_issuer_name(c.x), out);
}

bool var_client_serial(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  BIO* b = BIO_new(BIO_s_mem());
  i2a_ASN1_INTEGER(b, X509_get_serialNumber(c.x));
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_client_fingerprint(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(c.x, EVP_sha1(), md, &len) != 1) return false;
  hex(md, len, out);
  return true;
}

bool pem_of(Request& r, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return false;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c.x);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_ciphers(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  STACK_OF(SSL_CIPHER)* list = SSL_get_client_ciphers(s);
  for (int i = 0; list && i < sk_SSL_CIPHER_num(list); ++i) {
    if (i) out += ':';
    out += SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i));
  }
  return true;
}

void append_group(int nid, std::string& out) {
  const char* name = nid & TLSEXT_nid_unknown ? nullptr : OBJ_nid2sn(nid);
  if (name)
    out += name;
  else
    out += fmt::format("0x{:04x}", nid & 0xffff);
}

bool var_curves(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  const int n = SSL_get1_curves(s, nullptr);
  if (n <= 0) return true;
  int ids[128];
  if (n > 128) return false;
  SSL_get1_curves(s, ids);
  for (int i = 0; i < n; ++i) {
    if (i) out += ':';
    append_group(ids[i], out);
  }
  return true;
}

bool var_curve(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  const int nid = SSL_get_negotiated_group(s);
  if (nid) append_group(nid, out);
  return true;
}

bool legacy_name(X509_NAME* n, std::string& out) {
  char* p = X509_NAME_oneline(n, nullptr, 0);
  if (!p) return false;
  out += p;
  OPENSSL_free(p);
  return true;
}

bool var_client_s_dn_legacy(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || legacy_name(X509_get_subject_name(c.x), out);
}

bool var_client_i_dn_legacy(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || legacy_name(X509_get_issuer_name(c.x), out);
}

bool time_text(const ASN1_TIME* t, std::string& out) {
  BIO* b = BIO_new(BIO_s_mem());
  ASN1_TIME_print(b, t);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  out.append(p, size_t(len));
  BIO_free(b);
  return true;
}

bool var_client_v_start(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || time_text(X509_get0_notBefore(c.x), out);
}

bool var_client_v_end(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  return !c.x || time_text(X509_get0_notAfter(c.x), out);
}

// Days until the client certificate expires (0 once it has).
bool var_client_v_remain(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  Cert c{s ? SSL_get1_peer_certificate(s) : nullptr};
  if (!c.x) return true;
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(c.x)) != 1) return false;
  if (days < 0 || (days == 0 && secs < 0)) days = 0;
  out += std::to_string(days);
  return true;
}

bool var_early_data(Request& r, const VarRef&, std::string&) {
  (void)r;  // 0-RTT data is not accepted yet: never "1"
  return true;
}

bool var_alpn_protocol(Request& r, const VarRef&, std::string& out) {
  SSL* s = ssl_of(r);
  if (!s) return false;
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(s, &p, &len);
  out.append(reinterpret_cast<const char*>(p), len);
  return true;
}

bool var_client_raw_cert(Request& r, const VarRef&, std::string& out) {
  if (!pem_of(r, out)) out.clear();
  return true;
}

// The deprecated form: every line after the first starts with a tab (a header continuation).
bool var_client_cert(Request& r, const VarRef&, std::string& out) {
  std::string pem;
  if (!pem_of(r, pem)) return true;
  while (!pem.empty() && pem.back() == '\n') pem.pop_back();
  for (char ch : pem) {
    out += ch;
    if (ch == '\n') out += '\t';
  }
  return true;
}

// The PEM, URL-encoded (nginx's $ssl_client_escaped_cert).
bool var_client_escaped_cert(Request& r, const VarRef&, std::string& out) {
  std::string pem;
  if (!pem_of(r, pem)) return true;
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char ch : pem) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += char(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return true;
}

const VariableDef kVariables[] = {
    {"ssl_ciphers", var_ciphers},
    {"ssl_curves", var_curves},
    {"ssl_curve", var_curve},
    {"ssl_client_s_dn_legacy", var_client_s_dn_legacy},
    {"ssl_client_i_dn_legacy", var_client_i_dn_legacy},
    {"ssl_client_v_start", var_client_v_start},
    {"ssl_client_v_end", var_client_v_end},
    {"ssl_client_v_remain", var_client_v_remain},
    {"ssl_client_escaped_cert", var_client_escaped_cert},
    {"ssl_early_data", var_early_data},
    {"ssl_alpn_protocol", var_alpn_protocol},
    {"https", var_https},
    {"ssl_protocol", var_protocol},
    {"ssl_cipher", var_cipher},
    {"ssl_server_name", var_server_name},
    {"ssl_session_reused", var_session_reused},
    {"ssl_session_id", var_session_id},
    {"ssl_client_verify", var_client_verify},
    {"ssl_client_s_dn", var_client_s_dn},
    {"ssl_client_i_dn", var_client_i_dn},
    {"ssl_client_serial", var_client_serial},
    {"ssl_client_fingerprint", var_client_fingerprint},
    {"ssl_client_cert", var_client_cert},
    {"ssl_client_raw_cert", var_client_raw_cert},
};

}  // namespace

Module ssl_module = {.name = "ssl",
                     .commands = kCommands,
                     .variables = kVariables,
                     .create_conf = create_conf<SslConf>,
                     .end_http = end_http};

Module& SslConf::module() {
  return ssl_module;
}

int ssl_check_request(Request& r) {
  tls::Session* t = r.conn ? r.conn->tls() : nullptr;
  if (!t) return 0;
  if (t->plain_http()) {
    PORTICO_LOG(LogLevel::kInfo, r.conn->id(), "client sent plain HTTP request to HTTPS port");
    return 497;
  }
  const tls::Settings& s = r.server->loc->conf<SslConf>().s;
  if (s.verify == tls::Settings::Verify::kOff) return 0;
  // nginx's ngx_http_set_virtual_server: a client certificate was checked for the server named
  // in SNI; a request for another name that wants client certificates is misdirected.
  if (!t->server_name().empty() && !r.host.empty() && r.host != t->server_name()) {
    PORTICO_LOG(LogLevel::kInfo, r.conn->id(),
                "client attempted to request the server name different from the one that was "
                "negotiated");
    return 421;
  }
  SSL* ssl = t->native();
  const long rc = SSL_get_verify_result(ssl);
  const bool optional_error =
      rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
      rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || rc == X509_V_ERR_CERT_UNTRUSTED ||
      rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
  if (rc != X509_V_OK && (s.verify != tls::Settings::Verify::kOptionalNoCa || !optional_error)) {
    PORTICO_LOG(LogLevel::kInfo, r.conn->id(), "client SSL certificate verify error: ({}:{})", rc,
                X509_verify_cert_error_string(rc));
    return 495;
  }
  if (s.verify == tls::Settings::Verify::kOn) {
    X509* c = SSL_get1_peer_certificate(ssl);
    if (!c) {
      PORTICO_LOG(LogLevel::kInfo, r.conn->id(), "client sent no required SSL certificate");
      return 496;
    }
    X509_free(c);
  }
  return 0;
}

std::vector<SslSlot> ssl_slots(const HttpConf& h) {
  std::vector<SslSlot> out;
  for (const auto& srv : h.servers)
    if (const auto& slot = ssl_conf(srv.get()).ctx) out.push_back({srv.get(), slot});
  return out;
}

}  // namespace portico::http
