// The ssl module's directives, context building and variables (see ssl_module.h).
#include "http/ssl_module.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "core/log.h"
#include "http/connection.h"
#include "http/level.h"
#include "http/request.h"
#include "tls/directives.h"
#include "tls/session.h"
#include "tls/variables.h"

namespace portico::http {

using config::Directive;
using namespace config;  // context constants

namespace {

constexpr uint32_t kHS = kHttp | kServer;

tls::Origin at(const Directive& d) {
  return {d.file, d.line};
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

// Every ssl_* directive but `ssl`: parsed by the code stream{} and the proxy share (src/tls/).
void set_ssl(Level& lv, const Directive& d) {
  std::string e;
  if (!tls::apply_directive(d, d.name, lv.first(d), lv.prefix(), &lv.conf<SslConf>(), &e))
    lv.error(d, e);
}

void accept(Level&, const Directive&) {}

const Command kCommands[] = {
    {{"ssl", kHS, 1, 1, BlockKind::kNone, 0, true}, set_enable},
    {{"ssl_certificate", kHS, 1, 1}, set_ssl},
    {{"ssl_certificate_key", kHS, 1, 1}, set_ssl},
    {{"ssl_password_file", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_protocols", kHS, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_ciphers", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_ecdh_curve", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_prefer_server_ciphers", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_conf_command", kHS, 2, 2}, set_ssl},
    {{"ssl_dhparam", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_cache", kHS, 1, 2, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_timeout", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_tickets", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_ticket_key", kHS, 1, 1}, set_ssl},
    {{"ssl_buffer_size", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_verify_client", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_verify_depth", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_client_certificate", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_trusted_certificate", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_crl", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_reject_handshake", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_early_data", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_stapling_file", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
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
  // The http2 module's end_http (it runs first) put "h2" first for a server that speaks it.
  if (c.s.alpn.empty()) c.s.alpn = {"http/1.1"};
  tls::Settings s;
  tls::BuildError pe;
  if (!tls::pair_keys(c, "ssl_certificate_key", &s, &pe))
    return lv.host().error(pe.at.file, pe.at.line, pe.message);
  std::vector<tls::BuildError> errs;
  if (auto ctx = tls::Context::build(s, &srv, &errs))
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

const tls::Session* tls_of(Request& r) {
  return r.conn ? r.conn->tls() : nullptr;
}

bool var_https(Request& r, const VarRef&, std::string& out) {
  const tls::Session* t = tls_of(r);
  if (t && !t->plain_http() && t->handshake_done()) out += "on";
  return true;
}

// $ssl_*: the getters stream shares (src/tls/variables.cpp), one row each.
template <size_t I>
bool var_tls(Request& r, const VarRef&, std::string& out) {
  return tls::get_variable(I, tls_of(r), out);
}

template <size_t... I>
constexpr std::array<VariableDef, sizeof...(I) + 1> make_variables(std::index_sequence<I...>) {
  return {VariableDef{tls::kVariableNames[I], var_tls<I>}..., VariableDef{"https", var_https}};
}

constexpr auto kVariables = make_variables(std::make_index_sequence<tls::kVariableCount>());

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
  return tls::check_client_certificate(*t, s, r.conn->id());
}

std::vector<SslSlot> ssl_slots(const HttpConf& h) {
  std::vector<SslSlot> out;
  for (const auto& srv : h.servers)
    if (const auto& slot = ssl_conf(srv.get()).ctx) out.push_back({srv.get(), slot});
  return out;
}

}  // namespace portico::http
