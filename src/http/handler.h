// The request pipeline after the head is parsed, in nginx's phase order:
// server rewrite -> find location -> rewrite -> access -> try_files -> content -> (error_page)
// Content handlers (return, static, built-in error pages) fill Request::resp and Request::out;
// the connection then writes the head and body. Everything runs on the worker thread.
#pragma once

#include "http/request.h"
#include "http/step.h"

namespace portico::http {

enum class Outcome : uint8_t {
  kRespond,   // resp/out are ready
  kClose,     // close without a response (return 444)
  kTakeOver,  // the location's content handler opens a session that produces the response
  kDelay,     // limit_req delays the request: call resume_request() after r.delay_ms
};

// REQUIRES: r.head parsed, r.conn and r.http set, r.server null.
Outcome process_request(Request& r, const AddrConf& addr);
// Continues a request that kDelay held (limit_req) at its preaccess phase.
Outcome resume_request(Request& r);
// Continues a routed request with `status` (a failed proxy attempt, intercepted errors):
// error_page applies as for any other status.
Outcome respond_with_status(Request& r, int status);
// Continues a routed request whose content asked for an internal redirect (the proxy's
// X-Accel-Redirect): `to` is Step::internal_redirect() with r.uri/r.args set, or
// Step::named_redirect() with r.loc the named location. Counted against the redirect limit.
Outcome redirect_from_content(Request& r, Step to);
// A request that failed before routing (bad syntax, timeouts): answer `status` from the
// address's default server.
void respond_error_early(Request& r, const AddrConf* addr, int status);
// Writes the access log lines of r.loc.
void log_request(Request& r);

const char* status_reason(int status);

}  // namespace portico::http
