// Pool: a worker's keep-alive connections to upstream peers (`keepalive N`).
//
// A pooled connection is registered in the worker's epoll once, when it is made, with a Conn
// as its handler; the Conn forwards events to the session using it, or, while idle, drops the
// connection if the upstream closes it or sends anything. Taking and returning a connection
// therefore costs no system call. Idle connections are keyed by the peer's shared state object,
// which survives a reload that keeps the peer, so the pool survives it too; each is bounded by
// keepalive_timeout and by N per upstream and worker. A draining or removed peer keeps no idle
// connection: put() closes instead, and the worker's LocalGroup calls close_idle() when it
// adopts the list that drains or removes the peer. Worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "core/transport.h"
#include "upstream/peer.h"

namespace portico::upstream {

class Pool {
 public:
  struct Conn final : IoHandler {
    Pool* pool = nullptr;
    IoHandler* owner = nullptr;  // the session using it; null while idle
    const PeerState* key = nullptr;
    // The transport's layer (TLS to the upstream), kept as long as the connection: declared
    // before `transport`, so it is destroyed after the transport closed through it.
    std::shared_ptr<void> layer_owner;
    Transport transport;    // closed once the connection ends
    uint32_t requests = 0;  // requests carried so far
    uint64_t born_ms = 0;   // the loop's clock when it was made (keepalive_time)
    struct IdleTimer : Timer {
      Conn* conn;
    } timer;
    void on_io(uint32_t ev) override;
  };

  explicit Pool(EventLoop& loop) : loop_(loop) {}
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Takes a freshly connected transport and registers its socket (edge-triggered, both
  // directions) for `owner`. Null if epoll refused it (the transport is left with the caller).
  Conn* attach(Transport&& t, IoHandler* owner);
  // An idle connection to the peer whose state is `key`, now owned by `owner`, or null.
  Conn* take(const PeerState* key, IoHandler* owner);
  // Keeps `c` for later (evicting the least recently used when `max_idle` are idle already),
  // unless the peer is draining or removed: then closes it. Returns whether it was kept.
  bool put(Conn* c, const PeerState* key, uint32_t max_idle, uint64_t timeout_ms);
  // Closes a connection that will not be reused.
  void close(Conn* c);
  // Closes every idle connection to `key`'s peer (it drains or left its group).
  void close_idle(const PeerState* key);
  size_t idle_count() const { return total_; }

 private:
  void drop(Conn* c);    // an idle connection ends
  void retire(Conn* c);  // deletes after the current batch (events may still name it)

  EventLoop& loop_;
  std::unordered_map<const PeerState*, std::vector<Conn*>> idle_;
  size_t total_ = 0;
};

}  // namespace portico::upstream
