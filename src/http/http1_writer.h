// Http1Writer: the response half of the HTTP/1.1 codec of one connection. It serializes a
// response head (the one serializer for every response, local content and proxied alike), picks
// the body framing (Content-Length as given; chunked when the length is unknown and the client
// speaks HTTP/1.1; else the end of the connection), and writes head, framing and body pieces
// (memory or file ranges) in as few system calls as the data allows: the head leaves with the
// first body bytes in one sendmsg, chunk framing rides in the same sendmsg as its data, a file
// range goes with sendfile (the pending head first, with MSG_MORE).
//
// It copies no body byte (except file pieces read with pread when sendfile is off) and keeps
// only the head (the request's head_buf) and a few bytes of chunk framing of its own; the body
// pieces stay the producer's, who gives them again, past the bytes already taken, until they
// are out. Allocates nothing once the request's head buffer is warm.
//
// Owned by the Connection, one response at a time; worker thread only.
//
//   writer.start(r);                                     // head serialized, nothing written
//   IoResult w = writer.write(r, t, r.out, skip, true, r.loc->sendfile);
//   skip += w.bytes();  ... until writer.finished()
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/transport.h"
#include "http/request.h"

namespace portico::http {

// Appends the HTTP/1.1 head of r.resp to `out`: status line (r.resp.status_line verbatim if
// set), Server, Date, Content-Type, Content-Length, Last-Modified, Location, Transfer-Encoding
// (when `chunked`), Connection, Keep-Alive, ETag, Content-Range, Accept-Ranges, the response's
// extra headers (add_header's and expires' among them: apply_headers_filter ran) and passed
// fields.
void serialize_http1_head(Request& r, bool chunked, std::string& out);

class Http1Writer {
 public:
  // Serializes r.resp into r.head_buf and arms the framing of its body. Nothing is written yet.
  // Clears r.resp.keep_alive when a body of unknown length must end with the connection
  // (HTTP/1.0 client, chunked_transfer_encoding off), sets r.resp.chunked, clears r.out for a
  // header-only response and r.resp.fields once serialized. Sets r.resp.status 200 if unset.
  void start(Request& r);

  // One system call at most. Writes the pending head and framing bytes, then body bytes of
  // `body` past its first `skip` bytes (those an earlier call took), framed. `last`: `body`
  // ends the response. Returns
  //   progress(n): n body bytes went out (0 when only head or framing bytes did: call again);
  //   again:       the socket is full;
  //   eof:         a file piece ended early (file_error(): a failed pread's errno, or 0 when
  //                the file was truncated);
  //   error:       the socket failed (err()).
  // Counts r.bytes_sent and r.body_bytes_sent (everything after the head, framing included).
  // `use_sendfile` false: file pieces are read with pread into a stack buffer.
  // The body's end carries add_trailer's fields when r.resp.expect_trailers (chunked only).
  // REQUIRES: start(r) ran; the same body bytes are given again until taken; nothing after a
  // `last` whose bytes all went out.
  IoResult write(Request& r, Transport& t, std::span<const OutChunk> body, size_t skip, bool last,
                 bool use_sendfile);

  // Head or framing bytes wait to be written.
  bool pending() const {
    return head_off_ < head_len_ || frame_off_ < frame_len_ || tail_off_ < tail_len_;
  }
  // `last` was given and everything is out.
  bool finished() const { return ended_ && !pending(); }
  bool chunked() const { return chunked_; }
  int file_error() const { return file_error_; }

 private:
  void add_frame(const char* data, size_t n);
  void end_body(Request& r);
  const std::string& build_tail(Request& r, bool crlf);
  void open_chunk(std::span<const OutChunk> body, size_t idx, size_t off);
  IoResult send_file(Request& r, Transport& t, const OutChunk& file, size_t off, size_t len,
                     bool final);

  // Kept small: it lives in every connection (idle ones too).
  uint32_t head_off_ = 0;  // bytes of the request's head_buf written
  uint32_t head_len_ = 0;
  uint64_t chunk_left_ = 0;  // data bytes still owed to the chunk whose size line went out
  // Framing owed before the next body byte: a chunk's CRLF and the next chunk's size line
  // (2 + 18 bytes), or the end of the body ("\r\n0\r\n\r\n", 7).
  char frame_[24];
  uint8_t frame_off_ = 0;
  uint8_t frame_len_ = 0;
  // The last chunk with trailers (add_trailer), in the request's tail_buf: bytes written.
  uint32_t tail_off_ = 0;
  uint32_t tail_len_ = 0;
  bool chunked_ = false;
  bool trailers_ = false;  // chunked, and the last chunk carries add_trailer's fields
  bool ended_ = false;     // the end of the body is framed (nothing may follow)
  int file_error_ = 0;
};

}  // namespace portico::http
