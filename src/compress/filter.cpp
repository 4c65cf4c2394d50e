#include "compress/filter.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/log.h"

namespace portico::compress {

namespace {
constexpr size_t kInBuffer = 32 * 1024;  // a file piece is read in parts of this size
}  // namespace

bool CompressFilter::begin(CoderKind kind, const CoderParams& p, size_t out_cap, uint64_t log_id) {
  log_id_ = log_id;
  auto& slot = coders_[int(kind)];
  if (!slot) slot = make_coder(kind);
  coder_ = slot.get();
  kind_ = kind;
  if (out_.size() < out_cap) out_.resize(out_cap);
  out_cap_ = out_cap;
  out_off_ = out_len_ = 0;
  in_off_ = in_len_ = 0;
  total_in_ = total_out_ = 0;
  done_ = false;
  unflushed_ = false;
  return coder_->begin(p);
}

void CompressFilter::release() {
  coder_ = nullptr;
  pool_.put(this);
}

// Runs the coder once into the (empty) output buffer.
IoResult CompressFilter::run(const uint8_t* in, size_t len, bool finish, size_t* consumed) {
  const CoderStep s = coder_->run(in, len, out_.data(), out_cap_, finish);
  // No progress with room to make it is a coder that cannot go on (corrupt gzip input).
  if (s.error || (!s.done && s.in == 0 && s.out == 0)) return coder_failed();
  *consumed = s.in;
  out_off_ = 0;
  out_len_ = s.out;
  total_in_ += s.in;
  total_out_ += s.out;
  done_ = s.done;
  if (s.in > 0) unflushed_ = true;
  return IoResult::moved(0);
}

// The response cannot go on (a corrupt gzip body for gunzip; a library failure): logged as
// nginx does, and the connection ends (the response is cut short).
IoResult CompressFilter::coder_failed() {
  static constexpr const char* kWhat[kCoderKinds] = {"deflate", "BrotliEncoderCompressStream",
                                                     "ZSTD_compressStream2", "inflate"};
  PORTICO_LOG(LogLevel::kError, log_id_, "{}() failed{}", kWhat[int(kind_)],
              kind_ == CoderKind::kGunzip ? ": the gzip body is corrupt" : "");
  return IoResult::failed(EBADMSG);
}

// Input is taken in three ways: memory pieces straight into the coder (taken: what it
// consumed), file pieces into in_ with pread (taken when read: in_ is ours until coded). Output
// goes to `next` before more input is coded, so at most one output buffer is held.
IoResult CompressFilter::write(std::span<const http::OutChunk> body, size_t skip, bool last,
                               http::BodySink& next) {
  size_t taken = 0;
  for (;;) {
    if (out_off_ < out_len_ || done_) {
      http::OutChunk c{reinterpret_cast<const char*>(out_.data() + out_off_), out_len_ - out_off_,
                       -1, 0};
      IoResult w = next.write(std::span<const http::OutChunk>(&c, c.len ? 1 : 0), 0, done_);
      if (!w.progress()) return w.again() && taken > 0 ? IoResult::moved(taken) : w;
      out_off_ += w.bytes();
      if (out_off_ < out_len_) continue;
      if (done_) return IoResult::moved(taken);  // the codec may still owe its framing
      out_off_ = out_len_ = 0;
    }
    size_t consumed = 0;
    if (in_off_ < in_len_) {
      IoResult e = run(in_.data() + in_off_, in_len_ - in_off_, false, &consumed);
      if (e.error()) return e;
      in_off_ += consumed;
      continue;
    }
    // The producer's next bytes, past those taken.
    size_t pos = skip + taken;
    const http::OutChunk* piece = nullptr;
    for (const http::OutChunk& c : body) {
      if (pos < c.len) {
        piece = &c;
        break;
      }
      pos -= c.len;
    }
    if (piece && piece->fd < 0) {
      IoResult e = run(reinterpret_cast<const uint8_t*>(piece->data) + pos, piece->len - pos, false,
                       &consumed);
      if (e.error()) return e;
      taken += consumed;
      continue;
    }
    if (piece) {
      if (in_.size() < kInBuffer) in_.resize(kInBuffer);
      const size_t want = std::min(piece->len - pos, kInBuffer);
      const ssize_t n = ::pread(piece->fd, in_.data(), want, piece->offset + off_t(pos));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoResult::failed(errno);
      if (n == 0) return IoResult::ended();  // the file was truncated
      in_off_ = 0;
      in_len_ = size_t(n);
      taken += size_t(n);
      continue;
    }
    if (!last) {
      if (unflushed_) {
        // Nothing more to code for now: what was coded goes out decodable.
        const CoderStep s = coder_->flush(out_.data(), out_cap_);
        if (s.error) return coder_failed();
        out_off_ = 0;
        out_len_ = s.out;
        total_out_ += s.out;
        if (s.done) unflushed_ = false;
        continue;
      }
      // A call that moved nothing lets the codec flush its framing.
      return taken > 0 ? IoResult::moved(taken) : next.write({}, 0, false);
    }
    IoResult e = run(nullptr, 0, true, &consumed);
    if (e.error()) return e;
  }
}

CompressFilter* FilterPool::acquire() {
  if (free_.empty()) return new CompressFilter(*this);
  CompressFilter* f = free_.back();
  free_.pop_back();
  return f;
}

void FilterPool::put(CompressFilter* f) {
  if (free_.size() >= kMaxFree) {
    delete f;
    return;
  }
  free_.push_back(f);
}

FilterPool::~FilterPool() {
  for (CompressFilter* f : free_) delete f;
}

}  // namespace portico::compress
