// Tunnel: two byte streams relayed both ways through a buffer each, as an upgraded HTTP
// connection (101 Switching Protocols: WebSocket) is, until both directions have ended. An end
// (EOF, or a failed side) is passed on as a half-close: the other side's write end is shut down,
// and the tunnel is done once both are. Works on any two Transports (a TLS stream, which cannot
// splice, too).
//
// Owned by whoever relays (proxy::Session after a 101); the buffers are the owner's and outlive
// the tunnel's use of them. One worker thread; never blocks, never allocates.
//
//   tunnel.start(client, upstream, {ubuf, cap, 0, n}, {rbuf, cap, off, len});
//   on every event of either side:  if (tunnel.pump() == Tunnel::Result::kDone) finish();
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/transport.h"

namespace portico {

class Tunnel {
 public:
  // A direction's buffer and the bytes [off, off+len) already in it to deliver first.
  struct Buffer {
    char* data;
    size_t cap;
    size_t off;
    size_t len;
  };
  enum class Result : uint8_t {
    kIdle,  // nothing can move now: wait for an event of either side
    kDone,  // both directions ended and both write sides are shut down
  };

  // `a` and `b` are the two ends (a: the client); to_b holds bytes from a for b, to_a bytes
  // from b for a.
  void start(Transport& a, Transport& b, Buffer to_b, Buffer to_a);
  // Moves whatever both sides allow, in both directions, until nothing moves.
  Result pump();
  // Bytes delivered to a / to b so far.
  uint64_t to_a_bytes() const { return to_a_.bytes; }
  uint64_t to_b_bytes() const { return to_b_.bytes; }

 private:
  struct Dir {
    Transport* from = nullptr;
    Transport* to = nullptr;
    Buffer buf{};
    uint64_t bytes = 0;
    bool eof = false;   // `from` ended (or failed): nothing more to read
    bool shut = false;  // `to`'s write side is shut down
  };
  // Moves bytes one way. Returns true if anything moved (or an end was passed on).
  static bool move(Dir& d);

  Dir to_b_, to_a_;
};

}  // namespace portico
