// CompressFilter: the response body filter of the compression module. One object per response
// that is compressed (gzip, brotli, zstd) or decompressed (gunzip), taken from its worker's pool
// and given back when the request ends; it keeps its coder and buffers, so a warm worker
// allocates nothing per response (brotli 1.0.9 aside: its encoder has no reset).
//
// When the producer has nothing more for now (a proxied body arriving in pieces) the coder is
// flushed, so what came so far reaches the client decodable: portico never holds bytes back
// (nginx flushes likewise for unbuffered proxying). Local content gives its whole body at
// once and is never flushed.
//
// Memory per response is bounded: the coder's state (deflate: (1 << (wbits + 2)) +
// (1 << (memlevel + 9)) bytes, sized down for short bodies as nginx does), one output buffer
// (gzip_buffers number * size, at most 256 KiB) and one 32 KiB input buffer for file pieces,
// which are read with pread in pieces of that size (sendfile cannot apply to a body that is
// transformed). Output leaves through the next sink as it is made; the filter holds at most
// one output buffer.
//
// Worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "compress/coder.h"
#include "http/body_filter.h"
#include "http/module.h"

namespace portico::compress {

class FilterPool;

class CompressFilter final : public http::BodyFilter {
 public:
  explicit CompressFilter(FilterPool& pool) : pool_(pool) {}

  // Arms the filter for one response of connection `log_id` (for the error log). False: the
  // coder could not start (out of memory).
  bool begin(CoderKind kind, const CoderParams& p, size_t out_cap, uint64_t log_id = 0);

  void on_head(http::Request&) override {}
  IoResult write(std::span<const http::OutChunk> body, size_t skip, bool last,
                 http::BodySink& next) override;
  bool pending() const override { return out_off_ < out_len_; }
  void release() override;

  CoderKind kind() const { return kind_; }
  uint64_t bytes_in() const { return total_in_; }
  uint64_t bytes_out() const { return total_out_; }

 private:
  IoResult run(const uint8_t* in, size_t len, bool finish, size_t* consumed);
  IoResult coder_failed();

  FilterPool& pool_;
  std::unique_ptr<Coder> coders_[kCoderKinds];
  Coder* coder_ = nullptr;
  CoderKind kind_ = CoderKind::kGzip;
  uint64_t log_id_ = 0;
  std::vector<uint8_t> out_;  // capacity kept across responses
  size_t out_cap_ = 0;
  size_t out_off_ = 0, out_len_ = 0;
  std::vector<uint8_t> in_;  // file pieces read here (already taken from the producer)
  size_t in_off_ = 0, in_len_ = 0;
  uint64_t total_in_ = 0, total_out_ = 0;
  bool done_ = false;
  bool unflushed_ = false;  // input was coded since the last flush
};

// A worker's free filters (ModuleWorkerState of the compress module), bounded.
class FilterPool final : public http::ModuleWorkerState {
 public:
  CompressFilter* acquire();
  void put(CompressFilter* f);
  ~FilterPool() override;

 private:
  // A warm filter keeps its coder (a zstd context can hold a few MiB): a burst leaves at most
  // this many behind.
  static constexpr size_t kMaxFree = 16;
  std::vector<CompressFilter*> free_;
};

// Module::body_filter of the compress module: the filter for r's response, or null (the head
// may still be changed: Vary, and the headers of a HEAD response that would be compressed).
http::BodyFilter* body_filter_for(http::Request& r);

}  // namespace portico::compress
