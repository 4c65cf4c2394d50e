// Stream: one HTTP/2 request/response exchange on a Session, as the http host sees it: a pooled
// http::Request run through the same phases as an HTTP/1.1 request (routing, rewrite, access,
// static, return, error pages, the proxy), and the http::ClientStream that content taking over
// the response (the proxy) reads the body from and writes the response to. The response goes
// through the request's body filter (compression) into this stream's bounded output buffer,
// from which libnghttp2's data provider cuts DATA frames as flow control allows.
//
// Buffers (allocated on first use, kept while the stream object is pooled by its session):
//  - request body: at most the stream's receive window (http2_body_preread_size) of bytes not
//    yet read by the content; consumed bytes open the window again (WINDOW_UPDATE). Bodies no
//    content reads are consumed (dropped) as they arrive, as nginx discards them.
//  - response body: 2 x http2_chunk_size; send_body() takes what fits and says again when full.
//
// Owned by its Session (pooled there), worker thread only. libnghttp2 knows it as the stream's
// user data; it is released when libnghttp2 closes the stream or the connection ends.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>

#include "http/body_filter.h"
#include "http/client_stream.h"
#include "http/handler.h"
#include "http/module.h"
#include "http/request.h"
#include "http/worker_services.h"
#include "http2/request_head.h"

namespace portico::http2 {

class Session;

class Stream final : public http::ClientStream {
 public:
  explicit Stream(Session* s) : session_(s) {}
  ~Stream();
  // A closed stream from the worker's pool goes to work for another connection's session.
  // REQUIRES: closed (no request, no content).
  void rebind(Session* s) { session_ = s; }

  // ---- driven by the Session ----
  // A new stream `id` (its HEADERS began): a request from the pool, pinned to the current
  // configuration generation.
  void open(int32_t id);
  // A field the session refused: the stream is being reset and never starts.
  void reject() { rejected_ = true; }
  bool rejected() const { return rejected_; }
  // One request field.
  enum class Field { kOk, kOverLimit, kTooLarge };
  // kOverLimit: over nginx's limits, a connection error (GOAWAY ENHANCE_YOUR_CALM): a name or
  // value longer than a large_client_header_buffers buffer, or the names and values together
  // over all of them. kTooLarge: over the collector's bounds (the session resets the stream).
  Field on_field(std::string_view name, std::string_view value) {
    const size_t n = name.size() + value.size();
    if (name.size() > field_max_ || value.size() > field_max_ || n > header_budget_)
      return Field::kOverLimit;
    header_budget_ -= n;
    return head_.add(name, value) ? Field::kOk : Field::kTooLarge;
  }
  // The request head is complete; `end_stream`: no body follows. Processing waits for
  // run_pending() (outside libnghttp2's callbacks).
  // `block`: the header block's size as sent ($request_length).
  void on_head_done(bool end_stream, size_t block);
  // Request body bytes (DATA payload). False: more than the window allowed (reset the stream).
  bool on_data(const uint8_t* data, size_t len);
  // The client's side ended (END_STREAM).
  void on_body_end();
  // Work queued by the callbacks: start processing the request, feed content, pump the body.
  void run_pending();
  // libnghttp2's data provider: up to `length` response bytes into `buf`.
  ssize_t read_data(uint8_t* buf, size_t length, uint32_t* flags);
  size_t frame_chunk() const;  // the largest DATA payload to send now
  // libnghttp2 refused to send the response head (too large): logged as 500; the session
  // resets the stream.
  void on_head_not_sent() { req_->resp.status = 500; }
  // Our END_STREAM went out.
  void on_response_sent();
  // libnghttp2 closed the stream (or the connection ends): log, end content, release.
  void close(uint32_t error_code);

  int32_t id() const { return id_; }
  bool has_content() const { return content_ != nullptr; }
  // Response bytes wait for flow control or the socket.
  bool output_waiting() const { return out_len_ > out_pos_ || (head_sent_ && !eof_sent_); }
  bool waiting_for_body() const { return !in_end_; }

  // Index in the session's active list (O(1) removal).
  uint32_t slot = 0;
  bool queued = false;  // in the session's ready list
  bool start_pending = false;
  uint32_t events = 0;  // for the content: EPOLLIN (body arrived) / EPOLLOUT (room to send)

  // ---- http::ClientStream ----
  uint64_t stream_id() const override;
  void want_body() override {}
  IoResult read_body(char* buf, size_t cap) override;
  bool body_complete() const override {
    return (in_end_ || body_empty_) && in_pos_ == in_len_ && !length_mismatch();
  }
  uint64_t body_received() const override { return body_read_; }
  void send_head() override { start_response(); }
  IoResult send_body(std::span<const http::OutChunk> body, bool last) override;
  bool can_send() const override;
  bool output_pending() const override { return req_ && req_->filter && req_->filter->pending(); }
  bool response_complete() const override { return eof_sent_; }
  bool client_closed() override { return closed_; }
  Transport& upgraded_transport() override;
  size_t take_buffered(char*, size_t) override { return 0; }
  void content_done(bool keep_alive) override;
  void content_error(int status) override;
  void content_redirect(http::Step to) override;
  void content_abort(int status) override;

  // The body path's end (the filter's next sink): copies into the output buffer.
  IoResult write_codec(std::span<const http::OutChunk> body, size_t skip, bool last);

 private:
  void begin();
  void respond(http::Outcome out);
  void start_response();
  // add_trailer's fields for this response, collected now: submitted as the trailer HEADERS
  // (with END_STREAM). Returns false when there are none (the stream ends without them).
  bool submit_trailers();
  void pump_local();
  IoResult emit(std::span<const http::OutChunk> body, size_t skip, bool last);
  void end_content();
  void discard_body();
  void reset_stream(uint32_t code);
  void log_once();
  // DATA more than the Content-Length, or END_STREAM before it (nginx answers 400).
  bool length_mismatch() const {
    const int64_t cl = req_ ? req_->head.content_length : -1;
    return cl >= 0 && started_ &&
           (body_total_ > uint64_t(cl) || (in_end_ && body_total_ < uint64_t(cl)));
  }
  void queued_reset();

  // limit_req's delay (Outcome::kDelay): the stream waits on this timer, then resumes its
  // request at the preaccess phase.
  struct DelayTimer : Timer {
    Stream* stream = nullptr;
  };
  DelayTimer delay_timer_;

  Session* session_;
  int32_t id_ = 0;
  http::Request* req_ = nullptr;
  http::Generation* gen_ = nullptr;
  http::ContentSession* content_ = nullptr;
  HeadCollector head_;
  size_t field_max_ = 0;      // large_client_header_buffers' size
  size_t header_budget_ = 0;  // what is left of its num x size for names and values

  // request body
  std::unique_ptr<char[]> in_;
  size_t in_cap_ = 0, in_pos_ = 0, in_len_ = 0;
  uint64_t body_read_ = 0;   // delivered to the content
  uint64_t body_total_ = 0;  // received
  uint64_t unconsumed_ = 0;  // received, not yet given back to flow control
  size_t head_block_ = 0;
  bool in_end_ = false;
  bool discard_ = false;     // no content reads the body: consume as it arrives
  bool started_ = false;     // begin() ran: the head (Content-Length) is known
  bool has_body_ = false;    // the HEADERS frame had no END_STREAM
  bool body_empty_ = false;  // Content-Length: 0 without END_STREAM: no body to wait for
  bool rejected_ = false;    // a field was refused (RST_STREAM PROTOCOL_ERROR is queued)

  // response
  std::unique_ptr<char[]> out_;
  size_t out_cap_ = 0, out_pos_ = 0, out_len_ = 0;
  size_t local_skip_ = 0;  // bytes of req_->out taken (local content)
  bool local_ = false;     // local content (r.out) is being sent
  bool head_sent_ = false;
  bool out_last_ = false;  // the whole body is in out_ (or out of it)
  bool eof_sent_ = false;  // the data provider said EOF (or no body): response complete
  bool closed_ = false;
  bool logged_ = false;
  int file_error_ = 0;
};

}  // namespace portico::http2
