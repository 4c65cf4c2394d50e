// The pipeline's internal seams (nginx's phase handlers), shared by the files that implement it:
// phases.cpp (the phase runner, try_files), rewrite.cpp (the rewrite module's script),
// access_module.cpp (allow/deny), response.cpp (error_page, special responses, response head
// lines). Content handlers use http/phases.h instead.
#pragma once

#include <string>

#include "http/phases.h"
#include "http/request.h"

namespace portico::http {

constexpr int kMaxRedirects = 10;  // nginx: NGX_HTTP_MAX_URI_CHANGES

inline bool is_redirect_status(int s) {
  return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

// ---- rewrite (rewrite.cpp) ----
// How a rewrite script ended.
enum class ScriptResult : uint8_t {
  kContinue,  // the script ran to its end
  kBreak,     // `break` or rewrite ... break: stop the rewrite module, stay in the location
  kLast,      // rewrite ... last: find the location again
  kStop,      // return, a redirect, 444: *stop says what to do
};
ScriptResult run_script(Request& r, const RewriteScript& script, Step* stop);
// Stores a regex match's named captures into their user variables.
void assign_named(Request& r, const NamedCaptures& named);
// Moves the "?args" part of `value` into r.args (appending the old args when keep_args).
void split_uri_args(Request& r, std::string& value, bool keep_args);

// ---- access (access_module.cpp) ----
// Step::next() when the location's allow/deny rules let the client in, else 403.
// allow/deny's verdict for r: kAllow or kForbidden from the first matching rule, else
// kDeclined.
AccessVerdict check_access(Request& r);
// The access phase: allow/deny and every module's access handler, combined by the location's
// `satisfy` (nginx's ngx_http_core_access_phase). Step::next() or the status to answer.
Step run_access_phase(Request& r);

// ---- response (response.cpp) ----
// Produces the final response for `status` (no error_page applies): nginx's special pages.
void respond_special(Request& r, int status);
// Applies error_page for `s` or answers it: Step::respond(), Step::close(), or a redirect
// (the phases must run again). REQUIRES: s is a status, respond or close.
Step finalize(Request& r, Step s);
// Clears r.resp for an error response with `status`, keeping what nginx keeps in headers_out
// for it: a 401's WWW-Authenticate (auth_basic's, an intercepted upstream's), a redirect's
// Location.
void clear_for_error(Request& r, int status);

}  // namespace portico::http
