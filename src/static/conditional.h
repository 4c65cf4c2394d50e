// Conditional requests (RFC 9110 section 13) for responses with a known ETag and Last-Modified,
// i.e. static files: decides between the normal response, 304 Not Modified and 412
// Precondition Failed, and whether an If-Range lets a Range through. Pure functions on header
// values (string_views into the request), no allocation, any thread.
//
// Evaluation order is RFC 9110 section 13.2.2. nginx's not_modified filter differs in corner
// cases and portico follows the RFC there:
//   - nginx checks If-Unmodified-Since even when If-Match is present; the RFC ignores it then.
//   - nginx needs both If-None-Match and If-Modified-Since to agree before it answers 304;
//     the RFC ignores If-Modified-Since when If-None-Match is present.
//   - nginx answers 412 to an unparsable If-Unmodified-Since; the RFC ignores invalid dates.
//   - for methods other than GET/HEAD a matching If-None-Match is 412, not 304.
// For ordinary clients (validators copied from an earlier response) the outcomes are the same.
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

namespace portico::static_files {

// nginx's `if_modified_since` directive.
enum class ImsMode : uint8_t {
  kOff,    // ignore If-Modified-Since
  kExact,  // 304 only if the date equals Last-Modified (nginx's default)
  kBefore  // 304 if Last-Modified <= the date
};

enum class Precondition : uint8_t {
  kProceed,      // send the normal response (200, or 206 after Range handling)
  kNotModified,  // 304: no body, no Content-Length/Content-Type/Accept-Ranges
  kFailed        // 412 Precondition Failed
};

// The request's validator headers; an empty view means the header is absent.
struct ConditionalHeaders {
  std::string_view if_match;
  std::string_view if_none_match;
  std::string_view if_modified_since;
  std::string_view if_unmodified_since;
};

// Decides the response to a request for a representation with entity tag `etag` (quoted, as
// sent in the ETag header; empty if the response has none, e.g. `etag off`) and modification
// time `mtime`. `get_or_head` is true for GET and HEAD.
Precondition evaluate_preconditions(bool get_or_head, std::string_view etag, time_t mtime,
                                    const ConditionalHeaders& headers,
                                    ImsMode ims_mode = ImsMode::kExact);

// True if the If-Match / If-None-Match style `list` ("*", or a comma-separated list of entity
// tags) matches `etag`. With weak = false this is the strong comparison of If-Match (a weak tag
// on either side never matches); with weak = true, the weak comparison of If-None-Match (W/ is
// ignored on both sides). "*" matches anything, even an empty etag. Malformed list elements
// (no quotes) are skipped.
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak);

// If-Range (RFC 9110 section 13.1.5): true if a Range header may be honoured. A value ending in
// '"' is an entity tag and must equal `etag` under the strong comparison; anything else is a
// date and must equal `mtime` exactly (nginx compares the same way). An invalid date, a weak
// tag or a missing etag yields false: the full 200 response is sent.
// REQUIRES: if_range is the value of a present If-Range header.
bool if_range_matches(std::string_view if_range, std::string_view etag, time_t mtime);

}  // namespace portico::static_files
