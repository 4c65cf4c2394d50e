#include "stream/directives.h"

#include <fmt/format.h>

#include <algorithm>

#include "config/listen.h"
#include "config/path.h"
#include "config/values.h"
#include "core/strings.h"
#include "dns/resolver_conf.h"
#include "tls/directives.h"
#include "tls/variables.h"
#include "upstream/directives.h"

namespace portico::stream {

using config::BlockKind;
using config::ConfigError;
using config::Directive;
using namespace config;  // context constants

namespace {

void err(std::vector<ConfigError>& errors, const Directive& d, std::string msg) {
  errors.push_back({std::move(msg), d.file, d.line});
}

bool compile_format(const std::string& text, LogFormat* out, std::string* error) {
  using V = LogFormat::Var;
  static const std::pair<std::string_view, V> kVars[] = {
      {"remote_addr", V::kRemoteAddr},
      {"binary_remote_addr", V::kBinaryRemoteAddr},
      {"remote_port", V::kRemotePort},
      {"server_addr", V::kServerAddr},
      {"server_port", V::kServerPort},
      {"upstream_addr", V::kUpstreamAddr},
      {"bytes_sent", V::kBytesSent},
      {"bytes_received", V::kBytesReceived},
      {"upstream_bytes_sent", V::kUpstreamBytesSent},
      {"upstream_bytes_received", V::kUpstreamBytesReceived},
      {"session_time", V::kSessionTime},
      {"status", V::kStatus},
      {"time_local", V::kTimeLocal},
      {"time_iso8601", V::kTimeIso8601},
      {"msec", V::kMsec},
      {"connection", V::kConnection},
      {"protocol", V::kProtocol},
      {"upstream_connect_time", V::kUpstreamConnectTime},
      {"pid", V::kPid},
      {"hostname", V::kHostname},
      {"nginx_version", V::kNginxVersion},
      {"proxy_protocol_addr", V::kProxyProtocolAddr},
      {"proxy_protocol_port", V::kProxyProtocolPort},
      {"proxy_protocol_server_addr", V::kProxyProtocolServerAddr},
      {"proxy_protocol_server_port", V::kProxyProtocolServerPort},
      {"realip_remote_addr", V::kRealipRemoteAddr},
      {"realip_remote_port", V::kRealipRemotePort}};
  constexpr std::string_view kTlvPrefix = "proxy_protocol_tlv_";
  std::string lit;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 == text.size()) {
      lit += text[i++];
      continue;
    }
    ++i;
    bool braces = text[i] == '{';
    if (braces) ++i;
    size_t start = i;
    while (i < text.size() && (isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
    std::string_view name(text.data() + start, i - start);
    if (braces) {
      if (i >= text.size() || text[i] != '}') {
        *error = fmt::format("the closing bracket in \"{}\" variable is missing", name);
        return false;
      }
      ++i;
    }
    bool found = false;
    if (name.size() > kTlvPrefix.size() && name.substr(0, kTlvPrefix.size()) == kTlvPrefix) {
      if (!lit.empty()) out->parts.push_back({V::kLiteral, std::move(lit)});
      lit.clear();
      out->parts.push_back({V::kProxyProtocolTlv, std::string(name.substr(kTlvPrefix.size()))});
      continue;
    }
    if (const int ssl = tls::find_variable(name); ssl >= 0) {
      if (!lit.empty()) out->parts.push_back({V::kLiteral, std::move(lit)});
      lit.clear();
      out->parts.push_back({V::kSsl, {}, uint16_t(ssl)});
      continue;
    }
    for (const auto& [n, v] : kVars) {
      if (n != name) continue;
      if (!lit.empty()) out->parts.push_back({V::kLiteral, std::move(lit)});
      lit.clear();
      out->parts.push_back({v, {}});
      found = true;
      break;
    }
    if (!found) {
      *error = fmt::format("unknown \"{}\" variable", name);
      return false;
    }
  }
  if (!lit.empty()) out->parts.push_back({V::kLiteral, std::move(lit)});
  return true;
}

struct Inherited {
  uint64_t buffer_size = 16 * 1024;
  bool tcp_nodelay = true;
  uint64_t connect_timeout_ms = 60'000;
  uint64_t timeout_ms = 600'000;
  bool half_close = false;
  bool next_upstream = true;
  uint32_t tries = 0;
  uint64_t next_upstream_timeout_ms = 0;
  bool proxy_protocol = false;
  uint64_t proxy_protocol_timeout_ms = 30'000;
  std::vector<AccessRule> realip_from;
  std::vector<ConnLimit> conn_limits;
  bool conn_limits_given = false;
  LogLevel conn_log = LogLevel::kError;
  bool conn_dry_run = false;
  std::vector<AccessRule> access;
  std::vector<AccessLog> logs;
  bool logs_given = false;
  tls::Written ssl;  // ssl_*: the server side (listen ... ssl)
  uint64_t ssl_handshake_timeout_ms = 60'000;
  tls::Written proxy_ssl{.s = {.protocols = tls::kTLSv1_2 | tls::kTLSv1_3, .ciphers = "DEFAULT"}};
  bool proxy_ssl_on = false;
  bool proxy_ssl_server_name = false;
  bool proxy_ssl_verify = false;
  bool proxy_ssl_session_reuse = true;
  std::string proxy_ssl_name;  // empty: proxy_pass's host
  tls::Origin ssl_listen_at;   // the server's first `listen ... ssl` (none: file empty)
  tls::Origin proxy_ssl_name_at;
};

class Builder;

// What a directive's setter writes to: the settings inherited at this level, and the server
// being built (null at stream level).
struct Level {
  Builder& b;
  Inherited& in;
  Server* srv;
  bool top;                              // stream level
  std::vector<std::string_view> seen{};  // directives met at this level (first())

  // Whether `d` is the first of its name at this level (a list directive given here replaces
  // the inherited list).
  bool first(const Directive& d) {
    if (std::find(seen.begin(), seen.end(), d.name) != seen.end()) return false;
    seen.push_back(d.name);
    return true;
  }
};

// One row per directive: where it may stand, its arguments, and what sets it. A null setter:
// the directive is read elsewhere (blocks; upstream{} and its contents by
// upstream::build_upstreams; log_format in the first pass, before any access_log uses it).
struct Command {
  DirectiveSpec spec;
  void (*set)(Level&, const Directive&) = nullptr;
};

void set_connect_timeout(Level& lv, const Directive& d);
void set_timeout(Level& lv, const Directive& d);
void set_half_close(Level& lv, const Directive& d);
void set_next_upstream(Level& lv, const Directive& d);
void set_tries(Level& lv, const Directive& d);
void set_next_upstream_timeout(Level& lv, const Directive& d);
void set_access_rule(Level& lv, const Directive& d);
void set_proxy_protocol(Level& lv, const Directive& d);
void set_proxy_protocol_timeout(Level& lv, const Directive& d);
void set_real_ip_from(Level& lv, const Directive& d);
void set_limit_conn(Level& lv, const Directive& d);
void set_limit_conn_log_level(Level& lv, const Directive& d);
void set_limit_conn_dry_run(Level& lv, const Directive& d);
void set_access_log(Level& lv, const Directive& d);
void set_listen(Level& lv, const Directive& d);
void set_proxy_pass(Level& lv, const Directive& d);
void set_resolver(Level& lv, const Directive& d);
void set_buffer_size(Level& lv, const Directive& d);
void set_tcp_nodelay(Level& lv, const Directive& d);
void set_resolver_timeout(Level& lv, const Directive& d);
void set_ssl(Level& lv, const Directive& d);
void set_proxy_ssl(Level& lv, const Directive& d);
void set_handshake_timeout(Level& lv, const Directive& d);
void set_proxy_ssl_name(Level& lv, const Directive& d);
void set_return(Level& lv, const Directive& d);
template <bool Inherited::*F>
void set_flag(Level& lv, const Directive& d);

constexpr uint32_t kSS = kStream | kStreamServer;
const Command kCommands[] = {
    {{"stream", kMain, 0, 0, BlockKind::kBlock, kStream, true}},
    {{"upstream", kStream, 1, 1, BlockKind::kBlock, kStreamUpstream, false}},
    {{"server", kStreamUpstream, 1, kAnyArgs, BlockKind::kNone, 0, false}},
    {{"least_conn", kStreamUpstream, 0, 0, BlockKind::kNone, 0, true}},
    {{"hash", kStreamUpstream, 1, 2, BlockKind::kNone, 0, true}},
    {{"random", kStreamUpstream, 0, 2, BlockKind::kNone, 0, true}},
    {{"zone", kStreamUpstream, 1, 2, BlockKind::kNone, 0, true}},
    {{"resolver", kStreamUpstream, 1, kAnyArgs, BlockKind::kNone, 0, true}},
    {{"resolver_timeout", kStreamUpstream, 1, 1, BlockKind::kNone, 0, true}},
    // The stream level's resolver is the default of its upstreams' `server NAME resolve`
    // (upstream::build_upstreams reads it); checked here.
    {{"resolver", kSS, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_resolver},
    {{"resolver_timeout", kSS, 1, 1, BlockKind::kNone, 0, true}, set_resolver_timeout},
    {{"server", kStream, 0, 0, BlockKind::kBlock, kStreamServer, false}},
    {{"log_format", kStream, 2, kAnyArgs, BlockKind::kNone, 0, false}},
    {{"listen", kStreamServer, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_listen},
    {{"proxy_pass", kStreamServer, 1, 1, BlockKind::kNone, 0, true}, set_proxy_pass},
    {{"proxy_connect_timeout", kSS, 1, 1, BlockKind::kNone, 0, true}, set_connect_timeout},
    {{"proxy_timeout", kSS, 1, 1, BlockKind::kNone, 0, true}, set_timeout},
    {{"proxy_half_close", kSS, 1, 1, BlockKind::kNone, 0, true}, set_half_close},
    {{"proxy_buffer_size", kSS, 1, 1, BlockKind::kNone, 0, true}, set_buffer_size},
    {{"tcp_nodelay", kSS, 1, 1, BlockKind::kNone, 0, true}, set_tcp_nodelay},
    {{"proxy_next_upstream", kSS, 1, 1, BlockKind::kNone, 0, true}, set_next_upstream},
    {{"proxy_next_upstream_tries", kSS, 1, 1, BlockKind::kNone, 0, true}, set_tries},
    {{"proxy_next_upstream_timeout", kSS, 1, 1, BlockKind::kNone, 0, true},
     set_next_upstream_timeout},
    {{"proxy_protocol", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_protocol},
    {{"proxy_protocol_timeout", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_protocol_timeout},
    {{"set_real_ip_from", kSS, 1, 1, BlockKind::kNone, 0, false}, set_real_ip_from},
    {{"limit_conn_zone", kStream, 2, 2, BlockKind::kNone, 0, false}},
    {{"limit_conn", kSS, 2, 2, BlockKind::kNone, 0, false}, set_limit_conn},
    {{"limit_conn_log_level", kSS, 1, 1, BlockKind::kNone, 0, true}, set_limit_conn_log_level},
    {{"limit_conn_dry_run", kSS, 1, 1, BlockKind::kNone, 0, true}, set_limit_conn_dry_run},
    {{"allow", kSS, 1, 1, BlockKind::kNone, 0, false}, set_access_rule},
    {{"deny", kSS, 1, 1, BlockKind::kNone, 0, false}, set_access_rule},
    {{"access_log", kSS, 1, kAnyArgs, BlockKind::kNone, 0, false}, set_access_log},
    {{"error_log", kSS, 1, kAnyArgs, BlockKind::kNone, 0, false}},
    {{"return", kStreamServer, 1, 1, BlockKind::kNone, 0, true}, set_return},
    // nginx's stream ssl module; the arguments are read by src/tls/directives.cpp, as http's.
    {{"ssl_certificate", kSS, 1, 1, BlockKind::kNone, 0, false}, set_ssl},
    {{"ssl_certificate_key", kSS, 1, 1, BlockKind::kNone, 0, false}, set_ssl},
    {{"ssl_password_file", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_protocols", kSS, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_ciphers", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_ecdh_curve", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_prefer_server_ciphers", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_conf_command", kSS, 2, 2, BlockKind::kNone, 0, false}, set_ssl},
    {{"ssl_dhparam", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_cache", kSS, 1, 2, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_timeout", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_tickets", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_session_ticket_key", kSS, 1, 1, BlockKind::kNone, 0, false}, set_ssl},
    {{"ssl_verify_client", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_verify_depth", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_client_certificate", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_trusted_certificate", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_crl", kSS, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_alpn", kSS, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_ssl},
    {{"ssl_handshake_timeout", kSS, 1, 1, BlockKind::kNone, 0, true}, set_handshake_timeout},
    // nginx's stream proxy module, TLS to the upstream.
    {{"proxy_ssl", kSS, 1, 1, BlockKind::kNone, 0, true}, set_flag<&Inherited::proxy_ssl_on>},
    {{"proxy_ssl_protocols", kSS, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_ciphers", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_server_name", kSS, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&Inherited::proxy_ssl_server_name>},
    {{"proxy_ssl_name", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl_name},
    {{"proxy_ssl_verify", kSS, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&Inherited::proxy_ssl_verify>},
    {{"proxy_ssl_verify_depth", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_trusted_certificate", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_crl", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_certificate", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_certificate_key", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_password_file", kSS, 1, 1, BlockKind::kNone, 0, true}, set_proxy_ssl},
    {{"proxy_ssl_session_reuse", kSS, 1, 1, BlockKind::kNone, 0, true},
     set_flag<&Inherited::proxy_ssl_session_reuse>},
    {{"proxy_ssl_conf_command", kSS, 2, 2, BlockKind::kNone, 0, false}, set_proxy_ssl},
};

const Command* find_command(std::string_view name, uint32_t context) {
  for (const Command& c : kCommands)
    if (c.spec.name == name && (c.spec.contexts & context)) return &c;
  return nullptr;
}

class Builder {
 public:
  Builder(StreamConf& sc, const std::string& prefix, int workers, const StreamConf* previous,
          LogFiles& log_files, std::vector<ConfigError>& errors)
      : prefix_(prefix),
        log_files_(log_files),
        sc_(sc),
        workers_(workers),
        errors_(errors),
        previous_(previous ? &previous->upstreams : nullptr),
        previous_conf_(previous) {}

  void build(const Directive& block) {
    upstream::build_upstreams(block.block, previous_, sc_.upstreams, errors_);
    for (const auto& d : block.block)
      if (d.name == "log_format") build_format(d);
    for (const auto& d : block.block)
      if (d.name == "limit_conn_zone") build_conn_zone(d);
    Inherited top;
    Level lv{*this, top, nullptr, true};
    for (const auto& d : block.block) apply(lv, d, kStream);
    for (const auto& d : block.block)
      if (d.name == "server") build_server(d, top);
  }

  void error(const Directive& d, std::string msg) { err(errors_, d, std::move(msg)); }
  const std::string& prefix() const { return prefix_; }

  bool time_ms(const Directive& d, uint64_t* out) {
    auto v = parse_time_ms(d.args[0]);
    if (!v) {
      error(d, fmt::format("\"{}\" directive invalid value", d.name));
      return false;
    }
    *out = *v;
    return true;
  }

  bool flag(const Directive& d, bool* out) {
    std::string e;
    if (config::parse_flag(d, out, &e)) return true;
    error(d, std::move(e));
    return false;
  }

  const LogFormat* find_format(const std::string& name) {
    for (const auto& f : sc_.log_formats)
      if (f->name == name) return f.get();
    return nullptr;
  }

  std::shared_ptr<LogFile> log_file(const Directive& d, const std::string& path) {
    std::string e;
    auto file = log_files_.get(config::resolve_path(prefix_, path), 0, workers_, &e);
    if (!file) error(d, e);
    return file;
  }

  // proxy_pass: an upstream{} by name, or an address that becomes an implicit group (kept
  // across reloads under "\x01ADDRESS", so its peers keep their state).
  void proxy_pass(Server& srv, const Directive& x) {
    const std::string& target = x.args[0];
    srv.target = target;
    auto it = sc_.upstreams.find(target);
    if (it != sc_.upstreams.end()) {
      srv.upstream = it->second;
      return;
    }
    std::vector<upstream::PeerConfig> peers;
    std::string e;
    if (!upstream::resolve_peers(target, 0, false, &peers, &e) ||
        (!istarts_with(target, "unix:") && target.find(':') == std::string::npos)) {
      error(x, e.empty() ? fmt::format("no port in upstream \"{}\"", target) : e);
      return;
    }
    upstream::GroupConfig gc;
    gc.name = target;
    gc.peers = std::move(peers);
    auto uc = std::make_shared<upstream::UpstreamConf>();
    uc->implicit = true;
    const upstream::Group* prev = nullptr;
    if (previous_) {
      auto p = previous_->find("\x01" + target);
      if (p != previous_->end()) prev = p->second->group.get();
    }
    Status st = upstream::Group::create(std::move(gc), prev, &uc->group);
    if (!st) {
      error(x, st.message());
      return;
    }
    sc_.upstreams["\x01" + target] = uc;
    srv.upstream = std::move(uc);
  }

  const ConnZone* find_conn_zone(std::string_view name) const {
    auto it = sc_.conn_zones.find(name);
    return it == sc_.conn_zones.end() ? nullptr : it->second.get();
  }

 private:
  // limit_conn_zone KEY zone=NAME:SIZE (nginx's words for its errors); the table of the running
  // configuration's zone of that name is kept when key and size are unchanged.
  void build_conn_zone(const Directive& d) {
    auto z = std::make_shared<ConnZone>();
    std::string_view arg = d.args[1];
    if (arg.substr(0, 5) != "zone=") {
      error(d, fmt::format("invalid parameter \"{}\"", arg));
      return;
    }
    std::string_view v = arg.substr(5);
    const size_t colon = v.rfind(':');
    auto size = colon == std::string_view::npos || colon == 0 ? std::nullopt
                                                              : parse_size(v.substr(colon + 1));
    if (!size) {
      error(d, fmt::format("invalid zone size \"{}\"", arg));
      return;
    }
    if (*size < 32768) {
      error(d, fmt::format("zone \"{}\" is too small", arg));
      return;
    }
    z->name.assign(v.substr(0, colon));
    z->size = *size;
    z->key_text = d.args[0];
    std::string e;
    if (!compile_format(z->key_text, &z->key, &e)) {
      error(d, e);
      return;
    }
    if (sc_.conn_zones.count(z->name)) {
      error(d, fmt::format("limit_conn_zone \"{}\" is already bound to key \"{}\"", z->name,
                           sc_.conn_zones[z->name]->key_text));
      return;
    }
    if (previous_conf_) {
      auto it = previous_conf_->conn_zones.find(z->name);
      if (it != previous_conf_->conn_zones.end() && it->second->size == z->size &&
          it->second->key_text == z->key_text)
        z->table = it->second->table;
    }
    if (!z->table) z->table = std::make_shared<LimitConnTable>(size_t(z->size / 64));
    sc_.conn_zones.emplace(z->name, std::move(z));
  }

  void build_format(const Directive& d) {
    auto f = std::make_unique<LogFormat>();
    f->name = d.args[0];
    std::string text;
    for (size_t i = 1; i < d.args.size(); ++i) text += d.args[i];
    std::string e;
    if (!compile_format(text, f.get(), &e)) {
      error(d, e);
      return;
    }
    sc_.log_formats.push_back(std::move(f));
  }

  static void apply(Level& lv, const Directive& d, uint32_t context) {
    if (const Command* c = find_command(d.name, context); c && c->set) c->set(lv, d);
  }

  void build_server(const Directive& d, const Inherited& parent) {
    auto srv = std::make_unique<Server>();
    srv->file = d.file;
    srv->line = d.line;
    Inherited in = parent;
    in.access.clear();  // array directives replace the inherited ones when given
    in.realip_from.clear();
    in.conn_limits_given = false;
    in.logs_given = false;
    Level lv{*this, in, srv.get(), false};
    for (const auto& x : d.block) apply(lv, x, kStreamServer);
    if (!access_given(d)) in.access = parent.access;
    if (!given(d, "set_real_ip_from")) in.realip_from = parent.realip_from;
    if (srv->listens.empty()) error(d, "no \"listen\" is defined for server");
    if (!srv->upstream && !srv->return_value) error(d, "no \"proxy_pass\" is defined for server");
    build_ssl(*srv, in);
    build_proxy_ssl(*srv, in);
    if (srv->upstream) compile_hash_key(*srv);
    srv->connect_timeout_ms = in.connect_timeout_ms;
    srv->timeout_ms = in.timeout_ms;
    srv->half_close = in.half_close;
    srv->buffer_size = size_t(in.buffer_size);
    srv->tcp_nodelay = in.tcp_nodelay;
    srv->next_upstream = in.next_upstream;
    srv->next_upstream_tries = in.tries;
    srv->next_upstream_timeout_ms = in.next_upstream_timeout_ms;
    srv->proxy_protocol = in.proxy_protocol;
    srv->proxy_protocol_timeout_ms = in.proxy_protocol_timeout_ms;
    srv->realip_from = std::move(in.realip_from);
    srv->conn_limits = in.conn_limits;
    srv->conn_log = in.conn_log;
    srv->conn_dry_run = in.conn_dry_run;
    srv->access = std::move(in.access);
    srv->access_logs = in.logs;
    sc_.servers.push_back(std::move(srv));
  }

  // The server's TLS context when one of its addresses is `listen ... ssl` (nginx's
  // ngx_stream_ssl_merge_conf: certificates are then required).
  void build_ssl(Server& srv, const Inherited& in) {
    srv.ssl_handshake_timeout_ms = in.ssl_handshake_timeout_ms;
    if (in.ssl_listen_at.file.empty()) return;  // no `listen ... ssl`
    // nginx 1.22's ngx_stream_ssl_merge_conf: the messages name the listen directive.
    const tls::Origin& at = in.ssl_listen_at;
    if (in.ssl.s.certs.empty() || in.ssl.keys.empty()) {
      const char* what = in.ssl.s.certs.empty() ? "ssl_certificate" : "ssl_certificate_key";
      return errors_.push_back(
          {fmt::format("no \"{}\" is defined for the \"listen ... ssl\" directive", what), at.file,
           at.line});
    }
    tls::Settings s;
    tls::BuildError e;
    if (!tls::pair_keys(in.ssl, "ssl_certificate_key", &s, &e))
      return errors_.push_back(
          {e.message + " and the \"listen ... ssl\" directive", at.file, at.line});
    std::vector<tls::BuildError> errs;
    if (auto ctx = tls::Context::build(s, &srv, &errs))
      srv.ssl_ctx = std::make_shared<tls::ContextSlot>(std::move(ctx));
    for (auto& x : errs)
      errors_.push_back({std::move(x.message), x.at.file.empty() ? srv.file : x.at.file,
                         x.at.file.empty() ? srv.line : x.at.line});
  }

  // proxy_ssl on: the client context and the name for SNI and verification.
  void build_proxy_ssl(Server& srv, const Inherited& in) {
    if (!in.proxy_ssl_on || !srv.upstream) return;
    srv.proxy_ssl_server_name = in.proxy_ssl_server_name;
    srv.proxy_ssl_verify = in.proxy_ssl_verify;
    srv.proxy_ssl_session_reuse = in.proxy_ssl_session_reuse;
    std::vector<tls::BuildError> errs;
    srv.proxy_ssl_ctx = tls::build_client_context(in.proxy_ssl, in.proxy_ssl_verify, &errs);
    for (auto& x : errs)
      errors_.push_back({std::move(x.message), x.at.file.empty() ? srv.file : x.at.file,
                         x.at.file.empty() ? srv.line : x.at.line});
    auto name = std::make_unique<LogFormat>();
    std::string text = in.proxy_ssl_name;
    if (text.empty()) {
      text = srv.target;  // nginx: the host of proxy_pass
      tls::strip_port(text);
    }
    std::string e;
    if (!compile_format(text, name.get(), &e))
      return errors_.push_back({e, in.proxy_ssl_name_at.file, in.proxy_ssl_name_at.line});
    srv.proxy_ssl_name = std::move(name);
  }

  static bool given(const Directive& d, std::string_view name) {
    for (const auto& x : d.block)
      if (x.name == name) return true;
    return false;
  }

  static bool access_given(const Directive& d) {
    for (const auto& x : d.block)
      if (x.name == "allow" || x.name == "deny") return true;
    return false;
  }

  // `hash KEY` of the server's upstream, compiled with the stream variables (nginx evaluates it
  // per session); an error names the `hash` line.
  void compile_hash_key(Server& srv) {
    const std::string& text = srv.upstream->group->hash_key();
    if (text.empty()) return;
    auto key = std::make_unique<LogFormat>();
    std::string e;
    if (!compile_format(text, key.get(), &e)) {
      errors_.push_back({std::move(e), srv.upstream->hash_file, srv.upstream->hash_line});
      return;
    }
    srv.hash_key = std::move(key);
  }

  const std::string& prefix_;
  LogFiles& log_files_;
  StreamConf& sc_;
  int workers_;
  std::vector<ConfigError>& errors_;
  const upstream::UpstreamMap* previous_;
  const StreamConf* previous_conf_;
};

void set_connect_timeout(Level& lv, const Directive& d) {
  lv.b.time_ms(d, &lv.in.connect_timeout_ms);
}

void set_timeout(Level& lv, const Directive& d) {
  lv.b.time_ms(d, &lv.in.timeout_ms);
}

void set_buffer_size(Level& lv, const Directive& d) {
  auto v = parse_size(d.args[0]);
  if (!v || *v == 0) {
    lv.b.error(d, fmt::format("\"{}\" directive invalid value", d.name));
    return;
  }
  lv.in.buffer_size = *v;
}

void set_tcp_nodelay(Level& lv, const Directive& d) {
  lv.b.flag(d, &lv.in.tcp_nodelay);
}

void set_resolver(Level& lv, const Directive& d) {
  dns::ResolverConf rc;
  std::string e;
  if (!dns::parse_resolver(d.args, &rc, &e)) lv.b.error(d, e);
}

void set_resolver_timeout(Level& lv, const Directive& d) {
  uint64_t ms;
  lv.b.time_ms(d, &ms);
}

void set_half_close(Level& lv, const Directive& d) {
  lv.b.flag(d, &lv.in.half_close);
}

void set_next_upstream(Level& lv, const Directive& d) {
  lv.b.flag(d, &lv.in.next_upstream);
}

void set_tries(Level& lv, const Directive& d) {
  auto v = parse_uint(d.args[0]);
  if (!v)
    lv.b.error(d, fmt::format("invalid number \"{}\"", d.args[0]));
  else
    lv.in.tries = uint32_t(*v);
}

void set_next_upstream_timeout(Level& lv, const Directive& d) {
  lv.b.time_ms(d, &lv.in.next_upstream_timeout_ms);
}

void set_access_rule(Level& lv, const Directive& d) {
  AccessRule rule;
  rule.allow = d.name == "allow";
  if (!parse_access_rule(d.args[0], rule)) {
    lv.b.error(d, fmt::format("invalid parameter \"{}\"", d.args[0]));
    return;
  }
  lv.in.access.push_back(rule);
}

void set_proxy_protocol(Level& lv, const Directive& d) {
  lv.b.flag(d, &lv.in.proxy_protocol);
}

void set_proxy_protocol_timeout(Level& lv, const Directive& d) {
  lv.b.time_ms(d, &lv.in.proxy_protocol_timeout_ms);
}

void set_real_ip_from(Level& lv, const Directive& d) {
  AccessRule rule;
  rule.allow = true;
  if (d.args[0] == "all" || !parse_access_rule(d.args[0], rule)) {
    lv.b.error(d, fmt::format("invalid parameter \"{}\"", d.args[0]));
    return;
  }
  lv.in.realip_from.push_back(rule);
}

void set_limit_conn(Level& lv, const Directive& d) {
  Inherited& in = lv.in;
  if (!in.conn_limits_given || lv.top) {
    if (!in.conn_limits_given) in.conn_limits.clear();
    in.conn_limits_given = true;
  }
  const ConnZone* z = lv.b.find_conn_zone(d.args[0]);
  if (!z) {
    lv.b.error(d, fmt::format("zero size shared memory zone \"{}\"", d.args[0]));
    return;
  }
  auto n = parse_uint(d.args[1]);
  if (!n || *n == 0) {
    lv.b.error(d, fmt::format("invalid number of connections \"{}\"", d.args[1]));
    return;
  }
  if (*n > 65535) {
    lv.b.error(d, "connection limit must be less 65536");
    return;
  }
  in.conn_limits.push_back({z, uint32_t(*n)});
}

void set_limit_conn_log_level(Level& lv, const Directive& d) {
  static const std::pair<std::string_view, LogLevel> kLevels[] = {{"info", LogLevel::kInfo},
                                                                  {"notice", LogLevel::kNotice},
                                                                  {"warn", LogLevel::kWarn},
                                                                  {"error", LogLevel::kError}};
  for (const auto& [n, l] : kLevels)
    if (d.args[0] == n) {
      lv.in.conn_log = l;
      return;
    }
  lv.b.error(d, fmt::format("invalid value \"{}\"", d.args[0]));
}

void set_limit_conn_dry_run(Level& lv, const Directive& d) {
  lv.b.flag(d, &lv.in.conn_dry_run);
}

void set_access_log(Level& lv, const Directive& d) {
  const auto& a = d.args;
  Inherited& in = lv.in;
  if (!in.logs_given || lv.top) {
    if (!in.logs_given) in.logs.clear();
    in.logs_given = true;
  }
  if (a[0] == "off") {
    in.logs.clear();
    return;
  }
  if (a.size() < 2) {
    lv.b.error(d, "invalid number of arguments in \"access_log\" directive");
    return;
  }
  const LogFormat* f = lv.b.find_format(a[1]);
  if (!f) {
    lv.b.error(d, fmt::format("unknown log format \"{}\"", a[1]));
    return;
  }
  if (auto file = lv.b.log_file(d, a[0])) in.logs.push_back(AccessLog{std::move(file), f});
}

void set_listen(Level& lv, const Directive& d) {
  config::ListenAddr la;
  bool def = false;
  std::string e;
  if (!config::parse_listen(d, &la, &def, &e, /*allow_ssl=*/true)) {
    lv.b.error(d, e);
    return;
  }
  if (la.http2) return lv.b.error(d, "invalid parameter \"http2\"");
  if (la.ssl && lv.in.ssl_listen_at.file.empty()) lv.in.ssl_listen_at = {d.file, d.line};
  la.deferred = false;  // a server-first protocol (SMTP, MySQL) must be accepted at once
  lv.srv->listens.push_back(la);
}

void set_proxy_pass(Level& lv, const Directive& d) {
  lv.b.proxy_pass(*lv.srv, d);
}

void set_ssl(Level& lv, const Directive& d) {
  std::string e;
  if (!tls::apply_directive(d, d.name, lv.first(d), lv.b.prefix(), &lv.in.ssl, &e))
    lv.b.error(d, e);
}

void set_proxy_ssl(Level& lv, const Directive& d) {
  std::string e;
  const std::string_view key = std::string_view(d.name).substr(6);  // without "proxy_"
  if (!tls::apply_directive(d, key, lv.first(d), lv.b.prefix(), &lv.in.proxy_ssl, &e))
    lv.b.error(d, e);
}

void set_handshake_timeout(Level& lv, const Directive& d) {
  lv.b.time_ms(d, &lv.in.ssl_handshake_timeout_ms);
}

void set_proxy_ssl_name(Level& lv, const Directive& d) {
  lv.in.proxy_ssl_name = d.args[0];
  lv.in.proxy_ssl_name_at = {d.file, d.line};
}

template <bool Inherited::*F>
void set_flag(Level& lv, const Directive& d) {
  lv.b.flag(d, &(lv.in.*F));
}

// return VALUE: the value (with variables) is the whole answer; then the session ends.
void set_return(Level& lv, const Directive& d) {
  auto v = std::make_unique<LogFormat>();
  std::string e;
  if (!compile_format(d.args[0], v.get(), &e)) return lv.b.error(d, e);
  lv.srv->return_value = std::move(v);
}

}  // namespace

void register_directives(Registry& r) {
  for (const Command& c : kCommands) r.add(c.spec);
}

void build_stream(const Directive& block, const std::string& prefix, int workers,
                  const StreamConf* previous, StreamConf& out, LogFiles& log_files,
                  std::vector<ConfigError>& errors) {
  Builder b(out, prefix, workers, previous, log_files, errors);
  b.build(block);
}

}  // namespace portico::stream
