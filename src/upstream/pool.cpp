#include "upstream/pool.h"

#include <sys/epoll.h>

#include <algorithm>

namespace portico::upstream {

void Pool::Conn::on_io(uint32_t ev) {
  if (!transport.is_open()) return;  // closed earlier in this batch
  if (owner) {
    owner->on_io(ev);
  } else if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    pool->drop(this);  // the upstream closed an idle connection, or sent something unasked
  }
  // An idle connection also hears EPOLLOUT (its last request's ACKs free send space): that
  // is no reason to drop it.
}

Pool::~Pool() {
  for (auto& [key, list] : idle_) {
    for (Conn* c : list) {
      loop_.cancel(&c->timer);
      delete c;  // closes its transport
    }
  }
}

Pool::Conn* Pool::attach(Transport&& conn, IoHandler* owner) {
  auto* c = new Conn();
  c->pool = this;
  c->owner = owner;
  c->timer.conn = c;
  c->timer.cb = [](Timer* t) {
    Conn* self = static_cast<Conn::IdleTimer*>(t)->conn;
    self->pool->drop(self);
  };
  if (!loop_.add(conn.fd(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c)) {
    delete c;
    return nullptr;
  }
  c->transport = std::move(conn);
  c->born_ms = loop_.now_ms();
  return c;
}

Pool::Conn* Pool::take(const PeerState* key, IoHandler* owner) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  // Most recently used first: the one least likely to have been closed by the upstream.
  Conn* c = it->second.back();
  it->second.pop_back();
  --total_;
  loop_.cancel(&c->timer);
  c->owner = owner;
  return c;
}

bool Pool::put(Conn* c, const PeerState* key, uint32_t max_idle, uint64_t timeout_ms) {
  if (key->draining.load(std::memory_order_relaxed)) {
    close(c);
    return false;
  }
  auto& list = idle_[key];
  if (list.size() >= max_idle) {
    Conn* old = list.front();
    list.erase(list.begin());
    --total_;
    loop_.cancel(&old->timer);
    old->transport.close();  // also leaves epoll
    retire(old);
  }
  c->owner = nullptr;
  c->key = key;
  loop_.schedule(&c->timer, timeout_ms);
  list.push_back(c);
  ++total_;
  return true;
}

void Pool::close(Conn* c) {
  loop_.cancel(&c->timer);
  c->transport.close();
  c->owner = nullptr;
  retire(c);
}

void Pool::close_idle(const PeerState* key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return;
  std::vector<Conn*> list = std::move(it->second);
  idle_.erase(it);
  total_ -= list.size();
  for (Conn* c : list) close(c);
}

void Pool::drop(Conn* c) {
  auto& list = idle_[c->key];
  auto it = std::find(list.begin(), list.end(), c);
  if (it != list.end()) {
    list.erase(it);
    --total_;
  }
  close(c);
}

void Pool::retire(Conn* c) {
  struct Holder : Deferred {
    Conn* c;
    ~Holder() override { delete c; }
  };
  auto* h = new Holder();
  h->c = c;
  loop_.defer_delete(h);
}

}  // namespace portico::upstream
