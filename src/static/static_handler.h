// The static content handler: index files, directories, files with sendfile, conditional
// requests (304/412) and byte ranges (206/416, multipart/byteranges), as nginx's
// ngx_http_static_module, ngx_http_index_module and range/not_modified filters behave.
#pragma once

#include "http/request.h"

namespace portico::static_files {

// Returns http::kHandled with r.resp/r.out ready, http::kInternalRedirect (index found), or an
// HTTP status for the pipeline to finalise (301 with Location set, 403, 404, 405, 500).
int serve(http::Request& r);

}  // namespace portico::static_files
