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

// Appends the location's expires (Expires, Cache-Control) and add_header lines
// ("Name: value\r\n") that apply to `status`.
void append_add_headers(Request& r, int status, std::string& h);
// `expires` will write Expires and Cache-Control for this response (a proxied response's own
// are then dropped, as nginx replaces them).
bool expires_applies(const Request& r, int status);

// try_files check: does `path` exist as a file (or a directory when want_dir)?
bool file_exists(const std::string& path, bool want_dir);

// nginx's error-log suffix: ", client: ADDR, server: NAME, request: "LINE", host: "HOST"".
std::string log_context(const Request& r);

}  // namespace portico::http
