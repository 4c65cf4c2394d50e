// Spool: the part of a proxied response the client has not taken yet, when the upstream is
// faster than the client (proxy_buffering on). Bytes are held in order in a memory ring of
// proxy_buffers' total size, then in an anonymous temporary file of at most
// proxy_max_temp_file_size, and leave as body pieces for the client stream: memory (ring) or a
// file range (sendfile). It holds body bytes only: the codec frames them on the way out. It does
// no socket I/O. Holding them lets the
// upstream connection finish, go back to the keep-alive pool and serve another request while a
// slow client is still reading: the point of nginx's response buffering for app servers.
//
// Allocates nothing until the first byte is held (a client that keeps up never touches it).
// Worker thread only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "http/request.h"

namespace portico::proxy {

class Spool {
 public:
  // `memory`: ring size; `max_file`: temporary file limit (0 = memory only); `dir`: where the
  // file is created (it has no name: O_TMPFILE), /tmp if that fails.
  void configure(size_t memory, uint64_t max_file, std::string dir);
  ~Spool();

  bool empty() const { return ring_len_ == 0 && file_rd_ == file_wr_; }
  uint64_t size() const { return ring_len_ + (file_wr_ - file_rd_); }
  // How many bytes append() takes now. Ring space behind file data cannot be used (order).
  uint64_t room() const;
  // True if n bytes can be appended now; opens the temporary file when the ring cannot take
  // them. False with *error set (once) if the file cannot be created: memory only from then on.
  bool reserve(size_t n, std::string* error);
  // Appends n <= room() bytes. Returns false with *error set if the file cannot be written;
  // the bytes are then lost and the response must be cut.
  bool append(const char* data, size_t n, std::string* error);
  // The held bytes at the front, oldest first: the ring's (one or two memory pieces, it may
  // wrap) or, once the ring is empty, a range of the file (at most 1 GiB). Returns the number
  // of pieces in out (0 when empty). They stay valid until consume().
  size_t front(http::OutChunk out[2]) const;
  // The first n bytes of front() went out. A drained file starts over at its front.
  void consume(size_t n);

 private:
  bool open_file(std::string* error);

  std::unique_ptr<char[]> ring_;
  size_t ring_cap_ = 0;
  size_t ring_head_ = 0;  // first held byte
  size_t ring_len_ = 0;
  uint64_t max_file_ = 0;
  std::string dir_;
  int fd_ = -1;
  uint64_t file_rd_ = 0;  // next byte to send
  uint64_t file_wr_ = 0;  // end of written data; both reset to 0 when the file drains
  bool file_failed_ = false;
};

}  // namespace portico::proxy
