#include "proxy/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/strings.h"

namespace portico::proxy {

void Spool::configure(size_t memory, uint64_t max_file, std::string dir) {
  ring_cap_ = memory;
  max_file_ = max_file;
  dir_ = std::move(dir);
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t Spool::room() const {
  const uint64_t file_room = file_failed_ ? 0 : max_file_ - std::min(max_file_, file_wr_);
  if (file_rd_ != file_wr_) return file_room;
  return (ring_cap_ - ring_len_) + file_room;
}

bool Spool::open_file(std::string* error) {
  ::mkdir(dir_.c_str(), 0700);
  fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) fd_ = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    file_failed_ = true;
    *error = "open() of a temporary file in \"" + dir_ + "\" failed (" + errno_text(errno) + ")";
    return false;
  }
  return true;
}

bool Spool::reserve(size_t n, std::string* error) {
  if (file_rd_ == file_wr_ && n <= ring_cap_ - ring_len_) return true;  // the ring takes it
  if (room() < n) return false;
  return fd_ >= 0 || open_file(error);
}

bool Spool::append(const char* data, size_t n, std::string* error) {
  if (file_rd_ == file_wr_ && ring_len_ < ring_cap_) {
    if (!ring_) ring_.reset(new char[ring_cap_]);
    // Into the ring, in up to two pieces (it may wrap).
    size_t take = std::min(n, ring_cap_ - ring_len_);
    size_t tail = (ring_head_ + ring_len_) % ring_cap_;
    size_t first = std::min(take, ring_cap_ - tail);
    std::memcpy(ring_.get() + tail, data, first);
    std::memcpy(ring_.get(), data + first, take - first);
    ring_len_ += take;
    data += take;
    n -= take;
  }
  if (n == 0) return true;
  if (fd_ < 0 && !open_file(error)) return false;
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, data, n, off_t(file_wr_));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      *error = "pwrite() to a temporary file failed (" + errno_text(w < 0 ? errno : ENOSPC) + ")";
      return false;
    }
    file_wr_ += uint64_t(w);
    data += w;
    n -= size_t(w);
  }
  return true;
}

size_t Spool::front(http::OutChunk out[2]) const {
  if (ring_len_ > 0) {
    const size_t first = std::min(ring_len_, ring_cap_ - ring_head_);
    out[0] = http::OutChunk{ring_.get() + ring_head_, first, -1, 0};
    if (ring_len_ == first) return 1;
    out[1] = http::OutChunk{ring_.get(), ring_len_ - first, -1, 0};
    return 2;
  }
  if (file_rd_ == file_wr_) return 0;
  const size_t len = size_t(std::min<uint64_t>(file_wr_ - file_rd_, 1u << 30));
  out[0] = http::OutChunk{nullptr, len, fd_, off_t(file_rd_)};
  return 1;
}

void Spool::consume(size_t n) {
  if (ring_len_ > 0) {
    assert(n <= ring_len_);
    ring_head_ = (ring_head_ + n) % ring_cap_;
    ring_len_ -= n;
    if (ring_len_ == 0) ring_head_ = 0;
    return;
  }
  assert(n <= file_wr_ - file_rd_);
  file_rd_ += n;
  if (file_rd_ == file_wr_ && ::ftruncate(fd_, 0) == 0) {
    // Drained: start over at the front. The truncation matters beyond the disk blocks:
    // sendfile's socket buffers may still reference the old pages, and truncating detaches
    // them from the file, so new data never overwrites bytes still queued for the client.
    // If it fails, writing goes on further into the file instead.
    file_rd_ = file_wr_ = 0;
  }
}

}  // namespace portico::proxy
