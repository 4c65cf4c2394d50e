#include "http/handler.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/http_date.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/phases.h"
#include "http/realip.h"
#include "http/uri.h"

namespace portico::http {

namespace {

constexpr int kMaxRedirects = 10;  // nginx: NGX_HTTP_MAX_URI_CHANGES

// Result of running a rewrite script.
enum class ScriptResult : uint8_t {
  kContinue,  // script ran to its end
  kBreak,     // `break` or rewrite ... break: stop the rewrite module, stay in location
  kLast,      // rewrite ... last: find the location again
  kStatus,    // return / redirect: *status holds the code
};

bool is_redirect_status(int s) {
  return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

// ---- access (allow/deny) --------------------------------------------------------------------

}  // namespace

namespace {}  // namespace

bool file_exists(const std::string& path, bool want_dir) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  return want_dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode);
}

namespace {

// 0 = allowed, 403 = denied.
int check_access(Request& r) {
  for (const auto& rule : r.loc->access) {
    if (access_rule_matches(rule, r.client_addr())) {
      if (rule.allow) return 0;
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "access forbidden by rule{}", log_context(r));
      return 403;
    }
  }
  return 0;
}

// ---- rewrite module -------------------------------------------------------------------------

void assign_named(Request& r, const NamedCaptures& named) {
  for (const auto& [group, var] : named) {
    r.vars[size_t(var)].assign(r.captures.group(group));
    r.vars_set[size_t(var)] = 1;
  }
}

bool eval_condition(Request& r, const IfCondition& c) {
  using K = IfCondition::Kind;
  std::string& lhs = r.scratch;
  lhs.clear();
  c.lhs.eval(r, lhs);
  switch (c.kind) {
    case K::kTrue:
      return !lhs.empty() && lhs != "0";
    case K::kEq:
    case K::kNe: {
      thread_local std::string rhs;  // reused: no allocation per evaluated `if`
      rhs.clear();
      c.rhs.eval(r, rhs);
      return (lhs == rhs) == (c.kind == K::kEq);
    }
    case K::kMatch:
    case K::kNotMatch: {
      Captures caps;
      bool m = c.regex->match(lhs, &caps);
      if (m && c.kind == K::kMatch) {
        // Captures must outlive the scratch string: keep a copy of the subject.
        r.captures = caps;
        r.captures_subject.assign(lhs);
        r.captures.subject = r.captures_subject;
        assign_named(r, c.named);
      }
      return m == (c.kind == K::kMatch);
    }
    default: {
      struct stat st;
      bool ok = ::stat(lhs.c_str(), &st) == 0;
      switch (c.kind) {
        case K::kFile:
          return ok && S_ISREG(st.st_mode);
        case K::kNotFile:
          return !(ok && S_ISREG(st.st_mode));
        case K::kDir:
          return ok && S_ISDIR(st.st_mode);
        case K::kNotDir:
          return !(ok && S_ISDIR(st.st_mode));
        case K::kExists:
          return ok;
        case K::kNotExists:
          return !ok;
        case K::kExec:
          return ok && ::access(lhs.c_str(), X_OK) == 0;
        case K::kNotExec:
          return !(ok && ::access(lhs.c_str(), X_OK) == 0);
        default:
          return false;
      }
    }
  }
}

void split_uri_args(Request& r, std::string& value, bool keep_args) {
  auto q = value.find('?');
  if (q != std::string::npos) {
    std::string new_args = value.substr(q + 1);
    value.resize(q);
    if (keep_args && !r.args.empty()) {
      new_args += '&';
      new_args += r.args;
    }
    r.args = std::move(new_args);
  }
}

ScriptResult run_script(Request& r, const RewriteScript& script, int* status) {
  for (const RewriteOp& op : script) {
    switch (op.kind) {
      case RewriteOp::Kind::kBreak:
        return ScriptResult::kBreak;
      case RewriteOp::Kind::kSet: {
        std::string v;
        op.text.eval(r, v);
        r.vars[size_t(op.var_index)] = std::move(v);
        r.vars_set[size_t(op.var_index)] = 1;
        break;
      }
      case RewriteOp::Kind::kReturn: {
        if (op.code == 444) {
          *status = kCloseConnection;
          return ScriptResult::kStatus;
        }
        r.resp.status = op.code;  // $status inside the text is the code being returned
        if (op.has_text) {
          std::string text;
          op.text.eval(r, text);
          if (is_redirect_status(op.code)) {
            set_location(r, text);
          } else {
            respond_text(r, op.code, text);
            *status = kHandled;
            return ScriptResult::kStatus;
          }
        }
        *status = op.code;
        return ScriptResult::kStatus;
      }
      case RewriteOp::Kind::kRewrite: {
        Captures caps;
        if (!op.regex->match(r.uri, &caps)) {
          r.captures.clear();  // nginx: a failed rewrite match resets $1..$9
          break;
        }
        // The replacement sees the rewrite's own captures.
        r.captures_subject.assign(r.uri);
        r.captures = caps;
        r.captures.subject = r.captures_subject;
        assign_named(r, op.named);
        std::string value;
        op.replacement.eval(r, value);
        if (op.redirect_url || op.flag == RewriteOp::Flag::kRedirect ||
            op.flag == RewriteOp::Flag::kPermanent) {
          if (op.keep_args && !r.args.empty() && value.find('?') == std::string::npos) {
            value += '?';
            value += r.args;
          } else if (!op.keep_args && !value.empty() && value.back() == '?') {
            value.pop_back();
          }
          set_location(r, value);
          *status = op.flag == RewriteOp::Flag::kPermanent ? 301 : 302;
          return ScriptResult::kStatus;
        }
        if (!op.keep_args) {
          if (!value.empty() && value.back() == '?') value.pop_back();
          auto q = value.find('?');
          if (q != std::string::npos) {
            r.args = value.substr(q + 1);
            value.resize(q);
          } else {
            r.args.clear();
          }
        } else {
          split_uri_args(r, value, true);
        }
        r.uri = std::move(value);
        r.uri_changed = true;
        if (op.flag == RewriteOp::Flag::kLast) return ScriptResult::kLast;
        if (op.flag == RewriteOp::Flag::kBreak) return ScriptResult::kBreak;
        break;
      }
      case RewriteOp::Kind::kIf: {
        if (!eval_condition(r, op.cond)) break;
        if (op.if_loc) r.loc = op.if_loc;
        ScriptResult res = run_script(r, *op.body, status);
        if (res != ScriptResult::kContinue) return res;
        break;
      }
    }
  }
  return ScriptResult::kContinue;
}

// ---- try_files ------------------------------------------------------------------------------

// Returns kHandled to continue to content with r.uri possibly replaced, or a redirect code.
int run_try_files(Request& r) {
  const TryFiles& tf = *r.loc->try_files;
  std::string candidate, path;
  for (const auto& f : tf.files) {
    candidate.clear();
    f.eval(r, candidate);
    bool want_dir = !candidate.empty() && candidate.back() == '/';
    if (!map_uri_to_path(r, candidate, path)) return 500;
    if (want_dir && path.size() > 1) path.pop_back();
    if (file_exists(path, want_dir)) {
      if (!want_dir) {
        split_uri_args(r, candidate, true);
        r.uri = candidate;
      }
      return kHandled;
    }
  }
  if (tf.fallback_code) return tf.fallback_code;
  std::string fb;
  tf.fallback.eval(r, fb);
  if (!fb.empty() && fb[0] == '@') {
    const void* named = r.server->matcher.find_named(fb);
    if (!named) {
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "could not find named location \"{}\"", fb);
      return 500;
    }
    r.loc = static_cast<const LocationConf*>(named);
    return kNamedRedirect;
  }
  split_uri_args(r, fb, true);
  r.uri = std::move(fb);
  return kInternalRedirect;
}

// The location for r.uri. *redirect_slash: nginx's auto_redirect (NGX_DONE), the request is
// answered 301 to the location's name with a trailing '/'.
const LocationConf* find_location(Request& r, bool* redirect_slash) {
  Captures caps;
  LocationMatch m = r.server->matcher.lookup(r.uri, &caps);
  *redirect_slash = m.redirect_slash;
  const void* p = m.payload;
  if (!p) return r.server->loc;
  const auto* loc = static_cast<const LocationConf*>(p);
  if (caps.count > 0) {
    r.captures_subject.assign(r.uri);
    r.captures = caps;
    r.captures.subject = r.captures_subject;
    assign_named(r, loc->named_captures);
  }
  return loc;
}

// Runs the phases from `start`. Returns kHandled or a status to finalise.
int run_phases(Request& r, bool from_server_rewrite, bool named) {
  for (;;) {
    int status = 0;
    bool redirect_slash = false;
    if (!named) {
      if (from_server_rewrite) {
        r.loc = r.server->loc;
        ScriptResult res = run_script(r, r.server->script, &status);
        if (res == ScriptResult::kStatus) return status;
      }
      r.loc = find_location(r, &redirect_slash);
      if (r.loc->internal && !r.is_internal) return 404;
    }
    named = false;
    from_server_rewrite = false;
    if (r.head.content_length > 0 && r.loc->client_max_body_size &&
        uint64_t(r.head.content_length) > r.loc->client_max_body_size) {
      PORTICO_LOG(LogLevel::kError, r.conn->id(),
                  "client intended to send too large body: {} bytes", r.head.content_length);
      r.resp.keep_alive = false;
      return 413;
    }
    if (redirect_slash) {
      // As nginx: the location's name, escaped, with the arguments.
      std::string to;
      escape_uri(r.loc->name, to);
      if (!r.args.empty()) to.append("?").append(r.args);
      set_location(r, to);
      return 301;
    }
    r.uri_changed = false;
    ScriptResult res = run_script(r, r.loc->script, &status);
    if (res == ScriptResult::kStatus) return status;
    if (r.uri_changed && res != ScriptResult::kBreak) {
      if (++r.redirects > kMaxRedirects) {
        PORTICO_LOG(LogLevel::kError, r.conn->id(),
                    "rewrite or internal redirection cycle while processing \"{}\"", r.uri);
        return 500;
      }
      continue;  // find the location again, without the server rewrite phase
    }
    apply_realip(r, r.loc->realip);  // preaccess: the location's settings
    if (int s = check_access(r)) return s;
    if (r.loc->try_files) {
      int t = run_try_files(r);
      if (t == kInternalRedirect || t == kNamedRedirect) {
        if (++r.redirects > kMaxRedirects) return 500;
        r.is_internal = true;
        if (t == kInternalRedirect) {
          from_server_rewrite = true;
        } else {
          named = true;
        }
        continue;
      }
      if (t != kHandled) return t;
    }
    const ContentHandler* content = r.loc->content ? r.loc->content : &default_content();
    int c = content->handle(r);
    if (c == kTakeOver) return kTakeOver;
    if (c == kInternalRedirect) {
      if (++r.redirects > kMaxRedirects) {
        PORTICO_LOG(LogLevel::kError, r.conn->id(),
                    "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                    r.uri);
        return 500;
      }
      r.is_internal = true;
      from_server_rewrite = true;
      continue;
    }
    return c;
  }
}

const char* kErrorTail = "</h1></center>\r\n<hr><center>";

void build_special_body(Request& r, int status) {
  std::string& b = r.body_buf;
  b.clear();
  if (status < 300 || status == 304) return;
  const char* reason = status_reason(status);
  b += "<html>\r\n<head><title>";
  b += std::to_string(status);
  b += ' ';
  b += reason;
  b += "</title></head>\r\n<body>\r\n<center><h1>";
  b += std::to_string(status);
  b += ' ';
  b += reason;
  b += kErrorTail;
  b += (r.loc && !r.loc->server_tokens) ? "portico" : "portico/" PORTICO_VERSION;
  b += "</center>\r\n</body>\r\n</html>\r\n";
}

// Produces the final response for `status` (no error_page applies).
void respond_special(Request& r, int status) {
  r.resp.status = status;
  r.out.clear();
  r.release_file();
  build_special_body(r, status);
  if (status == 204 || status == 304 || status < 200) {
    r.resp.content_length = -1;
    r.resp.header_only = true;
    r.resp.content_type = {};
    return;
  }
  r.resp.content_type = "text/html";
  r.resp.content_length = int64_t(r.body_buf.size());
  if (!r.body_buf.empty()) r.out.push_back(OutChunk{r.body_buf.data(), r.body_buf.size(), -1, 0});
  if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
      status == 500 || status == 501 || status == 505)
    r.resp.keep_alive = false;
}

// Applies error_page for `status` or answers it directly. Returns kHandled, kCloseConnection,
// or kInternalRedirect/kNamedRedirect (phases must run again).
int finalize(Request& r, int status) {
  if (status == kHandled || status == kCloseConnection) return status;
  const LocationConf* loc = r.loc ? r.loc : r.server->loc;
  if (status >= 300 && (!r.error_page_done || loc->recursive_error_pages)) {
    for (const ErrorPage& ep : loc->error_pages) {
      bool hit = false;
      for (int c : ep.codes) hit = hit || c == status;
      if (!hit) continue;
      r.error_page_done = true;
      std::string uri;
      ep.uri.eval(r, uri);
      int new_status = ep.overwrite > 0 ? ep.overwrite : status;
      if (ep.overwrite == 0) new_status = 0;  // the page's own status
      if (uri.find("://") != std::string::npos ||
          (!uri.empty() && uri[0] != '/' && uri[0] != '@')) {
        int s = is_redirect_status(ep.overwrite) ? ep.overwrite : 302;
        set_location(r, uri);
        respond_special(r, s);
        return kHandled;
      }
      r.err_status = new_status;
      if (r.head.method != Method::kHead) r.method_name = "GET";
      r.resp.clear();
      if (uri[0] == '@') {
        const void* named = r.server->matcher.find_named(uri);
        if (!named) {
          PORTICO_LOG(LogLevel::kError, r.conn->id(), "could not find named location \"{}\"", uri);
          respond_special(r, 500);
          return kHandled;
        }
        r.loc = static_cast<const LocationConf*>(named);
        return kNamedRedirect;
      }
      r.args.clear();
      split_uri_args(r, uri, false);
      r.uri = std::move(uri);
      return kInternalRedirect;
    }
  }
  if (is_redirect_status(status) && r.resp.location.empty()) {
    // `return 301` without a URL: nginx sends the page without Location.
  }
  respond_special(r, status);
  return kHandled;
}

bool init_request(Request& r, const AddrConf& addr, int* status) {
  r.method_name = r.head.method_name;
  clock_gettime(CLOCK_REALTIME, &r.start);
  r.start_ms = TimeCache::local().now_ms();
  r.args.assign(r.head.query);
  // Host: absolute-form authority wins, as in nginx.
  const bool host_present = !r.head.host.empty() || r.head.find("host") != nullptr;
  if (host_present && (r.head.host.empty() || !validate_host(r.head.host, r.host))) {
    r.server = addr.default_server;
    *status = 400;
    return false;
  }
  r.vars.resize(r.http->vars.user_count());
  r.vars_set.assign(r.http->vars.user_count(), 0);
  Captures caps;
  auto m = addr.names.lookup(r.host, &caps);
  r.server = m.payload ? static_cast<const ServerConf*>(m.payload) : addr.default_server;
  if (m.regex && caps.count > 0) {
    r.captures_subject.assign(r.host);
    r.captures = caps;
    r.captures.subject = r.captures_subject;
    for (const auto& g : m.regex->named_groups()) {
      int v = r.http->vars.find_user(g.name);
      if (v >= 0) assign_named(r, NamedCaptures{{g.index, v}});
    }
  }
  if (r.head.method == Method::kConnect) {
    *status = 400;
    return false;
  }
  if (r.head.method == Method::kTrace) {
    r.resp.keep_alive = false;
    *status = 405;
    return false;
  }
  if (r.head.path == "*" || r.head.path.empty() || r.head.path[0] != '/') {
    *status = 400;
    return false;
  }
  if (normalize_path(r.head.path, r.uri, r.server->loc->merge_slashes) != UriResult::kOk) {
    PORTICO_LOG(LogLevel::kInfo, r.conn->id(),
                "client sent invalid request while reading client request line, client: {}",
                addr_text(r.conn->peer()));
    *status = 400;
    return false;
  }
  return true;
}

}  // namespace

namespace {

// Runs finalize/error_page and the phases again until a response is ready.
Outcome drive(Request& r, int result) {
  for (int rounds = 0;; ++rounds) {
    if (result == kTakeOver) return Outcome::kTakeOver;
    int f = finalize(r, result);
    if (f == kCloseConnection) return Outcome::kClose;
    if (f == kHandled) break;
    if (rounds >= kMaxRedirects) {
      respond_special(r, 500);
      break;
    }
    r.is_internal = true;
    result = run_phases(r, f == kInternalRedirect, f == kNamedRedirect);
  }
  if (r.head.method == Method::kHead) r.resp.header_only = true;
  return Outcome::kRespond;
}

}  // namespace

Outcome process_request(Request& r, const AddrConf& addr) {
  int status = 0;
  if (!init_request(r, addr, &status)) {
    r.loc = r.server->loc;
    respond_special(r, status);
    return Outcome::kRespond;
  }
  apply_realip(r, r.server->loc->realip);  // post-read: the server's settings
  return drive(r, run_phases(r, true, false));
}

Outcome respond_with_status(Request& r, int status) {
  r.resp.clear();
  r.out.clear();
  return drive(r, status);
}

void respond_error_early(Request& r, const AddrConf* addr, int status) {
  if (!r.server) r.server = addr ? addr->default_server : nullptr;
  if (!r.loc && r.server) r.loc = r.server->loc;
  if (r.start.tv_sec == 0) {
    clock_gettime(CLOCK_REALTIME, &r.start);
    r.start_ms = TimeCache::local().now_ms();
  }
  r.resp.clear();
  r.resp.keep_alive = false;
  respond_special(r, status);
  r.resp.keep_alive = false;
}

// ---- helpers shared with content handlers ---------------------------------------------------

std::string log_context(const Request& r) {
  std::string s = ", client: ";
  append_addr_text(r.client_addr(), s);
  s += ", server: ";
  if (r.server) s += r.server->primary_name;
  if (!r.head.request_line.empty()) {
    s += ", request: \"";
    s += r.head.request_line;
    s += '"';
  }
  if (const Header* h = r.head.find("host")) {
    s += ", host: \"";
    s += h->value;
    s += '"';
  }
  return s;
}

void respond_text(Request& r, int status, std::string_view text) {
  r.resp.status = status;
  r.body_buf.assign(text);
  r.resp.content_type = r.loc->default_type;
  r.resp.content_length = int64_t(r.body_buf.size());
  r.out.clear();
  if (!r.body_buf.empty()) r.out.push_back(OutChunk{r.body_buf.data(), r.body_buf.size(), -1, 0});
}

void set_location(Request& r, std::string_view url) {
  std::string& loc = r.resp.location;
  loc.clear();
  if (!url.empty() && url[0] == '/' && r.loc && r.loc->absolute_redirect) {
    // nginx: scheme://host[:port] + url, host from server_name_in_redirect or Host.
    loc += "http://";
    if (r.loc->server_name_in_redirect || r.host.empty()) {
      loc += r.server->primary_name;
    } else {
      loc += r.host;
    }
    int port = addr_port(r.conn->local_addr());
    if (r.loc->port_in_redirect && port != 80 && port != 0) {
      loc += ':';
      loc += std::to_string(port);
    }
  }
  loc += url;
}

bool map_uri_to_path(Request& r, std::string_view uri, std::string& out) {
  const LocationConf& l = *r.loc;
  // `uri` may point into r.filename's old value only if the caller passed it; it never does.
  out.clear();
  l.root.eval(r, out);
  if (l.alias) {
    if (!l.alias_regex) {
      std::string_view rest =
          uri.size() >= l.alias_prefix_len ? uri.substr(l.alias_prefix_len) : "";
      out += rest;
    }
  } else {
    out += uri;
  }
  if (&out != &r.filename) r.filename = out;
  return true;
}

// ---- response head --------------------------------------------------------------------------

namespace {

// add_header and expires apply to these codes (add_header to others with `always`).
bool headers_module_code(int status) {
  return status == 200 || status == 201 || status == 204 || status == 206 || status == 301 ||
         status == 302 || status == 303 || status == 304 || status == 307 || status == 308;
}

// nginx's ngx_http_set_expires: Expires and Cache-Control from `expires`.
void append_expires(const Request& r, std::string& h) {
  using Kind = LocationConf::Expires::Kind;
  const LocationConf::Expires& e = r.loc->expires;
  const time_t now = TimeCache::local().unix_time();
  time_t at = 0;
  int64_t max_age = 0;
  switch (e.kind) {
    case Kind::kOff:
      return;
    case Kind::kEpoch:
      h += "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\nCache-Control: no-cache\r\n";
      return;
    case Kind::kMax:
      h += "Expires: Thu, 31 Dec 2037 23:55:55 GMT\r\nCache-Control: max-age=315360000\r\n";
      return;
    case Kind::kAccess:
      at = now + e.seconds;
      max_age = e.seconds;
      break;
    case Kind::kModified: {
      const time_t since = r.resp.last_modified != -1 ? r.resp.last_modified : now;
      at = since + e.seconds;
      max_age = int64_t(at - now);
      break;
    }
    case Kind::kDaily: {
      // The next time the local clock shows that time of day.
      const long gmtoff = TimeCache::local().gmtoff();
      const time_t day = (now + gmtoff) / 86400 * 86400 - gmtoff;
      at = day + e.seconds;
      if (at <= now) at += 86400;
      max_age = int64_t(at - now);
      break;
    }
  }
  char date[kHttpDateLen];
  h += "Expires: ";
  h += format_http_date(at, date);
  h += "\r\nCache-Control: ";
  if (max_age < 0) {
    h += "no-cache";
  } else {
    h += "max-age=";
    h += std::to_string(max_age);
  }
  h += "\r\n";
}

}  // namespace

bool expires_applies(const Request& r, int status) {
  return r.loc && r.loc->expires.kind != LocationConf::Expires::Kind::kOff &&
         headers_module_code(status);
}

void append_add_headers(Request& r, int status, std::string& h) {
  if (!r.loc) return;
  const bool ok_code = headers_module_code(status);
  if (ok_code) append_expires(r, h);
  if (r.loc->add_headers.empty()) return;
  thread_local std::string value;  // reused: no allocation per response once warm
  for (const auto& ah : r.loc->add_headers) {
    if (!ok_code && !ah.always) continue;
    value.clear();
    ah.value.eval(r, value);
    if (value.empty()) continue;
    h += ah.name;
    h += ": ";
    h += value;
    h += "\r\n";
  }
}

const char* status_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Moved Temporarily";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Time-out";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Large";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 494:
      return "Request Header Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Temporarily Unavailable";
    case 504:
      return "Gateway Time-out";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return status < 200   ? "Informational"
             : status < 300 ? "OK"
             : status < 400 ? "Redirect"
             : status < 500 ? "Error"
                            : "Server Error";
  }
}

}  // namespace portico::http
