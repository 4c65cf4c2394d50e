// The http2 module's directives (nginx's ngx_http_v2_module, as of 1.22 plus 1.25's
// `http2 on|off`), one row each; the obsolete ones are accepted with nginx's warnings, server
// push is accepted and off. $http2. And end_http: which addresses speak h2c and which servers
// offer "h2" in ALPN. Control thread, while a snapshot is built.
#include <fmt/format.h>

#include "http/http_config.h"
#include "http/level.h"
#include "http/request.h"
#include "http/ssl_module.h"
#include "http2/http2_module.h"

namespace portico::http2 {

using config::BlockKind;
using config::Directive;
using http::Command;
using http::kHSL;
using http::Level;
using namespace config;  // context constants

namespace {

constexpr uint32_t kHS = kHttp | kServer;

void set_enable(Level& lv, const Directive& d) {
  lv.flag(d, &lv.conf<Http2Conf>().enable);
}

void set_streams(Level& lv, const Directive& d) {
  uint64_t v;
  if (!lv.number(d, d.args[0], &v)) return;
  if (v == 0 || v > 0x7fffffff) return lv.error(d, fmt::format("invalid value \"{}\"", d.args[0]));
  lv.conf<Http2Conf>().max_concurrent_streams = uint32_t(v);
}

template <uint64_t Http2Conf::*F, uint64_t Min, uint64_t Max>
void set_bounded_size(Level& lv, const Directive& d) {
  uint64_t v;
  if (!lv.size(d, d.args[0], &v)) return;
  if (v < Min) return lv.error(d, fmt::format("the {} value is too small", d.name));
  if (v > Max) return lv.error(d, fmt::format("the {} value is too large", d.name));
  lv.conf<Http2Conf>().*F = v;
}

// nginx 1.19.7 made these obsolete: accepted, warned, ignored.
template <const char* Instead>
void set_obsolete(Level& lv, const Directive& d) {
  lv.warn(fmt::format("the \"{}\" directive is obsolete, use the \"{}\" directive instead in {}:{}",
                      d.name, Instead, d.file, d.line));
}

// Server push: accepted (nginx 1.25.1 ignores it too); portico never pushes.
void set_push(Level&, const Directive&) {}
void set_push_preload(Level& lv, const Directive& d) {
  bool ignored;
  lv.flag(d, &ignored);
}
void set_ignored_size(Level& lv, const Directive& d) {
  uint64_t v;
  lv.size(d, d.args[0], &v);
}

constexpr char kKeepaliveTimeout[] = "keepalive_timeout";
constexpr char kClientHeaderTimeout[] = "client_header_timeout";
constexpr char kLargeBuffers[] = "large_client_header_buffers";
constexpr char kKeepaliveRequests[] = "keepalive_requests";

const Command kCommands[] = {
    {{"http2", kHS, 1, 1, BlockKind::kNone, 0, true}, set_enable},
    {{"http2_max_concurrent_streams", kHS, 1, 1, BlockKind::kNone, 0, true}, set_streams},
    {{"http2_recv_buffer_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
     set_bounded_size<&Http2Conf::recv_buffer_size, 16384 + 9 + 1, UINT32_MAX>},
    {{"http2_chunk_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
     set_bounded_size<&Http2Conf::chunk_size, 1, (1u << 24) - 1>},  // nginx's bound
    {{"http2_body_preread_size", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_bounded_size<&Http2Conf::body_preread_size, 0, 0x7fffffff>},
    {{"http2_streams_index_size", kHS, 1, 1, BlockKind::kNone, 0, true}, set_ignored_size},
    {{"http2_idle_timeout", kHS, 1, 1, BlockKind::kNone, 0, true}, set_obsolete<kKeepaliveTimeout>},
    {{"http2_recv_timeout", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_obsolete<kClientHeaderTimeout>},
    {{"http2_max_field_size", kHS, 1, 1, BlockKind::kNone, 0, true}, set_obsolete<kLargeBuffers>},
    {{"http2_max_header_size", kHS, 1, 1, BlockKind::kNone, 0, true}, set_obsolete<kLargeBuffers>},
    {{"http2_max_requests", kHS, 1, 1, BlockKind::kNone, 0, true},
     set_obsolete<kKeepaliveRequests>},
    {{"http2_push", kHSL, 1, 1, BlockKind::kNone, 0, false}, set_push},
    {{"http2_push_preload", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_push_preload},
};

// $http2: "h2" over TLS, "h2c" in clear text, "" for HTTP/1.x.
bool var_http2(http::Request& r, const http::VarRef&, std::string& out) {
  if (r.conn) out += r.conn->http2_protocol();
  return true;
}

const http::VariableDef kVariables[] = {
    {"http2", var_http2},
};

// Which addresses speak HTTP/2 in clear text (prior knowledge) and which servers offer "h2" in
// ALPN: `listen ... http2` on the address, or `http2 on` in the server (nginx 1.25.1 reads the
// SNI server's flag or the address's; a context is per server here, so a server offers h2 when
// it enables it or any of its addresses does).
void end_http(Level& lv) {
  http::HttpConf& h = lv.http();
  for (auto& srv : h.servers) {
    bool h2 = srv->loc->conf<Http2Conf>().enable;
    for (const auto& a : h.addrs) {
      if (h2) break;
      for (const http::ServerConf* s : a->servers) h2 = h2 || (s == srv.get() && a->listen.http2);
    }
    if (!h2) continue;
    auto& ssl = static_cast<http::SslConf&>(*srv->own_loc->mods[size_t(http::ssl_module.index)]);
    ssl.s.alpn = {"h2", "http/1.1"};
  }
  for (auto& a : h.addrs)
    if (a->default_server && a->default_server->loc->conf<Http2Conf>().enable)
      a->listen.http2 = true;
}

}  // namespace

http::Module http2_module = {.name = "http2",
                             .commands = kCommands,
                             .variables = kVariables,
                             .create_conf = http::create_conf<Http2Conf>,
                             .end_http = end_http};

}  // namespace portico::http2
