// libFuzzer harness for the chunked body decoder: the input decoded in one call, split in two
// at a data-derived point, in place, and (for short inputs) one byte at a time must give the
// same body, the same consumed count and the same done/error answer.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/chunked.h"

using portico::http::ChunkedDecoder;

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace {

struct Outcome {
  std::string body;
  size_t consumed = 0;
  bool done = false;
  bool error = false;
  uint64_t total = 0;
  bool operator==(const Outcome& o) const {
    return body == o.body && consumed == o.consumed && done == o.done && error == o.error &&
           total == o.total;
  }
};

ChunkedDecoder make(size_t max_trailer, size_t max_line) {
  ChunkedDecoder d;
  d.max_trailer_bytes = max_trailer;
  d.max_chunk_line = max_line;
  return d;
}

// Feeds `in` in pieces ending at the given cut points (as a connection would: only the
// unconsumed rest moves on), decoding each piece in place when `in_place`.
Outcome run(std::string_view in, const std::vector<size_t>& cuts, bool in_place,
            ChunkedDecoder dec) {
  Outcome o;
  size_t pos = 0;
  size_t cut_index = 0;
  while (!o.done && !o.error) {
    size_t end = in.size();
    while (cut_index < cuts.size() && cuts[cut_index] <= pos) ++cut_index;
    if (cut_index < cuts.size()) end = cuts[cut_index];
    std::string piece(in.substr(pos, end - pos));
    std::string scratch(piece.size(), '\0');
    char* out = in_place ? piece.data() : scratch.data();
    const ChunkedDecoder::Result r = dec.decode(piece, out);
    FUZZ_CHECK(r.consumed <= piece.size() && r.data_len <= r.consumed);
    FUZZ_CHECK(!(r.done && r.error));
    if (!r.done && !r.error) FUZZ_CHECK(r.consumed == piece.size());
    o.body.append(out, r.data_len);
    o.consumed += r.consumed;
    o.done = r.done;
    o.error = r.error;
    pos += r.consumed;
    if (end == in.size() && !r.done && !r.error) break;
  }
  o.total = dec.total_body();
  FUZZ_CHECK(o.total == o.body.size());
  return o;
}

void check(std::string_view in, size_t split, size_t max_trailer, size_t max_line) {
  const Outcome whole = run(in, {}, false, make(max_trailer, max_line));
  FUZZ_CHECK(run(in, {}, true, make(max_trailer, max_line)) == whole);
  FUZZ_CHECK(run(in, {split}, false, make(max_trailer, max_line)) == whole);
  FUZZ_CHECK(run(in, {split}, true, make(max_trailer, max_line)) == whole);
  if (in.size() <= 256) {
    std::vector<size_t> every;
    for (size_t i = 1; i < in.size(); ++i) every.push_back(i);
    FUZZ_CHECK(run(in, every, true, make(max_trailer, max_line)) == whole);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : (data[0] * 257u + data[size / 2]) % (size + 1);
  check(in, split, 8192, 4096);
  check(in, split, 24, 12);  // small limits, reachable by short inputs
  return 0;
}
