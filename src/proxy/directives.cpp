#include "proxy/directives.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

#include <fmt/format.h>

#include "core/strings.h"

namespace portico::proxy {

using config::BlockKind;
using config::ConfigError;
using config::Directive;
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

void register_directives(Registry& r) {
  constexpr uint32_t kHSL = kHttp | kServer | kLocation;
  r.add({
      {"proxy_pass", kLocation | kLocationIf, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_set_header", kHSL, 2, 2, BlockKind::kNone, 0, false},
      {"proxy_hide_header", kHSL, 1, 1, BlockKind::kNone, 0, false},
      {"proxy_pass_header", kHSL, 1, 1, BlockKind::kNone, 0, false},
      {"proxy_pass_request_headers", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_pass_request_body", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_http_version", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_method", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_buffering", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_request_buffering", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_buffer_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_buffers", kHSL, 2, 2, BlockKind::kNone, 0, true},
      {"proxy_busy_buffers_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_max_temp_file_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_temp_file_write_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_temp_path", kHSL, 1, 4, BlockKind::kNone, 0, true},
      {"proxy_ignore_client_abort", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_socket_keepalive", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_bind", kHSL, 1, 2, BlockKind::kNone, 0, true},
      {"proxy_headers_hash_max_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_headers_hash_bucket_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_cache", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_cache_bypass", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"proxy_no_cache", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"proxy_ignore_headers", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true},
      {"proxy_connect_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_send_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_read_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_next_upstream", kHSL, 1, kAnyArgs, BlockKind::kNone, 0, true},
      {"proxy_next_upstream_tries", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_next_upstream_timeout", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_intercept_errors", kHSL, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_redirect", kHSL, 1, 2, BlockKind::kNone, 0, false},
      {"upstream", kHttp, 1, 1, BlockKind::kBlock, kUpstream, false},
      {"server", kUpstream, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"least_conn", kUpstream, 0, 0, BlockKind::kNone, 0, true},
      {"ip_hash", kUpstream, 0, 0, BlockKind::kNone, 0, true},
      {"hash", kUpstream, 1, 2, BlockKind::kNone, 0, true},
      {"random", kUpstream, 0, 2, BlockKind::kNone, 0, true},
      {"keepalive", kUpstream, 1, 1, BlockKind::kNone, 0, true},
      {"keepalive_timeout", kUpstream, 1, 1, BlockKind::kNone, 0, true},
      {"keepalive_requests", kUpstream, 1, 1, BlockKind::kNone, 0, true},
      {"zone", kUpstream, 1, 2, BlockKind::kNone, 0, true},
      {"queue", kUpstream, 1, 2, BlockKind::kNone, 0, true},
  });
}

namespace {

void err(std::vector<ConfigError>& errors, const Directive& d, std::string msg) {
  errors.push_back({std::move(msg), d.file, d.line});
}

bool flag(const Directive& d, bool* out, std::vector<ConfigError>& errors) {
  if (d.args[0] == "on")
    *out = true;
  else if (d.args[0] == "off")
    *out = false;
  else {
    err(errors, d,
        fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                    d.args[0], d.name));
    return false;
  }
  return true;
}

bool time_ms(const Directive& d, const std::string& v, uint64_t* out,
             std::vector<ConfigError>& errors) {
  auto t = parse_time_ms(v);
  if (!t) {
    err(errors, d, fmt::format("\"{}\" directive invalid value", d.name));
    return false;
  }
  *out = *t;
  return true;
}

}  // namespace

void begin_level(ProxySettings& s) {
  s.set_headers_given = false;
  s.redirects_given = false;
}

bool apply_directive(const Directive& d, ProxySettings& s, http::VariableTable& vars,
                     std::vector<ConfigError>& errors) {
  const std::string& n = d.name;
  const auto& a = d.args;
  if (n.rfind("proxy_", 0) != 0 || n == "proxy_pass") return false;
  if (n == "proxy_set_header") {
    if (!s.set_headers_given) {
      s.set_headers.clear();
      s.set_headers_given = true;
    }
    SetHeader h;
    h.name = a[0];
    h.lname = to_lower(a[0]);
    Status st = http::ComplexValue::compile(a[1], vars, &h.value);
    if (!st) {
      err(errors, d, st.message());
      return true;
    }
    for (auto& old : s.set_headers) {
      if (old.lname == h.lname) {
        old = std::move(h);
        return true;
      }
    }
    s.set_headers.push_back(std::move(h));
  } else if (n == "proxy_hide_header") {
    s.hide_headers.push_back(to_lower(a[0]));
  } else if (n == "proxy_pass_header") {
    s.pass_headers.push_back(to_lower(a[0]));
  } else if (n == "proxy_pass_request_headers") {
    flag(d, &s.pass_request_headers, errors);
  } else if (n == "proxy_pass_request_body") {
    flag(d, &s.pass_request_body, errors);
  } else if (n == "proxy_http_version") {
    if (a[0] == "1.0")
      s.http_minor = 0;
    else if (a[0] == "1.1")
      s.http_minor = 1;
    else
      err(errors, d,
          fmt::format("invalid value \"{}\" in \"proxy_http_version\" directive, it must be "
                      "\"1.0\" or \"1.1\"",
                      a[0]));
  } else if (n == "proxy_method") {
    Status st = http::ComplexValue::compile(a[0], vars, &s.method);
    if (!st) err(errors, d, st.message());
    s.has_method = true;
  } else if (n == "proxy_buffering") {
    flag(d, &s.buffering, errors);
  } else if (n == "proxy_request_buffering") {
    flag(d, &s.request_buffering, errors);
  } else if (n == "proxy_buffer_size") {
    auto v = parse_size(a[0]);
    if (!v || *v == 0)
      err(errors, d, "\"proxy_buffer_size\" directive invalid value");
    else
      s.buffer_size = *v;
  } else if (n == "proxy_buffers") {
    auto num = parse_uint(a[0]);
    auto size = parse_size(a[1]);
    if (!num || !size || *num == 0 || *size == 0)
      err(errors, d, "invalid value \"" + a[0] + "\"");
    else {
      s.buffers_num = uint32_t(*num);
      s.buffers_size = *size;
    }
  } else if (n == "proxy_max_temp_file_size") {
    auto v = parse_size(a[0]);
    if (!v)
      err(errors, d, "\"proxy_max_temp_file_size\" directive invalid value");
    else
      s.max_temp_file_size = *v;
  } else if (n == "proxy_temp_path") {
    // nginx's `levels` arguments name a directory hierarchy for cache-like spooling; portico's
    // temporary files are anonymous (O_TMPFILE), so only the directory matters.
    for (size_t i = 1; i < a.size(); ++i) {
      auto lv = parse_uint(a[i]);
      if (!lv || *lv < 1 || *lv > 2) err(errors, d, "invalid value \"" + a[i] + "\"");
    }
    s.temp_path = a[0];
  } else if (n == "proxy_busy_buffers_size" || n == "proxy_temp_file_write_size") {
    // accepted for compatibility: portico writes to the client whatever it holds as soon as
    // the client can take it, and to the temporary file in whole reads
    if (!parse_size(a[0])) err(errors, d, "\"" + n + "\" directive invalid value");
  } else if (n == "proxy_ignore_client_abort") {
    flag(d, &s.ignore_client_abort, errors);
  } else if (n == "proxy_socket_keepalive") {
    flag(d, &s.socket_keepalive, errors);
  } else if (n == "proxy_bind") {
    if (a[0] == "off") {
      s.has_bind = false;
    } else if (a.size() > 1 || a[0].find('$') != std::string::npos) {
      err(errors, d,
          "\"proxy_bind\" with variables or \"transparent\" is not supported by portico yet");
    } else {
      std::string host = a[0];
      if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      SockAddr sa{};
      if (::inet_pton(AF_INET, host.c_str(), &sa.v4.sin_addr) == 1) {
        sa.v4.sin_family = AF_INET;
      } else if (::inet_pton(AF_INET6, host.c_str(), &sa.v6.sin6_addr) == 1) {
        sa.v6.sin6_family = AF_INET6;
      } else {
        err(errors, d, "invalid address \"" + a[0] + "\" in \"proxy_bind\" directive");
        return true;
      }
      s.has_bind = true;
      s.bind_addr = sa;
    }
  } else if (n == "proxy_headers_hash_max_size" || n == "proxy_headers_hash_bucket_size") {
    // portico's header tables grow as needed: validated only
    if (!parse_size(a[0])) err(errors, d, "\"" + n + "\" directive invalid value");
  } else if (n == "proxy_cache") {
    if (a[0] != "off")
      err(errors, d, "\"proxy_cache\": response caching is not supported by portico yet");
  } else if (n == "proxy_cache_bypass" || n == "proxy_no_cache") {
    // Without proxy_cache (which portico refuses) these change nothing, in nginx too.
    for (const auto& v : a) {
      http::ComplexValue cv;
      Status st = http::ComplexValue::compile(v, vars, &cv);
      if (!st) err(errors, d, st.message());
    }
  } else if (n == "proxy_ignore_headers") {
    static const char* const kKnown[] = {
        "x-accel-redirect",  "x-accel-expires", "x-accel-limit-rate",
        "x-accel-buffering", "x-accel-charset", "expires",
        "cache-control",     "set-cookie",      "vary"};
    s.ignore_x_accel_buffering = false;
    for (const auto& v : a) {
      bool known = false;
      for (const char* k : kKnown) known = known || iequals(v, k);
      if (!known)
        err(errors, d, "invalid value \"" + v + "\" in \"proxy_ignore_headers\" directive");
      if (iequals(v, "x-accel-buffering")) s.ignore_x_accel_buffering = true;
    }
  } else if (n == "proxy_connect_timeout") {
    time_ms(d, a[0], &s.connect_timeout_ms, errors);
  } else if (n == "proxy_send_timeout") {
    time_ms(d, a[0], &s.send_timeout_ms, errors);
  } else if (n == "proxy_read_timeout") {
    time_ms(d, a[0], &s.read_timeout_ms, errors);
  } else if (n == "proxy_next_upstream") {
    uint32_t mask = 0;
    for (const auto& v : a) {
      if (v == "error")
        mask |= kNextError;
      else if (v == "timeout")
        mask |= kNextTimeout;
      else if (v == "invalid_header")
        mask |= kNextInvalidHeader;
      else if (v == "http_500")
        mask |= kNextHttp500;
      else if (v == "http_502")
        mask |= kNextHttp502;
      else if (v == "http_503")
        mask |= kNextHttp503;
      else if (v == "http_504")
        mask |= kNextHttp504;
      else if (v == "http_403")
        mask |= kNextHttp403;
      else if (v == "http_404")
        mask |= kNextHttp404;
      else if (v == "http_429")
        mask |= kNextHttp429;
      else if (v == "non_idempotent")
        mask |= kNextNonIdempotent;
      else if (v == "off") {
        if (a.size() > 1) err(errors, d, "invalid value \"off\"");
        mask = 0;
      } else {
        err(errors, d, fmt::format("invalid value \"{}\"", v));
      }
    }
    s.next_upstream = mask;
  } else if (n == "proxy_next_upstream_tries") {
    auto v = parse_uint(a[0]);
    if (!v)
      err(errors, d, fmt::format("invalid number \"{}\"", a[0]));
    else
      s.next_upstream_tries = uint32_t(*v);
  } else if (n == "proxy_next_upstream_timeout") {
    time_ms(d, a[0], &s.next_upstream_timeout_ms, errors);
  } else if (n == "proxy_intercept_errors") {
    flag(d, &s.intercept_errors, errors);
  } else if (n == "proxy_redirect") {
    if (!s.redirects_given) {
      s.redirects.clear();
      s.redirect_off = false;
      s.redirects_given = true;
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
        err(errors, d, fmt::format("invalid parameter \"{}\"", a[0]));
      }
    } else {
      Redirect r;
      Status st;
      if (!a[0].empty() && a[0][0] == '~') {
        bool caseless = a[0].size() > 1 && a[0][1] == '*';
        std::string e;
        auto re = Regex::compile(std::string_view(a[0]).substr(caseless ? 2 : 1), caseless, &e);
        if (!re)
          st = Status::error(e);
        else
          r.regex = std::move(re);
      } else {
        st = http::ComplexValue::compile(a[0], vars, &r.from);
      }
      if (st) st = http::ComplexValue::compile(a[1], vars, &r.to);
      if (!st)
        err(errors, d, st.message());
      else
        s.redirects.push_back(std::move(r));
    }
  } else {
    return false;
  }
  return true;
}

std::unique_ptr<ProxyPass> build_proxy_pass(const Directive& d, const std::string& location,
                                            bool regex_location, bool named_or_if,
                                            const UpstreamMap& upstreams, UpstreamMap& implicit,
                                            const UpstreamMap* previous, http::VariableTable& vars,
                                            std::vector<ConfigError>& errors) {
  auto pp = std::make_unique<ProxyPass>();
  const std::string& url = d.args[0];
  pp->location = location;
  if (url.find('$') != std::string::npos) {
    Status st = http::ComplexValue::compile(url, vars, &pp->url);
    if (!st) {
      err(errors, d, st.message());
      return nullptr;
    }
    pp->has_variables = true;
    return pp;
  }
  std::string rest;
  if (istarts_with(url, "http://")) {
    rest = url.substr(7);
  } else if (istarts_with(url, "https://")) {
    err(errors, d, "https upstreams are not supported by portico yet");
    return nullptr;
  } else {
    err(errors, d, "invalid URL prefix");
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
    err(errors, d, fmt::format("no host in \"{}\" of the \"proxy_pass\" directive", url));
    return nullptr;
  }
  if (pp->has_uri && (regex_location || named_or_if)) {
    err(errors, d,
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
  pp->proxy_port = has_port ? hostport.substr(colon + 1) : "80";
  // An upstream block of that name (without a port) wins, as nginx.
  if (!has_port) {
    auto it = upstreams.find(hostport);
    if (it != upstreams.end()) {
      pp->upstream = it->second;
      return pp;
    }
  }
  auto it = implicit.find(hostport);
  if (it != implicit.end()) {
    pp->upstream = it->second;
    return pp;
  }
  upstream::GroupConfig gc;
  gc.name = hostport;
  std::string e;
  if (!upstream::resolve_peers(hostport, 80, false, &gc.peers, &e)) {
    err(errors, d, e);
    return nullptr;
  }
  auto uc = std::make_shared<upstream::UpstreamConf>();
  uc->implicit = true;
  uc->file = d.file;
  uc->line = d.line;
  const upstream::Group* prev = nullptr;
  if (previous) {
    auto p = previous->find("\x01" + hostport);
    if (p != previous->end()) prev = p->second->group.get();
  }
  Status st = upstream::Group::create(std::move(gc), prev, &uc->group);
  if (!st) {
    err(errors, d, st.message());
    return nullptr;
  }
  implicit[hostport] = uc;
  pp->upstream = std::move(uc);
  return pp;
}

}  // namespace portico::proxy
