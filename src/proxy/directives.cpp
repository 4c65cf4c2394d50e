// The proxy module's directives (nginx's ngx_http_proxy_module and ngx_http_upstream_module):
// proxy_* settings, proxy_pass, upstream{} and match{} blocks, health_check. One row per
// directive in kCommands; setters below it. Control thread, while a snapshot is built.
#include "proxy/directives.h"

#include <arpa/inet.h>

#include <cassert>

#include <fmt/format.h>

#include "core/strings.h"
#include "http/cidr.h"
#include "http/connection.h"
#include "http/level.h"
#include "http/phases.h"
#include "proxy/session.h"
#include "proxy/ssl_directives.h"
#include "proxy/variables.h"

namespace portico::proxy {

using config::BlockKind;
using config::ConfigError;
using config::Directive;
using http::Command;
using http::HttpConf;
using http::kHSL;
using http::Level;
using http::When;
using namespace config;  // context constants

const std::vector<std::string>& default_hide_headers() {
  // nginx: ngx_http_proxy_hide_headers, plus Date and Server which nginx replaces with its own.
  static const std::vector<std::string> kList = {"date",
                                                 "server",
                                                 "x-pad",
                                                 "x-accel-expires",
                                                 "x-accel-redirect",
                                                 "x-accel-limit-rate",
                                                 "x-accel-buffering",
                                                 "x-accel-charset"};
  return kList;
}

namespace {

http::Step proxy_handle(http::Request&) {
  return http::Step::take_over();
}

http::ContentSession* proxy_open(http::ClientStream* c, http::Request* r) {
  return new Session(c, r, static_cast<Context*>(r->conn->module_state(proxy_module)));
}

std::unique_ptr<http::ModuleWorkerState> create_context(EventLoop& loop,
                                                        upstream::Local& upstreams) {
  return std::make_unique<Context>(loop, upstreams);
}

}  // namespace

const http::ContentHandler kProxyContent = {
    .name = "proxy", .handle = proxy_handle, .open = proxy_open, .auto_redirect = true};

namespace {

// proxy_pass URL: an upstream block by name, or a host:port / unix: socket that becomes an
// implicit group (shared by every location that names it), or a URL with variables resolved
// per request. A regex or named location, or an `if`, may not add a URI part (nginx).
std::unique_ptr<ProxyPass> build_proxy_pass(Level& lv, const Directive& d) {
  ProxyMainConf& mc = lv.main_conf<ProxyMainConf>();
  const upstream::UpstreamMap& upstreams = lv.http().upstreams;
  upstream::UpstreamMap& implicit = mc.implicit;
  const upstream::UpstreamMap* previous = lv.previous() ? &lv.previous()->upstreams : nullptr;
  const bool regex_location = lv.regex_location, named_or_if = lv.named_or_if;
  auto pp = std::make_unique<ProxyPass>();
  const std::string& url = d.args[0];
  pp->location = std::string(lv.location);
  if (url.find('$') != std::string::npos) {
    if (!lv.value(d, url, &pp->url)) return nullptr;
    pp->has_variables = true;
    pp->ssl = !istarts_with(url, "http://");  // may be https: the context is built
    return pp;
  }
  std::string rest;
  if (istarts_with(url, "http://")) {
    rest = url.substr(7);
  } else if (istarts_with(url, "https://")) {
    rest = url.substr(8);
    pp->ssl = true;
  } else {
    lv.error(d, "invalid URL prefix");
    return nullptr;
  }
  // unix:/path:/uri  (nginx's form: the socket path ends at the next ':')
  std::string hostport;
  if (istarts_with(rest, "unix:")) {
    auto colon = rest.find(':', 5);
    hostport = colon == std::string::npos ? rest : rest.substr(0, colon);
    if (colon != std::string::npos) {
      pp->has_uri = true;
      pp->uri = rest.substr(colon + 1);
    }
  } else {
    auto slash = rest.find('/');
    hostport = slash == std::string::npos ? rest : rest.substr(0, slash);
    if (slash != std::string::npos) {
      pp->has_uri = true;
      pp->uri = rest.substr(slash);
    }
  }
  if (hostport.empty()) {
    lv.error(d, fmt::format("no host in \"{}\" of the \"proxy_pass\" directive", url));
    return nullptr;
  }
  if (pp->has_uri && (regex_location || named_or_if)) {
    lv.error(d,
             "\"proxy_pass\" cannot have URI part in location given by regular expression, "
             "or inside named location, or inside \"if\" statement, or inside "
             "\"limit_except\" block");
    return nullptr;
  }
  // nginx sends "Host: localhost" to unix-socket upstreams.
  pp->proxy_host = istarts_with(hostport, "unix:") ? std::string("localhost") : hostport;
  auto colon = hostport.rfind(':');
  bool has_port = colon != std::string::npos && hostport.find(']', colon) == std::string::npos &&
                  !istarts_with(hostport, "unix:");
  pp->proxy_port = has_port ? hostport.substr(colon + 1) : pp->ssl ? "443" : "80";
  // An https group without a port is another group than the http one of the same host.
  const std::string key =
      !has_port && pp->ssl && !istarts_with(hostport, "unix:") ? hostport + ":443" : hostport;
  // An upstream block of that name (without a port) wins, as nginx.
  if (!has_port) {
    auto it = upstreams.find(hostport);
    if (it != upstreams.end()) {
      pp->upstream = it->second;
      return pp;
    }
  }
  auto it = implicit.find(key);
  if (it != implicit.end()) {
    pp->upstream = it->second;
    return pp;
  }
  upstream::GroupConfig gc;
  gc.name = key;
  std::string e;
  if (!upstream::resolve_peers(hostport, pp->ssl ? 443 : 80, false, &gc.peers, &e)) {
    lv.error(d, e);
    return nullptr;
  }
  auto uc = std::make_shared<upstream::UpstreamConf>();
  uc->implicit = true;
  uc->file = d.file;
  uc->line = d.line;
  const upstream::Group* prev = nullptr;
  if (previous) {
    auto p = previous->find("\x01" + key);
    if (p != previous->end()) prev = p->second->group.get();
  }
  Status st = upstream::Group::create(std::move(gc), prev, &uc->group);
  if (!st) {
    lv.error(d, st.message());
    return nullptr;
  }
  implicit[key] = uc;
  pp->upstream = std::move(uc);
  return pp;
}

// match NAME { status ...; header ...; body ...; } (nginx Plus syntax).
void build_match(Level& lv, const Directive& d) {
  ProxyMainConf& mc = lv.main_conf<ProxyMainConf>();
  auto m = std::make_shared<MatchConf>();
  m->name = d.args[0];
  if (mc.matches.count(m->name)) {
    lv.error(d, fmt::format("duplicate match \"{}\"", m->name));
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
          lv.error(e, fmt::format("invalid status \"{}\"", code));
          continue;
        }
        m->status.emplace_back(int(*lo), int(*hi));
      }
    } else if (e.name == "header") {
      using Op = MatchConf::HeaderTest::Op;
      MatchConf::HeaderTest t;
      if (a.empty()) {
        lv.error(e, "invalid number of arguments in \"header\" match");
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
          lv.error(e, error);
          continue;
        }
        t.regex = std::move(re);
      } else {
        lv.error(e, "invalid \"header\" match");
        continue;
      }
      m->headers.push_back(std::move(t));
    } else if (e.name == "body") {
      if (a.size() != 2 || (a[0] != "~" && a[0] != "!~")) {
        lv.error(e, "invalid \"body\" match");
        continue;
      }
      std::string error;
      auto re = Regex::compile(a[1], false, &error);
      if (!re) {
        lv.error(e, error);
        continue;
      }
      m->body = std::move(re);
      m->body_negated = a[0] == "!~";
    } else {
      lv.error(e, fmt::format("unknown directive \"{}\" in match", e.name));
    }
  }
  mc.matches[m->name] = std::move(m);
}

// health_check [interval=T] [fails=N] [passes=N] [uri=URI] [match=NAME] [port=N], after the
// location is complete (it needs the location's proxy_pass and timeouts).
void set_health_check(Level& lv, const Directive& d) {
  ProxyMainConf& mc = lv.main_conf<ProxyMainConf>();
  const ProxyConf& pc = lv.conf<ProxyConf>();
  if (!pc.pass || !pc.pass->upstream) {
    lv.error(d, "\"health_check\" requires \"proxy_pass\" to an upstream in the same location");
    return;
  }
  auto hc = std::make_shared<HealthCheckConf>();
  hc->group = pc.pass->upstream->group;
  hc->host = pc.pass->proxy_host;
  hc->timeout_ms = std::min(pc.connect_timeout_ms + pc.read_timeout_ms, uint64_t(60'000));
  for (const auto& a : d.args) {
    auto eq = a.find('=');
    std::string key = a.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "interval" || key == "jitter") {
      uint64_t ms;
      if (!lv.msec(d, val, &ms)) return;
      if (key == "interval") hc->interval_ms = std::max<uint64_t>(ms, 10);
    } else if (key == "fails" || key == "passes" || key == "port") {
      auto v = parse_uint(val);
      if (!v || *v == 0 || (key == "port" && *v > 65535)) {
        lv.error(d, fmt::format("invalid parameter \"{}\"", a));
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
        lv.error(d, fmt::format("invalid parameter \"{}\"", a));
        return;
      }
      hc->uri = val;
    } else if (key == "match") {
      auto it = mc.matches.find(val);
      if (it == mc.matches.end()) {
        lv.error(d, fmt::format("match \"{}\" not found", val));
        return;
      }
      hc->match = it->second;
    } else if (a == "mandatory" || a == "persistent") {
      // accepted (nginx Plus): peers start healthy here
    } else {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a));
      return;
    }
  }
  // The timeout of one check never exceeds its interval.
  hc->timeout_ms = std::min(hc->timeout_ms, hc->interval_ms);
  mc.health_checks.push_back(std::move(hc));
}

// After a level: nginx's default proxy headers (Host $proxy_host, Connection close) unless set,
// the default hidden response headers, and proxy_pass kept only where the proxy produces the
// content (a nested location does not inherit it; an `if` does).
void finish_level(Level& lv) {
  ProxyConf& pc = lv.conf<ProxyConf>();
  if (lv.loc.content != &kProxyContent) pc.pass = nullptr;
  auto& sh = pc.set_headers;
  auto has = [&sh](std::string_view lname) {
    for (const auto& h : sh)
      if (h.lname == lname) return true;
    return false;
  };
  if (!has("host")) {
    SetHeader h;
    h.name = "Host";
    h.lname = "host";
    Status st = http::ComplexValue::compile("$proxy_host", lv.vars(), &h.value);
    assert(st);
    sh.insert(sh.begin(), std::move(h));
  }
  if (!has("connection")) {
    SetHeader h;
    h.name = "Connection";
    h.lname = "connection";
    h.value = http::ComplexValue::literal_value("close");
    sh.insert(sh.begin() + 1, std::move(h));
  }
  for (const auto& d : default_hide_headers()) {
    bool present = false;
    for (const auto& x : pc.hide_headers) present = present || x == d;
    if (!present) pc.hide_headers.push_back(d);
  }
  build_ssl_context(lv, pc);
}

void set_pass(Level& lv, const Directive& d) {
  auto pp = build_proxy_pass(lv, d);
  if (!pp) return;
  lv.conf<ProxyConf>().pass = std::move(pp);
  lv.loc.content = &kProxyContent;
}

void set_header(Level& lv, const Directive& d) {
  ProxyConf& s = lv.conf<ProxyConf>();
  if (lv.first(d)) s.set_headers.clear();
  SetHeader h;
  h.name = d.args[0];
  h.lname = to_lower(d.args[0]);
  if (!lv.value(d, d.args[1], &h.value)) return;
  for (auto& old : s.set_headers) {
    if (old.lname == h.lname) {
      old = std::move(h);
      return;
    }
  }
  s.set_headers.push_back(std::move(h));
}

void hide_header(Level& lv, const Directive& d) {
  lv.conf<ProxyConf>().hide_headers.push_back(to_lower(d.args[0]));
}

void pass_header(Level& lv, const Directive& d) {
  lv.conf<ProxyConf>().pass_headers.push_back(to_lower(d.args[0]));
}

void set_http_version(Level& lv, const Directive& d) {
  const std::string& a = d.args[0];
  if (a == "1.0" || a == "1.1")
    lv.conf<ProxyConf>().http_minor = a == "1.1" ? 1 : 0;
  else
    lv.error(d, fmt::format("invalid value \"{}\" in \"proxy_http_version\" directive, it must be "
                            "\"1.0\" or \"1.1\"",
                            a));
}

void set_method(Level& lv, const Directive& d) {
  ProxyConf& s = lv.conf<ProxyConf>();
  lv.value(d, d.args[0], &s.method);
  s.has_method = true;
}

void set_body(Level& lv, const Directive& d) {
  ProxyConf& s = lv.conf<ProxyConf>();
  if (lv.value(d, d.args[0], &s.set_body)) s.has_set_body = true;
}

void set_buffer_size(Level& lv, const Directive& d) {
  auto v = parse_size(d.args[0]);
  if (!v || *v == 0)
    lv.error(d, "\"proxy_buffer_size\" directive invalid value");
  else
    lv.conf<ProxyConf>().buffer_size = *v;
}

void set_buffers(Level& lv, const Directive& d) {
  auto num = parse_uint(d.args[0]);
  auto size = parse_size(d.args[1]);
  if (!num || !size || *num == 0 || *size == 0) {
    lv.error(d, "invalid value \"" + d.args[0] + "\"");
    return;
  }
  lv.conf<ProxyConf>().buffers_num = uint32_t(*num);
  lv.conf<ProxyConf>().buffers_size = *size;
}

void set_max_temp_file_size(Level& lv, const Directive& d) {
  auto v = parse_size(d.args[0]);
  if (!v)
    lv.error(d, "\"proxy_max_temp_file_size\" directive invalid value");
  else
    lv.conf<ProxyConf>().max_temp_file_size = *v;
}

void set_temp_path(Level& lv, const Directive& d) {
  // nginx's `levels` arguments name a directory hierarchy for cache-like spooling; portico's
  // temporary files are anonymous (O_TMPFILE), so only the directory matters.
  for (size_t i = 1; i < d.args.size(); ++i) {
    auto l = parse_uint(d.args[i]);
    if (!l || *l < 1 || *l > 2) lv.error(d, "invalid value \"" + d.args[i] + "\"");
  }
  lv.conf<ProxyConf>().temp_path = d.args[0];
}

// Accepted for compatibility, validated as a size: proxy_busy_buffers_size and
// proxy_temp_file_write_size (portico writes to the client whatever it holds as soon as the
// client can take it, and to the temporary file in whole reads), the headers hash sizes.
void accept_proxy_size(Level& lv, const Directive& d) {
  if (!parse_size(d.args[0])) lv.error(d, "\"" + d.name + "\" directive invalid value");
}

void set_bind(Level& lv, const Directive& d) {
  ProxyConf& s = lv.conf<ProxyConf>();
  const auto& a = d.args;
  if (a[0] == "off") {
    s.has_bind = false;
    return;
  }
  if (a.size() > 1 && a[1] != "transparent") {
    lv.error(d, "invalid parameter \"" + a[1] + "\"");
    return;
  }
  http::ComplexValue v;
  if (!lv.value(d, a[0], &v)) return;
  SockAddr sa;
  if (v.is_literal() && !http::parse_addr_port(v.literal(), &sa)) {
    lv.error(d, "invalid address \"" + a[0] + "\" in \"proxy_bind\" directive");
    return;
  }
  s.has_bind = true;
  s.bind = std::move(v);
  s.bind_transparent = a.size() > 1;
}

void set_cache(Level& lv, const Directive& d) {
  if (d.args[0] != "off")
    lv.error(d, "\"proxy_cache\": response caching is not supported by portico yet");
}

// Without proxy_cache (which portico refuses) these change nothing, in nginx too.
void accept_cache_condition(Level& lv, const Directive& d) {
  for (const auto& v : d.args) {
    http::ComplexValue cv;
    lv.value(d, v, &cv);
  }
}

void set_ignore_headers(Level& lv, const Directive& d) {
  static const char* const kKnown[] = {"x-accel-redirect",  "x-accel-expires", "x-accel-limit-rate",
                                       "x-accel-buffering", "x-accel-charset", "expires",
                                       "cache-control",     "set-cookie",      "vary"};
  ProxyConf& s = lv.conf<ProxyConf>();
  s.ignore_x_accel_buffering = false;
  s.ignore_x_accel_limit_rate = false;
  s.ignore_x_accel_redirect = false;
  for (const auto& v : d.args) {
    bool known = false;
    for (const char* k : kKnown) known = known || iequals(v, k);
    if (!known) lv.error(d, "invalid value \"" + v + "\" in \"proxy_ignore_headers\" directive");
    if (iequals(v, "x-accel-buffering")) s.ignore_x_accel_buffering = true;
    if (iequals(v, "x-accel-limit-rate")) s.ignore_x_accel_limit_rate = true;
    if (iequals(v, "x-accel-redirect")) s.ignore_x_accel_redirect = true;
  }
}

void set_next_upstream(Level& lv, const Directive& d) {
  static const std::pair<std::string_view, uint32_t> kConditions[] = {
      {"error", kNextError},
      {"timeout", kNextTimeout},
      {"invalid_header", kNextInvalidHeader},
      {"http_500", kNextHttp500},
      {"http_502", kNextHttp502},
      {"http_503", kNextHttp503},
      {"http_504", kNextHttp504},
      {"http_403", kNextHttp403},
      {"http_404", kNextHttp404},
      {"http_429", kNextHttp429},
      {"non_idempotent", kNextNonIdempotent}};
  uint32_t mask = 0;
  for (const auto& v : d.args) {
    if (v == "off") {
      if (d.args.size() > 1) lv.error(d, "invalid value \"off\"");
      mask = 0;
      continue;
    }
    bool known = false;
    for (const auto& [name, bit] : kConditions) {
      if (v == name) {
        mask |= bit;
        known = true;
      }
    }
    if (!known) lv.error(d, fmt::format("invalid value \"{}\"", v));
  }
  lv.conf<ProxyConf>().next_upstream = mask;
}

void set_redirect(Level& lv, const Directive& d) {
  ProxyConf& s = lv.conf<ProxyConf>();
  const auto& a = d.args;
  if (lv.first(d)) {
    s.redirects.clear();
    s.redirect_off = false;
  }
  if (a.size() == 1) {
    if (a[0] == "off") {
      s.redirect_off = true;
      s.redirects.clear();
    } else if (a[0] == "default") {
      Redirect r;
      r.is_default = true;
      s.redirects.push_back(std::move(r));
    } else {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a[0]));
    }
    return;
  }
  Redirect r;
  if (!a[0].empty() && a[0][0] == '~') {
    bool caseless = a[0].size() > 1 && a[0][1] == '*';
    std::string e;
    auto re = Regex::compile(std::string_view(a[0]).substr(caseless ? 2 : 1), caseless, &e);
    if (!re) {
      lv.error(d, e);
      return;
    }
    r.regex = std::move(re);
  } else if (!lv.value(d, a[0], &r.from)) {
    return;
  }
  if (lv.value(d, a[1], &r.to)) s.redirects.push_back(std::move(r));
}

// proxy_cookie_domain off | [~]domain replacement; proxy_cookie_path off | [~|~*]path
// replacement. Several per level; a level with its own replaces the inherited ones.
template <bool kDomain>
void set_cookie_rule(Level& lv, const Directive& d) {
  ProxyConf& s = lv.conf<ProxyConf>();
  std::vector<CookieRule>& rules = kDomain ? s.cookie_domains : s.cookie_paths;
  const auto& a = d.args;
  if (lv.first(d)) rules.clear();
  if (a.size() == 1) {
    if (a[0] != "off") lv.error(d, fmt::format("invalid parameter \"{}\"", a[0]));
    rules.clear();
    return;
  }
  CookieRule rule;
  std::string_view from = a[0];
  std::string_view to = a[1];
  if (!from.empty() && from[0] == '~') {
    from.remove_prefix(1);
    bool caseless = kDomain;  // a domain is matched ignoring case (nginx)
    if (!kDomain && !from.empty() && from[0] == '*') {
      from.remove_prefix(1);
      caseless = true;
    }
    std::string e;
    auto re = Regex::compile(from, caseless, &e);
    if (!re) {
      lv.error(d, e);
      return;
    }
    rule.regex = std::move(re);
  } else {
    if (kDomain && !from.empty() && from[0] == '.') from.remove_prefix(1);
    if (!lv.value(d, std::string(from), &rule.pattern)) return;
  }
  if (kDomain && !to.empty() && to[0] == '.') to.remove_prefix(1);
  if (lv.value(d, std::string(to), &rule.replacement)) rules.push_back(std::move(rule));
}

const upstream::UpstreamMap* previous_upstreams(Level& lv) {
  return lv.previous() ? &lv.previous()->upstreams : nullptr;
}

// Before the servers: upstream{} blocks (with their `hash` keys compiled against the http
// variables: the upstream layer keeps only the text) and match{} blocks.
void begin_http(Level& lv, const Directive& http) {
  HttpConf& h = lv.http();
  upstream::UpstreamMap named;
  std::vector<ConfigError> errors;
  upstream::build_upstreams(http.block, previous_upstreams(lv), named, errors);
  for (auto& e : errors) lv.host().error(e.file, e.line, std::move(e.message));
  for (const auto& [name, uc] : named) {
    const std::string& text = uc->group->hash_key();
    if (text.empty()) continue;
    http::ComplexValue key;
    if (Status st = http::ComplexValue::compile(text, lv.vars(), &key); !st) {
      lv.host().error(uc->hash_file, uc->hash_line, st.message());
      continue;
    }
    h.hash_keys.emplace(uc->group.get(), std::move(key));
  }
  h.upstreams = std::move(named);
  for (const auto& d : http.block)
    if (d.name == "match") build_match(lv, d);
}

// Implicit groups join the named ones, keyed "\x01host:port" (a reload finds them there).
void end_http(Level& lv) {
  for (const auto& [hostport, uc] : lv.main_conf<ProxyMainConf>().implicit)
    lv.http().upstreams["\x01" + hostport] = uc;
}

const Command kCommands[] = {
    {{"proxy_pass", kLocation | kLocationIf, 1, 1, BlockKind::kNone, 0, true}, set_pass},
    {{"proxy_set_header", kHSL, 2, 2, BlockKind::kNone, 0, false}, set_header},
    {{"proxy_hide_header", kHSL, 1, 1, BlockKind::kNone, 0, false}, hide_header},
    {{"proxy_pass_header", kHSL, 1, 1, BlockKind::kNone, 0, false}, pass_header},
    {{"proxy_pass_request_headers", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::pass_request_headers>},
    {{"proxy_pass_request_body", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::pass_request_body>},
    {{"proxy_http_version", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_http_version},
    {{"proxy_method", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_method},
    {{"proxy_limit_rate", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_size<&ProxyConf::limit_rate>},
    {{"proxy_set_body", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_body},
    {{"proxy_buffering", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::buffering>},
    {{"proxy_request_buffering", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::request_buffering>},
    {{"proxy_buffer_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_buffer_size},
    {{"proxy_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true}, set_buffers},
    {{"proxy_busy_buffers_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, accept_proxy_size},
    {{"proxy_max_temp_file_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_max_temp_file_size},
    {{"proxy_temp_file_write_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, accept_proxy_size},
    {{"proxy_temp_path", kHSL, 1, 4, BlockKind::kNone, 0, true}, set_temp_path},
    {{"proxy_ignore_client_abort", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::ignore_client_abort>},
    {{"proxy_socket_keepalive", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::socket_keepalive>},
    {{"proxy_bind", kHSL, 1, 2, BlockKind::kNone, 0, true}, set_bind},
    {{"proxy_headers_hash_max_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, accept_proxy_size},
    {{"proxy_headers_hash_bucket_size", kHSL, 1, 1, BlockKind::kNone, 0, true}, accept_proxy_size},
    {{"proxy_cache", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_cache},
    {{"proxy_cache_bypass", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false}, accept_cache_condition},
    {{"proxy_no_cache", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false}, accept_cache_condition},
    {{"proxy_ignore_headers", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_ignore_headers},
    {{"proxy_connect_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_msec<&ProxyConf::connect_timeout_ms>},
    {{"proxy_send_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_msec<&ProxyConf::send_timeout_ms>},
    {{"proxy_read_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_msec<&ProxyConf::read_timeout_ms>},
    {{"proxy_next_upstream", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_next_upstream},
    {{"proxy_next_upstream_tries", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_number<&ProxyConf::next_upstream_tries>},
    {{"proxy_next_upstream_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_msec<&ProxyConf::next_upstream_timeout_ms>},
    {{"proxy_intercept_errors", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::intercept_errors>},
    {{"proxy_redirect", kHSL, 1, 2, BlockKind::kNone, 0, false}, set_redirect},
    {{"proxy_cookie_domain", kHSL, 1, 2, BlockKind::kNone, 0, false}, set_cookie_rule<true>},
    {{"proxy_cookie_path", kHSL, 1, 2, BlockKind::kNone, 0, false}, set_cookie_rule<false>},
    {{"proxy_ssl_protocols", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_ciphers", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_server_name", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::ssl_server_name>},
    {{"proxy_ssl_name", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl_name},
    {{"proxy_ssl_verify", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::ssl_verify>},
    {{"proxy_ssl_verify_depth", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_trusted_certificate", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_crl", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_session_reuse", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&ProxyConf::ssl_session_reuse>},
    {{"proxy_ssl_certificate", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_certificate_key", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_password_file", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_ssl},
    {{"proxy_ssl_conf_command", kHSL, 2, 2, BlockKind::kNone, 0, false}, set_ssl},
    {{"health_check", kLocation, 0, kAnyArgs, BlockKind::kNone, 0, false},
     set_health_check,
     When::kAfter},
    // Blocks built before the servers (begin_http).
    {{"match", kHttp, 1, 1, BlockKind::kFreeform, kMap, false}, nullptr, When::kBuilder},
    {{"upstream", kHttp, 1, 1, BlockKind::kBlock, kUpstream, false}, nullptr, When::kBuilder},
    {{"server", kUpstream, 1, kAnyArgs, BlockKind::kNone, 0, false}, nullptr, When::kBuilder},
    {{"least_conn", kUpstream, 0, 0, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"ip_hash", kUpstream, 0, 0, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"hash", kUpstream, 1, 2, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"random", kUpstream, 0, 2, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"keepalive", kUpstream, 1, 1, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"keepalive_timeout", kUpstream, 1, 1, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"keepalive_requests", kUpstream, 1, 1, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"keepalive_time", kUpstream, 1, 1, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"zone", kUpstream, 1, 2, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"queue", kUpstream, 1, 2, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"resolver", kUpstream, 1, kAnyArgs, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
    {{"resolver_timeout", kUpstream, 1, 1, BlockKind::kNone, 0, true}, nullptr, When::kBuilder},
};

}  // namespace

http::Module proxy_module = {.name = "proxy",
                             .commands = kCommands,
                             .variables = variables(),
                             .create_conf = http::create_conf<ProxyConf>,
                             .create_main_conf = http::create_conf<ProxyMainConf>,
                             .begin_http = begin_http,
                             .finish_level = finish_level,
                             .end_http = end_http,
                             .create_worker_state = create_context};

}  // namespace portico::proxy
