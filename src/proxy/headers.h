// The proxy's two header builders, as pure functions: the request head sent upstream and the
// response head event handed to the client's codec. They touch no socket and no session: they
// read the request, the location's ProxyConf and ProxyPass (and for the response, the upstream's
// parsed head) and write a string or r.resp, so they are unit-tested without sockets (h2o tests
// lib/core/proxy.c's build_request the same way). Worker thread (they evaluate variables of r).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/request.h"
#include "proxy/proxy_conf.h"
#include "proxy/response_parser.h"

namespace portico::proxy {

// How the request body goes upstream.
enum class BodyMode : uint8_t {
  kNone,      // no body, or proxy_pass_request_body off (then read and dropped)
  kLength,    // streamed with the client's Content-Length (proxy_request_buffering off)
  kChunked,   // streamed, re-chunked (off, a chunked body, an HTTP/1.1 upstream)
  kBuffered,  // read whole first (memory, then a temporary file), sent with its length
  kSet,       // proxy_set_body's value, sent with its length (the client's body is dropped)
};

// The body mode for `head` under `conf` (nginx: request buffering unless turned off; a chunked
// body for an HTTP/1.0 upstream must be buffered to get a length).
BodyMode request_body_mode(const http::RequestHead& head, const ProxyConf& conf);

// Writes the request head for the upstream into `out` (cleared first): method (proxy_method),
// URI (nginx's proxy_pass rules; also stored in r.upstream.uri for the logs), version
// (proxy_http_version), proxy_set_header values (empty ones dropped), the client's headers
// minus hop-by-hop ones, Expect, the framing we redo and the ones set above, then the framing
// for `mode`. For kBuffered the head is left open: end_buffered_head() adds the length once the
// body is whole. `var_uri`: the URI part of a proxy_pass with variables (sent verbatim), or
// null. Returns false when the client's Connection header names too many fields (answer 400).
// Allocates nothing once `out` and the thread's scratch string are warm.
bool build_request_head(http::Request& r, const ProxyConf& conf, const ProxyPass& pass,
                        const std::string* var_uri, BodyMode mode, std::string& out);
// Closes a kBuffered head: "Content-Length: N" and the empty line.
void end_buffered_head(std::string& head, uint64_t body_size);

// Fills r.resp (cleared first) from the upstream's response head `in`: the status line verbatim,
// the fields to pass on (views into the upstream's buffer, valid until the codec serializes
// them), the length (-1 when the codec must chunk or close), header_only, upgrade (101), and
// what replaces the upstream's own: Server and Date unless proxy_pass_header names them,
// Expires/Cache-Control (and Last-Modified, hoisted) when `expires` applies; Location and
// Refresh rewritten by proxy_redirect and absolute_redirect (owned copies in r.resp.headers).
// Returns false when `in` names too many fields in Connection (an invalid head: 502).
// REQUIRES: r.loc set; `framing` is framing(in, HEAD request).
bool build_response_head(http::Request& r, const ResponseHead& in, BodyFraming framing,
                         const ProxyConf& conf, const ProxyPass& pass);

// proxy_redirect for a Location or Refresh value `value` of field `name`, then absolute_redirect
// for a relative Location. Returns true with the new value in `out` when it changed.
bool rewrite_redirect(http::Request& r, const ProxyConf& conf, const ProxyPass& pass,
                      std::string_view name, std::string_view value, std::string& out);

}  // namespace portico::proxy
