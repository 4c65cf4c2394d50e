// HeadCollector: the fields of one HTTP/2 request, as libnghttp2 hands them over one by one
// (already HPACK-decoded and checked against RFC 9113's field rules), collected into an
// HTTP/1.1 head that http's own strict parser then reads. One set of request rules for both
// codecs: the request line, Host, Content-Length and the limits (large_client_header_buffers,
// the field count) are judged by the same code, and the RequestHead's views point into this
// object's buffer, which stays put until the stream ends.
//
// Pseudo-fields become the request line (":method :path HTTP/1.1") and Host (":authority",
// which wins over a "host" field, RFC 9113 8.3.1); "cookie" crumbs are joined with "; " into
// one field (RFC 9113 8.2.3). The result is patched to say HTTP/2.0 ($request, $server_protocol).
//
// One per stream, reused (pooled with its stream): reset() keeps the buffers' capacity. Worker
// thread only. Pure: no I/O.
//
//   c.reset(32768);
//   for each field: if (!c.add(name, value)) ...;   // false: over the limit (answer finish()'s
//   431) int status = c.finish(limits, has_body, head);  // 0: head is filled
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace portico::http2 {

class HeadCollector {
 public:
  // Starts a new request whose head may take `limit` bytes (as HTTP/1.1 text).
  void reset(size_t limit);
  // One field, pseudo or regular, in arrival order (pseudo-fields first: libnghttp2 checks).
  // False once the head went over the limit or the field count: further fields are dropped and
  // finish() answers 431.
  bool add(std::string_view name, std::string_view value);
  // Parses the collected head into `head` (views into this object). `has_body`: DATA frames
  // follow (the HEADERS frame had no END_STREAM); without a Content-Length the body's length is
  // then unknown, which the head says as `chunked` (as a chunked HTTP/1.1 body would).
  // Returns 0, or the status to answer (400, 414, 431 ...).
  int finish(const http::ParseLimits& limits, bool has_body, http::RequestHead& head);
  // The request line as $request shows it ("GET / HTTP/2.0"); valid after add() saw the
  // pseudo-fields, also when finish() fails.
  std::string_view request_line() const { return line_; }

 private:
  void start_fields();

  std::string buf_;  // the HTTP/1.1 head
  std::string line_;
  std::string method_, path_, authority_, scheme_;
  std::string cookie_;
  size_t limit_ = 0;
  size_t fields_ = 0;
  bool started_ = false;  // the request line is in buf_
  bool too_large_ = false;
  bool bad_ = false;  // a pseudo-field nghttp2 would not have passed (defensive)
};

}  // namespace portico::http2
