// BodyFilter: a transform of a response body between the content that produces it and the
// codec that frames it (compression: gzip, gunzip, brotli, zstd in src/compress/; nginx's output
// filters, where chunking is one more filter and here is the codec's). A module offers filters
// through Module::body_filter, asked when the head is about to go out; a request without one
// (Request::filter null) pays one pointer test per write.
//
// A filter sees the head first (it may rewrite r.resp: add Content-Encoding, drop the length so
// the codec chunks) and then every body write, with the contract of ClientStream::send_body:
// it takes what it can of `body` (past `skip`), passes its own output to `next` (the codec, or
// the filter after it), and answers how many input bytes it took; again when `next` is full, and
// it must hold no more than a bounded buffer of output. Owned by whoever installs it (a module,
// per request), given back through release() when the request ends; worker thread only.
#pragma once

#include <cstddef>
#include <span>

#include "core/transport.h"
#include "http/request.h"

namespace portico::http {

// Where body bytes go next: the codec, or the next filter.
class BodySink {
 public:
  // See ClientStream::send_body: progress(n) input bytes taken (0: only framing moved, call
  // again), again (full: wait for the client), eof (a file piece ended early), error.
  virtual IoResult write(std::span<const OutChunk> body, size_t skip, bool last) = 0;

 protected:
  ~BodySink() = default;
};

class BodyFilter {
 public:
  virtual ~BodyFilter() = default;
  // Before the head is serialized.
  virtual void on_head(Request& r) = 0;
  // One body write on its way to `next`; same results as BodySink::write.
  virtual IoResult write(std::span<const OutChunk> body, size_t skip, bool last,
                         BodySink& next) = 0;
  // Output the filter holds that `next` has not taken: write({}, skip, last) sends it.
  virtual bool pending() const = 0;
  // The request is over (logged or abandoned): the filter goes back to its owner.
  virtual void release() = 0;
};

}  // namespace portico::http
