#include "stream/directives.h"

#include <fmt/format.h>

#include "config/listen.h"
#include "config/path.h"
#include "core/strings.h"
#include "upstream/directives.h"

namespace portico::stream {

using config::BlockKind;
using config::ConfigError;
using config::Directive;
using namespace config;  // context constants

void register_directives(Registry& r) {
  constexpr uint32_t kSS = kStream | kStreamServer;
  r.add({
      {"stream", kMain, 0, 0, BlockKind::kBlock, kStream, true},
      {"upstream", kStream, 1, 1, BlockKind::kBlock, kStreamUpstream, false},
      {"server", kStreamUpstream, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"server", kStream, 0, 0, BlockKind::kBlock, kStreamServer, false},
      {"least_conn", kStreamUpstream, 0, 0, BlockKind::kNone, 0, true},
      {"hash", kStreamUpstream, 1, 2, BlockKind::kNone, 0, true},
      {"random", kStreamUpstream, 0, 2, BlockKind::kNone, 0, true},
      {"zone", kStreamUpstream, 1, 2, BlockKind::kNone, 0, true},
      {"listen", kStreamServer, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"proxy_pass", kStreamServer, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_connect_timeout", kSS, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_timeout", kSS, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_half_close", kSS, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_next_upstream", kSS, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_next_upstream_tries", kSS, 1, 1, BlockKind::kNone, 0, true},
      {"proxy_next_upstream_timeout", kSS, 1, 1, BlockKind::kNone, 0, true},
      {"allow", kSS, 1, 1, BlockKind::kNone, 0, false},
      {"deny", kSS, 1, 1, BlockKind::kNone, 0, false},
      {"log_format", kStream, 2, kAnyArgs, BlockKind::kNone, 0, false},
      {"access_log", kSS, 1, kAnyArgs, BlockKind::kNone, 0, false},
      {"error_log", kSS, 1, kAnyArgs, BlockKind::kNone, 0, false},
  });
}

namespace {

void err(std::vector<ConfigError>& errors, const Directive& d, std::string msg) {
  errors.push_back({std::move(msg), d.file, d.line});
}

bool compile_format(const std::string& text, LogFormat* out, std::string* error) {
  using V = LogFormat::Var;
  static const std::pair<std::string_view, V> kVars[] = {
      {"remote_addr", V::kRemoteAddr},
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
      {"nginx_version", V::kNginxVersion}};
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
  uint64_t connect_timeout_ms = 60'000;
  uint64_t timeout_ms = 600'000;
  bool half_close = false;
  bool next_upstream = true;
  uint32_t tries = 0;
  std::vector<AccessRule> access;
  std::vector<AccessLog> logs;
  bool logs_given = false;
};

class Builder {
 public:
  Builder(StreamConf& sc, const std::string& prefix, int workers, const StreamConf* previous,
          LogFiles& log_files, std::vector<ConfigError>& errors)
      : prefix_(prefix),
        log_files_(log_files),
        sc_(sc),
        workers_(workers),
        errors_(errors),
        previous_(previous ? &previous->upstreams : nullptr) {}

  void build(const Directive& block) {
    upstream::build_upstreams(block.block, previous_, sc_.upstreams, errors_);
    for (const auto& d : block.block)
      if (d.name == "log_format") build_format(d);
    Inherited top;
    for (const auto& d : block.block) apply(d, top, true);
    for (const auto& d : block.block)
      if (d.name == "server") build_server(d, top);
  }

 private:
  void build_format(const Directive& d) {
    auto f = std::make_unique<LogFormat>();
    f->name = d.args[0];
    std::string text;
    for (size_t i = 1; i < d.args.size(); ++i) text += d.args[i];
    std::string e;
    if (!compile_format(text, f.get(), &e)) {
      err(errors_, d, e);
      return;
    }
    sc_.log_formats.push_back(std::move(f));
  }

  const LogFormat* find_format(const std::string& name) {
    for (const auto& f : sc_.log_formats)
      if (f->name == name) return f.get();
    return nullptr;
  }

  bool time_ms(const Directive& d, uint64_t* out) {
    auto v = parse_time_ms(d.args[0]);
    if (!v) {
      err(errors_, d, fmt::format("\"{}\" directive invalid value", d.name));
      return false;
    }
    *out = *v;
    return true;
  }

  // Settings valid at stream and server level.
  void apply(const Directive& d, Inherited& in, bool top) {
    const auto& a = d.args;
    if (d.name == "proxy_connect_timeout") {
      time_ms(d, &in.connect_timeout_ms);
    } else if (d.name == "proxy_timeout") {
      time_ms(d, &in.timeout_ms);
    } else if (d.name == "proxy_half_close" || d.name == "proxy_next_upstream") {
      bool v = a[0] == "on";
      if (a[0] != "on" && a[0] != "off") {
        err(errors_, d,
            fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                        a[0], d.name));
        return;
      }
      if (d.name == "proxy_half_close")
        in.half_close = v;
      else
        in.next_upstream = v;
    } else if (d.name == "proxy_next_upstream_tries") {
      auto v = parse_uint(a[0]);
      if (!v)
        err(errors_, d, fmt::format("invalid number \"{}\"", a[0]));
      else
        in.tries = uint32_t(*v);
    } else if (d.name == "allow" || d.name == "deny") {
      AccessRule rule;
      rule.allow = d.name == "allow";
      if (!parse_access_rule(a[0], rule)) {
        err(errors_, d, fmt::format("invalid parameter \"{}\"", a[0]));
        return;
      }
      in.access.push_back(rule);
    } else if (d.name == "access_log") {
      if (!in.logs_given || top) {
        if (!in.logs_given) in.logs.clear();
        in.logs_given = true;
      }
      if (a[0] == "off") {
        in.logs.clear();
        return;
      }
      if (a.size() < 2) {
        err(errors_, d, "invalid number of arguments in \"access_log\" directive");
        return;
      }
      const LogFormat* f = find_format(a[1]);
      if (!f) {
        err(errors_, d, fmt::format("unknown log format \"{}\"", a[1]));
        return;
      }
      std::string path = config::resolve_path(prefix_, a[0]);
      std::string e;
      auto file = log_files_.get(path, 0, workers_, &e);
      if (!file) {
        err(errors_, d, e);
        return;
      }
      in.logs.push_back(AccessLog{file, f});
    }
  }

  void build_server(const Directive& d, const Inherited& parent) {
    auto srv = std::make_unique<Server>();
    srv->file = d.file;
    srv->line = d.line;
    Inherited in = parent;
    in.access.clear();  // array directives replace the inherited ones when given
    bool access_given = false;
    in.logs_given = false;
    for (const auto& x : d.block) {
      if (x.name == "allow" || x.name == "deny") access_given = true;
      apply(x, in, false);
    }
    if (!access_given) in.access = parent.access;
    for (const auto& x : d.block) {
      if (x.name == "listen") {
        config::ListenAddr la;
        bool def = false;
        std::string e;
        if (!config::parse_listen(x, &la, &def, &e)) {
          err(errors_, x, e);
          continue;
        }
        la.deferred = false;  // a server-first protocol (SMTP, MySQL) must be accepted at once
        srv->listens.push_back(la);
      } else if (x.name == "proxy_pass") {
        const std::string& target = x.args[0];
        srv->target = target;
        auto it = sc_.upstreams.find(target);
        if (it != sc_.upstreams.end()) {
          srv->upstream = it->second;
          continue;
        }
        std::vector<upstream::PeerConfig> peers;
        std::string e;
        if (!upstream::resolve_peers(target, 0, false, &peers, &e) ||
            (!istarts_with(target, "unix:") && target.find(':') == std::string::npos)) {
          err(errors_, x, e.empty() ? fmt::format("no port in upstream \"{}\"", target) : e);
          continue;
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
          err(errors_, x, st.message());
          continue;
        }
        sc_.upstreams["\x01" + target] = uc;
        srv->upstream = std::move(uc);
      }
    }
    if (srv->listens.empty()) err(errors_, d, "no \"listen\" is defined for server");
    if (!srv->upstream) err(errors_, d, "no \"proxy_pass\" is defined for server");
    srv->connect_timeout_ms = in.connect_timeout_ms;
    srv->timeout_ms = in.timeout_ms;
    srv->half_close = in.half_close;
    srv->next_upstream = in.next_upstream;
    srv->next_upstream_tries = in.tries;
    srv->access = std::move(in.access);
    srv->access_logs = in.logs;
    sc_.servers.push_back(std::move(srv));
  }

  const std::string& prefix_;
  LogFiles& log_files_;
  StreamConf& sc_;
  int workers_;
  std::vector<ConfigError>& errors_;
  const upstream::UpstreamMap* previous_;
};

}  // namespace

void build_stream(const Directive& block, const std::string& prefix, int workers,
                  const StreamConf* previous, StreamConf& out, LogFiles& log_files,
                  std::vector<ConfigError>& errors) {
  Builder b(out, prefix, workers, previous, log_files, errors);
  b.build(block);
}

}  // namespace portico::stream
