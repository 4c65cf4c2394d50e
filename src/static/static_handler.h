// The static content handler: index files, directories, files with sendfile, conditional
// requests (304/412) and byte ranges (206/416, multipart/byteranges), as nginx's
// ngx_http_static_module, ngx_http_index_module and range/not_modified filters behave.
#pragma once

#include "http/request.h"
#include "http/step.h"

namespace portico::static_files {

// Step::respond() with r.resp/r.out ready, Step::internal_redirect() (an index file was found),
// or a status for the pipeline to finalise (301 with Location set, 403, 404, 405, 412, 416, 500).
http::Step serve(http::Request& r);

}  // namespace portico::static_files
