#include "proxy/pool.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

namespace portico::proxy {

Pool::~Pool() {
  for (auto& [key, list] : idle_) {
    for (Idle* c : list) {
      loop_.cancel(&c->timer);
      ::close(c->fd);
      delete c;
    }
  }
}

int Pool::take(const void* key, uint32_t* requests) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return -1;
  // Most recently used first: the one least likely to have been closed by the upstream.
  Idle* c = it->second.back();
  it->second.pop_back();
  --total_;
  loop_.cancel(&c->timer);
  loop_.remove(c->fd);
  int fd = c->fd;
  *requests = c->requests;
  c->fd = -1;
  retire(c);
  return fd;
}

void Pool::put(const void* key, int fd, uint32_t requests, uint32_t max_idle, uint64_t timeout_ms) {
  auto& list = idle_[key];
  if (list.size() >= max_idle) {
    // Full: the oldest goes (nginx evicts the least recently used one).
    Idle* old = list.front();
    list.erase(list.begin());
    --total_;
    loop_.cancel(&old->timer);
    ::close(old->fd);  // also leaves epoll
    old->fd = -1;
    retire(old);
  }
  auto* c = new Idle();
  c->pool = this;
  c->key = key;
  c->fd = fd;
  c->requests = requests;
  c->timer.owner = c;
  c->timer.cb = [](Timer* t) {
    Idle* self = static_cast<Idle::IdleTimer*>(t)->owner;
    self->pool->drop(self);
  };
  if (!loop_.add(fd, EPOLLIN | EPOLLRDHUP | EPOLLET, c)) {
    ::close(fd);
    delete c;
    return;
  }
  loop_.schedule(&c->timer, timeout_ms);
  list.push_back(c);
  ++total_;
}

void Pool::drop(Idle* c) {
  auto& list = idle_[c->key];
  auto it = std::find(list.begin(), list.end(), c);
  if (it != list.end()) list.erase(it);
  --total_;
  loop_.cancel(&c->timer);
  ::close(c->fd);
  c->fd = -1;
  retire(c);
}

void Pool::retire(Idle* c) {
  // drop() may run from this object's own on_io, and other events of the current epoll batch
  // may still point at it: free it only after the batch.
  struct Holder : Deferred {
    Idle* c;
    ~Holder() override { delete c; }
  };
  auto* h = new Holder();
  h->c = c;
  loop_.defer_delete(h);
}

}  // namespace portico::proxy
