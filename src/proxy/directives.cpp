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

// Resolves "host[:port]" or "unix:PATH" into peers (all addresses of a name, as nginx does at
// load). `default_port` applies when none is given.
bool resolve(const std::string& text, int default_port, std::vector<upstream::PeerConfig>* out,
             std::string* error, bool numeric_only = false) {
  if (istarts_with(text, "unix:")) {
    upstream::PeerConfig p;
    p.server = text;
    p.name = text;
    p.addr.sa.sa_family = AF_UNIX;
    if (text.size() <= 5) {
      *error = fmt::format("invalid host in upstream \"{}\"", text);
      return false;
    }
    out->push_back(p);
    return true;
  }
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) {
      *error = fmt::format("invalid host in upstream \"{}\"", text);
      return false;
    }
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        *error = fmt::format("invalid host in upstream \"{}\"", text);
        return false;
      }
      port = text.substr(close + 2);
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string::npos) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    } else {
      host = text;
    }
  }
  int portnum = default_port;
  if (!port.empty()) {
    auto p = parse_uint(port);
    if (!p || *p < 1 || *p > 65535) {
      *error = fmt::format("invalid port in upstream \"{}\"", text);
      return false;
    }
    portnum = int(*p);
  }
  if (host.empty()) {
    *error = fmt::format("no host in upstream \"{}\"", text);
    return false;
  }
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = numeric_only ? AI_NUMERICHOST : AI_ADDRCONFIG;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (numeric_only && (rc != 0 || !res)) {
    *error = fmt::format("no resolver defined to resolve {}", host);
    return false;
  }
  if (rc != 0 || !res) {
    // Without AI_ADDRCONFIG loopback-only machines still resolve "localhost" to both.
    hints.ai_flags = 0;
    rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  }
  if (rc != 0 || !res) {
    *error = fmt::format("host not found in upstream \"{}\"", text);
    return false;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    upstream::PeerConfig p;
    p.server = text;
    char buf[INET6_ADDRSTRLEN];
    if (ai->ai_family == AF_INET) {
      std::memcpy(&p.addr.v4, ai->ai_addr, sizeof(sockaddr_in));
      p.addr.v4.sin_port = htons(uint16_t(portnum));
      inet_ntop(AF_INET, &p.addr.v4.sin_addr, buf, sizeof buf);
      p.name = fmt::format("{}:{}", buf, portnum);
    } else if (ai->ai_family == AF_INET6) {
      std::memcpy(&p.addr.v6, ai->ai_addr, sizeof(sockaddr_in6));
      p.addr.v6.sin6_port = htons(uint16_t(portnum));
      inet_ntop(AF_INET6, &p.addr.v6.sin6_addr, buf, sizeof buf);
      p.name = fmt::format("[{}]:{}", buf, portnum);
    } else {
      continue;
    }
    bool dup = false;
    for (const auto& q : *out) dup = dup || (q.server == p.server && q.name == p.name);
    if (!dup) out->push_back(p);
  }
  freeaddrinfo(res);
  return true;
}

const upstream::Group* previous_group(const UpstreamMap* previous, const std::string& name) {
  if (!previous) return nullptr;
  auto it = previous->find(name);
  return it == previous->end() ? nullptr : it->second->group.get();
}

void build_one_upstream(const Directive& d, const UpstreamMap* previous, http::VariableTable& vars,
                        UpstreamMap& out, std::vector<ConfigError>& errors) {
  const std::string& name = d.args[0];
  if (out.count(name)) {
    err(errors, d, fmt::format("duplicate upstream \"{}\"", name));
    return;
  }
  auto uc = std::make_shared<UpstreamConf>();
  uc->file = d.file;
  uc->line = d.line;
  upstream::GroupConfig gc;
  gc.name = name;
  bool ok = true;
  for (const auto& x : d.block) {
    const auto& a = x.args;
    if (x.name == "server") {
      std::vector<upstream::PeerConfig> peers;
      std::string e;
      if (!resolve(a[0], 80, &peers, &e)) {
        err(errors, x, e);
        ok = false;
        continue;
      }
      upstream::PeerConfig params;
      for (size_t i = 1; i < a.size(); ++i) {
        const std::string& p = a[i];
        auto num = [&](size_t prefix) { return parse_uint(std::string_view(p).substr(prefix)); };
        if (p.rfind("weight=", 0) == 0) {
          auto v = num(7);
          if (!v || *v == 0 || *v > 1'000'000) {
            err(errors, x, fmt::format("invalid parameter \"{}\"", p));
            ok = false;
          } else
            params.weight = uint32_t(*v);
        } else if (p.rfind("max_fails=", 0) == 0) {
          auto v = num(10);
          if (!v) {
            err(errors, x, fmt::format("invalid parameter \"{}\"", p));
            ok = false;
          } else
            params.max_fails = uint32_t(*v);
        } else if (p.rfind("max_conns=", 0) == 0) {
          auto v = num(10);
          if (!v) {
            err(errors, x, fmt::format("invalid parameter \"{}\"", p));
            ok = false;
          } else
            params.max_conns = uint32_t(*v);
        } else if (p.rfind("fail_timeout=", 0) == 0) {
          auto v = parse_time_ms(std::string_view(p).substr(13));
          if (!v) {
            err(errors, x, fmt::format("invalid parameter \"{}\"", p));
            ok = false;
          } else
            params.fail_timeout_ms = *v;
        } else if (p.rfind("slow_start=", 0) == 0) {
          auto v = parse_time_ms(std::string_view(p).substr(11));
          if (!v) {
            err(errors, x, fmt::format("invalid parameter \"{}\"", p));
            ok = false;
          } else
            params.slow_start_ms = *v;
        } else if (p == "backup") {
          params.backup = true;
        } else if (p == "down") {
          params.down = true;
        } else {
          err(errors, x, fmt::format("invalid parameter \"{}\"", p));
          ok = false;
        }
      }
      for (auto& peer : peers) {
        upstream::PeerConfig pc = params;
        pc.server = peer.server;
        pc.name = peer.name;
        pc.addr = peer.addr;
        gc.peers.push_back(std::move(pc));
      }
    } else if (x.name == "least_conn") {
      gc.method = upstream::Method::kLeastConn;
    } else if (x.name == "ip_hash") {
      gc.method = upstream::Method::kIpHash;
    } else if (x.name == "hash") {
      gc.hash_key = a[0];
      if (Status st = http::ComplexValue::compile(a[0], vars, &uc->hash_key); !st) {
        err(errors, x, st.message());
        ok = false;
      }
      gc.method = upstream::Method::kHash;
      if (a.size() == 2) {
        if (a[1] != "consistent") {
          err(errors, x, fmt::format("invalid parameter \"{}\"", a[1]));
          ok = false;
        }
        gc.method = upstream::Method::kHashConsistent;
      }
    } else if (x.name == "random") {
      gc.method = upstream::Method::kRandom;
      if (!a.empty()) {
        if (a[0] != "two" || (a.size() == 2 && a[1] != "least_conn")) {
          err(errors, x, fmt::format("invalid parameter \"{}\"", a.back()));
          ok = false;
        }
        gc.method = upstream::Method::kRandomTwo;
      }
    } else if (x.name == "queue") {
      auto v = parse_uint(a[0]);
      if (!v || *v == 0) {
        err(errors, x, fmt::format("invalid value \"{}\" in \"queue\" directive", a[0]));
        ok = false;
      } else {
        uc->queue_max = uint32_t(*v);
      }
      if (a.size() == 2) {
        if (a[1].rfind("timeout=", 0) != 0 ||
            !(uc->queue_timeout_ms = parse_time_ms(std::string_view(a[1]).substr(8)).value_or(0))) {
          err(errors, x, fmt::format("invalid parameter \"{}\"", a[1]));
          ok = false;
        }
      }
    } else if (x.name == "keepalive") {
      auto v = parse_uint(a[0]);
      if (!v || *v == 0) {
        err(errors, x, fmt::format("invalid value \"{}\" in \"keepalive\" directive", a[0]));
        ok = false;
      } else
        uc->keepalive = uint32_t(*v);
    } else if (x.name == "keepalive_timeout") {
      ok = time_ms(x, a[0], &uc->keepalive_timeout_ms, errors) && ok;
    } else if (x.name == "keepalive_requests") {
      auto v = parse_uint(a[0]);
      if (!v) {
        err(errors, x, fmt::format("invalid value \"{}\"", a[0]));
        ok = false;
      } else
        uc->keepalive_requests = uint32_t(*v);
    }
    // zone: accepted; portico's peer state is shared by all workers without one.
  }
  if (!ok) return;
  Status st = upstream::Group::create(std::move(gc), previous_group(previous, name), &uc->group);
  if (!st) {
    err(errors, d, st.message());
    return;
  }
  out[name] = std::move(uc);
}

}  // namespace

bool resolve_peers(const std::string& text, int default_port, bool numeric_only,
                   std::vector<upstream::PeerConfig>* out, std::string* error) {
  return resolve(text, default_port, out, error, numeric_only);
}

void build_upstreams(const std::vector<Directive>& http_block, const UpstreamMap* previous,
                     http::VariableTable& vars, UpstreamMap& out,
                     std::vector<ConfigError>& errors) {
  for (const auto& d : http_block)
    if (d.name == "upstream") build_one_upstream(d, previous, vars, out, errors);
}

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
  if (!resolve(hostport, 80, &gc.peers, &e)) {
    err(errors, d, e);
    return nullptr;
  }
  auto uc = std::make_shared<UpstreamConf>();
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
