// The compression body filter against an in-memory sink that takes a few bytes at a time and
// is sometimes full: whatever the pieces (memory, file ranges) and the sink's pace, the
// decoded output is the input, and the filter's last write ends the stream.
#include "compress/filter.h"

#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace portico::compress {
namespace {

using http::OutChunk;

// Takes at most `step` bytes per write, and answers "again" every `again_every` calls.
class TestSink final : public http::BodySink {
 public:
  TestSink(size_t step, int again_every) : step_(step), again_every_(again_every) {}
  IoResult write(std::span<const OutChunk> body, size_t skip, bool last) override {
    EXPECT_FALSE(ended_) << "write after the last bytes went out";
    if (again_every_ && ++calls_ % again_every_ == 0) return IoResult::blocked();
    size_t took = 0;
    for (const OutChunk& c : body) {
      EXPECT_LT(c.fd, 0);
      if (skip >= c.len) {
        skip -= c.len;
        continue;
      }
      size_t n = std::min(c.len - skip, step_ - took);
      out.append(c.data + skip, n);
      took += n;
      skip = 0;
      if (took == step_) break;
    }
    size_t total = 0;
    for (const OutChunk& c : body) total += c.len;
    if (last && took == total) ended_ = true;
    return IoResult::moved(took);
  }
  bool ended() const { return ended_; }
  std::string out;

 private:
  size_t step_;
  int again_every_;
  int calls_ = 0;
  bool ended_ = false;
};

std::string text(size_t n, unsigned seed) {
  static const char* kWords[] = {"alpha ", "beta ", "gamma ", "portico ", "nginx ", "\n"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) s += kWords[rng() % 6];
  s.resize(n);
  return s;
}

std::string gunzip_all(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

std::string gzip_all(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, uLong(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

std::string unbrotli(const std::string& in) {
  BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  std::string out;
  size_t avail_in = in.size();
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
  BrotliDecoderResult rc;
  do {
    uint8_t buf[65536];
    size_t avail_out = sizeof buf;
    uint8_t* next_out = buf;
    rc = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
  } while (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
  EXPECT_EQ(rc, BROTLI_DECODER_RESULT_SUCCESS);
  BrotliDecoderDestroyInstance(s);
  return out;
}

std::string unzstd(const std::string& in) {
  ZSTD_DStream* d = ZSTD_createDStream();
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  std::string out;
  size_t rc = 1;
  while (ib.pos < ib.size || rc != 0) {
    char buf[65536];
    ZSTD_outBuffer ob{buf, sizeof buf, 0};
    rc = ZSTD_decompressStream(d, &ob, &ib);
    EXPECT_FALSE(ZSTD_isError(rc));
    if (ZSTD_isError(rc)) break;
    out.append(buf, ob.pos);
    if (ob.pos == 0 && ib.pos == ib.size) break;
  }
  EXPECT_EQ(rc, 0u);
  ZSTD_freeDStream(d);
  return out;
}

// Drives the filter as the connection does for local content: the same pieces, past what was
// taken, with last=true, until the sink saw the end.
std::string drive(CompressFilter& f, std::span<const OutChunk> pieces, TestSink& sink) {
  size_t skip = 0;
  for (int i = 0; i < 1'000'000 && !sink.ended(); ++i) {
    IoResult w = f.write(pieces, skip, true, sink);
    EXPECT_TRUE(w.progress() || w.again());
    if (w.progress()) skip += w.bytes();
  }
  EXPECT_TRUE(sink.ended());
  EXPECT_FALSE(f.pending());
  return sink.out;
}

class TempFile {
 public:
  explicit TempFile(const std::string& data) {
    char name[] = "/tmp/portico-compress-test-XXXXXX";
    fd = mkstemp(name);
    unlink(name);
    EXPECT_EQ(::write(fd, data.data(), data.size()), ssize_t(data.size()));
  }
  ~TempFile() { close(fd); }
  int fd;
};

struct Case {
  CoderKind kind;
  std::string (*decode)(const std::string&);
};

TEST(CompressFilter, EveryCoderEveryPace) {
  FilterPool pool;
  const std::string small = text(3000, 1), big = text(700'000, 2);
  TempFile file(big);
  for (Case c : {Case{CoderKind::kGzip, gunzip_all}, Case{CoderKind::kBrotli, unbrotli},
                 Case{CoderKind::kZstd, unzstd}}) {
    for (auto [step, again] : {std::pair<size_t, int>{1 << 20, 0}, {7, 3}, {4096, 2}}) {
      SCOPED_TRACE(testing::Message() << int(c.kind) << " step " << step);
      CoderParams p;
      p.level = c.kind == CoderKind::kBrotli ? 4 : 3;
      if (c.kind == CoderKind::kBrotli) p.window_bits = 19;
      // Memory pieces.
      {
        CompressFilter* f = pool.acquire();
        ASSERT_TRUE(f->begin(c.kind, p, 8192));
        OutChunk pieces[] = {{small.data(), 1000, -1, 0}, {small.data() + 1000, 2000, -1, 0}};
        TestSink sink(step, again);
        EXPECT_EQ(c.decode(drive(*f, pieces, sink)), small);
        EXPECT_EQ(f->bytes_in(), small.size());
        f->release();
      }
      // A file range and memory after it.
      {
        CompressFilter* f = pool.acquire();
        ASSERT_TRUE(f->begin(c.kind, p, 65536));
        OutChunk pieces[] = {{nullptr, big.size() - 10, file.fd, 10}, {small.data(), 5, -1, 0}};
        TestSink sink(step == 7 ? 997 : step, again);
        EXPECT_EQ(c.decode(drive(*f, pieces, sink)), big.substr(10) + small.substr(0, 5));
        f->release();
      }
      // Empty body.
      {
        CompressFilter* f = pool.acquire();
        ASSERT_TRUE(f->begin(c.kind, p, 4096));
        TestSink sink(step, again);
        EXPECT_EQ(c.decode(drive(*f, {}, sink)), "");
        f->release();
      }
    }
  }
}

TEST(CompressFilter, StreamedPiecesAsTheProxyGivesThem) {
  // New pieces each call, skip 0, `last` only at the end: the proxy's pattern.
  FilterPool pool;
  const std::string body = text(200'000, 3);
  CompressFilter* f = pool.acquire();
  ASSERT_TRUE(f->begin(CoderKind::kGzip, CoderParams{}, 4096));
  TestSink sink(1000, 4);
  size_t pos = 0;
  for (int i = 0; i < 1'000'000 && !sink.ended(); ++i) {
    const size_t n = std::min<size_t>(1500, body.size() - pos);
    OutChunk piece{body.data() + pos, n, -1, 0};
    const bool last = pos + n == body.size();
    IoResult w = f->write(std::span<const OutChunk>(&piece, n ? 1 : 0), 0, last, sink);
    ASSERT_TRUE(w.progress() || w.again());
    if (w.progress()) pos += w.bytes();
  }
  EXPECT_TRUE(sink.ended());
  EXPECT_EQ(gunzip_all(sink.out), body);
  f->release();
}

// What a client can decode of an unfinished gzip stream.
std::string gunzip_partial(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK && z.avail_in > 0);
  inflateEnd(&z);
  return out;
}

TEST(CompressFilter, FlushedWhenTheProducerPauses) {
  // A proxied body arriving slowly: every piece is decodable by the client once the filter
  // has nothing more to code, before the body ends.
  FilterPool pool;
  const std::string body = text(30'000, 6);
  for (CoderKind kind : {CoderKind::kGzip, CoderKind::kBrotli, CoderKind::kZstd}) {
    SCOPED_TRACE(int(kind));
    CompressFilter* f = pool.acquire();
    CoderParams p;
    p.level = kind == CoderKind::kGzip ? 6 : 3;
    p.window_bits = kind == CoderKind::kBrotli ? 19 : (kind == CoderKind::kZstd ? 0 : 15);
    ASSERT_TRUE(f->begin(kind, p, 512));
    TestSink sink(1 << 20, 0);
    size_t pos = 0;
    for (int piece = 0; piece < 3; ++piece) {
      OutChunk c{body.data() + pos, 10'000, -1, 0};
      size_t skip = 0;
      for (int i = 0; i < 1000 && (skip < c.len || f->pending()); ++i) {
        IoResult w = f->write({&c, 1}, skip, false, sink);
        ASSERT_TRUE(w.progress());
        skip += w.bytes();
      }
      pos += c.len;
      if (kind == CoderKind::kGzip) {
        EXPECT_EQ(gunzip_partial(sink.out), body.substr(0, pos));
      }
      if (kind == CoderKind::kZstd) {
        // A flushed zstd frame decodes so far (the decoder just waits for the rest).
        ZSTD_DStream* d = ZSTD_createDStream();
        ZSTD_inBuffer ib{sink.out.data(), sink.out.size(), 0};
        std::string dec(body.size(), '\0');
        ZSTD_outBuffer ob{dec.data(), dec.size(), 0};
        EXPECT_FALSE(ZSTD_isError(ZSTD_decompressStream(d, &ob, &ib)));
        EXPECT_EQ(dec.substr(0, ob.pos), body.substr(0, pos));
        ZSTD_freeDStream(d);
      }
    }
    size_t skip = 0;
    for (int i = 0; i < 1000 && !sink.ended(); ++i) {
      IoResult w = f->write({}, skip, true, sink);
      ASSERT_TRUE(w.progress());
    }
    ASSERT_TRUE(sink.ended());
    std::string (*decode)(const std::string&) = kind == CoderKind::kGzip     ? gunzip_all
                                                : kind == CoderKind::kBrotli ? unbrotli
                                                                             : unzstd;
    EXPECT_EQ(decode(sink.out), body);
    f->release();
  }
}

TEST(CompressFilter, GunzipMembersAndCorruption) {
  FilterPool pool;
  const std::string a = text(50'000, 4), b = text(3'000, 5);
  const std::string two = gzip_all(a) + gzip_all(b);
  CompressFilter* f = pool.acquire();
  ASSERT_TRUE(f->begin(CoderKind::kGunzip, CoderParams{}, 4096));
  OutChunk piece{two.data(), two.size(), -1, 0};
  TestSink sink(3000, 3);
  EXPECT_EQ(drive(*f, {&piece, 1}, sink), a + b);
  f->release();

  std::string bad = gzip_all(a);
  bad[bad.size() / 2] ^= 0x55;
  bad[bad.size() / 2 + 1] ^= 0x55;
  f = pool.acquire();
  ASSERT_TRUE(f->begin(CoderKind::kGunzip, CoderParams{}, 4096));
  OutChunk bp{bad.data(), bad.size(), -1, 0};
  TestSink s2(1 << 20, 0);
  bool failed = false;
  size_t skip = 0;
  for (int i = 0; i < 100000 && !s2.ended(); ++i) {
    IoResult w = f->write({&bp, 1}, skip, true, s2);
    if (w.error()) {
      failed = true;
      break;
    }
    skip += w.bytes();
  }
  EXPECT_TRUE(failed || gunzip_all(gzip_all(a)) != s2.out);
  f->release();
}

TEST(CompressFilter, GzipWindowSizedAsNginx) {
  int w = 15, m = 8;
  size_gzip_window(100, &w, &m);
  EXPECT_EQ(w, 9);
  EXPECT_EQ(m, 2);
  w = 15, m = 8;
  size_gzip_window(10'000, &w, &m);
  EXPECT_EQ(w, 14);
  EXPECT_EQ(m, 7);
  w = 15, m = 8;
  size_gzip_window(-1, &w, &m);
  EXPECT_EQ(w, 15);
  EXPECT_EQ(m, 8);
}

}  // namespace
}  // namespace portico::compress
