// Strict, zero-copy HTTP/1.1 request-head parser (RFC 9112 / RFC 9110).
//
// parse_request_head() reads one request head from the start of a connection's read buffer and
// fills a RequestHead whose string_views all point into that buffer. It is stateless: when the
// head is not complete yet it returns kIncomplete and the caller calls it again, from the start
// of the same (grown) buffer, after the next read. A head that is not complete is never partly
// accepted, so nothing is remembered between calls. Every decision depends only on the bytes
// seen so far: for any prefix of a buffer the answer is either kIncomplete or the same answer
// the whole buffer gets (the fuzzer checks this).
//
// Framing is never guessed: obs-fold, bare CR, Content-Length together with Transfer-Encoding,
// duplicate Content-Length, Transfer-Encoding other than "chunked" and the like are rejected
// with the status the caller must answer before closing the connection.
//
// Thread-safety: the function is reentrant; a RequestHead belongs to one connection (one worker
// thread) and is reused across its keep-alive requests: clear() keeps the headers' capacity,
// so the steady state allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace portico::http {

enum class Method : uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kOptions,
  kPatch,
  kTrace,
  kConnect,
  kOther
};

// Maps a method name (case-sensitive, RFC 9110 9.1) to its enum; kOther for anything else.
Method method_from_name(std::string_view name);

struct Header {
  std::string_view name;   // as sent (case preserved), a non-empty token
  std::string_view value;  // leading and trailing OWS removed; may be empty
};

// The first header in `headers` whose name equals `lowercase_name` case-insensitively, or
// nullptr (RequestHead::find and the proxy's ResponseHead::find).
const Header* find_header(const std::vector<Header>& headers, std::string_view lowercase_name);

struct ParseLimits {
  size_t max_request_line = 8192;  // request line (without CRLF) longer -> 414
  size_t max_header_line = 8192;   // one field line (without CRLF) longer -> 431
  size_t max_head_size = 32768;    // whole head incl. leading blank lines and CRLFs -> 431
  size_t max_headers = 100;        // more field lines -> 431
  // ignore_invalid_headers: drop fields whose name has other than letters, digits and '-'
  // ('_' allowed with underscores_in_headers). Off: every RFC 9110 token name is kept. A line
  // whose name is no token is dropped either way.
  bool ignore_invalid = true;
  bool underscores = false;
};

struct RequestHead {
  std::string_view request_line;  // without CRLF (for $request)
  std::string_view method_name;   // as sent, e.g. "GET"
  Method method = Method::kOther;
  std::string_view target;  // raw request-target
  // Set only for absolute-form ("http://host:port/p?q"): scheme as sent (any alphabetic scheme, as
  // nginx; any case) and the authority (host[:port]).
  std::string_view scheme, authority;
  // Raw, undecoded path ("/a%20b"); "*" for asterisk-form; "/" for absolute-form without a
  // path (a view of the last '/' of "://", so it still points into the buffer); empty for
  // CONNECT's authority-form.
  std::string_view path;
  std::string_view query;  // after the first '?', without it
  bool has_query = false;
  std::string_view protocol;  // "HTTP/1.1" as sent (for $server_protocol)
  // 1.0 or 1.1. "HTTP/1.2".."HTTP/1.9" are accepted and reported as 1.1 (RFC 9110 2.5: a
  // recipient treats a higher minor version as the highest one it supports).
  uint8_t version_major = 1, version_minor = 1;
  std::vector<Header> headers;  // in arrival order

  // Semantics, filled by the analysis that runs when the head is complete:
  int64_t content_length = -1;   // -1 = no Content-Length
  bool chunked = false;          // Transfer-Encoding: chunked (never together with content_length)
  bool keep_alive = true;        // 1.1: unless "Connection: close"; 1.0: only with "keep-alive"
  bool expect_continue = false;  // "Expect: 100-continue" on an HTTP/1.1 request
  bool connection_upgrade = false;  // a Connection header lists "upgrade"
  // The authority of an absolute-form target if any (it wins, as in nginx), else the raw Host
  // header value; empty if neither. Validated: no '/', '\\', "..", whitespace or CTLs.
  std::string_view host;

  bool is_http10() const { return version_major == 1 && version_minor == 0; }
  // The first header whose name equals `lowercase_name` case-insensitively, or nullptr.
  const Header* find(std::string_view lowercase_name) const;
  // Resets every field; keeps the headers vector's capacity.
  void clear();
};

enum class ParseStatus { kComplete, kIncomplete, kError };

// Parses one request head from the start of `data` (which may also hold body bytes and further
// pipelined requests after the head).
//  - kComplete: *consumed = bytes of the head, including leading blank lines and the final
//    empty line; `out` is filled and analysed.
//  - kIncomplete: more bytes are needed; call again from the start once more have arrived.
//    `out` holds nothing useful.
//  - kError: *error_status is the status to answer before closing the connection:
//    400 malformed, 414 request line too long, 431 header line / head / count too large,
//    501 unsupported transfer coding, 505 HTTP version other than 1.x. Unknown Expect values, a
//    fragment, extra spaces in the request line and header lines nginx ignores (no colon, a name
//    outside [A-Za-z0-9-]) are accepted as nginx accepts them.
//    Once the request line has been read whole, out.request_line is set (for the access log's
//    $request); the other fields are unspecified.
//    Limits are enforced as soon as the bytes present prove them exceeded, so an oversized or
//    slowloris head is cut off without buffering more than max_head_size.
// Never throws and never allocates, except when out.headers has to grow.
//
// prev_size (optional, as picohttpparser's last_len): data.size() at the previous call for this
// same request that returned kIncomplete, with the buffer's earlier bytes unchanged; 0 if none.
// A stateless parser re-reads the head on every call, which a sender dribbling bytes turns into
// O(n^2) work. With prev_size the call returns kIncomplete at once, in O(new bytes + current
// line), when the new bytes hold no LF, CTL or DEL, the current line is within both line limits
// and data is within max_head_size. Only errors inside the current, unfinished line (say a space
// in a field name) are then reported later: when that line ends or reaches its length limit.
ParseStatus parse_request_head(std::string_view data, const ParseLimits& limits, RequestHead& out,
                               size_t* consumed, int* error_status, size_t prev_size = 0);

}  // namespace portico::http
