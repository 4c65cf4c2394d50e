// The autoindex module (nginx's ngx_http_autoindex_module): a listing of a directory that has
// no index file, for a URI ending in '/', in html, xml, json or jsonp (autoindex_format), with
// exact or rounded sizes and GMT or local times.
#pragma once

#include <string>

#include "http/module.h"
#include "http/step.h"

namespace portico::static_files {

extern http::Module autoindex_module;

// Whether r's location lists directories and r's URI names one.
bool autoindex_enabled(const http::Request& r);
// The listing of directory `path` (its mapped file name) as r's response, or an error status.
http::Step autoindex_respond(http::Request& r, const std::string& path);

}  // namespace portico::static_files
