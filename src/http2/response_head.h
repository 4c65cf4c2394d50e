// The HTTP/2 form of a response head event (http::Response): the fields libnghttp2 sends in one
// HEADERS frame, in the order and with the values HTTP/1.1's serialize_http1_head gives
// (:status, server, date, content-type, content-length, last-modified, location, etag,
// content-range, accept-ranges, the handler's and the upstream's fields, add_header and
// expires), names lowercased, connection-specific fields (RFC 9113 8.2.2) left out.
// Pure apart from the clock (Date); worker thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

#include "http/request.h"

namespace portico::http2 {

// Fills `nva` with views into `store` (both reused; valid until the next call).
void build_response_fields(http::Request& r, std::string& store, std::vector<nghttp2_nv>& nva);

}  // namespace portico::http2
