// Strict, zero-copy parser for the response head an upstream sends (RFC 9112 sections 4 and 6),
// the proxy's sibling of http/parser.h, following nginx's ngx_http_parse_status_line() and
// ngx_http_proxy_process_header() where nginx is stricter than the RFC requires or where the RFC
// leaves a choice, and stricter than nginx where nginx guesses.
//
// parse_response_head() reads one response head from the start of the upstream connection's read
// buffer and fills a ResponseHead whose string_views all point into that buffer. Like the request
// parser it is stateless: on kIncomplete the caller calls it again, from the start of the same
// (grown) buffer, after the next read; for any prefix of a buffer the answer is either
// kIncomplete or the answer the whole buffer gets (the fuzzer checks this).
//
// Framing is never guessed. Each of these is an error, which the caller answers with 502 (and
// logs `why`, as nginx's error log words it) before closing the upstream connection:
//  - no valid status line: not "HTTP/1.x", status not 3 digits or below 100, CTL in the reason.
//    nginx takes such a response as an HTTP/0.9 body; we do not.
//  - a field line with whitespace before the colon, no colon, an empty name, obs-fold, a bare CR,
//    a NUL or another CTL: "upstream sent invalid header: ..." (nginx 1.21.1+ says the same).
//  - a second Content-Length, even with the same value (nginx 1.23+; RFC 9110 8.6 would let us
//    take identical ones, but a repeat says something rewrote the head), a second
//    Transfer-Encoding, or a Content-Length that is not 1*DIGIT within int64.
//  - Content-Length together with Transfer-Encoding. RFC 9112 6.3 lets a recipient drop the
//    Content-Length; nginx rejects and so do we: the pair is how responses get smuggled.
//  - Transfer-Encoding other than "chunked" (any case): we would have to forward a coding we
//    cannot delimit. And Transfer-Encoding in an HTTP/1.0 response (RFC 9112 6.1: the framing is
//    faulty), which nginx decodes; we do not.
//  - a head longer than limits.max_head_size (nginx: proxy_buffer_size).
// A field whose name has bytes outside tchar but no whitespace or CTL (say "X@Y") is dropped, as
// the request parser drops what nginx's ignore_invalid_headers drops; nginx would forward it.
// Bare LF line ends are accepted, as nginx and RFC 9112 2.2 allow: the head is re-written by us
// before it reaches the client, so no other party reads these bytes differently.
//
// A 1xx head (100 Continue, 103 Early Hints) is a complete head of its own, framing kNone; the
// caller skips it and parses the final response from the bytes after it (a 101 ends HTTP on the
// connection instead).
//
// Thread-safety: the function is reentrant; a ResponseHead belongs to one upstream connection
// (one worker thread) and is reused across its responses: clear() keeps the headers' capacity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace portico::proxy {

using http::ParseStatus;

struct ResponseParseLimits {
  // The whole head, status line to the empty line included, must fit in this many bytes, as in
  // nginx it must fit in the proxy_buffer_size buffer (default one page: 4k on x86-64, 8k or
  // 16k on some arm64 and ppc64 kernels). Once data holds this many bytes and no complete head,
  // the answer is "too big"; so a caller can read into a buffer of exactly this size.
  // REQUIRES: > 0.
  size_t max_head_size = 4096;
};

struct ResponseHead {
  int status = 0;  // 100..999
  // The status code and reason as sent: "200 OK", "404", "403.1 Forbidden". nginx forwards this
  // verbatim as the client's status line (headers_in.status_line).
  std::string_view status_text;
  // The reason-phrase: after the code and one SP; may be empty. For IIS's "403.1 Forbidden",
  // which nginx accepts, it is ".1 Forbidden".
  std::string_view reason;
  // 0 or 1. "HTTP/1.2".."HTTP/1.9" are reported as 1.1 (RFC 9110 2.5).
  uint8_t version_minor = 1;
  std::vector<http::Header> headers;  // in arrival order, ignored lines left out

  // Semantics, filled when the head is complete (and valid):
  int64_t content_length = -1;    // -1 = no Content-Length; never set together with chunked
  bool chunked = false;           // Transfer-Encoding: chunked (HTTP/1.1 only)
  bool connection_close = false;  // a Connection header lists "close"
  // The upstream lets the connection carry another response: HTTP/1.1 unless "close"; HTTP/1.0
  // only with "keep-alive" and without "close" (RFC 9112 9.3). nginx never reuses an HTTP/1.0
  // upstream connection. Only meaningful together with the framing: see connection_reusable().
  bool keep_alive = false;
  bool upgrade = false;  // a Connection header lists "upgrade"

  bool is_http10() const { return version_minor == 0; }
  bool is_informational() const { return status < 200; }
  // The first header whose name equals `lowercase_name` case-insensitively, or nullptr.
  const http::Header* find(std::string_view lowercase_name) const;
  // Resets every field; keeps the headers vector's capacity.
  void clear();
};

// How the body that follows a head ends (RFC 9112 6.3).
enum class BodyFraming : uint8_t {
  kNone,        // no body: a response to HEAD, 1xx, 204, 304, whatever the fields say
  kLength,      // content_length bytes (maybe 0)
  kChunked,     // through http::ChunkedDecoder
  kUntilClose,  // until the upstream closes (no Content-Length, not chunked)
};

// REQUIRES: head was completed by parse_response_head().
BodyFraming framing(const ResponseHead& head, bool request_was_head);

// True when, once the body is read whole, the upstream connection may go back to the keepalive
// pool: an HTTP/1.1 upstream allows it, the body's end is known, and HTTP goes on on the
// connection (not after a 101). As nginx, an HTTP/1.0 response ends the connection even with
// "Connection: keep-alive".
inline bool connection_reusable(const ResponseHead& head, BodyFraming f) {
  return head.keep_alive && !head.is_http10() && f != BodyFraming::kUntilClose &&
         head.status != 101;
}

// Parses one response head from the start of `data` (which may also hold body bytes after it).
//  - kComplete: *consumed = bytes of the head, the final empty line included; `out` is filled.
//    Everything after is body (or, after a 1xx, the next head).
//  - kIncomplete: more bytes are needed; call again from the start once more have arrived.
//  - kError: the response is unusable: answer 502, close the upstream connection, and log
//    *why (if why is not null), e.g. `upstream sent duplicate header line: "Content-Length: 5",
//    previous value: "Content-Length: 4"`. Once the status line has been read, out.status is
//    set; the other fields are unspecified. Errors are reported as soon as the bytes present
//    prove them, so a too big head is cut off at max_head_size bytes.
// Never throws; allocates only when out.headers has to grow or to write *why.
//
// prev_size (optional, as in parse_request_head()): data.size() at the previous call for this
// same head that returned kIncomplete, the earlier bytes unchanged; 0 if none. The call then
// returns kIncomplete at once, in O(new bytes), when the new bytes hold no LF, CTL or DEL and
// data is shorter than max_head_size. Only errors inside the current, unfinished line are then
// reported later: when that line ends or the head reaches max_head_size.
ParseStatus parse_response_head(std::string_view data, const ResponseParseLimits& limits,
                                ResponseHead& out, size_t* consumed, std::string* why,
                                size_t prev_size = 0);

}  // namespace portico::proxy
