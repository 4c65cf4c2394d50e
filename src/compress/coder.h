// Streaming coders: one compression or decompression stream each (zlib deflate as gzip, zlib
// inflate of gzip members, brotli, zstd), behind one interface the body filter drives.
//
// A coder is reused for many responses: begin() resets it for the next one keeping the
// library's memory where the library allows it (zlib: deflateReset when the window and hash
// sizes are the same; zstd: the context is reset in place; brotli 1.0.9 has no reset, so its
// encoder is made per response). Worker thread only; owned by a body filter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "compress/accept_encoding.h"

namespace portico::compress {

struct CoderParams {
  int level = 1;
  // zlib: window bits (9..15) and memLevel (1..9), as nginx sizes them for the length;
  // brotli: lgwin (10..24); zstd: windowLog (0: the level's default, capped at 23 = 8 MiB).
  int window_bits = 15;
  int mem_level = 8;
  int64_t size_hint = -1;  // the body's length when known: brotli and zstd size their tables by it
};

struct CoderStep {
  size_t in = 0;      // input bytes consumed
  size_t out = 0;     // output bytes produced
  bool done = false;  // the stream ended (finish given and every output byte produced)
  bool error = false;
};

class Coder {
 public:
  virtual ~Coder() = default;
  // Starts a new stream. False: the library failed (out of memory).
  virtual bool begin(const CoderParams& p) = 0;
  // Runs the stream over `in` into `out`. `finish`: no input follows this call's (decoders
  // ignore it: the data says where it ends).
  virtual CoderStep run(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap,
                        bool finish) = 0;
  // Makes everything consumed so far decodable by the client (Z_SYNC_FLUSH and its brotli and
  // zstd equivalents) without ending the stream. CoderStep::done: the flush is complete.
  virtual CoderStep flush(uint8_t* out, size_t out_cap) = 0;
};

enum class CoderKind : uint8_t { kGzip, kBrotli, kZstd, kGunzip };
inline constexpr int kCoderKinds = 4;

std::unique_ptr<Coder> make_coder(CoderKind k);

// nginx's sizing of the deflate window and hash for a response of known length: both shrink
// while the body fits a window half the size (ngx_http_gzip_filter_memory).
void size_gzip_window(int64_t content_length, int* window_bits, int* mem_level);

}  // namespace portico::compress
