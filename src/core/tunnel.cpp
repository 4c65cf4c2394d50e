#include "core/tunnel.h"

namespace portico {

void Tunnel::start(Transport& a, Transport& b, Buffer to_b, Buffer to_a) {
  to_b_ = Dir{&a, &b, to_b};
  to_a_ = Dir{&b, &a, to_a};
}

Tunnel::Result Tunnel::pump() {
  bool moved;
  do {
    moved = move(to_a_);
    moved = move(to_b_) || moved;
  } while (moved && !(to_a_.shut && to_b_.shut));
  return to_a_.shut && to_b_.shut ? Result::kDone : Result::kIdle;
}

bool Tunnel::move(Dir& d) {
  Buffer& b = d.buf;
  bool moved = false;
  for (;;) {
    if (b.off < b.len) {
      if (!d.to->writable()) return moved;
      IoResult w = d.to->write(b.data + b.off, b.len - b.off);
      if (w.again()) return moved;
      if (!w.progress()) {
        d.eof = true;  // the destination is gone: this direction is over
        b.off = b.len = 0;
        return true;
      }
      b.off += w.bytes();
      d.bytes += w.bytes();
      moved = true;
      continue;
    }
    b.off = b.len = 0;
    if (d.eof) {
      if (!d.shut) {
        (void)d.to->shutdown_write();  // a failure shows on the next read of that side
        d.shut = true;
        moved = true;
      }
      return moved;
    }
    if (!d.from->readable()) return moved;
    IoResult n = d.from->read(b.data, b.cap);
    if (n.progress()) {
      b.len = n.bytes();
      moved = true;
      continue;
    }
    if (n.again()) return moved;
    d.eof = true;  // the end, or an error: this direction is over either way
    moved = true;
  }
}

}  // namespace portico
