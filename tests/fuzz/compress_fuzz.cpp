// Fuzzes the compression module's untrusted inputs: an Accept-Encoding value, and a gzip body
// from an upstream or a .gz file going through the gunzip filter.
// Input layout: byte 0 picks the sink's pace (bytes per write, and whether it is sometimes
// full); the rest is both the Accept-Encoding value and the gzip body. A second round gzips
// the input with the filter and gunzips it again with the filter.
// Invariants: weights lie in [-1, 1000]; the chosen coding is allowed and accepted; the
// gunzip filter ends or fails without running away (bounded calls); the round trip is exact.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "compress/accept_encoding.h"
#include "compress/filter.h"

using namespace portico;
using namespace portico::compress;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

namespace {

class Sink final : public http::BodySink {
 public:
  Sink(size_t step, bool sometimes_full) : step_(step), full_(sometimes_full) {}
  IoResult write(std::span<const http::OutChunk> body, size_t skip, bool last) override {
    if (full_ && (++calls_ & 3) == 0) return IoResult::blocked();
    size_t took = 0, total = 0;
    for (const http::OutChunk& c : body) {
      total += c.len;
      if (skip >= c.len) {
        skip -= c.len;
        continue;
      }
      const size_t n = std::min(c.len - skip, step_ - took);
      if (out.size() < (1u << 22)) out.append(c.data + skip, n);
      took += n;
      skip = 0;
      if (took == step_) break;
    }
    if (last && took + 0 == total) ended = true;
    return IoResult::moved(took);
  }
  std::string out;
  bool ended = false;

 private:
  size_t step_;
  bool full_;
  unsigned calls_ = 0;
};

// Returns false when the filter failed.
bool run(CompressFilter& f, std::string_view in, Sink& sink) {
  http::OutChunk piece{in.data(), in.size(), -1, 0};
  size_t skip = 0;
  for (int i = 0; i < 4'000'000 && !sink.ended; ++i) {
    IoResult w = f.write({&piece, in.empty() ? 0u : 1u}, skip, true, sink);
    if (w.error() || w.eof()) return false;
    if (w.progress()) skip += w.bytes();
  }
  FUZZ_CHECK(sink.ended);  // bounded: no endless loop
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  if (len < 1) return 0;
  const size_t step = size_t(data[0] & 0x7f) * 37 + 1;
  const bool full = data[0] & 0x80;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), len - 1);

  const AcceptEncoding ae = parse_accept_encoding(rest);
  for (Coding c : {Coding::kGzip, Coding::kBrotli, Coding::kZstd})
    FUZZ_CHECK(ae.weight(c) >= -1 && ae.weight(c) <= 1000);
  for (unsigned allowed = 0; allowed < 16; allowed += 2) {
    const Coding pick = choose_coding(ae, allowed);
    if (pick != Coding::kNone) FUZZ_CHECK((allowed & coding_bit(pick)) && ae.accepts(pick));
  }

  static FilterPool pool;
  CompressFilter* f = pool.acquire();
  FUZZ_CHECK(f->begin(CoderKind::kGunzip, CoderParams{}, 4096));
  Sink s1(step, full);
  (void)run(*f, rest, s1);
  f->release();

  f = pool.acquire();
  FUZZ_CHECK(f->begin(CoderKind::kGzip, CoderParams{.level = 1 + data[0] % 9}, 4096));
  Sink s2(step, full);
  FUZZ_CHECK(run(*f, rest, s2));
  f->release();
  f = pool.acquire();
  FUZZ_CHECK(f->begin(CoderKind::kGunzip, CoderParams{}, 4096));
  Sink s3(step, full);
  FUZZ_CHECK(run(*f, s2.out, s3));
  FUZZ_CHECK(s3.out == rest);
  f->release();
  return 0;
}
