// Pool: a worker's idle keep-alive connections to upstream peers (`keepalive N`).
// Keyed by the peer's shared state object, which survives a reload that keeps the peer, so
// pooled connections survive it too. Idle connections stay registered in the worker's epoll:
// if the upstream closes one (or sends anything), it is dropped at once. Each is bounded by
// keepalive_timeout and the per-upstream count N. Worker thread only.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/timer_wheel.h"

namespace portico::proxy {

class Pool {
 public:
  explicit Pool(EventLoop& loop) : loop_(loop) {}
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An idle connection to the peer whose state is `key`, or -1. *requests: how many requests
  // it has carried.
  int take(const void* key, uint32_t* requests);
  // Keeps `fd` for later (or closes it when `max_idle` connections to `key` are already idle).
  void put(const void* key, int fd, uint32_t requests, uint32_t max_idle, uint64_t timeout_ms);
  size_t idle_count() const { return total_; }

 private:
  struct Idle final : IoHandler {
    Pool* pool;
    const void* key;
    int fd;
    uint32_t requests;
    struct IdleTimer : Timer {
      Idle* owner;
    } timer;
    // fd < 0: already taken or dropped; an event of the same epoll batch may still arrive.
    void on_io(uint32_t) override {
      if (fd >= 0) pool->drop(this);
    }
  };
  void drop(Idle* c);
  void retire(Idle* c);  // deletes after the current batch

  EventLoop& loop_;
  std::unordered_map<const void*, std::vector<Idle*>> idle_;
  size_t total_ = 0;
};

}  // namespace portico::proxy
