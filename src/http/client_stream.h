// ClientStream: the client side of one request as content that takes over the response sees it
// (a ContentSession: the proxy; apps next). It is the codec's face: the request body comes out
// of it de-framed, and the response goes into it as events (a head, body buffers that may be
// memory or file ranges, an end) that the codec serializes and frames. Content never touches the
// client socket: behind this the codec (HTTP/1.1: http::Connection; HTTP/2: http2::Stream)
// owns the transport, the framing in both directions and the keep-alive decision.
//
// Flow control: send_body() takes what the client can take now and says how much (again when it
// is full); the ContentSession hears on_client_io() when it can take more (resume), and holds
// its unsent bytes itself, in bounded buffers. Reading the body is the same: read_body() answers
// again until on_client_io().
//
// One per request; the content session must not use it after it reported the end (content_done,
// content_error, content_abort). Worker thread only.
//
//   stream->want_body();                       // 100 Continue, if the client waits for it
//   IoResult rd = stream->read_body(buf, cap);   // de-chunked
//   r.resp.status = 200; ... stream->send_head();
//   IoResult w = stream->send_body(pieces, last);
//   if (stream->response_complete()) stream->content_done(true);
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/transport.h"
#include "http/request.h"
#include "http/step.h"

namespace portico::http {

// read_body() errors besides a socket errno (> 0, the connection failed).
constexpr int kBodyEndedEarly = -1;      // the client closed before the body was complete
constexpr int kBodyMalformed = -2;       // invalid chunked framing (answer 400)
constexpr int kBodyTooLarge = -3;        // a chunked body over client_max_body_size (413)
constexpr int kBodyLengthMismatch = -4;  // HTTP/2: DATA more or less than Content-Length (400)

class ClientStream {
 public:
  // The connection's id, for logs.
  virtual uint64_t stream_id() const = 0;

  // ---- the request body ----
  // The content will read the body: a client that sent Expect: 100-continue gets its
  // "100 Continue" now (nginx sends it when the handler starts reading). Never blocks.
  virtual void want_body() = 0;
  // Reads body bytes (framing removed) into buf[0, cap), cap > 0: first what arrived with the
  // head, then from the client. progress(n > 0); eof once the body is complete (at once when
  // there is none); again: nothing now, on_client_io() tells when more may come; error with
  // kBody* or a socket errno. Counts toward $request_length. Never blocks.
  virtual IoResult read_body(char* buf, size_t cap) = 0;
  // The whole body has been read (or there was none).
  virtual bool body_complete() const = 0;
  // Body bytes read so far (framing removed).
  virtual uint64_t body_received() const = 0;

  // ---- the response ----
  // The head event: r.resp (status, status_line, fields ...) is ready. The codec serializes it
  // now (r.resp.fields may point into the caller's buffers until this returns) and decides the
  // framing; nothing is written before the first send_body(), so a small response leaves in
  // one system call.
  virtual void send_head() = 0;
  // Body bytes (memory or file ranges, sent with sendfile). Writes what the client takes now:
  // progress(n): n bytes of `body` went out (0 when only head or framing did: call again);
  // again: the client is full, on_client_io() tells when it can take more; eof: a file piece
  // ended early; error: the client is gone (err() is the socket's errno). `last`: `body` ends
  // the response; give it with the final bytes or alone (empty body) once they are out.
  virtual IoResult send_body(std::span<const OutChunk> body, bool last) = 0;
  // The client can take more now (its socket is writable); false: wait for on_client_io().
  virtual bool can_send() const = 0;
  // Head or framing bytes of the codec wait to go out: send_body({}, false) flushes them.
  virtual bool output_pending() const = 0;
  // `last` was given and every byte (head, body, framing) is out.
  virtual bool response_complete() const = 0;

  // ---- the connection ----
  // The client went away (nginx's check_broken_connection): its side is closed or failed.
  // Data it sent meanwhile (a pipelined request) does not count as gone.
  virtual bool client_closed() = 0;
  // After a 101 head went out whole: the connection's byte stream for a tunnel (HTTP/1.1
  // only). Bytes the client sent after its request head come first: take_buffered().
  virtual Transport& upgraded_transport() = 0;
  virtual size_t take_buffered(char* buf, size_t cap) = 0;

  // ---- the end (exactly one, then the stream is gone) ----
  // The response went out whole; keep_alive: the connection may serve another request.
  virtual void content_done(bool keep_alive) = 0;
  // Nothing was sent yet: answer `status` instead (error_page applies).
  virtual void content_error(int status) = 0;
  // Nothing was sent yet: the request goes on in another location (http::redirect_from_content;
  // the proxy's X-Accel-Redirect).
  virtual void content_redirect(Step to) = 0;
  // The response cannot be completed: log (with `status` if nothing was sent) and close.
  virtual void content_abort(int status) = 0;

 protected:
  ~ClientStream() = default;
};

}  // namespace portico::http
