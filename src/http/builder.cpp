// The http{} builder: turns the syntax tree of an http block into HttpConf with nginx's
// inheritance (http -> server -> location -> nested location -> if). Structural directives
// (server, location, listen, server_name and the server-level header buffers) are its own;
// every other directive is a row in some module's command table (http/module.h), applied
// through a Level. Control thread only.
#include "http/builder.h"

#include <unistd.h>

#include <fmt/format.h>

#include "config/path.h"
#include "core/log.h"
#include "core/strings.h"
#include "http/level.h"

namespace portico::http {

using config::ConfigError;
using config::Directive;
using namespace config;  // context constants

NamedCaptures named_captures_of(const Regex& re, VariableTable& vars) {
  NamedCaptures out;
  for (const auto& g : re.named_groups()) out.emplace_back(g.index, vars.user_index(g.name));
  return out;
}

namespace {

void prescan_variables(const std::vector<Directive>& block, VariableTable& vars) {
  auto scan_regex = [&](std::string_view re) {
    for (size_t i = 0; i + 3 < re.size(); ++i) {
      if (re[i] != '(' || re[i + 1] != '?') continue;
      size_t p = i + 2;
      char close = '>';
      if (re[p] == 'P' && p + 1 < re.size() && re[p + 1] == '<') {
        p += 2;
      } else if (re[p] == '<' && p + 1 < re.size() && re[p + 1] != '=' && re[p + 1] != '!') {
        p += 1;
      } else if (re[p] == '\'') {
        p += 1;
        close = '\'';
      } else {
        continue;
      }
      size_t end = re.find(close, p);
      if (end != std::string_view::npos && end > p) vars.user_index(re.substr(p, end - p));
    }
  };
  for (const auto& d : block) {
    if (d.name == "set" && !d.args.empty() && d.args[0].size() > 1 && d.args[0][0] == '$')
      vars.user_index(std::string_view(d.args[0]).substr(1));
    if (d.name == "map" && d.args.size() == 2 && d.args[1].size() > 1 && d.args[1][0] == '$')
      vars.user_index(std::string_view(d.args[1]).substr(1));
    if (d.name == "rewrite" && !d.args.empty()) scan_regex(d.args[0]);
    if (d.name == "location" || d.name == "if" || d.name == "server_name")
      for (const auto& a : d.args) scan_regex(a);
    if (d.name == "map")
      for (const auto& e : d.block)
        if (!e.name_quoted && !e.name.empty() && e.name[0] == '~') scan_regex(e.name);
    if (d.has_block && d.name != "types" && d.name != "map") prescan_variables(d.block, vars);
  }
}

class Builder final : public LevelHost {
 public:
  Builder(HttpConf& h, int workers, const HttpConf* previous, LogFiles& log_files,
          std::vector<ConfigError>& errors, std::vector<std::string>& warnings)
      : h_(h),
        workers_(workers),
        previous_(previous),
        log_files_(log_files),
        errors_(errors),
        warnings_(warnings) {}

  void build(const Directive& http);

  // LevelHost
  HttpConf& http() override { return h_; }
  const HttpConf* previous() override { return previous_; }
  int workers() override { return workers_; }
  LogFiles& log_files() override { return log_files_; }
  void error(const std::string& file, int line, std::string msg) override {
    errors_.push_back({std::move(msg), file, line});
  }
  void warn(std::string msg) override { warnings_.push_back(std::move(msg)); }
  const LocationConf* build_if_level(const Directive& d, const LocationConf& parent,
                                     uint32_t context, RewriteScript& script) override;

 private:
  void err(const Directive& d, std::string msg) { error(d.file, d.line, std::move(msg)); }
  bool msec_arg(const Directive& d, const std::string& a, uint64_t* out);
  bool size_arg(const Directive& d, const std::string& a, uint64_t* out);
  // ignore_invalid_headers / underscores_in_headers (on|off) into the server's settings.
  void header_switch(const Directive& d, ServerConf& srv);

  // A level starts as a copy of its parent: core settings that nginx merges, and every module's
  // conf. `context` is the new level's (what is not inherited depends on it).
  void inherit(LocationConf& c, const LocationConf& p, uint32_t context);
  // Applies `block` to the level: module directives in file order, then each module's
  // finish_level, then rewrite statements, then the directives that need the complete level.
  // server and location blocks go to `nested` for the caller.
  void apply_level(Level& lv, const std::vector<Directive>& block,
                   std::vector<const Directive*>* nested);
  void build_server(const Directive& d, const LocationConf& http_loc);
  std::unique_ptr<LocationConf> build_location(const Directive& d, const LocationConf& parent,
                                               ServerConf& srv, LocationDef* def);
  bool parse_listen(const Directive& d, config::ListenAddr* out, bool* default_server);
  void bind_servers();

  HttpConf& h_;
  int workers_;
  const HttpConf* previous_;
  LogFiles& log_files_;
  std::vector<ConfigError>& errors_;
  std::vector<std::string>& warnings_;
  struct PendingListen {
    config::ListenAddr addr;
    bool default_server;
    ServerConf* server;
    const Directive* d;
  };
  std::vector<PendingListen> listens_;
};

bool Builder::msec_arg(const Directive& d, const std::string& a, uint64_t* out) {
  auto v = parse_time_ms(a);
  if (!v) {
    err(d, fmt::format("\"{}\" directive invalid value", d.name));
    return false;
  }
  *out = *v;
  return true;
}

bool Builder::size_arg(const Directive& d, const std::string& a, uint64_t* out) {
  auto v = parse_size(a);
  if (!v) {
    err(d, fmt::format("\"{}\" directive invalid value", d.name));
    return false;
  }
  *out = *v;
  return true;
}

void Builder::header_switch(const Directive& d, ServerConf& srv) {
  const std::string& a = d.args[0];
  if (a != "on" && a != "off") {
    err(d, fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"", a,
                       d.name));
    return;
  }
  (d.name == "ignore_invalid_headers" ? srv.ignore_invalid_headers : srv.underscores_in_headers) =
      a == "on";
}

void Builder::inherit(LocationConf& c, const LocationConf& p, uint32_t context) {
  c.server = p.server;
  c.root = p.root;
  c.alias = p.alias;  // nginx merges root and alias together
  c.alias_prefix_len = p.alias_prefix_len;
  c.alias_regex = p.alias_regex;
  c.default_type = p.default_type;
  c.types = p.types;
  c.error_pages = p.error_pages;
  c.add_headers = p.add_headers;
  c.add_trailers = p.add_trailers;
  c.access = p.access;
  c.realip = p.realip;
  c.access_logs = p.access_logs;
  c.sendfile = p.sendfile;
  c.tcp_nopush = p.tcp_nopush;
  c.chunked_transfer_encoding = p.chunked_transfer_encoding;
  c.expires = p.expires;
  c.tcp_nodelay = p.tcp_nodelay;
  c.server_tokens = p.server_tokens;
  c.log_not_found = p.log_not_found;
  c.recursive_error_pages = p.recursive_error_pages;
  c.absolute_redirect = p.absolute_redirect;
  c.port_in_redirect = p.port_in_redirect;
  c.server_name_in_redirect = p.server_name_in_redirect;
  c.merge_slashes = p.merge_slashes;
  c.keepalive_timeout = p.keepalive_timeout;
  c.keepalive_header = p.keepalive_header;
  c.keepalive_requests = p.keepalive_requests;
  c.keepalive_time = p.keepalive_time;
  c.keepalive_disable = p.keepalive_disable;
  c.client_body_timeout = p.client_body_timeout;
  c.send_timeout = p.send_timeout;
  c.client_max_body_size = p.client_max_body_size;
  c.client_body_temp_path = p.client_body_temp_path;
  c.resolver = p.resolver;
  c.resolver_timeout = p.resolver_timeout;
  c.client_body_temp_levels = p.client_body_temp_levels;
  c.client_body_buffer_size = p.client_body_buffer_size;
  c.client_body_in_file_only = p.client_body_in_file_only;
  c.client_body_in_single_buffer = p.client_body_in_single_buffer;
  c.limit_rate = p.limit_rate;
  c.limit_rate_after = p.limit_rate_after;
  c.has_limit_rate = p.has_limit_rate;
  c.has_limit_rate_after = p.has_limit_rate_after;
  // The content handler is the location's own (nginx's clcf->handler); an `if` inside it
  // produces the location's content unless it says otherwise.
  c.content = (context & (kServerIf | kLocationIf | kLimitExcept)) ? p.content : nullptr;
  c.mods.clear();
  for (const auto& m : p.mods) c.mods.push_back(m ? m->clone() : nullptr);
}

void Builder::apply_level(Level& lv, const std::vector<Directive>& block,
                          std::vector<const Directive*>* nested) {
  for (const auto& d : block) {
    if (d.name == "server" || d.name == "location") {
      if (nested) nested->push_back(&d);
      continue;
    }
    const Command* c = find_command(d.name, lv.context);
    if (!c) {
      err(d, fmt::format("unknown directive \"{}\"", d.name));
      continue;
    }
    if (c->when == When::kInOrder) c->set(lv, d);
  }
  for (Module* m : modules())
    if (m->finish_level) m->finish_level(lv);
  for (When when : {When::kScript, When::kAfter}) {
    if (when == When::kScript && !lv.script) continue;
    for (const auto& d : block) {
      const Command* c = find_command(d.name, lv.context);
      if (c && c->when == when) c->set(lv, d);
    }
  }
}

const LocationConf* Builder::build_if_level(const Directive& d, const LocationConf& parent,
                                            uint32_t context, RewriteScript& script) {
  auto if_loc = std::make_unique<LocationConf>();
  inherit(*if_loc, parent, context);
  if_loc->name = parent.name;
  if_loc->alias = parent.alias;
  if_loc->alias_prefix_len = parent.alias_prefix_len;
  if_loc->alias_regex = parent.alias_regex;
  Level lv(*this, *if_loc, context, &script);
  lv.location = if_loc->name;
  lv.named_or_if = true;
  apply_level(lv, d.block, nullptr);
  const LocationConf* out = if_loc.get();
  h_.extra_locs.push_back(std::move(if_loc));
  return out;
}

void Builder::build(const Directive& http) {
  prescan_variables(http.block, h_.vars);
  h_.main_mods.resize(modules().size());
  for (Module* m : modules())
    if (m->create_main_conf) h_.main_mods[size_t(m->index)] = m->create_main_conf();

  LocationConf http_loc;
  http_loc.mods.resize(modules().size());
  for (Module* m : modules())
    if (m->create_conf) http_loc.mods[size_t(m->index)] = m->create_conf();
  // nginx's built-in types when none are configured.
  auto defaults = std::make_unique<TypesMap>();
  (*defaults)["html"] = "text/html";
  (*defaults)["gif"] = "image/gif";
  (*defaults)["jpg"] = "image/jpeg";
  http_loc.types = defaults.get();
  h_.types_tables.push_back(std::move(defaults));
  http_loc.root = ComplexValue::literal_value(h_.prefix + "html");
  http_loc.client_body_temp_path = h_.prefix + "client_body_temp";

  Level lv(*this, http_loc, kHttp, nullptr);
  for (Module* m : modules())
    if (m->begin_http) m->begin_http(lv, http);
  std::vector<const Directive*> nested;
  apply_level(lv, http.block, &nested);
  // http-level server settings are defaults for each server.
  for (const Directive* nd : nested) {
    if (nd->name != "server") continue;
    build_server(*nd, http_loc);
    ServerConf& srv = *h_.servers.back();
    for (const auto& d : http.block) {
      bool set_here = false;
      for (const auto& x : nd->block) set_here = set_here || x.name == d.name;
      if (set_here) continue;
      if (d.name == "client_header_timeout")
        msec_arg(d, d.args[0], &srv.client_header_timeout);
      else if (d.name == "client_header_buffer_size") {
        uint64_t v;
        if (size_arg(d, d.args[0], &v)) srv.client_header_buffer_size = v;
      } else if (d.name == "large_client_header_buffers") {
        auto num = parse_uint(d.args[0]);
        uint64_t size;
        if (num && *num > 0 && size_arg(d, d.args[1], &size)) {
          srv.large_client_header_buffers_num = *num;
          srv.large_client_header_buffers_size = size;
        }
      } else if (d.name == "ignore_invalid_headers" || d.name == "underscores_in_headers") {
        header_switch(d, srv);
      }
    }
  }
  bind_servers();
  for (Module* m : modules())
    if (m->end_http) m->end_http(lv);
}

void Builder::build_server(const Directive& d, const LocationConf& http_loc) {
  auto srv = std::make_unique<ServerConf>();
  srv->file = d.file;
  srv->line = d.line;
  auto sl = std::make_unique<LocationConf>();
  inherit(*sl, http_loc, kServer);
  sl->server = srv.get();
  std::vector<const Directive*> nested;
  Level lv(*this, *sl, kServer, &srv->script);
  apply_level(lv, d.block, &nested);
  // The server-level script is also the if-location parent; ops were attached to srv->script.
  bool any_listen = false;
  for (const auto& x : d.block) {
    if (x.name == "listen") {
      PendingListen pl;
      if (parse_listen(x, &pl.addr, &pl.default_server)) {
        pl.server = srv.get();
        pl.d = &x;
        listens_.push_back(pl);
      }
      any_listen = true;
    } else if (x.name == "server_name") {
      for (const auto& nm : x.args) srv->names.push_back(nm);
    } else if (x.name == "client_header_timeout") {
      msec_arg(x, x.args[0], &srv->client_header_timeout);
    } else if (x.name == "client_header_buffer_size") {
      uint64_t v;
      if (size_arg(x, x.args[0], &v)) srv->client_header_buffer_size = v;
    } else if (x.name == "large_client_header_buffers") {
      auto num = parse_uint(x.args[0]);
      uint64_t size;
      if (!num || *num == 0)
        err(x, "invalid value \"" + x.args[0] + "\"");
      else if (size_arg(x, x.args[1], &size)) {
        srv->large_client_header_buffers_num = *num;
        srv->large_client_header_buffers_size = size;
      }
    } else if (x.name == "ignore_invalid_headers" || x.name == "underscores_in_headers") {
      header_switch(x, *srv);
    }
  }
  if (!any_listen) {
    PendingListen pl;
    Directive fake;
    fake.name = "listen";
    fake.args = {getuid() == 0 ? "80" : "8000"};
    fake.file = d.file;
    fake.line = d.line;
    parse_listen(fake, &pl.addr, &pl.default_server);
    pl.server = srv.get();
    pl.d = nullptr;
    listens_.push_back(pl);
  }
  // $server_name: the first name as written ("*.x", "~re" too), but ".x.com" is "x.com".
  srv->primary_name = srv->names.empty() ? "" : srv->names[0];
  if (srv->primary_name.size() > 1 && srv->primary_name[0] == '.') srv->primary_name.erase(0, 1);
  std::vector<LocationDef> defs;
  for (const Directive* nd : nested) {
    if (nd->name != "location") continue;
    LocationDef def;
    auto lc = build_location(*nd, *sl, *srv, &def);
    if (!lc) continue;
    srv->locations.push_back(std::move(lc));
    defs.push_back(std::move(def));
  }
  Status st = srv->matcher.build(std::move(defs));
  if (!st) errors_.push_back({st.message(), "", 0});
  srv->own_loc = std::move(sl);
  srv->loc = srv->own_loc.get();
  h_.servers.push_back(std::move(srv));
}

std::unique_ptr<LocationConf> Builder::build_location(const Directive& d,
                                                      const LocationConf& parent, ServerConf& srv,
                                                      LocationDef* def) {
  auto lc = std::make_unique<LocationConf>();
  inherit(*lc, parent, kLocation);
  const auto& a = d.args;
  using Kind = LocationDef::Kind;
  std::string pattern;
  if (a.size() == 2) {
    const std::string& m = a[0];
    if (m == "=")
      def->kind = Kind::kExact;
    else if (m == "^~")
      def->kind = Kind::kPrefixNoRegex;
    else if (m == "~")
      def->kind = Kind::kRegex;
    else if (m == "~*")
      def->kind = Kind::kRegexCaseless;
    else {
      err(d, fmt::format("invalid location modifier \"{}\"", m));
      return nullptr;
    }
    pattern = a[1];
  } else {
    pattern = a[0];
    if (pattern.size() > 1 && pattern[0] == '=') {
      def->kind = Kind::kExact;
      pattern.erase(0, 1);
    } else if (pattern.rfind("^~", 0) == 0 && pattern.size() > 2) {
      def->kind = Kind::kPrefixNoRegex;
      pattern.erase(0, 2);
    } else if (pattern.rfind("~*", 0) == 0 && pattern.size() > 2) {
      def->kind = Kind::kRegexCaseless;
      pattern.erase(0, 2);
    } else if (pattern[0] == '~' && pattern.size() > 1) {
      def->kind = Kind::kRegex;
      pattern.erase(0, 1);
    } else if (pattern[0] == '@')
      def->kind = Kind::kNamed;
    else
      def->kind = Kind::kPrefix;
  }
  def->pattern = pattern;
  def->file = d.file;
  def->line = d.line;
  lc->name = pattern;
  lc->server = &srv;
  std::vector<const Directive*> nested;
  Level lv(*this, *lc, kLocation, &lc->script);
  lv.location = lc->name;
  lv.regex_location = def->kind == Kind::kRegex || def->kind == Kind::kRegexCaseless;
  lv.named_or_if = def->kind == Kind::kNamed;
  apply_level(lv, d.block, &nested);
  // nginx's auto_redirect: "/app" is redirected to `location /app/` whose content asks for it.
  def->auto_redirect = lc->content && lc->content->auto_redirect && pattern.back() == '/';
  if (def->kind == Kind::kRegex || def->kind == Kind::kRegexCaseless) {
    std::string e;
    auto re = Regex::compile(pattern, def->kind == Kind::kRegexCaseless, &e);
    if (re) lc->named_captures = named_captures_of(*re, h_.vars);
  }
  for (const Directive* nd : nested) {
    if (nd->name != "location") continue;
    LocationDef child;
    auto child_lc = build_location(*nd, *lc, srv, &child);
    if (!child_lc) continue;
    if (def->kind == Kind::kExact || def->kind == Kind::kNamed) {
      err(*nd, fmt::format("location \"{}\" cannot be inside the {} location \"{}\"", child.pattern,
                           def->kind == Kind::kExact ? "exact" : "named", pattern));
      continue;
    }
    child.payload = child_lc.get();
    def->children.push_back(std::move(child));
    srv.locations.push_back(std::move(child_lc));
  }
  def->payload = lc.get();
  return lc;
}

bool Builder::parse_listen(const Directive& d, config::ListenAddr* out, bool* default_server) {
  std::string e;
  if (config::parse_listen(d, out, default_server, &e, /*allow_ssl=*/true)) return true;
  error(d.file, d.line, e);
  return false;
}

void Builder::bind_servers() {
  for (const auto& pl : listens_) {
    AddrConf* ac = nullptr;
    for (auto& a : h_.addrs)
      if (a->listen.key == pl.addr.key) ac = a.get();
    if (!ac) {
      auto n = std::make_unique<AddrConf>();
      n->listen = pl.addr;
      n->names.set_listen_text(pl.addr.key);
      ac = n.get();
      h_.addrs.push_back(std::move(n));
    } else if (pl.d) {
      if (pl.addr.sockopts_set()) {  // the directive that sets the socket's options
        const bool reuseport = ac->listen.reuseport || pl.addr.reuseport;
        ac->listen.backlog = pl.addr.backlog;
        ac->listen.rcvbuf = pl.addr.rcvbuf;
        ac->listen.sndbuf = pl.addr.sndbuf;
        ac->listen.fastopen = pl.addr.fastopen;
        ac->listen.so_keepalive = pl.addr.so_keepalive;
        ac->listen.keepidle = pl.addr.keepidle;
        ac->listen.keepintvl = pl.addr.keepintvl;
        ac->listen.keepcnt = pl.addr.keepcnt;
        ac->listen.reuseport = reuseport;
      }
    }
    ac->listen.ssl = ac->listen.ssl || pl.addr.ssl;  // as nginx: one `ssl` makes the address TLS
    ac->listen.proxy_protocol = ac->listen.proxy_protocol || pl.addr.proxy_protocol;  // likewise
    ac->listen.http2 = ac->listen.http2 || pl.addr.http2;
    if (pl.default_server) {
      if (ac->default_server && ac->default_server != ac->servers.front()) {
        // fallthrough to duplicate check below
      }
      bool already = false;
      for (const auto& other : listens_) {
        if (&other == &pl) break;
        if (other.default_server && other.addr.key == pl.addr.key) already = true;
      }
      if (already) {
        errors_.push_back({fmt::format("a duplicate default server for {}", pl.addr.key),
                           pl.d ? pl.d->file : "", pl.d ? pl.d->line : 0});
        continue;
      }
      ac->default_server = pl.server;
    }
    bool dup = false;
    for (auto* s : ac->servers) dup = dup || s == pl.server;
    if (dup) {
      if (pl.d)
        errors_.push_back(
            {fmt::format("duplicate listen {}", pl.addr.key), pl.d->file, pl.d->line});
      continue;
    }
    ac->servers.push_back(pl.server);
  }
  for (auto& ac : h_.addrs) {
    if (!ac->default_server && !ac->servers.empty()) ac->default_server = ac->servers.front();
    for (const ServerConf* s : ac->servers) {
      std::vector<std::string> names = s->names;
      if (names.empty()) names.push_back("");
      for (const auto& nm : names) {
        std::string warning;
        Status st = ac->names.add(nm, s, &warning);
        if (!st) errors_.push_back({st.message(), s->file, s->line});
        if (!warning.empty()) warnings_.push_back(warning);
      }
    }
  }
}

}  // namespace

void build_http(const Directive& http, const std::string& prefix, int workers,
                const HttpConf* previous, HttpConf& out, LogFiles& log_files,
                std::vector<ConfigError>& errors, std::vector<std::string>& warnings) {
  out.prefix = prefix;
  Builder b(out, workers, previous, log_files, errors, warnings);
  b.build(http);
}

}  // namespace portico::http
