// The proxy module's variables (nginx's ngx_http_proxy_module and ngx_http_upstream_module
// variables): $proxy_host, $proxy_port, $proxy_add_x_forwarded_for and $upstream_*, read from
// what the Session recorded in Request::upstream (and $upstream_http_*/$upstream_cookie_* from
// the response fields it passes on). Worker threads; no allocation beyond `out`.
#include "proxy/variables.h"

#include "core/strings.h"
#include "http/request.h"

namespace portico::proxy {

using http::append_uint;
using http::Request;
using http::UpstreamAttempt;
using http::UpstreamVars;
using Ref = const http::VarRef&;

namespace {

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

// One field of every attempt, ", "-separated, " : " between the attempts of two proxied
// locations (an internal redirect), as nginx prints its upstream states. timed_only: only
// attempts that reached a peer (times and byte counts). The attempt under way comes last.
template <class Field>
bool join_attempts(const UpstreamVars& u, std::string& out, bool timed_only, Field field) {
  bool any = false;
  bool redirected = false;
  auto one = [&](const UpstreamAttempt& a) {
    if (any) out += redirected ? " : " : ", ";
    redirected = false;
    field(a, out);
    any = true;
  };
  for (const UpstreamAttempt& a : u.attempts) {
    if (a.separator) {
      redirected = any;
      continue;
    }
    if (timed_only && !a.timed) continue;
    one(a);
  }
  if (u.in_attempt) one(u.current());
  return any;
}

const http::VariableDef kVariables[] = {
    {"proxy_host",
     [](Request& r, Ref, std::string& out) {
       out += r.upstream.proxy_host;
       return !r.upstream.proxy_host.empty();
     }},
    {"proxy_port",
     [](Request& r, Ref, std::string& out) {
       out += r.upstream.proxy_port;
       return !r.upstream.proxy_port.empty();
     }},
    {"proxy_add_x_forwarded_for",
     [](Request& r, Ref, std::string& out) {
       // The client's X-Forwarded-For chain with its address appended.
       bool any = false;
       for (const auto& h : r.head.headers) {
         if (!iequals(h.name, "x-forwarded-for")) continue;
         if (any) out += ", ";
         out += h.value;
         any = true;
       }
       if (any) out += ", ";
       append_addr_text(http::client_addr_for_variable(r, http::kAddrVarProxyAddXff), out);
       return true;
     }},
    {"upstream_addr",
     [](Request& r, Ref, std::string& out) {
       out += r.upstream.addr;
       return !r.upstream.addr.empty();
     }},
    {"upstream_status",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, false, [](const UpstreamAttempt& a, std::string& o) {
         if (a.status == 0) {
           o += '-';  // the attempt under way has no response head yet
           return;
         }
         append_uint(o, uint64_t(a.status));
       });
     }},
    {"upstream_response_time",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
         append_ms(o, a.response_ms);
       });
     }},
    {"upstream_connect_time",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
         append_ms(o, a.connect_ms);
       });
     }},
    {"upstream_header_time",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
         append_ms(o, a.header_ms);
       });
     }},
    // The last upstream response's fields (all of them, proxy_hide_header's too, as nginx),
    // from the copy kept for the request's life. Several are joined with ", ".
    {"upstream_http_",
     [](Request& r, Ref ref, std::string& out) {
       bool found = false;
       for (const http::Header& f : r.upstream.fields) {
         if (!iequals(f.name, ref.param)) continue;
         if (found) out += ", ";
         out += f.value;
         found = true;
       }
       return found;
     },
     /*prefix=*/true, /*header_param=*/true},
    // A cookie the upstream sets (the first Set-Cookie whose name matches), same source.
    {"upstream_cookie_",
     [](Request& r, Ref ref, std::string& out) {
       for (const http::Header& f : r.upstream.fields) {
         if (!iequals(f.name, "set-cookie")) continue;
         std::string_view v = f.value;
         const size_t eq = v.find('=');
         if (eq == std::string_view::npos || trim(v.substr(0, eq)) != ref.param) continue;
         v.remove_prefix(eq + 1);
         out += trim(v.substr(0, v.find(';')));
         return true;
       }
       return false;
     },
     /*prefix=*/true},
    {"upstream_bytes_received",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
         append_uint(o, a.bytes_received);
       });
     }},
    {"upstream_bytes_sent",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
         append_uint(o, a.bytes_sent);
       });
     }},
    {"upstream_response_length",
     [](Request& r, Ref, std::string& out) {
       return join_attempts(r.upstream, out, true, [](const UpstreamAttempt& a, std::string& o) {
         append_uint(o, a.response_length);
       });
     }},
};

}  // namespace

std::span<const http::VariableDef> variables() {
  return kVariables;
}

}  // namespace portico::proxy
