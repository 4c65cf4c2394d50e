#include "http/variables.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "core/sockaddr.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/http_config.h"
#include "http/map.h"
#include "http/request.h"
#include "http/uri.h"

namespace portico::http {

namespace {

struct Builtin {
  std::string_view name;
  VarId id;
};

constexpr Builtin kBuiltins[] = {
    {"remote_addr", VarId::kRemoteAddr},
    {"remote_port", VarId::kRemotePort},
    {"binary_remote_addr", VarId::kBinaryRemoteAddr},
    {"realip_remote_addr", VarId::kRealipRemoteAddr},
    {"realip_remote_port", VarId::kRealipRemotePort},
    {"host", VarId::kHost},
    {"request", VarId::kRequest},
    {"request_uri", VarId::kRequestUri},
    {"uri", VarId::kUri},
    {"document_uri", VarId::kDocumentUri},
    {"args", VarId::kArgs},
    {"query_string", VarId::kQueryString},
    {"is_args", VarId::kIsArgs},
    {"scheme", VarId::kScheme},
    {"server_name", VarId::kServerName},
    {"server_port", VarId::kServerPort},
    {"server_addr", VarId::kServerAddr},
    {"status", VarId::kStatus},
    {"body_bytes_sent", VarId::kBodyBytesSent},
    {"bytes_sent", VarId::kBytesSent},
    {"request_time", VarId::kRequestTime},
    {"time_local", VarId::kTimeLocal},
    {"time_iso8601", VarId::kTimeIso8601},
    {"msec", VarId::kMsec},
    {"connection", VarId::kConnection},
    {"connection_requests", VarId::kConnectionRequests},
    {"request_method", VarId::kRequestMethod},
    {"server_protocol", VarId::kServerProtocol},
    {"document_root", VarId::kDocumentRoot},
    {"realpath_root", VarId::kRealpathRoot},
    {"request_filename", VarId::kRequestFilename},
    {"content_length", VarId::kContentLength},
    {"content_type", VarId::kContentType},
    {"remote_user", VarId::kRemoteUser},
    {"request_length", VarId::kRequestLength},
    {"nginx_version", VarId::kNginxVersion},
    {"hostname", VarId::kHostname},
    {"pid", VarId::kPid},
    {"request_body", VarId::kRequestBody},
    {"proxy_host", VarId::kProxyHost},
    {"proxy_port", VarId::kProxyPort},
    {"proxy_add_x_forwarded_for", VarId::kProxyAddXff},
    {"upstream_addr", VarId::kUpstreamAddr},
    {"upstream_status", VarId::kUpstreamStatus},
    {"upstream_response_time", VarId::kUpstreamResponseTime},
    {"upstream_connect_time", VarId::kUpstreamConnectTime},
    {"upstream_header_time", VarId::kUpstreamHeaderTime},
    {"upstream_bytes_received", VarId::kUpstreamBytesReceived},
    {"upstream_bytes_sent", VarId::kUpstreamBytesSent},
};

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  out.append(buf, size_t(n));
}

// Milliseconds as nginx prints upstream times: "0.004"; UpstreamAttempt::kNone as "-".
void append_ms(std::string& out, uint32_t ms) {
  if (ms == UpstreamAttempt::kNone) {
    out += '-';
    return;
  }
  append_uint(out, ms / 1000);
  const char frac[4] = {'.', char('0' + ms / 100 % 10), char('0' + ms / 10 % 10),
                        char('0' + ms % 10)};
  out.append(frac, 4);
}

// One field of every attempt, ", "-separated (times only of attempts that reached a peer).
template <class Field>
bool join_attempts(const UpstreamVars& u, std::string& out, bool timed_only, Field field) {
  bool any = false;
  for (const UpstreamAttempt& a : u.attempts) {
    if (timed_only && !a.timed) continue;
    if (any) out += ", ";
    field(a, out);
    any = true;
  }
  return any;
}

// nginx prints no port for 0 (a unix-domain peer, or a realip address without one).
void append_port(std::string& out, const SockAddr& a) {
  if (int port = addr_port(a)) append_uint(out, uint64_t(port));
}

// The client address as nginx's cached variable `bit` shows it: nginx keeps the value of its
// first read, so a read before realip changed the address keeps the connection's.
const SockAddr& addr_for(Request& r, uint8_t bit) {
  if (!r.realip_set) {
    r.addr_vars_early |= bit;
    return r.conn->peer();
  }
  return (r.addr_vars_early & bit) ? r.conn->peer() : r.realip_addr;
}

std::string header_param(std::string_view rest) {
  std::string p(rest);
  for (char& c : p) c = c == '_' ? '-' : ascii_lower(c);
  return p;
}

}  // namespace

int VariableTable::user_index(std::string_view name) {
  int i = find_user(name);
  if (i >= 0) return i;
  names_.emplace_back(name);
  return int(names_.size() - 1);
}

void VariableTable::set_map(int index, const MapConf* map) {
  if (maps_.size() <= size_t(index)) maps_.resize(size_t(index) + 1, nullptr);
  maps_[size_t(index)] = map;
}

int VariableTable::find_user(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return int(i);
  return -1;
}

Status VariableTable::resolve(std::string_view name, VarRef* out) {
  out->param.clear();
  out->user_index = -1;
  for (const auto& b : kBuiltins) {
    if (b.name == name) {
      out->id = b.id;
      return Status::ok();
    }
  }
  struct Prefix {
    std::string_view prefix;
    VarId id;
  };
  static constexpr Prefix kPrefixes[] = {{"http_", VarId::kHttp},
                                         {"sent_http_", VarId::kSentHttp},
                                         {"arg_", VarId::kArg},
                                         {"cookie_", VarId::kCookie}};
  for (const auto& p : kPrefixes) {
    if (name.size() > p.prefix.size() && name.substr(0, p.prefix.size()) == p.prefix) {
      out->id = p.id;
      std::string_view rest = name.substr(p.prefix.size());
      out->param = (p.id == VarId::kHttp || p.id == VarId::kSentHttp) ? header_param(rest)
                                                                      : std::string(rest);
      return Status::ok();
    }
  }
  int idx = find_user(name);
  if (idx < 0) return Status::error(fmt::format("unknown \"{}\" variable", name));
  out->id = VarId::kUser;
  out->user_index = idx;
  return Status::ok();
}

Status ComplexValue::compile(std::string_view text, VariableTable& vars, ComplexValue* out) {
  ComplexValue cv;
  cv.text_.assign(text);
  std::string lit;
  size_t i = 0;
  auto flush = [&] {
    if (!lit.empty()) {
      Part p{Part::Kind::kLiteral, std::move(lit), {}, 0};
      cv.parts_.push_back(std::move(p));
      lit.clear();
    }
  };
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 == text.size()) {
      lit += c;
      ++i;
      continue;
    }
    ++i;
    bool braces = text[i] == '{';
    if (braces) ++i;
    size_t start = i;
    if (!braces && text[i] >= '0' && text[i] <= '9') {
      flush();
      Part p{Part::Kind::kCapture, {}, {}, text[i] - '0'};
      cv.parts_.push_back(std::move(p));
      cv.literal_ = false;
      ++i;
      continue;
    }
    while (i < text.size()) {
      char d = text[i];
      bool ok =
          (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') || d == '_';
      if (!ok) break;
      ++i;
    }
    std::string_view name = text.substr(start, i - start);
    if (braces) {
      if (i >= text.size() || text[i] != '}')
        return Status::error(
            fmt::format("the closing bracket in \"{}\" variable is missing", name));
      ++i;
    }
    if (name.empty())
      return Status::error("invalid variable name in \"" + std::string(text) + "\"");
    flush();
    Part p{Part::Kind::kVar, {}, {}, 0};
    if (braces && name.size() == 1 && name[0] >= '0' && name[0] <= '9') {
      p.kind = Part::Kind::kCapture;
      p.capture = name[0] - '0';
    } else if (Status s = vars.resolve(name, &p.var); !s) {
      return s;
    }
    cv.parts_.push_back(std::move(p));
    cv.literal_ = false;
  }
  flush();
  *out = std::move(cv);
  return Status::ok();
}

ComplexValue ComplexValue::literal_value(std::string text) {
  ComplexValue cv;
  cv.text_ = text;
  if (!text.empty()) cv.parts_.push_back(Part{Part::Kind::kLiteral, std::move(text), {}, 0});
  return cv;
}

bool ComplexValue::has_captures() const {
  for (const auto& p : parts_)
    if (p.kind == Part::Kind::kCapture) return true;
  return false;
}

void ComplexValue::append_part(Request& r, const Part& p, std::string& out) {
  switch (p.kind) {
    case Part::Kind::kLiteral:
      out += p.literal;
      break;
    case Part::Kind::kCapture:
      out += r.captures.group(p.capture);
      break;
    case Part::Kind::kVar:
      get_variable(r, p.var, out);
      break;
  }
}

void ComplexValue::eval(Request& r, std::string& out) const {
  if (literal_) {
    out += text_;
    return;
  }
  for (const auto& p : parts_) append_part(r, p, out);
}

bool get_variable(Request& r, const VarRef& ref, std::string& out) {
  Connection* c = r.conn;
  switch (ref.id) {
    case VarId::kRemoteAddr:
      append_addr_text(addr_for(r, kAddrVarRemoteAddr), out);
      return true;
    case VarId::kRemotePort:
      append_port(out, addr_for(r, kAddrVarRemotePort));
      return true;
    case VarId::kBinaryRemoteAddr: {
      const SockAddr& a = addr_for(r, kAddrVarBinaryRemoteAddr);
      if (a.sa.sa_family == AF_INET)
        out.append(reinterpret_cast<const char*>(&a.v4.sin_addr), 4);
      else if (a.sa.sa_family == AF_INET6)
        out.append(reinterpret_cast<const char*>(&a.v6.sin6_addr), 16);
      else
        append_addr_text(a, out);  // "unix:", as nginx
      return true;
    }
    case VarId::kRealipRemoteAddr:
      append_addr_text(c->peer(), out);
      return true;
    case VarId::kRealipRemotePort:
      append_port(out, c->peer());
      return true;
    case VarId::kHost:
      if (!r.host.empty()) {
        out += r.host;
      } else if (r.server) {
        out += r.server->primary_name;
      }
      return true;
    case VarId::kHttp: {
      // Several headers of the same name are joined as nginx does (cookies with "; ").
      bool found = false;
      for (const auto& h : r.head.headers) {
        if (!iequals(h.name, ref.param)) continue;
        if (found) out += ref.param == "cookie" ? "; " : ", ";
        out += h.value;
        found = true;
      }
      return found;
    }
    case VarId::kSentHttp: {
      const Response& resp = r.resp;
      if (ref.param == "content-type")
        out += resp.content_type;
      else if (ref.param == "content-length" && resp.content_length >= 0)
        append_uint(out, uint64_t(resp.content_length));
      else if (ref.param == "location")
        out += resp.location;
      else if (ref.param == "etag")
        out += resp.etag;
      else {
        for (size_t i = 0; i < resp.header_count; ++i)
          if (iequals(resp.headers[i].name, ref.param)) {
            out += resp.headers[i].value;
            return true;
          }
        return false;
      }
      return true;
    }
    case VarId::kRequest:
      out += r.head.request_line;
      return true;
    case VarId::kRequestUri:
      out += r.head.target;
      return true;
    case VarId::kUri:
    case VarId::kDocumentUri:
      out += r.uri;
      return true;
    case VarId::kArgs:
    case VarId::kQueryString:
      out += r.args;
      return true;
    case VarId::kIsArgs:
      if (!r.args.empty()) out += '?';
      return true;
    case VarId::kArg: {
      std::string_view v;
      if (!find_arg(r.args, ref.param, &v)) return false;
      out += v;
      return true;
    }
    case VarId::kCookie: {
      for (const auto& h : r.head.headers) {
        if (!iequals(h.name, "cookie")) continue;
        std::string_view s = h.value;
        while (!s.empty()) {
          size_t semi = s.find(';');
          std::string_view kv = trim(s.substr(0, semi));
          s = semi == std::string_view::npos ? std::string_view() : s.substr(semi + 1);
          size_t eq = kv.find('=');
          if (eq != std::string_view::npos && kv.substr(0, eq) == ref.param) {
            out += kv.substr(eq + 1);
            return true;
          }
        }
      }
      return false;
    }
    case VarId::kScheme:
      out += "http";
      return true;
    case VarId::kServerName:
      if (r.server) out += r.server->primary_name;
      return true;
    case VarId::kServerPort:
      append_uint(out, uint64_t(addr_port(c->local_addr())));
      return true;
    case VarId::kServerAddr:
      append_addr_text(c->local_addr(), out);
      return true;
    case VarId::kStatus: {
      char buf[8];
      int n = snprintf(buf, sizeof buf, "%03d", r.resp.status);
      out.append(buf, size_t(n));
      return true;
    }
    case VarId::kBodyBytesSent:
      append_uint(out, r.body_bytes_sent);
      return true;
    case VarId::kBytesSent:
      append_uint(out, r.bytes_sent);
      return true;
    case VarId::kRequestTime: {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      int64_t ms = (now.tv_sec - r.start.tv_sec) * 1000 + (now.tv_nsec - r.start.tv_nsec) / 1000000;
      if (ms < 0) ms = 0;
      char buf[32];
      int n =
          snprintf(buf, sizeof buf, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
      out.append(buf, size_t(n));
      return true;
    }
    case VarId::kTimeLocal:
      out += TimeCache::local().time_local();
      return true;
    case VarId::kTimeIso8601:
      out += TimeCache::local().time_iso8601();
      return true;
    case VarId::kMsec:
      out += TimeCache::local().msec();
      return true;
    case VarId::kConnection:
      append_uint(out, c->id());
      return true;
    case VarId::kConnectionRequests:
      append_uint(out, c->requests());
      return true;
    case VarId::kRequestMethod:
      out += r.method_name;
      return true;
    case VarId::kServerProtocol:
      out += r.head.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
      return true;
    case VarId::kDocumentRoot:
    case VarId::kRealpathRoot:
      if (r.loc) r.loc->root.eval(r, out);
      return true;
    case VarId::kRequestFilename: {
      if (!r.loc) return false;
      // $request_filename is root/alias + $uri, computed on use as in nginx.
      const LocationConf& l = *r.loc;
      l.root.eval(r, out);
      if (l.alias && !l.alias_regex)
        out += std::string_view(r.uri).substr(std::min(r.uri.size(), l.alias_prefix_len));
      else if (!l.alias)
        out += r.uri;
      return true;
    }
    case VarId::kContentLength:
      if (r.head.content_length < 0) return false;
      append_uint(out, uint64_t(r.head.content_length));
      return true;
    case VarId::kContentType: {
      const Header* h = r.head.find("content-type");
      if (!h) return false;
      out += h->value;
      return true;
    }
    case VarId::kRemoteUser:
      return false;
    case VarId::kRequestLength:
      append_uint(out, r.request_length);
      return true;
    case VarId::kNginxVersion:
      out += PORTICO_VERSION;
      return true;
    case VarId::kHostname: {
      char buf[256];
      if (gethostname(buf, sizeof buf) == 0) out += buf;
      return true;
    }
    case VarId::kPid:
      append_uint(out, uint64_t(getpid()));
      return true;
    case VarId::kRequestBody:
      return false;
    case VarId::kProxyHost:
      out += r.upstream.proxy_host;
      return !r.upstream.proxy_host.empty();
    case VarId::kProxyPort:
      out += r.upstream.proxy_port;
      return !r.upstream.proxy_port.empty();
    case VarId::kProxyAddXff: {
      // The client's X-Forwarded-For chain with its address appended.
      bool any = false;
      for (const auto& h : r.head.headers) {
        if (!iequals(h.name, "x-forwarded-for")) continue;
        if (any) out += ", ";
        out += h.value;
        any = true;
      }
      if (any) out += ", ";
      append_addr_text(addr_for(r, kAddrVarProxyAddXff), out);
      return true;
    }
    case VarId::kUpstreamAddr:
      out += r.upstream.addr;
      return !r.upstream.addr.empty();
    case VarId::kUpstreamStatus:
      return join_attempts(r.upstream, out, false, [](const UpstreamAttempt& a, std::string& o) {
        append_uint(o, uint64_t(a.status));
      });
    case VarId::kUpstreamResponseTime:
      return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
        append_ms(o, a.response_ms);
      });
    case VarId::kUpstreamConnectTime:
      return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
        append_ms(o, a.connect_ms);
      });
    case VarId::kUpstreamBytesReceived:
      if (r.upstream.addr.empty()) return false;
      append_uint(out, r.upstream.bytes_received);
      return true;
    case VarId::kUpstreamBytesSent:
      if (r.upstream.addr.empty()) return false;
      append_uint(out, r.upstream.bytes_sent);
      return true;
    case VarId::kUpstreamHeaderTime:
      return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
        append_ms(o, a.header_ms);
      });
    case VarId::kUser:
      if (const MapConf* m = r.http->vars.map(ref.user_index)) {
        m->eval(r, out);
        return true;
      }
      if (ref.user_index < 0 || size_t(ref.user_index) >= r.vars.size()) return false;
      out += r.vars[size_t(ref.user_index)];
      return r.vars_set[size_t(ref.user_index)] != 0;
  }
  return false;
}

}  // namespace portico::http
