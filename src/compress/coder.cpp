#include "compress/coder.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <bit>

namespace portico::compress {

namespace {

// gzip: deflate with the gzip wrapper (windowBits + 16), as nginx's output.
class GzipCoder final : public Coder {
 public:
  ~GzipCoder() override {
    if (ready_) deflateEnd(&z_);
  }
  bool begin(const CoderParams& p) override {
    if (ready_ && p.window_bits == wbits_ && p.mem_level == memlevel_) {
      if (deflateReset(&z_) != Z_OK) return false;
      if (p.level != level_ && deflateParams(&z_, p.level, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
      level_ = p.level;
      return true;
    }
    if (ready_) deflateEnd(&z_);
    ready_ = false;
    z_ = {};
    if (deflateInit2(&z_, p.level, Z_DEFLATED, p.window_bits + 16, p.mem_level,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      return false;
    ready_ = true;
    level_ = p.level;
    wbits_ = p.window_bits;
    memlevel_ = p.mem_level;
    return true;
  }
  CoderStep run(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap,
                bool finish) override {
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = uInt(std::min<size_t>(in_len, UINT32_MAX));
    z_.next_out = out;
    z_.avail_out = uInt(std::min<size_t>(out_cap, UINT32_MAX));
    const uInt avail_in = z_.avail_in, avail_out = z_.avail_out;
    const bool all_in = z_.avail_in == in_len;
    int rc = deflate(&z_, finish && all_in ? Z_FINISH : Z_NO_FLUSH);
    CoderStep s;
    s.in = avail_in - z_.avail_in;
    s.out = avail_out - z_.avail_out;
    s.done = rc == Z_STREAM_END;
    s.error = rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR;
    return s;
  }
  CoderStep flush(uint8_t* out, size_t out_cap) override {
    z_.next_in = nullptr;
    z_.avail_in = 0;
    z_.next_out = out;
    z_.avail_out = uInt(std::min<size_t>(out_cap, UINT32_MAX));
    const uInt avail_out = z_.avail_out;
    int rc = deflate(&z_, Z_SYNC_FLUSH);
    CoderStep s;
    s.out = avail_out - z_.avail_out;
    s.done = z_.avail_out > 0;  // room left: the flush marker is out
    s.error = rc != Z_OK && rc != Z_BUF_ERROR;
    return s;
  }

 private:
  z_stream z_{};
  bool ready_ = false;
  int level_ = 0, wbits_ = 0, memlevel_ = 0;
};

// gunzip: gzip members one after another (a file of several members is one body), as nginx's
// gunzip filter. Bytes after the end that cannot start a member are an error.
class GunzipCoder final : public Coder {
 public:
  ~GunzipCoder() override {
    if (ready_) inflateEnd(&z_);
  }
  bool begin(const CoderParams&) override {
    member_ended_ = false;
    if (ready_) return inflateReset(&z_) == Z_OK;
    z_ = {};
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) return false;
    ready_ = true;
    return true;
  }
  CoderStep run(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap,
                bool finish) override {
    CoderStep s;
    if (member_ended_ && in_len > 0) {
      if (inflateReset(&z_) != Z_OK) {
        s.error = true;
        return s;
      }
      member_ended_ = false;
    }
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = uInt(std::min<size_t>(in_len, UINT32_MAX));
    z_.next_out = out;
    z_.avail_out = uInt(std::min<size_t>(out_cap, UINT32_MAX));
    const uInt avail_in = z_.avail_in, avail_out = z_.avail_out;
    int rc = inflate(&z_, Z_NO_FLUSH);
    s.in = avail_in - z_.avail_in;
    s.out = avail_out - z_.avail_out;
    if (rc == Z_STREAM_END) member_ended_ = true;
    s.error = rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR;
    // The body ends where its input does; a member cut short ends there too (nginx sends what
    // it could decode).
    s.done = finish && s.in == in_len && s.out < out_cap;
    return s;
  }
  CoderStep flush(uint8_t*, size_t) override {
    CoderStep s;  // inflate hands out what it can decode at once: nothing is held back
    s.done = true;
    return s;
  }

 private:
  z_stream z_{};
  bool ready_ = false;
  bool member_ended_ = false;
};

// brotli (libbrotlienc 1.0.9): no reset, so an encoder per response.
class BrotliCoder final : public Coder {
 public:
  ~BrotliCoder() override {
    if (enc_) BrotliEncoderDestroyInstance(enc_);
  }
  bool begin(const CoderParams& p) override {
    if (enc_) BrotliEncoderDestroyInstance(enc_);
    enc_ = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
    if (!enc_) return false;
    BrotliEncoderSetParameter(enc_, BROTLI_PARAM_QUALITY, uint32_t(p.level));
    BrotliEncoderSetParameter(enc_, BROTLI_PARAM_LGWIN, uint32_t(p.window_bits));
    if (p.size_hint > 0)
      BrotliEncoderSetParameter(enc_, BROTLI_PARAM_SIZE_HINT,
                                uint32_t(std::min<int64_t>(p.size_hint, 1 << 30)));
    return true;
  }
  CoderStep run(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap,
                bool finish) override {
    size_t avail_in = in_len, avail_out = out_cap;
    const uint8_t* next_in = in;
    uint8_t* next_out = out;
    CoderStep s;
    if (!BrotliEncoderCompressStream(enc_,
                                     finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS,
                                     &avail_in, &next_in, &avail_out, &next_out, nullptr)) {
      s.error = true;
      return s;
    }
    s.in = in_len - avail_in;
    s.out = out_cap - avail_out;
    s.done = finish && BrotliEncoderIsFinished(enc_);
    return s;
  }
  CoderStep flush(uint8_t* out, size_t out_cap) override {
    size_t avail_in = 0, avail_out = out_cap;
    const uint8_t* next_in = nullptr;
    uint8_t* next_out = out;
    CoderStep s;
    if (!BrotliEncoderCompressStream(enc_, BROTLI_OPERATION_FLUSH, &avail_in, &next_in, &avail_out,
                                     &next_out, nullptr)) {
      s.error = true;
      return s;
    }
    s.out = out_cap - avail_out;
    s.done = !BrotliEncoderHasMoreOutput(enc_);
    return s;
  }

 private:
  BrotliEncoderState* enc_ = nullptr;
};

// zstd (libzstd 1.5): one context reset per response; the window is capped at 8 MiB for HTTP
// (RFC 9659).
class ZstdCoder final : public Coder {
 public:
  ~ZstdCoder() override { ZSTD_freeCCtx(cctx_); }
  bool begin(const CoderParams& p) override {
    if (!cctx_) cctx_ = ZSTD_createCCtx();
    if (!cctx_) return false;
    ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, p.level))) return false;
    // A window no larger than the body when its length is known (less memory for short
    // bodies), and never over 8 MiB (RFC 9659; levels up to 19 stay within it anyway).
    int wlog = p.window_bits > 0 ? std::min(p.window_bits, 23) : 0;
    if (p.size_hint > 0) {
      const int fit = std::clamp(int(std::bit_width(uint64_t(p.size_hint - 1))), 10, 23);
      wlog = wlog > 0 ? std::min(wlog, fit) : fit;
    }
    if (wlog > 0) ZSTD_CCtx_setParameter(cctx_, ZSTD_c_windowLog, wlog);
    return true;
  }
  CoderStep run(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap,
                bool finish) override {
    ZSTD_inBuffer ib{in, in_len, 0};
    ZSTD_outBuffer ob{out, out_cap, 0};
    size_t rc = ZSTD_compressStream2(cctx_, &ob, &ib, finish ? ZSTD_e_end : ZSTD_e_continue);
    CoderStep s;
    s.in = ib.pos;
    s.out = ob.pos;
    s.error = ZSTD_isError(rc);
    s.done = finish && !s.error && rc == 0 && ib.pos == in_len;
    return s;
  }
  CoderStep flush(uint8_t* out, size_t out_cap) override {
    ZSTD_inBuffer ib{nullptr, 0, 0};
    ZSTD_outBuffer ob{out, out_cap, 0};
    size_t rc = ZSTD_compressStream2(cctx_, &ob, &ib, ZSTD_e_flush);
    CoderStep s;
    s.out = ob.pos;
    s.error = ZSTD_isError(rc);
    s.done = !s.error && rc == 0;
    return s;
  }

 private:
  ZSTD_CCtx* cctx_ = nullptr;
};

}  // namespace

std::unique_ptr<Coder> make_coder(CoderKind k) {
  switch (k) {
    case CoderKind::kGzip:
      return std::make_unique<GzipCoder>();
    case CoderKind::kBrotli:
      return std::make_unique<BrotliCoder>();
    case CoderKind::kZstd:
      return std::make_unique<ZstdCoder>();
    case CoderKind::kGunzip:
      return std::make_unique<GunzipCoder>();
  }
  return nullptr;
}

void size_gzip_window(int64_t content_length, int* window_bits, int* mem_level) {
  if (content_length <= 0) return;
  while (*window_bits > 9 && content_length < ((int64_t(1) << (*window_bits - 1)) - 262)) {
    --*window_bits;
    if (*mem_level > 1) --*mem_level;
  }
}

}  // namespace portico::compress
