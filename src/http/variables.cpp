#include "http/variables.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "core/http_date.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/basic_credentials.h"
#include "http/connection.h"
#include "http/http_config.h"
#include "http/map.h"
#include "http/request.h"
#include "http/uri.h"
#include "http/worker_services.h"

namespace portico::http {

namespace {

struct Registry {
  std::unordered_map<std::string_view, const VariableDef*> names;
  std::vector<const VariableDef*> prefixes;
};

void add(Registry& reg, std::span<const VariableDef> defs) {
  for (const VariableDef& d : defs) {
    if (d.prefix)
      reg.prefixes.push_back(&d);
    else
      reg.names.emplace(d.name, &d);
  }
}

extern const VariableDef kCoreVariables[];
extern const size_t kCoreVariableCount;

Registry& registry() {
  static Registry r = [] {
    Registry x;
    add(x, std::span(kCoreVariables, kCoreVariableCount));
    return x;
  }();
  return r;
}

std::string header_param(std::string_view rest) {
  std::string p(rest);
  for (char& c : p) c = c == '_' ? '-' : ascii_lower(c);
  return p;
}

// Whether field `name` is the one a $http_/$sent_http_ parameter names (lowercase, '-' for
// '_'): as nginx, '_' and '-' in the field's name are the same, so $http_x_foo finds "X_Foo"
// (kept by underscores_in_headers) as well as "X-Foo".
bool header_name_is(std::string_view name, std::string_view param) {
  if (name.size() != param.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i] == '_' ? '-' : ascii_lower(name[i]);
    if (c != param[i]) return false;
  }
  return true;
}

// nginx prints no port for 0 (a unix-domain peer, or a realip address without one).
void append_port(std::string& out, const SockAddr& a) {
  if (int port = addr_port(a)) append_uint(out, uint64_t(port));
}

using Ref = const VarRef&;

// The host's own variables (nginx's ngx_http_core_variables). Modules add theirs through
// Module::variables.
extern const VariableDef kCoreVariables[] = {
    {"remote_addr",
     [](Request& r, Ref, std::string& out) {
       append_addr_text(client_addr_for_variable(r, kAddrVarRemoteAddr), out);
       return true;
     }},
    {"remote_port",
     [](Request& r, Ref, std::string& out) {
       append_port(out, client_addr_for_variable(r, kAddrVarRemotePort));
       return true;
     }},
    // The PROXY protocol header's addresses (nginx: not found without a header that had them).
    {"proxy_protocol_addr",
     [](Request& r, Ref, std::string& out) {
       const ProxyHeader* pp = r.conn->proxy_protocol();
       if (pp) out += pp->src_text;
       return pp != nullptr;
     }},
    {"proxy_protocol_port",
     [](Request& r, Ref, std::string& out) {
       const ProxyHeader* pp = r.conn->proxy_protocol();
       if (pp) append_uint(out, pp->src_port);
       return pp != nullptr;
     }},
    {"proxy_protocol_server_addr",
     [](Request& r, Ref, std::string& out) {
       const ProxyHeader* pp = r.conn->proxy_protocol();
       if (pp) out += pp->dst_text;
       return pp != nullptr;
     }},
    {"proxy_protocol_server_port",
     [](Request& r, Ref, std::string& out) {
       const ProxyHeader* pp = r.conn->proxy_protocol();
       if (pp) append_uint(out, pp->dst_port);
       return pp != nullptr;
     }},
    {"proxy_protocol_tlv_",
     [](Request& r, Ref ref, std::string& out) {
       const ProxyHeader* pp = r.conn->proxy_protocol();
       thread_local std::string num;
       std::string_view v;
       if (!pp || !find_proxy_tlv(pp->tlvs, ref.param, &v, &num)) return false;
       out += v;
       return true;
     },
     /*prefix=*/true},
    {"binary_remote_addr",
     [](Request& r, Ref, std::string& out) {
       const SockAddr& a = client_addr_for_variable(r, kAddrVarBinaryRemoteAddr);
       if (a.sa.sa_family == AF_INET)
         out.append(reinterpret_cast<const char*>(&a.v4.sin_addr), 4);
       else if (a.sa.sa_family == AF_INET6)
         out.append(reinterpret_cast<const char*>(&a.v6.sin6_addr), 16);
       else
         append_addr_text(a, out);  // "unix:", as nginx
       return true;
     }},
    {"host",
     [](Request& r, Ref, std::string& out) {
       if (!r.host.empty())
         out += r.host;
       else if (r.server)
         out += r.server->primary_name;
       return true;
     }},
    {"http_",
     [](Request& r, Ref ref, std::string& out) {
       // Several headers of the same name are joined as nginx does (cookies with "; ").
       bool found = false;
       for (const auto& h : r.head.headers) {
         if (!header_name_is(h.name, ref.param)) continue;
         if (found) out += ref.param == "cookie" ? "; " : ", ";
         out += h.value;
         found = true;
       }
       return found;
     },
     true, true},
    {"sent_http_",
     [](Request& r, Ref ref, std::string& out) {
       const Response& resp = r.resp;
       if (ref.param == "content-type") {
         out += resp.content_type;
       } else if (ref.param == "content-length" && resp.content_length >= 0) {
         append_uint(out, uint64_t(resp.content_length));
       } else if (ref.param == "location") {
         out += resp.location;
       } else if (ref.param == "etag" && !resp.etag.empty()) {
         out += resp.etag;
       } else if (ref.param == "last-modified" && resp.last_modified >= 0) {
         char date[kHttpDateLen];
         out += format_http_date(resp.last_modified, date);
       } else if (ref.param == "accept-ranges" && resp.accept_ranges) {
         out += "bytes";
       } else if (ref.param == "content-range" && !resp.content_range.empty()) {
         out += resp.content_range;
       } else if (ref.param == "transfer-encoding" && resp.chunked) {
         out += "chunked";
       } else if (ref.param == "connection" && resp.status != 0 && r.head.version_major < 2) {
         // What the codec wrote (nginx: known once the head went out).
         out += resp.upgrade ? "upgrade" : resp.keep_alive ? "keep-alive" : "close";
       } else if (ref.param == "keep-alive" && resp.status != 0 && r.head.version_major < 2 &&
                  resp.keep_alive &&
                  !resp.upgrade && r.loc && r.loc->keepalive_header >= 0) {
         out += "timeout=";
         append_uint(out, uint64_t(r.loc->keepalive_header));
       } else if (ref.param == "connection" || ref.param == "keep-alive") {
         return false;
       } else {
         // Several fields of one name are joined with ", " (nginx 1.23's rule for all names).
         bool found = false;
         for (size_t i = 0; i < resp.header_count; ++i) {
           if (!header_name_is(resp.headers[i].name, ref.param)) continue;
           if (found) out += ", ";
           out += resp.headers[i].value;
           found = true;
         }
         for (const Header& f : resp.fields) {
           if (!header_name_is(f.name, ref.param)) continue;
           if (found) out += ", ";
           out += f.value;
           found = true;
         }
         return found;
       }
       return true;
     },
     true, true},
    {"sent_trailer_",
     [](Request& r, Ref ref, std::string& out) {
       bool found = false;
       for (size_t i = 0; i < r.resp.trailer_count; ++i) {
         if (!iequals(r.resp.trailers[i].name, ref.param)) continue;
         if (found) out += ", ";
         out += r.resp.trailers[i].value;
         found = true;
       }
       return found;
     },
     true, true},
    {"arg_",
     [](Request& r, Ref ref, std::string& out) {
       std::string_view v;
       if (!find_arg(r.args, ref.param, &v)) return false;
       out += v;
       return true;
     },
     true},
    {"cookie_",
     [](Request& r, Ref ref, std::string& out) {
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
     },
     true},
    {"request",
     [](Request& r, Ref, std::string& out) {
       out += r.head.request_line;
       return true;
     }},
    {"request_uri",
     [](Request& r, Ref, std::string& out) {
       out += r.head.target;
       return true;
     }},
    {"uri",
     [](Request& r, Ref, std::string& out) {
       out += r.uri;
       return true;
     }},
    {"document_uri",
     [](Request& r, Ref, std::string& out) {
       out += r.uri;
       return true;
     }},
    {"args",
     [](Request& r, Ref, std::string& out) {
       out += r.args;
       return true;
     }},
    {"query_string",
     [](Request& r, Ref, std::string& out) {
       out += r.args;
       return true;
     }},
    {"is_args",
     [](Request& r, Ref, std::string& out) {
       if (!r.args.empty()) out += '?';
       return true;
     }},
    {"scheme",
     [](Request& r, Ref, std::string& out) {
       out += r.conn && r.conn->secure() ? "https" : "http";
       return true;
     }},
    {"server_name",
     [](Request& r, Ref, std::string& out) {
       if (r.server) out += r.server->primary_name;
       return true;
     }},
    {"server_port",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, uint64_t(addr_port(r.conn->local_addr())));
       return true;
     }},
    {"server_addr",
     [](Request& r, Ref, std::string& out) {
       append_addr_text(r.conn->local_addr(), out);
       return true;
     }},
    {"status",
     [](Request& r, Ref, std::string& out) {
       char buf[8];
       int n = snprintf(buf, sizeof buf, "%03d", r.resp.status);
       out.append(buf, size_t(n));
       return true;
     }},
    {"body_bytes_sent",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, r.body_bytes_sent);
       return true;
     }},
    {"bytes_sent",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, r.bytes_sent);
       return true;
     }},
    {"request_time",
     [](Request& r, Ref, std::string& out) {
       struct timespec now;
       clock_gettime(CLOCK_REALTIME, &now);
       int64_t ms =
           (now.tv_sec - r.start.tv_sec) * 1000 + (now.tv_nsec - r.start.tv_nsec) / 1000000;
       if (ms < 0) ms = 0;
       char buf[32];
       int n =
           snprintf(buf, sizeof buf, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
       out.append(buf, size_t(n));
       return true;
     }},
    {"time_local",
     [](Request&, Ref, std::string& out) {
       out += TimeCache::local().time_local();
       return true;
     }},
    {"time_iso8601",
     [](Request&, Ref, std::string& out) {
       out += TimeCache::local().time_iso8601();
       return true;
     }},
    {"msec",
     [](Request&, Ref, std::string& out) {
       out += TimeCache::local().msec();
       return true;
     }},
    {"connection",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, r.conn->id());
       return true;
     }},
    {"connection_time",
     [](Request& r, Ref, std::string& out) {
       const uint64_t ms = r.conn->worker()->loop().now_ms() - r.conn->start_ms();
       char buf[32];
       out.append(buf, size_t(snprintf(buf, sizeof buf, "%llu.%03llu",
                                       (unsigned long long)(ms / 1000),
                                       (unsigned long long)(ms % 1000))));
       return true;
     }},
    {"connection_requests",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, r.conn->requests());
       return true;
     }},
    {"request_method",
     [](Request& r, Ref, std::string& out) {
       out += r.method_name;
       return true;
     }},
    {"server_protocol",
     [](Request& r, Ref, std::string& out) {
       out += r.head.version_major == 2   ? "HTTP/2.0"
              : r.head.version_minor == 0 ? "HTTP/1.0"
                                          : "HTTP/1.1";
       return true;
     }},
    {"document_root",
     [](Request& r, Ref, std::string& out) {
       if (r.loc) r.loc->root.eval(r, out);
       return true;
     }},
    {"realpath_root",
     [](Request& r, Ref, std::string& out) {
       if (r.loc) r.loc->root.eval(r, out);
       return true;
     }},
    {"request_filename",
     [](Request& r, Ref, std::string& out) {
       if (!r.loc) return false;
       // $request_filename is root/alias + $uri, computed on use as in nginx.
       const LocationConf& l = *r.loc;
       l.root.eval(r, out);
       if (l.alias && !l.alias_regex)
         out += std::string_view(r.uri).substr(std::min(r.uri.size(), l.alias_prefix_len));
       else if (!l.alias)
         out += r.uri;
       return true;
     }},
    {"content_length",
     [](Request& r, Ref, std::string& out) {
       if (r.head.content_length < 0) return false;
       append_uint(out, uint64_t(r.head.content_length));
       return true;
     }},
    {"content_type",
     [](Request& r, Ref, std::string& out) {
       const Header* h = r.head.find("content-type");
       if (!h) return false;
       out += h->value;
       return true;
     }},
    {"remote_user",
     [](Request& r, Ref, std::string& out) {
       thread_local std::string user, password;
       if (!basic_credentials(r, &user, &password)) return false;
       out += user;
       return true;
     }},
    {"pipe",
     [](Request& r, Ref, std::string& out) {
       out += r.pipelined ? 'p' : '.';
       return true;
     }},
    {"request_length",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, r.request_length);
       return true;
     }},
    {"nginx_version",
     [](Request&, Ref, std::string& out) {
       out += PORTICO_VERSION;
       return true;
     }},
    {"hostname",
     [](Request&, Ref, std::string& out) {
       char buf[256];
       if (gethostname(buf, sizeof buf) == 0) out += buf;
       return true;
     }},
    {"pid",
     [](Request&, Ref, std::string& out) {
       append_uint(out, uint64_t(getpid()));
       return true;
     }},
    // The body as content read it: while it is all in memory (nginx: not found once in a file).
    {"request_body",
     [](Request& r, Ref, std::string& out) {
       if (!r.body.memory_valid() || r.body.memory().empty()) return false;
       out += r.body.memory();
       return true;
     }},
    {"limit_rate",
     [](Request& r, Ref, std::string& out) {
       append_uint(out, r.rate.rate);
       return true;
     }},
    {"request_body_file",
     [](Request& r, Ref, std::string& out) {
       if (!r.body.in_file()) return false;
       out += r.body.path();
       return true;
     }},
};

extern const size_t kCoreVariableCount = std::size(kCoreVariables);

}  // namespace

void register_variables(std::span<const VariableDef> defs) {
  add(registry(), defs);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  out.append(buf, size_t(n));
}

const SockAddr& client_addr_for_variable(Request& r, uint8_t bit) {
  // nginx keeps the value of its first read, so a read before realip changed the address
  // keeps the connection's.
  if (!r.realip_set) {
    r.addr_vars_early |= bit;
    return r.conn->peer();
  }
  return (r.addr_vars_early & bit) ? r.conn->peer() : r.realip_addr;
}

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
  out->def = nullptr;
  const Registry& reg = registry();
  if (auto it = reg.names.find(name); it != reg.names.end()) {
    out->def = it->second;
    return Status::ok();
  }
  for (const VariableDef* p : reg.prefixes) {
    // nginx takes "$arg_" too: a parameter with an empty name.
    if (name.size() >= p->name.size() && name.substr(0, p->name.size()) == p->name) {
      out->def = p;
      std::string_view rest = name.substr(p->name.size());
      out->param = p->header_param ? header_param(rest) : std::string(rest);
      return Status::ok();
    }
  }
  int idx = find_user(name);
  if (idx < 0) return Status::error(fmt::format("unknown \"{}\" variable", name));
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
  if (ref.def) return ref.def->get(r, ref, out);
  if (const MapConf* m = r.http->vars.map(ref.user_index)) {
    m->eval(r, out);
    return true;
  }
  if (ref.user_index < 0 || size_t(ref.user_index) >= r.vars.size()) return false;
  out += r.vars[size_t(ref.user_index)];
  return r.vars_set[size_t(ref.user_index)] != 0;
}

}  // namespace portico::http
