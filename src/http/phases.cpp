// The request pipeline: nginx's phases in order (post-read, server rewrite, find location,
// rewrite, preaccess, access, try_files, content), run again after internal redirects and
// error_page. The rewrite script is in rewrite.cpp, allow/deny in access_module.cpp, error_page
// and the response head lines in response.cpp.
#include "http/handler.h"

#include <sys/stat.h>

#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/module.h"
#include "http/phase_internal.h"
#include "http/realip.h"
#include "http/ssl_module.h"
#include "http/uri.h"

namespace portico::http {

bool file_exists(const std::string& path, bool want_dir) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  return want_dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode);
}

bool map_uri_to_path(Request& r, std::string_view uri, std::string& out) {
  const LocationConf& l = *r.loc;
  // `uri` may point into r.filename's old value only if the caller passed it; it never does.
  out.clear();
  l.root.eval(r, out);
  if (l.alias) {
    if (l.alias_regex && r.add_uri_to_alias) {
      out += uri;
    } else if (!l.alias_regex) {
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

namespace {

// ---- try_files ------------------------------------------------------------------------------

// Step::next() to go on to content with r.uri possibly replaced, a redirect, or a status.
Step run_try_files(Request& r) {
  const TryFiles& tf = *r.loc->try_files;
  const LocationConf& l = *r.loc;
  std::string candidate, path;
  for (const auto& f : tf.files) {
    candidate.clear();
    f.name.eval(r, candidate);
    // ngx_http_try_files_handler: the file is root + name; with a prefix `alias`, the
    // location's name is cut from the start of the name (if it starts with it) and the alias
    // put in its place; with a regex alias, the alias + name.
    path.clear();
    l.root.eval(r, path);
    std::string_view rest = candidate;
    const size_t cut = l.alias && !l.alias_regex ? std::min(l.alias_prefix_len, r.uri.size()) : 0;
    if (cut && rest.substr(0, cut) == std::string_view(r.uri).substr(0, cut))
      rest.remove_prefix(cut);
    path += rest;
    r.filename = path;
    if (!file_exists(path, f.dir)) continue;
    // Found: the request goes on in this location with the name as its URI (a directory
    // without its slash, which the static module then redirects to NAME/).
    if (!l.alias) {
      split_uri_args(r, candidate, true);
      r.uri = candidate;
    } else if (l.alias_regex) {
      if (!f.dir) {
        r.uri = candidate;
        r.add_uri_to_alias = true;
      }
    } else {
      r.uri.resize(cut);
      r.uri += rest;
    }
    return Step::next();
  }
  if (tf.fallback_code) return Step::status(tf.fallback_code);
  std::string fb;
  tf.fallback.eval(r, fb);
  if (!fb.empty() && fb[0] == '@') {
    const void* named = r.server->matcher.find_named(fb);
    if (!named) {
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "could not find named location \"{}\"", fb);
      return Step::status(500);
    }
    r.loc = static_cast<const LocationConf*>(named);
    return Step::named_redirect();
  }
  split_uri_args(r, fb, true);
  r.uri = std::move(fb);
  return Step::internal_redirect();
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

// Runs the phases from the server rewrite phase (or, for `named`, from r.loc's rewrite phase).
// Returns what finalize() takes: a status, respond, close; or take_over.
Step run_phases(Request& r, bool from_server_rewrite, bool named) {
  for (;;) {
    Step stop = Step::next();
    bool redirect_slash = false;
    // A request limit_req delayed comes back here and goes on at its preaccess phase.
    const bool resume = std::exchange(r.resume_preaccess, false);
    if (!resume) {
      r.add_uri_to_alias = false;
      if (!named) {
        if (from_server_rewrite) {
          r.loc = r.server->loc;
          if (run_script(r, r.server->script, &stop) == ScriptResult::kStop) return stop;
        }
        r.loc = find_location(r, &redirect_slash);
        if (r.loc->internal && !r.is_internal) return Step::status(404);
      }
      named = false;
      from_server_rewrite = false;
      if (r.head.content_length > 0 && r.loc->client_max_body_size &&
          uint64_t(r.head.content_length) > r.loc->client_max_body_size) {
        PORTICO_LOG(LogLevel::kError, r.conn->id(),
                    "client intended to send too large body: {} bytes", r.head.content_length);
        r.resp.keep_alive = false;
        return Step::status(413);
      }
      if (redirect_slash) {
        // As nginx: the location's name, escaped, with the arguments.
        std::string to;
        escape_uri(r.loc->name, to);
        if (!r.args.empty()) to.append("?").append(r.args);
        set_location(r, to);
        return Step::status(301);
      }
      r.uri_changed = false;
      const ScriptResult res = run_script(r, r.loc->script, &stop);
      if (res == ScriptResult::kStop) return stop;
      if (r.uri_changed && res != ScriptResult::kBreak) {
        if (++r.redirects > kMaxRedirects) {
          PORTICO_LOG(LogLevel::kError, r.conn->id(),
                      "rewrite or internal redirection cycle while processing \"{}\"", r.uri);
          return Step::status(500);
        }
        continue;  // find the location again, without the server rewrite phase
      }
    }
    // limit_except: another method goes on with the block's settings (nginx swaps the loc conf).
    if (r.loc->limit_except) [[unlikely]] {
      bool listed = false;
      for (const std::string& m : r.loc->limit_except_methods)
        listed = listed || m == r.head.method_name;
      if (!listed) r.loc = r.loc->limit_except;
    }
    // From here the request's messages go to its location's error_log.
    LogScope log_scope(r.loc->error_log.get());
    apply_realip(r, r.loc->realip);  // preaccess: the location's settings
    for (Module* m : modules()) {
      if (!m->preaccess) continue;
      if (const Step p = m->preaccess(r); !p.is(Step::Kind::kNext)) return p;
    }
    if (const Step a = run_access_phase(r); !a.is(Step::Kind::kNext)) return a;
    if (r.loc->try_files) {
      const Step t = run_try_files(r);
      if (t.redirects()) {
        if (++r.redirects > kMaxRedirects) return Step::status(500);
        r.is_internal = true;
        if (t.is(Step::Kind::kInternalRedirect)) {
          from_server_rewrite = true;
        } else {
          named = true;
        }
        continue;
      }
      if (!t.is(Step::Kind::kNext)) return t;
    }
    const ContentHandler* content = r.loc->content ? r.loc->content : &default_content();
    const Step c = content->handle(r);
    if (c.is(Step::Kind::kInternalRedirect)) {
      if (++r.redirects > kMaxRedirects) {
        PORTICO_LOG(LogLevel::kError, r.conn->id(),
                    "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                    r.uri);
        return Step::status(500);
      }
      r.is_internal = true;
      from_server_rewrite = true;
      continue;
    }
    return c;
  }
}

// The post-read phase: method, Host, the server, the normalised URI. False with *status set
// when the request is refused before routing.
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
  // Methods an origin server does not carry out (RFC 9110 9.3.6, 9.3.8): 405, and the
  // connection ends (a CONNECT client may already be sending tunnel bytes).
  if (r.head.method == Method::kConnect || r.head.method == Method::kTrace) {
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

// Runs finalize/error_page and the phases again until a response is ready.
Outcome drive(Request& r, Step result) {
  for (int rounds = 0;; ++rounds) {
    if (result.is(Step::Kind::kTakeOver)) return Outcome::kTakeOver;
    if (result.is(Step::Kind::kDelay)) {
      r.resume_preaccess = true;
      return Outcome::kDelay;
    }
    const Step f = finalize(r, result);
    if (f.is(Step::Kind::kClose)) return Outcome::kClose;
    if (f.is(Step::Kind::kRespond)) break;
    if (rounds >= kMaxRedirects) {
      respond_special(r, 500);
      break;
    }
    r.is_internal = true;
    result = run_phases(r, f.is(Step::Kind::kInternalRedirect), f.is(Step::Kind::kNamedRedirect));
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
  if (r.conn && r.conn->tls()) [[unlikely]] {
    // A TLS address: plain HTTP, or a client certificate that fails (error_page may catch them).
    if (int s = ssl_check_request(r)) {
      r.loc = r.server->loc;
      return drive(r, Step::status(s));
    }
  }
  apply_realip(r, r.server->loc->realip);  // post-read: the server's settings
  return drive(r, run_phases(r, true, false));
}

Outcome resume_request(Request& r) {
  return drive(r, run_phases(r, false, false));
}

Outcome redirect_from_content(Request& r, Step to) {
  r.out.clear();
  if (++r.redirects > kMaxRedirects) {
    PORTICO_LOG(LogLevel::kError, r.conn->id(),
                "rewrite or internal redirection cycle while internally redirecting to \"{}\"",
                r.uri);
    return drive(r, Step::status(500));
  }
  r.is_internal = true;
  const bool named = to.is(Step::Kind::kNamedRedirect);
  return drive(r, run_phases(r, !named, named));
}

Outcome respond_with_status(Request& r, int status) {
  clear_for_error(r, status);
  r.out.clear();
  return drive(r, Step::status(status));
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

}  // namespace portico::http
