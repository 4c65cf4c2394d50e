#include "upstream/directives.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/strings.h"

namespace portico::upstream {

using config::ConfigError;
using config::Directive;

namespace {

struct ResolverSettings {
  std::shared_ptr<const dns::ResolverConf> conf;
  uint64_t timeout_ms = dns::kDefaultTimeoutMs;
};

void err(std::vector<ConfigError>& errors, const Directive& d, std::string msg) {
  errors.push_back({std::move(msg), d.file, d.line});
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
bool resolve(const std::string& text, int default_port, std::vector<PeerConfig>* out,
             std::string* error, bool numeric_only = false) {
  if (istarts_with(text, "unix:")) {
    PeerConfig p;
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
    PeerConfig p;
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

const Group* previous_group(const UpstreamMap* previous, const std::string& name) {
  if (!previous) return nullptr;
  auto it = previous->find(name);
  return it == previous->end() ? nullptr : it->second->group.get();
}

// The `resolver` and `resolver_timeout` of a block (http, stream or upstream) itself.
void block_resolver(const std::vector<Directive>& block, ResolverSettings* rs,
                    std::vector<ConfigError>& errors) {
  for (const auto& x : block) {
    if (x.name == "resolver") {
      auto rc = std::make_shared<dns::ResolverConf>();
      std::string e;
      if (!dns::parse_resolver(x.args, rc.get(), &e))
        err(errors, x, e);
      else
        rs->conf = std::move(rc);
    } else if (x.name == "resolver_timeout") {
      time_ms(x, x.args[0], &rs->timeout_ms, errors);
    }
  }
}

// "host[:port]" of a `server ... resolve` (no lookup now).
bool split_server(const std::string& text, std::string* host, uint16_t* port) {
  std::string p;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) return false;
    *host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      p = text.substr(close + 2);
    }
  } else {
    auto colon = text.rfind(':');
    *host = text.substr(0, colon);
    if (colon != std::string::npos) p = text.substr(colon + 1);
  }
  if (!p.empty()) {
    auto v = parse_uint(p);
    if (!v || *v < 1 || *v > 65535) return false;
    *port = uint16_t(*v);
  }
  return !host->empty();
}

void build_one_upstream(const Directive& d, const UpstreamMap* previous,
                        const ResolverSettings& outer, UpstreamMap& out,
                        std::vector<ConfigError>& errors) {
  const std::string& name = d.args[0];
  if (out.count(name)) {
    err(errors, d, fmt::format("duplicate upstream \"{}\"", name));
    return;
  }
  auto uc = std::make_shared<UpstreamConf>();
  uc->file = d.file;
  uc->line = d.line;
  GroupConfig gc;
  gc.name = name;
  bool ok = true;
  bool explicit_method = false;
  bool zone = false;
  size_t servers = 0;
  ResolverSettings rs = outer;
  block_resolver(d.block, &rs, errors);
  const Directive* first_resolve = nullptr;
  for (const auto& x : d.block) {
    if (x.name == "zone") zone = true;
    const auto& a = x.args;
    if (x.name == "server") ++servers;
    if (x.name == "server" && istarts_with(a[0], "app:")) {
      // A managed app's processes (apps/): its members are published while running.
      if (a[0].size() == 4 || a.size() > 1) {
        err(errors, x,
            a.size() > 1 ? fmt::format("invalid parameter \"{}\"", a[1])
                         : fmt::format("no app name in \"{}\"", a[0]));
        ok = false;
        continue;
      }
      uc->app = a[0].substr(4);
      uc->file = x.file;
      uc->line = x.line;
      gc.live = true;
      continue;
    }
    if (x.name == "server") {
      std::vector<PeerConfig> peers;
      std::string e;
      const bool run_time = std::find(a.begin() + 1, a.end(), "resolve") != a.end();
      UpstreamConf::ResolvedServer rsv;
      rsv.server = a[0];
      if (run_time && !first_resolve) first_resolve = &x;
      if (run_time && (istarts_with(a[0], "unix:") || !split_server(a[0], &rsv.host, &rsv.port))) {
        const bool bad_port = !istarts_with(a[0], "unix:") && a[0].find(':') != std::string::npos &&
                              a[0].find(']') == std::string::npos;
        err(errors, x,
            fmt::format("invalid {} in upstream \"{}\"", bad_port ? "port" : "host", a[0]));
        ok = false;
        continue;
      }
      if (!run_time && !resolve(a[0], 80, &peers, &e)) {
        err(errors, x, e);
        ok = false;
        continue;
      }
      PeerConfig params;
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
        } else if (p == "resolve") {
          // handled above
        } else {
          err(errors, x, fmt::format("invalid parameter \"{}\"", p));
          ok = false;
        }
      }
      if (run_time) {
        rsv.params = params;
        uc->resolve.push_back(std::move(rsv));
        continue;
      }
      for (auto& peer : peers) {
        PeerConfig pc = params;
        pc.server = peer.server;
        pc.name = peer.name;
        pc.addr = peer.addr;
        gc.peers.push_back(std::move(pc));
      }
    } else if (x.name == "least_conn") {
      gc.method = Method::kLeastConn;
      explicit_method = true;
    } else if (x.name == "ip_hash") {
      gc.method = Method::kIpHash;
      explicit_method = true;
    } else if (x.name == "hash") {
      explicit_method = true;
      gc.hash_key = a[0];
      uc->hash_file = x.file;
      uc->hash_line = x.line;
      gc.method = Method::kHash;
      if (a.size() == 2) {
        if (a[1] != "consistent") {
          err(errors, x, fmt::format("invalid parameter \"{}\"", a[1]));
          ok = false;
        }
        gc.method = Method::kHashConsistent;
      }
    } else if (x.name == "random") {
      explicit_method = true;
      gc.method = Method::kRandom;
      if (!a.empty()) {
        if (a[0] != "two" || (a.size() == 2 && a[1] != "least_conn")) {
          err(errors, x, fmt::format("invalid parameter \"{}\"", a.back()));
          ok = false;
        }
        gc.method = Method::kRandomTwo;
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
    } else if (x.name == "keepalive_time") {
      ok = time_ms(x, a[0], &uc->keepalive_time_ms, errors) && ok;
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
  if (!uc->app.empty() && servers > 1) {
    err(errors, d,
        fmt::format("\"server app:{}\" must be the only server in upstream \"{}\"", uc->app, name));
    ok = false;
  }
  // An app's processes are balanced by how busy they are (Passenger), unless told otherwise.
  if (!uc->app.empty() && !explicit_method) gc.method = Method::kLeastBusy;
  // While no process is ready (starting, replaced) requests wait (Passenger's queue of 100).
  if (!uc->app.empty() && uc->queue_max == 0) uc->queue_max = 100;
  if (first_resolve && !zone) {
    err(errors, *first_resolve,
        fmt::format("resolving names at run time requires upstream \"{}\" in {}:{} to be in "
                    "shared memory",
                    name, d.file, d.line));
    ok = false;
  } else if (first_resolve && !rs.conf) {
    err(errors, *first_resolve,
        fmt::format("no resolver defined to resolve names at run time in upstream \"{}\"", name));
    ok = false;
  }
  if (!uc->resolve.empty()) {
    // The names' addresses are published while running (upstream/dns_refresh.h): the group
    // may start with none.
    gc.live = true;
    uc->static_peers = gc.peers;
    uc->resolver = rs.conf;
    uc->resolver_timeout_ms = rs.timeout_ms;
  }
  if (!ok) return;
  Status st = Group::create(std::move(gc), previous_group(previous, name), &uc->group);
  if (!st) {
    err(errors, d, st.message());
    return;
  }
  out[name] = std::move(uc);
}

}  // namespace

bool resolve_peers(const std::string& text, int default_port, bool numeric_only,
                   std::vector<PeerConfig>* out, std::string* error) {
  return resolve(text, default_port, out, error, numeric_only);
}

void build_upstreams(const std::vector<Directive>& http_block, const UpstreamMap* previous,
                     UpstreamMap& out, std::vector<ConfigError>& errors) {
  // The block's own resolver is reported by the module that applies it (http core, stream);
  // here it is only the default of the upstreams.
  ResolverSettings outer;
  std::vector<ConfigError> ignored;
  block_resolver(http_block, &outer, ignored);
  for (const auto& d : http_block)
    if (d.name == "upstream") build_one_upstream(d, previous, outer, out, errors);
}

}  // namespace portico::upstream
