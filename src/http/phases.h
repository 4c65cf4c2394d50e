// What content handlers share with the pipeline (http/phases.cpp): the Step they return and
// the helpers they use.
#pragma once

#include <string_view>

#include "http/request.h"
#include "http/step.h"

namespace portico::http {

// Maps r.uri to a file path under the location's root/alias into `out`; sets r.filename too.
// `uri` may differ from r.uri (try_files candidates). Returns false if root evaluation failed.
bool map_uri_to_path(Request& r, std::string_view uri, std::string& out);

// Fills r.resp/r.body_buf with a short text body (return CODE "text").
void respond_text(Request& r, int status, std::string_view text);
// Sets a redirect: Location (made absolute as nginx's absolute_redirect does) and status.
void set_location(Request& r, std::string_view url);

// nginx's headers filter, run by the codec once before it serializes a response head: the
// location's expires and add_header go into r.resp, so $sent_http_* sees them (Expires and
// Cache-Control replace the response's own, as do ETag and Last-Modified from add_header);
// sets r.resp.expect_trailers when an add_trailer applies to the status.
void apply_headers_filter(Request& r);
// The add_trailer values for this response into r.resp's trailers (empty values left out).
// Run once, when the body has ended (values may depend on it, e.g. $upstream_response_length).
void collect_trailers(Request& r);
// Parses an `expires` argument (the one after "modified" when `modified`) into `e`. Returns
// null, or nginx's error message.
const char* parse_expires(std::string_view v, bool modified, LocationConf::Expires* e);
// A fixed `expires` will write Expires and Cache-Control for this response (a proxied
// response's own are then dropped, as nginx replaces them; `expires modified` counts from its
// Last-Modified). With variables, the headers filter decides per response.
bool expires_applies(const Request& r, int status);

// try_files check: does `path` exist as a file (or a directory when want_dir)?
bool file_exists(const std::string& path, bool want_dir);

// nginx's error-log suffix: ", client: ADDR, server: NAME, request: "LINE", host: "HOST"".
std::string log_context(const Request& r);

}  // namespace portico::http
