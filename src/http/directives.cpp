#include "http/directives.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>

#include <cstring>
#include <map>

#include "config/builder.h"
#include "core/strings.h"
#include "http/map.h"
#include "obs/access_log.h"
#include "proxy/directives.h"

namespace portico::http {

using config::BlockKind;
using config::ConfigError;
using config::Directive;
using namespace config;  // context constants

void register_directives(Registry& r) {
  constexpr uint32_t kHSL = kHttp | kServer | kLocation;
  constexpr uint32_t kHSLI = kHSL | kLocationIf;
  constexpr uint32_t kSL = kServer | kLocation;
  constexpr uint32_t kRewriteCtx = kServer | kLocation | kServerIf | kLocationIf;
  r.add({
      {"server", kHttp, 0, 0, BlockKind::kBlock, kServer, false},
      {"location", kServer | kLocation, 1, 2, BlockKind::kBlock, kLocation, false},
      {"listen", kServer, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"server_name", kServer, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"types", kHSL, 0, 0, BlockKind::kFreeform, kTypes, true},
      {"default_type", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"root", kHSLI, 1, 1, BlockKind::kNone, 0, true},
      {"alias", kLocation, 1, 1, BlockKind::kNone, 0, true},
      {"index", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"try_files", kSL, 2, kAnyArgs, BlockKind::kNone, 0, true},
      {"internal", kLocation, 0, 0, BlockKind::kNone, 0, true},
      {"sendfile", kHSLI, 1, 1, BlockKind::kNone, 0, true},
      {"tcp_nopush", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"tcp_nodelay", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"chunked_transfer_encoding", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"expires", kHSLI, 1, 2, BlockKind::kNone, 0, true},
      // Hash table sizing: portico's tables grow as needed, so these only get validated.
      {"types_hash_max_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"types_hash_bucket_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"server_names_hash_max_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
      {"server_names_hash_bucket_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
      {"variables_hash_max_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
      {"variables_hash_bucket_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
      {"map_hash_max_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
      {"map_hash_bucket_size", kHttp, 1, 1, BlockKind::kNone, 0, true},
      {"keepalive_timeout", kHSL, 1, 2, BlockKind::kNone, 0, true},
      {"keepalive_requests", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"client_header_timeout", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
      {"client_body_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"send_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"client_max_body_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"client_header_buffer_size", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
      {"large_client_header_buffers", kHttp | kServer, 2, 2, BlockKind::kNone, 0, true},
      {"server_tokens", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"log_format", kHttp, 2, kAnyArgs, BlockKind::kNone, 0, false},
      {"access_log", kHSLI, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"error_page", kHSLI, 2, kAnyArgs, BlockKind::kNone, 0, false},
      {"add_header", kHSLI, 2, 3, BlockKind::kNone, 0, false},
      {"etag", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"if_modified_since", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"max_ranges", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"log_not_found", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"recursive_error_pages", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"absolute_redirect", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"port_in_redirect", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"server_name_in_redirect", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"merge_slashes", kHttp | kServer, 1, 1, BlockKind::kNone, 0, true},
      {"allow", kHSLI, 1, 1, BlockKind::kNone, 0, false},
      {"deny", kHSLI, 1, 1, BlockKind::kNone, 0, false},
      {"set_real_ip_from", kHSL, 1, 1, BlockKind::kNone, 0, false},
      {"real_ip_header", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"real_ip_recursive", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"return", kRewriteCtx, 1, 2, BlockKind::kNone, 0, false},
      {"rewrite", kRewriteCtx, 2, 3, BlockKind::kNone, 0, false},
      {"set", kRewriteCtx, 2, 2, BlockKind::kNone, 0, false},
      {"break", kRewriteCtx, 0, 0, BlockKind::kNone, 0, false},
      {"if", kServer | kLocation, 1, kAnyArgs, BlockKind::kBlock, kIfBlockContext, false},
      {"map", kHttp, 2, 2, BlockKind::kFreeform, kMap, false},
      {"match", kHttp, 1, 1, BlockKind::kFreeform, kMap, false},
      {"health_check", kLocation, 0, kAnyArgs, BlockKind::kNone, 0, false},
  });
  proxy::register_directives(r);
}

namespace {

NamedCaptures named_captures_of(const Regex& re, VariableTable& vars);

// Per-level bookkeeping: which inherited arrays were replaced at this level already.
struct LevelSeen {
  bool index = false, error_page = false, add_header = false, access_log = false, access = false;
  bool real_ip_from = false;
};

class Builder {
 public:
  Builder(Snapshot& s, int workers, const Snapshot* previous, std::vector<ConfigError>& errors,
          std::vector<std::string>& warnings)
      : s_(s),
        h_(s.http),
        workers_(workers),
        errors_(errors),
        warnings_(warnings),
        previous_(previous && previous->has_http ? &previous->http.upstreams : nullptr) {}

  void build(const Directive& http);

 private:
  void err(const Directive& d, std::string msg) {
    errors_.push_back({std::move(msg), d.file, d.line});
  }
  bool flag(const Directive& d, bool* out);
  bool size_arg(const Directive& d, const std::string& a, uint64_t* out);
  void build_expires(const Directive& d, LocationConf& lc);
  bool time_arg(const Directive& d, const std::string& a, uint64_t* out);
  bool cv(const Directive& d, std::string_view text, ComplexValue* out);

  void inherit(LocationConf& c, const LocationConf& p);
  // Applies the simple directives of `block` to `lc`; `script` collects rewrite ops.
  void apply_level(const std::vector<Directive>& block, LocationConf& lc, RewriteScript* script,
                   uint32_t ctx, std::vector<const Directive*>* nested);
  bool apply_directive(const Directive& d, LocationConf& lc, LevelSeen& seen);
  void add_real_ip_from(const Directive& d, RealIpConf& conf);
  void add_rewrite_op(const Directive& d, LocationConf& lc, RewriteScript& script, uint32_t ctx);
  bool parse_if(const Directive& d, IfCondition& c);
  void build_types(const Directive& d, LocationConf& lc);
  void build_log_format(const Directive& d);
  void build_server(const Directive& d, const LocationConf& http_loc);
  std::unique_ptr<LocationConf> build_location(const Directive& d, const LocationConf& parent,
                                               ServerConf& srv, LocationDef* def);
  bool parse_listen(const Directive& d, ListenAddr* out, bool* default_server);
  void bind_servers();
  std::shared_ptr<obs::LogFile> log_file(const std::string& path, size_t buffer);

  Snapshot& s_;
  HttpConf& h_;
  int workers_;
  std::vector<ConfigError>& errors_;
  std::vector<std::string>& warnings_;
  std::map<std::string, const obs::LogFormat*> formats_;
  struct PendingListen {
    ListenAddr addr;
    bool default_server;
    ServerConf* server;
    const Directive* d;
  };
  std::vector<PendingListen> listens_;
  const proxy::UpstreamMap* previous_;
  proxy::UpstreamMap named_upstreams_;
  proxy::UpstreamMap implicit_upstreams_;
  // The location being built, for proxy_pass's URI rules.
  std::string cur_location_;
  bool cur_regex_ = false;
  bool cur_named_or_if_ = false;
  void build_pass(const Directive& d, LocationConf& lc);
  void build_map(const Directive& d);
  void build_match(const Directive& d);
  void build_health_check(const Directive& d, const LocationConf& lc);
  void finalize_proxy(LocationConf& lc);
};

bool Builder::flag(const Directive& d, bool* out) {
  if (d.args[0] == "on")
    *out = true;
  else if (d.args[0] == "off")
    *out = false;
  else {
    err(d, fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                       d.args[0], d.name));
    return false;
  }
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

bool Builder::time_arg(const Directive& d, const std::string& a, uint64_t* out) {
  auto v = parse_time_ms(a);
  if (!v) {
    err(d, fmt::format("\"{}\" directive invalid value", d.name));
    return false;
  }
  *out = *v;
  return true;
}

bool Builder::cv(const Directive& d, std::string_view text, ComplexValue* out) {
  Status st = ComplexValue::compile(text, h_.vars, out);
  if (!st) err(d, st.message());
  return bool(st);
}

void Builder::inherit(LocationConf& c, const LocationConf& p) {
  c.server = p.server;
  c.root = p.root;
  c.alias = false;
  c.index = p.index;
  c.default_type = p.default_type;
  c.types = p.types;
  c.error_pages = p.error_pages;
  c.add_headers = p.add_headers;
  c.access = p.access;
  c.realip = p.realip;
  c.access_logs = p.access_logs;
  c.sendfile = p.sendfile;
  c.tcp_nopush = p.tcp_nopush;
  c.chunked_transfer_encoding = p.chunked_transfer_encoding;
  c.expires = p.expires;
  c.tcp_nodelay = p.tcp_nodelay;
  c.etag = p.etag;
  c.server_tokens = p.server_tokens;
  c.log_not_found = p.log_not_found;
  c.recursive_error_pages = p.recursive_error_pages;
  c.absolute_redirect = p.absolute_redirect;
  c.port_in_redirect = p.port_in_redirect;
  c.server_name_in_redirect = p.server_name_in_redirect;
  c.merge_slashes = p.merge_slashes;
  c.if_modified_since = p.if_modified_since;
  c.max_ranges = p.max_ranges;
  c.keepalive_timeout = p.keepalive_timeout;
  c.keepalive_header = p.keepalive_header;
  c.keepalive_requests = p.keepalive_requests;
  c.client_body_timeout = p.client_body_timeout;
  c.send_timeout = p.send_timeout;
  c.client_max_body_size = p.client_max_body_size;
  c.proxy = p.proxy;
}

void Builder::build_map(const Directive& d) {
  const auto& a = d.args;
  if (a[1].size() < 2 || a[1][0] != '$') {
    err(d, fmt::format("invalid variable name \"{}\"", a[1]));
    return;
  }
  auto m = std::make_unique<MapConf>();
  if (!cv(d, a[0], &m->source)) return;
  for (const auto& e : d.block) {
    // In a map block each entry is "key value;" read as a directive named `key`.
    if (e.name == "hostnames" || e.name == "volatile") continue;
    if (e.name == "include") continue;  // expanded by the parser
    if (e.args.size() != 1) {
      err(e, "invalid number of the map parameters");
      continue;
    }
    ComplexValue value;
    if (!cv(e, e.args[0], &value)) continue;
    if (e.name == "default" && !e.name_quoted) {
      m->default_value = std::move(value);
    } else if (!e.name_quoted && e.name.size() > 1 && e.name[0] == '~') {
      bool caseless = e.name.size() > 2 && e.name[1] == '*';
      std::string pattern = e.name.substr(caseless ? 2 : 1);
      std::string error;
      auto re = Regex::compile(pattern, caseless, &error);
      if (!re) {
        err(e, error);
        continue;
      }
      auto named = named_captures_of(*re, h_.vars);
      m->regexes.push_back({std::move(re), std::move(value), std::move(named)});
    } else {
      std::string key = e.name;
      if (!key.empty() && key[0] == '\\') key.erase(0, 1);  // "\~x" is the literal "~x"
      m->exact.emplace(to_lower(key), std::move(value));
    }
  }
  int index = h_.vars.user_index(std::string_view(a[1]).substr(1));
  h_.vars.set_map(index, m.get());
  h_.maps.push_back(std::move(m));
}

void Builder::build_match(const Directive& d) {
  auto m = std::make_shared<proxy::MatchConf>();
  m->name = d.args[0];
  if (h_.matches.count(m->name)) {
    err(d, fmt::format("duplicate match \"{}\"", m->name));
    return;
  }
  for (const auto& e : d.block) {
    std::vector<std::string> a = e.args;
    bool neg = !a.empty() && a[0] == "!";
    if (neg) a.erase(a.begin());
    if (e.name == "status") {
      m->status_negated = neg;
      for (const auto& code : a) {
        auto dash = code.find('-');
        auto lo = parse_uint(code.substr(0, dash));
        auto hi = dash == std::string::npos ? lo : parse_uint(code.substr(dash + 1));
        if (!lo || !hi || *lo < 100 || *hi > 999 || *lo > *hi) {
          err(e, fmt::format("invalid status \"{}\"", code));
          continue;
        }
        m->status.emplace_back(int(*lo), int(*hi));
      }
    } else if (e.name == "header") {
      using Op = proxy::MatchConf::HeaderTest::Op;
      proxy::MatchConf::HeaderTest t;
      if (a.empty()) {
        err(e, "invalid number of arguments in \"header\" match");
        continue;
      }
      t.name = to_lower(a[0]);
      if (a.size() == 1) {
        t.op = neg ? Op::kAbsent : Op::kPresent;
      } else if (a.size() == 3 && (a[1] == "=" || a[1] == "!=")) {
        t.op = a[1] == "=" ? Op::kEq : Op::kNe;
        t.value = a[2];
      } else if (a.size() == 3 && (a[1] == "~" || a[1] == "!~")) {
        t.op = a[1] == "~" ? Op::kMatch : Op::kNotMatch;
        std::string error;
        auto re = Regex::compile(a[2], false, &error);
        if (!re) {
          err(e, error);
          continue;
        }
        t.regex = std::move(re);
      } else {
        err(e, "invalid \"header\" match");
        continue;
      }
      m->headers.push_back(std::move(t));
    } else if (e.name == "body") {
      if (a.size() != 2 || (a[0] != "~" && a[0] != "!~")) {
        err(e, "invalid \"body\" match");
        continue;
      }
      std::string error;
      auto re = Regex::compile(a[1], false, &error);
      if (!re) {
        err(e, error);
        continue;
      }
      m->body = std::move(re);
      m->body_negated = a[0] == "!~";
    } else {
      err(e, fmt::format("unknown directive \"{}\" in match", e.name));
    }
  }
  h_.matches[m->name] = std::move(m);
}

void Builder::build_health_check(const Directive& d, const LocationConf& lc) {
  if (!lc.proxy_pass || !lc.proxy_pass->upstream) {
    err(d, "\"health_check\" requires \"proxy_pass\" to an upstream in the same location");
    return;
  }
  auto hc = std::make_shared<proxy::HealthCheckConf>();
  hc->upstream = lc.proxy_pass->upstream;
  hc->host = lc.proxy_pass->proxy_host;
  hc->timeout_ms =
      std::min(lc.proxy.connect_timeout_ms + lc.proxy.read_timeout_ms, uint64_t(60'000));
  for (const auto& a : d.args) {
    auto eq = a.find('=');
    std::string key = a.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "interval" || key == "jitter") {
      uint64_t ms;
      if (!time_arg(d, val, &ms)) return;
      if (key == "interval") hc->interval_ms = std::max<uint64_t>(ms, 10);
    } else if (key == "fails" || key == "passes" || key == "port") {
      auto v = parse_uint(val);
      if (!v || *v == 0 || (key == "port" && *v > 65535)) {
        err(d, fmt::format("invalid parameter \"{}\"", a));
        return;
      }
      if (key == "fails")
        hc->fails = uint32_t(*v);
      else if (key == "passes")
        hc->passes = uint32_t(*v);
      else
        hc->port = int(*v);
    } else if (key == "uri") {
      if (val.empty() || val[0] != '/') {
        err(d, fmt::format("invalid parameter \"{}\"", a));
        return;
      }
      hc->uri = val;
    } else if (key == "match") {
      auto it = h_.matches.find(val);
      if (it == h_.matches.end()) {
        err(d, fmt::format("match \"{}\" not found", val));
        return;
      }
      hc->match = it->second;
    } else if (a == "mandatory" || a == "persistent") {
      // accepted (nginx Plus): peers start healthy here
    } else {
      err(d, fmt::format("invalid parameter \"{}\"", a));
      return;
    }
  }
  // The timeout of one check never exceeds its interval.
  hc->timeout_ms = std::min(hc->timeout_ms, hc->interval_ms);
  h_.health_checks.push_back(std::move(hc));
}

void Builder::build_pass(const Directive& d, LocationConf& lc) {
  auto pp =
      proxy::build_proxy_pass(d, cur_location_, cur_regex_, cur_named_or_if_, named_upstreams_,
                              implicit_upstreams_, previous_, h_.vars, errors_);
  if (pp) lc.proxy_pass = std::move(pp);
}

// nginx's default proxy headers (Host $proxy_host, Connection close) unless set, and the
// default hidden response headers.
void Builder::finalize_proxy(LocationConf& lc) {
  auto& sh = lc.proxy.set_headers;
  auto has = [&sh](std::string_view lname) {
    for (const auto& h : sh)
      if (h.lname == lname) return true;
    return false;
  };
  if (!has("host")) {
    proxy::SetHeader h;
    h.name = "Host";
    h.lname = "host";
    Status st = ComplexValue::compile("$proxy_host", h_.vars, &h.value);
    (void)st;
    sh.insert(sh.begin(), std::move(h));
  }
  if (!has("connection")) {
    proxy::SetHeader h;
    h.name = "Connection";
    h.lname = "connection";
    h.value = ComplexValue::literal_value("close");
    sh.insert(sh.begin() + 1, std::move(h));
  }
  for (const auto& d : proxy::default_hide_headers()) {
    bool present = false;
    for (const auto& x : lc.proxy.hide_headers) present = present || x == d;
    if (!present) lc.proxy.hide_headers.push_back(d);
  }
}

std::shared_ptr<obs::LogFile> Builder::log_file(const std::string& path, size_t buffer) {
  std::string e;
  return s_.log_files.get(path, buffer, workers_, &e);
}

void Builder::build_types(const Directive& d, LocationConf& lc) {
  auto table = std::make_unique<TypesMap>();
  for (const auto& t : d.block) {
    for (const auto& ext : t.args) (*table)[to_lower(ext)] = t.name;
  }
  lc.types = table.get();
  h_.types_tables.push_back(std::move(table));
}

void Builder::build_log_format(const Directive& d) {
  auto f = std::make_unique<obs::LogFormat>();
  f->name = d.args[0];
  size_t i = 1;
  if (d.args.size() > 2 && d.args[1].rfind("escape=", 0) == 0) {
    std::string_view e = std::string_view(d.args[1]).substr(7);
    if (e == "json")
      f->escape = obs::LogFormat::Escape::kJson;
    else if (e == "none")
      f->escape = obs::LogFormat::Escape::kNone;
    else if (e != "default") {
      err(d, fmt::format("unknown log format escaping \"{}\"", e));
      return;
    }
    i = 2;
  }
  std::string text;
  for (; i < d.args.size(); ++i) text += d.args[i];
  if (f->name == "combined" || formats_.count(f->name)) {
    err(d, fmt::format("duplicate \"log_format\" name \"{}\"", f->name));
    return;
  }
  if (!cv(d, text, &f->value)) return;
  formats_[f->name] = f.get();
  h_.log_formats.push_back(std::move(f));
}

NamedCaptures named_captures_of(const Regex& re, VariableTable& vars) {
  NamedCaptures out;
  for (const auto& g : re.named_groups()) out.emplace_back(g.index, vars.user_index(g.name));
  return out;
}

// Variables named by `set` and by named regex groups exist everywhere in nginx, whatever the
// order of directives: register them all before compiling any value that may use them.
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

bool parse_cidr(std::string_view text, AccessRule& rule) {
  std::string addr(text);
  int bits = -1;
  auto slash = addr.find('/');
  if (slash != std::string::npos) {
    auto b = parse_uint(std::string_view(addr).substr(slash + 1));
    if (!b) return false;
    bits = int(*b);
    addr.resize(slash);
  }
  if (inet_pton(AF_INET, addr.c_str(), rule.addr.data()) == 1) {
    rule.family = AF_INET;
    if (bits < 0) bits = 32;
    if (bits > 32) return false;
  } else if (inet_pton(AF_INET6, addr.c_str(), rule.addr.data()) == 1) {
    rule.family = AF_INET6;
    if (bits < 0) bits = 128;
    if (bits > 128) return false;
  } else {
    return false;
  }
  rule.mask.fill(0);
  for (int i = 0; i < bits; ++i) rule.mask[size_t(i / 8)] |= uint8_t(0x80 >> (i % 8));
  for (size_t i = 0; i < 16; ++i) rule.addr[i] &= rule.mask[i];
  return true;
}

// expires [modified] TIME | @TIME-OF-DAY | epoch | max | off (nginx's messages).
void Builder::build_expires(const Directive& d, LocationConf& lc) {
  using Kind = LocationConf::Expires::Kind;
  LocationConf::Expires e;
  const auto& a = d.args;
  bool modified = false;
  size_t i = 0;
  if (a.size() == 2) {
    if (a[0] != "modified") {
      err(d, "\"expires\" directive invalid value");
      return;
    }
    modified = true;
    i = 1;
  }
  std::string_view v = a[i];
  if (!modified && v == "epoch") {
    e.kind = Kind::kEpoch;
  } else if (!modified && v == "max") {
    e.kind = Kind::kMax;
  } else if (!modified && v == "off") {
    e.kind = Kind::kOff;
  } else {
    if (v.find('$') != std::string_view::npos) {
      err(d, "variables in \"expires\" are not supported by portico yet");
      return;
    }
    bool daily = false, minus = false;
    if (!v.empty() && v[0] == '@') {
      daily = true;
      v.remove_prefix(1);
    } else if (!v.empty() && v[0] == '-') {
      minus = true;
      v.remove_prefix(1);
    } else if (!v.empty() && v[0] == '+') {
      v.remove_prefix(1);
    }
    auto ms = parse_time_ms(v);
    if (!ms || *ms % 1000 != 0 || *ms / 1000 > uint64_t(INT32_MAX)) {
      err(d, "\"expires\" directive invalid value");
      return;
    }
    const int64_t secs = int64_t(*ms / 1000);
    if (daily) {
      if (secs >= 86400) {
        err(d, "daily time value must be less than 24 hours");
        return;
      }
      if (modified) {
        err(d, "daily time cannot be used with \"modified\" parameter");
        return;
      }
      e.kind = Kind::kDaily;
      e.seconds = secs;
    } else {
      e.kind = modified ? Kind::kModified : Kind::kAccess;
      e.seconds = minus ? -secs : secs;
    }
  }
  lc.expires = e;
}

bool Builder::apply_directive(const Directive& d, LocationConf& lc, LevelSeen& seen) {
  const std::string& n = d.name;
  const auto& a = d.args;
  if (n == "root" || n == "alias") {
    if (n == "alias" && lc.name.empty()) {
      err(d, "\"alias\" directive is not allowed here");
      return true;
    }
    std::string path = a[0];
    if (!path.empty() && path[0] != '/' && path[0] != '$') path = s_.prefix + path;
    // nginx strips a trailing slash from root (not from alias).
    if (n == "root" && path.size() > 1 && path.back() == '/') path.pop_back();
    cv(d, path, &lc.root);
    lc.alias = n == "alias";
  } else if (n == "index") {
    if (!seen.index) lc.index.clear();
    seen.index = true;
    for (const auto& x : a) {
      if (x.empty()) {
        err(d, "index \"\" in \"index\" directive is invalid");
        continue;
      }
      ComplexValue v;
      if (cv(d, x, &v)) lc.index.push_back(std::move(v));
    }
  } else if (n == "default_type") {
    lc.default_type = a[0];
  } else if (n == "types") {
    build_types(d, lc);
  } else if (n == "sendfile") {
    flag(d, &lc.sendfile);
  } else if (n == "tcp_nopush") {
    flag(d, &lc.tcp_nopush);
  } else if (n == "tcp_nodelay") {
    flag(d, &lc.tcp_nodelay);
  } else if (n == "chunked_transfer_encoding") {
    flag(d, &lc.chunked_transfer_encoding);
  } else if (n == "expires") {
    build_expires(d, lc);
  } else if (n.size() > 9 && (n.ends_with("_hash_max_size") || n.ends_with("_hash_bucket_size"))) {
    uint64_t v;
    size_arg(d, a[0], &v);
  } else if (n == "etag") {
    flag(d, &lc.etag);
  } else if (n == "server_tokens") {
    if (a[0] == "build")
      lc.server_tokens = true;
    else
      flag(d, &lc.server_tokens);
  } else if (n == "log_not_found") {
    flag(d, &lc.log_not_found);
  } else if (n == "recursive_error_pages") {
    flag(d, &lc.recursive_error_pages);
  } else if (n == "absolute_redirect") {
    flag(d, &lc.absolute_redirect);
  } else if (n == "port_in_redirect") {
    flag(d, &lc.port_in_redirect);
  } else if (n == "server_name_in_redirect") {
    flag(d, &lc.server_name_in_redirect);
  } else if (n == "merge_slashes") {
    flag(d, &lc.merge_slashes);
  } else if (n == "internal") {
    lc.internal = true;
  } else if (n == "if_modified_since") {
    if (a[0] == "off")
      lc.if_modified_since = IfModifiedSince::kOff;
    else if (a[0] == "exact")
      lc.if_modified_since = IfModifiedSince::kExact;
    else if (a[0] == "before")
      lc.if_modified_since = IfModifiedSince::kBefore;
    else
      err(d, fmt::format("invalid value \"{}\" in \"if_modified_since\" directive, it must be "
                         "\"off\", \"exact\" or \"before\"",
                         a[0]));
  } else if (n == "max_ranges") {
    auto v = parse_uint(a[0]);
    if (!v || *v > UINT32_MAX)
      err(d, "invalid number \"" + a[0] + "\"");
    else
      lc.max_ranges = uint32_t(*v);
  } else if (n == "keepalive_timeout") {
    time_arg(d, a[0], &lc.keepalive_timeout);
    uint64_t header_ms;
    if (a.size() > 1 && time_arg(d, a[1], &header_ms))
      lc.keepalive_header = int64_t(header_ms / 1000);
  } else if (n == "keepalive_requests") {
    auto v = parse_uint(a[0]);
    if (!v)
      err(d, "invalid number \"" + a[0] + "\"");
    else
      lc.keepalive_requests = *v;
  } else if (n == "client_body_timeout") {
    time_arg(d, a[0], &lc.client_body_timeout);
  } else if (n == "send_timeout") {
    time_arg(d, a[0], &lc.send_timeout);
  } else if (n == "client_max_body_size") {
    size_arg(d, a[0], &lc.client_max_body_size);
  } else if (n == "error_page") {
    if (!seen.error_page) lc.error_pages.clear();
    seen.error_page = true;
    ErrorPage ep;
    size_t last = a.size() - 1;
    size_t codes_end = last;
    if (a[last - 1].size() >= 1 && a[last - 1][0] == '=') {
      codes_end = last - 1;
      std::string_view o = std::string_view(a[last - 1]).substr(1);
      if (o.empty())
        ep.overwrite = 0;
      else if (auto v = parse_uint(o); v && *v >= 100 && *v <= 999)
        ep.overwrite = int(*v);
      else {
        err(d, "invalid value \"" + a[last - 1] + "\"");
        return true;
      }
    }
    for (size_t i = 0; i < codes_end; ++i) {
      auto v = parse_uint(a[i]);
      if (!v || *v < 300 || *v > 599) {
        err(d, fmt::format("value \"{}\" must be between 300 and 599", a[i]));
        return true;
      }
      ep.codes.push_back(int(*v));
    }
    if (ep.codes.empty()) {
      err(d, "invalid number of arguments in \"error_page\" directive");
      return true;
    }
    if (cv(d, a[last], &ep.uri)) lc.error_pages.push_back(std::move(ep));
  } else if (n == "add_header") {
    if (!seen.add_header) lc.add_headers.clear();
    seen.add_header = true;
    AddHeader ah;
    ah.name = a[0];
    if (a.size() == 3) {
      if (a[2] != "always") {
        err(d, fmt::format("invalid parameter \"{}\"", a[2]));
        return true;
      }
      ah.always = true;
    }
    if (cv(d, a[1], &ah.value)) lc.add_headers.push_back(std::move(ah));
  } else if (n == "allow" || n == "deny") {
    if (!seen.access) lc.access.clear();
    seen.access = true;
    AccessRule rule;
    rule.allow = n == "allow";
    if (a[0] == "all") {
      rule.all = true;
    } else if (a[0] == "unix:") {
      rule.family = AF_UNIX;
    } else if (!parse_cidr(a[0], rule)) {
      err(d, fmt::format("invalid parameter \"{}\"", a[0]));
      return true;
    }
    lc.access.push_back(rule);
  } else if (n == "set_real_ip_from") {
    // A level's own list replaces the inherited one, as nginx merges `from`.
    if (!seen.real_ip_from) lc.realip.from.clear();
    seen.real_ip_from = true;
    add_real_ip_from(d, lc.realip);
  } else if (n == "real_ip_header") {
    if (a[0] == "X-Real-IP") {
      lc.realip.source = RealIpSource::kXRealIp;
    } else if (a[0] == "X-Forwarded-For") {
      lc.realip.source = RealIpSource::kXForwardedFor;
    } else if (a[0] == "proxy_protocol") {
      // nginx accepts it whatever the listeners say; a listener without PROXY protocol (all of
      // portico's: `listen ... proxy_protocol` is refused) never changes the address then.
      lc.realip.source = RealIpSource::kProxyProtocol;
    } else {
      // Any other spelling, "x-forwarded-for" included, is a plain field: its first header.
      lc.realip.source = RealIpSource::kHeader;
      lc.realip.header = to_lower(a[0]);
    }
  } else if (n == "real_ip_recursive") {
    flag(d, &lc.realip.recursive);
  } else if (n == "access_log") {
    if (!seen.access_log) lc.access_logs.clear();
    seen.access_log = true;
    if (a[0] == "off") {
      lc.access_logs.clear();
      return true;
    }
    AccessLog al;
    std::string fmtname = a.size() > 1 ? a[1] : "combined";
    auto it = formats_.find(fmtname);
    if (it == formats_.end()) {
      err(d, fmt::format("unknown log format \"{}\"", fmtname));
      return true;
    }
    al.format = it->second;
    uint64_t buffer = 0;
    for (size_t i = 2; i < a.size(); ++i) {
      if (a[i].rfind("buffer=", 0) == 0) {
        if (!size_arg(d, a[i].substr(7), &buffer)) return true;
      } else if (a[i].rfind("flush=", 0) == 0) {
        uint64_t t;
        if (!time_arg(d, a[i].substr(6), &t)) return true;
      } else {
        err(d, fmt::format("invalid parameter \"{}\"", a[i]));
        return true;
      }
    }
    std::string path = config::resolve_path(s_.prefix, a[0]);
    al.file = log_file(path, buffer);
    if (!al.file) {
      err(d, fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)));
      return true;
    }
    lc.access_logs.push_back(al);
  } else if (n == "error_log") {
    // Per-server/location error logs are accepted; messages go to the main error logs.
  } else {
    return false;
  }
  return true;
}

// set_real_ip_from address | CIDR | unix: | hostname (resolved now, every address it has).
void Builder::add_real_ip_from(const Directive& d, RealIpConf& conf) {
  const std::string& v = d.args[0];
  if (v == "unix:") {
    Cidr c;
    c.family = AF_UNIX;
    conf.from.push_back(c);
    return;
  }
  Cidr c;
  CidrParse rc = parse_cidr(v, &c);
  if (rc != CidrParse::kError) {
    if (rc == CidrParse::kLowBits)
      warnings_.push_back(
          fmt::format("low address bits of {} are meaningless in {}:{}", v, d.file, d.line));
    conf.from.push_back(c);
    return;
  }
  // Not an address: a host name (nginx tries this for a bad CIDR too, hence its message).
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(v.c_str(), nullptr, &hints, &res) != 0 || !res) {
    err(d, fmt::format("host not found in set_real_ip_from \"{}\"", v));
    return;
  }
  for (const addrinfo* ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
      conf.from.push_back(cidr_of(ai->ai_addr));
  freeaddrinfo(res);
}

bool Builder::parse_if(const Directive& d, IfCondition& c) {
  // nginx tokenises "($a = b)" as "($a", "=", "b)": strip the parentheses.
  std::vector<std::string> args = d.args;
  if (args.empty() || args.front().empty() || args.front()[0] != '(' || args.back().empty() ||
      args.back().back() != ')') {
    err(d, fmt::format("invalid condition \"{}\"", args.empty() ? "" : args[0]));
    return false;
  }
  args.front().erase(0, 1);
  args.back().pop_back();
  if (args.front().empty()) args.erase(args.begin());
  if (!args.empty() && args.back().empty()) args.pop_back();
  using K = IfCondition::Kind;
  if (args.size() == 1) {
    if (args[0].empty() || args[0][0] != '$') {
      err(d, fmt::format("invalid condition \"{}\"", args[0]));
      return false;
    }
    c.kind = K::kTrue;
    return cv(d, args[0], &c.lhs);
  }
  if (args.size() == 2) {
    const std::string& op = args[0];
    static const std::pair<const char*, K> kOps[] = {
        {"-f", K::kFile},   {"!-f", K::kNotFile},   {"-d", K::kDir},  {"!-d", K::kNotDir},
        {"-e", K::kExists}, {"!-e", K::kNotExists}, {"-x", K::kExec}, {"!-x", K::kNotExec}};
    for (const auto& [name, kind] : kOps) {
      if (op == name) {
        c.kind = kind;
        return cv(d, args[1], &c.lhs);
      }
    }
    err(d, fmt::format("invalid condition \"{}\"", op));
    return false;
  }
  if (args.size() == 3) {
    if (args[0].empty() || args[0][0] != '$') {
      err(d, fmt::format("invalid condition \"{}\"", args[0]));
      return false;
    }
    if (!cv(d, args[0], &c.lhs)) return false;
    const std::string& op = args[1];
    if (op == "=" || op == "!=") {
      c.kind = op == "=" ? K::kEq : K::kNe;
      return cv(d, args[2], &c.rhs);
    }
    if (op == "~" || op == "~*" || op == "!~" || op == "!~*") {
      c.kind = op[0] == '!' ? K::kNotMatch : K::kMatch;
      std::string e;
      c.regex = Regex::compile(args[2], op.back() == '*', &e);
      if (!c.regex) {
        err(d, e);
        return false;
      }
      c.named = named_captures_of(*c.regex, h_.vars);
      return true;
    }
    err(d, fmt::format("unexpected \"{}\" in condition", op));
    return false;
  }
  err(d, "invalid condition");
  return false;
}

void Builder::add_rewrite_op(const Directive& d, LocationConf& lc, RewriteScript& script,
                             uint32_t ctx) {
  const auto& a = d.args;
  RewriteOp op{};
  if (d.name == "break") {
    op.kind = RewriteOp::Kind::kBreak;
  } else if (d.name == "set") {
    op.kind = RewriteOp::Kind::kSet;
    if (a[0].size() < 2 || a[0][0] != '$') {
      err(d, fmt::format("invalid variable name \"{}\"", a[0]));
      return;
    }
    op.var_index = h_.vars.user_index(std::string_view(a[0]).substr(1));
    if (!cv(d, a[1], &op.text)) return;
  } else if (d.name == "return") {
    op.kind = RewriteOp::Kind::kReturn;
    if (a.size() == 1 && (a[0].rfind("http://", 0) == 0 || a[0].rfind("https://", 0) == 0 ||
                          a[0].rfind("$scheme", 0) == 0)) {
      op.code = 302;
      op.has_text = true;
      if (!cv(d, a[0], &op.text)) return;
    } else {
      auto v = parse_uint(a[0]);
      if (!v || *v > 999) {
        err(d, fmt::format("invalid return code \"{}\"", a[0]));
        return;
      }
      op.code = int(*v);
      if (a.size() == 2) {
        op.has_text = true;
        if (!cv(d, a[1], &op.text)) return;
      }
    }
  } else if (d.name == "rewrite") {
    op.kind = RewriteOp::Kind::kRewrite;
    std::string e;
    op.regex = Regex::compile(a[0], false, &e);
    if (!op.regex) {
      err(d, e);
      return;
    }
    op.named = named_captures_of(*op.regex, h_.vars);
    std::string repl = a[1];
    op.redirect_url = repl.rfind("http://", 0) == 0 || repl.rfind("https://", 0) == 0 ||
                      repl.rfind("$scheme", 0) == 0;
    if (!repl.empty() && repl.back() == '?') {
      op.keep_args = false;
      repl.pop_back();
    }
    if (!cv(d, repl, &op.replacement)) return;
    if (a.size() == 3) {
      if (a[2] == "last")
        op.flag = RewriteOp::Flag::kLast;
      else if (a[2] == "break")
        op.flag = RewriteOp::Flag::kBreak;
      else if (a[2] == "redirect")
        op.flag = RewriteOp::Flag::kRedirect;
      else if (a[2] == "permanent")
        op.flag = RewriteOp::Flag::kPermanent;
      else {
        err(d, fmt::format("invalid parameter \"{}\"", a[2]));
        return;
      }
    }
  } else if (d.name == "if") {
    op.kind = RewriteOp::Kind::kIf;
    if (!parse_if(d, op.cond)) return;
    // The if block is a location of its own that inherits from the enclosing level.
    auto if_loc = std::make_unique<LocationConf>();
    inherit(*if_loc, lc);
    if_loc->name = lc.name;
    if_loc->alias = lc.alias;
    if_loc->alias_prefix_len = lc.alias_prefix_len;
    if_loc->alias_regex = lc.alias_regex;
    op.body = std::make_unique<RewriteScript>();
    uint32_t child = (ctx & (kServer | kServerIf)) ? kServerIf : kLocationIf;
    const bool saved = cur_named_or_if_;
    cur_named_or_if_ = true;
    apply_level(d.block, *if_loc, op.body.get(), child, nullptr);
    cur_named_or_if_ = saved;
    if (!if_loc->proxy_pass) if_loc->proxy_pass = lc.proxy_pass;
    finalize_proxy(*if_loc);
    if (child == kLocationIf) op.if_loc = if_loc.get();
    h_.extra_locs.push_back(std::move(if_loc));
  }
  (void)lc;
  script.push_back(std::move(op));
}

void Builder::apply_level(const std::vector<Directive>& block, LocationConf& lc,
                          RewriteScript* script, uint32_t ctx,
                          std::vector<const Directive*>* nested) {
  LevelSeen seen;
  proxy::begin_level(lc.proxy);
  // Simple directives first, so that a directive written after a nested block still applies to
  // it, as nginx merges after parsing. Rewrite-module directives keep their order in `script`;
  // `if` blocks inherit from this level once it is complete, so they are built last.
  std::vector<const Directive*> ifs;
  for (const auto& d : block) {
    if (d.name == "server" || d.name == "location") {
      if (nested) nested->push_back(&d);
      continue;
    }
    if (d.name == "return" || d.name == "rewrite" || d.name == "set" || d.name == "break" ||
        d.name == "if")
      continue;
    if (d.name == "listen" || d.name == "server_name" || d.name == "log_format" ||
        d.name == "try_files" || d.name == "client_header_timeout" ||
        d.name == "client_header_buffer_size" || d.name == "large_client_header_buffers")
      continue;  // handled by the caller for its level
    if (d.name == "upstream" || d.name == "map" || d.name == "match") continue;  // built first
    if (d.name == "health_check") continue;  // built with the location (needs proxy_pass)
    if (d.name == "proxy_pass") {
      build_pass(d, lc);
      continue;
    }
    if (proxy::apply_directive(d, lc.proxy, h_.vars, errors_)) continue;
    if (!apply_directive(d, lc, seen)) err(d, fmt::format("unknown directive \"{}\"", d.name));
  }
  if (!script) return;
  for (const auto& d : block) {
    if (d.name == "return" || d.name == "rewrite" || d.name == "set" || d.name == "break" ||
        d.name == "if")
      add_rewrite_op(d, lc, *script, ctx);
  }
}

std::unique_ptr<LocationConf> Builder::build_location(const Directive& d,
                                                      const LocationConf& parent, ServerConf& srv,
                                                      LocationDef* def) {
  auto lc = std::make_unique<LocationConf>();
  inherit(*lc, parent);
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
  cur_location_ = pattern;
  cur_regex_ = def->kind == Kind::kRegex || def->kind == Kind::kRegexCaseless;
  cur_named_or_if_ = def->kind == Kind::kNamed;
  apply_level(d.block, *lc, &lc->script, kLocation, &nested);
  finalize_proxy(*lc);
  for (const auto& x : d.block)
    if (x.name == "health_check") build_health_check(x, *lc);
  if (def->kind == Kind::kRegex || def->kind == Kind::kRegexCaseless) {
    std::string e;
    auto re = Regex::compile(pattern, def->kind == Kind::kRegexCaseless, &e);
    if (re) lc->named_captures = named_captures_of(*re, h_.vars);
  }
  if (lc->alias) {
    bool regex = def->kind == Kind::kRegex || def->kind == Kind::kRegexCaseless;
    lc->alias_regex = regex;
    lc->alias_prefix_len = pattern.size();
  }
  for (const auto& x : d.block) {
    if (x.name != "try_files") continue;
    auto tf = std::make_unique<TryFiles>();
    for (size_t i = 0; i + 1 < x.args.size(); ++i) {
      ComplexValue v;
      if (cv(x, x.args[i], &v)) tf->files.push_back(std::move(v));
    }
    const std::string& last = x.args.back();
    if (last.size() > 1 && last[0] == '=') {
      auto v = parse_uint(std::string_view(last).substr(1));
      if (!v || *v > 999)
        err(x, "invalid code \"" + last + "\"");
      else
        tf->fallback_code = int(*v);
    } else {
      cv(x, last, &tf->fallback);
    }
    lc->try_files = std::move(tf);
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

bool parse_listen_impl(const Directive& d, ListenAddr* out, bool* default_server,
                       std::string* error) {
  const std::string& spec = d.args[0];
  *default_server = false;
  if (spec.rfind("unix:", 0) == 0) {
    std::string path = spec.substr(5);
    sockaddr_un* un = reinterpret_cast<sockaddr_un*>(&out->addr);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
      *error = fmt::format("invalid path in \"{}\" of the \"listen\" directive", spec);
      return false;
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
    out->addr_len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    out->is_unix = true;
    out->key = spec;
  } else {
    std::string host, port;
    if (spec[0] == '[') {
      auto close = spec.find(']');
      if (close == std::string::npos) {
        *error = fmt::format("invalid IPv6 address in \"{}\" of the \"listen\" directive", spec);
        return false;
      }
      host = spec.substr(1, close - 1);
      if (close + 1 < spec.size()) {
        if (spec[close + 1] != ':') {
          *error = fmt::format("invalid port in \"{}\" of the \"listen\" directive", spec);
          return false;
        }
        port = spec.substr(close + 2);
      } else {
        port = "80";
      }
      sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
      in6->sin6_family = AF_INET6;
      if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
        *error = fmt::format("invalid IPv6 address in \"{}\" of the \"listen\" directive", spec);
        return false;
      }
    } else {
      auto colon = spec.rfind(':');
      if (colon == std::string::npos) {
        if (parse_uint(spec)) {
          host = "*";
          port = spec;
        } else {
          host = spec;
          port = "80";
        }
      } else {
        host = spec.substr(0, colon);
        port = spec.substr(colon + 1);
      }
      sockaddr_in* in4 = reinterpret_cast<sockaddr_in*>(&out->addr);
      in4->sin_family = AF_INET;
      if (host == "*" || host.empty()) {
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
      } else if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
        addrinfo hints{}, *ai = nullptr;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host.c_str(), nullptr, &hints, &ai) != 0 || !ai) {
          *error = fmt::format("host not found in \"{}\" of the \"listen\" directive", spec);
          return false;
        }
        in4->sin_addr = reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr;
        freeaddrinfo(ai);
      }
    }
    auto p = parse_uint(port);
    if (!p || *p < 1 || *p > 65535) {
      *error = fmt::format("invalid port in \"{}\" of the \"listen\" directive", spec);
      return false;
    }
    char text[INET6_ADDRSTRLEN];
    if (out->addr.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
      in6->sin6_port = htons(uint16_t(*p));
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      out->key = fmt::format("[{}]:{}", text, *p);
      out->addr_len = sizeof(sockaddr_in6);
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&out->addr);
      in4->sin_port = htons(uint16_t(*p));
      inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
      out->key = fmt::format("{}:{}", text, *p);
      out->addr_len = sizeof(sockaddr_in);
    }
  }
  for (size_t i = 1; i < d.args.size(); ++i) {
    const std::string& o = d.args[i];
    if (o == "default_server" || o == "default")
      *default_server = true;
    else if (o == "reuseport")
      out->reuseport = true;
    else if (o.rfind("backlog=", 0) == 0) {
      auto v = parse_uint(std::string_view(o).substr(8));
      if (!v || *v == 0 || *v > 65535) {
        *error = fmt::format("invalid backlog \"{}\"", o.substr(8));
        return false;
      }
      out->backlog = int(*v);
    } else if (o == "ipv6only=on")
      out->ipv6only = true;
    else if (o == "ipv6only=off")
      out->ipv6only = false;
    else if (o == "bind" || o == "deferred" || o.rfind("so_keepalive=", 0) == 0) {
      // accepted: portico binds every address it listens on
    } else if (o == "ssl" || o == "http2" || o == "quic" || o == "proxy_protocol") {
      *error = fmt::format(
          "the \"{}\" parameter of the \"listen\" directive is not supported by portico yet", o);
      return false;
    } else {
      *error = fmt::format("invalid parameter \"{}\"", o);
      return false;
    }
  }
  return true;
}

bool Builder::parse_listen(const Directive& d, ListenAddr* out, bool* default_server) {
  std::string e;
  if (parse_listen_impl(d, out, default_server, &e)) return true;
  err(d, e);
  return false;
}

void Builder::build_server(const Directive& d, const LocationConf& http_loc) {
  auto srv = std::make_unique<ServerConf>();
  srv->file = d.file;
  srv->line = d.line;
  auto sl = std::make_unique<LocationConf>();
  inherit(*sl, http_loc);
  sl->server = srv.get();
  std::vector<const Directive*> nested;
  apply_level(d.block, *sl, &srv->script, kServer, &nested);
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
      time_arg(x, x.args[0], &srv->client_header_timeout);
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
  srv->primary_name = srv->names.empty() ? "" : srv->names[0];
  if (!srv->primary_name.empty() &&
      (srv->primary_name[0] == '*' || srv->primary_name[0] == '~' || srv->primary_name[0] == '.'))
    srv->primary_name = srv->primary_name;  // nginx uses the first name as written
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
      if (pl.addr.backlog != 511 || pl.addr.reuseport) {
        ac->listen.backlog = pl.addr.backlog;
        ac->listen.reuseport = ac->listen.reuseport || pl.addr.reuseport;
      }
    }
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

void Builder::build(const Directive& http) {
  prescan_variables(http.block, h_.vars);
  proxy::build_upstreams(http.block, previous_, h_.vars, named_upstreams_, errors_);
  for (const auto& d : http.block) {
    if (d.name == "map") build_map(d);
    if (d.name == "match") build_match(d);
  }
  // Predefined log format.
  auto combined = std::make_unique<obs::LogFormat>();
  combined->name = "combined";
  Status st = ComplexValue::compile(obs::kCombinedFormat, h_.vars, &combined->value);
  (void)st;
  formats_["combined"] = combined.get();
  h_.log_formats.push_back(std::move(combined));
  for (const auto& d : http.block)
    if (d.name == "log_format") build_log_format(d);

  LocationConf http_loc;
  // nginx's built-in types when none are configured.
  auto defaults = std::make_unique<TypesMap>();
  (*defaults)["html"] = "text/html";
  (*defaults)["gif"] = "image/gif";
  (*defaults)["jpg"] = "image/jpeg";
  http_loc.types = defaults.get();
  h_.types_tables.push_back(std::move(defaults));
  http_loc.root = ComplexValue::literal_value(s_.prefix + "html");
  // Default access log, as nginx: logs/access.log in the combined format.
  bool has_access_log = false;
  for (const auto& d : http.block) has_access_log = has_access_log || d.name == "access_log";
  std::vector<const Directive*> nested;
  apply_level(http.block, http_loc, nullptr, kHttp, &nested);
  if (!has_access_log) {
    std::string path = config::resolve_path(s_.prefix, "logs/access.log");
    auto f = log_file(path, 0);
    if (!f) {
      errors_.push_back({fmt::format("open() \"{}\" failed ({})", path, errno_text(errno)),
                         http.file, http.line});
      return;
    }
    http_loc.access_logs.push_back(AccessLog{f, formats_["combined"]});
  }
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
        time_arg(d, d.args[0], &srv.client_header_timeout);
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
      }
    }
  }
  bind_servers();
  h_.upstreams = named_upstreams_;
  for (const auto& [hostport, uc] : implicit_upstreams_) h_.upstreams["\x01" + hostport] = uc;
}

}  // namespace

bool parse_access_rule(std::string_view text, AccessRule& rule) {
  return parse_cidr(text, rule);
}

bool parse_listen(const Directive& d, ListenAddr* out, bool* default_server, std::string* error) {
  return parse_listen_impl(d, out, default_server, error);
}

void build_http(const Directive& http, Snapshot& snapshot, int workers, const Snapshot* previous,
                std::vector<ConfigError>& errors, std::vector<std::string>& warnings) {
  Builder b(snapshot, workers, previous, errors, warnings);
  b.build(http);
}

}  // namespace portico::http
