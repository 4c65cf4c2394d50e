#include "server/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "core/log.h"
#include "http/access_log.h"
#include "http/connection.h"
#include "http/request.h"
#include "stream/session.h"

namespace portico::server {

// ---- Listener -------------------------------------------------------------------------------

Listener::Listener(Worker* w, std::string key, int fd, bool shared)
    : worker_(w), key_(std::move(key)), fd_(fd), shared_(shared) {}

Listener::~Listener() {
  close_socket();
}

void Listener::close_socket() {
  if (fd_ < 0) return;
  worker_->loop().remove(fd_);
  watched = false;
  if (!shared_) ::close(fd_);
  fd_ = -1;
}

void Listener::on_io(uint32_t) {
  worker_->on_accept(this);
}

// ---- Worker ---------------------------------------------------------------------------------

Worker::Worker(int index, std::shared_ptr<const Snapshot> snapshot,
               std::vector<ListenerSocket> sockets)
    : index_(index), initial_sockets_(std::move(sockets)) {
  current_ = new Generation(std::move(snapshot));
  accept_timer_.cb = [](Timer* t) { static_cast<AcceptTimer*>(t)->worker->resume_accepting(); };
  accept_timer_.worker = this;
  flush_timer_.cb = [](Timer* t) {
    Worker* w = static_cast<AcceptTimer*>(t)->worker;
    w->current_->snapshot->log_files.flush_timed(w->index_);
    for (Generation* g : w->old_generations_) g->snapshot->log_files.flush_timed(w->index_);
    w->arm_flush_timer();
  };
  flush_timer_.worker = this;
  for (http::Module* m : http::modules()) {
    module_states_.resize(http::modules().size());
    if (m->create_worker_state)
      module_states_[size_t(m->index)] = m->create_worker_state(loop_, upstreams_);
  }
}

Worker::~Worker() {
  listeners_.clear();
  retired_listeners_.clear();
  for (auto* r : free_requests_) delete r;
  free_requests_.clear();
  for (auto* b : free_blocks_) delete[] b;
  for (auto* g : old_generations_) delete g;
  delete current_;
}

Status Worker::start() {
  if (Status s = loop_.init(); !s) return s;
  loop_.set_iteration_hook([](void* cache) { static_cast<FileCache*>(cache)->end_iteration(); },
                           &file_cache_);
  for (auto& ls : initial_sockets_) {
    auto l = std::make_unique<Listener>(this, ls.key, ls.fd, ls.shared);
    if (Status s = watch(*l); !s) return s;  // at start-up: fail rather than listen deaf
    listeners_.push_back(std::move(l));
  }
  initial_sockets_.clear();
  bind_listeners_to_snapshot();
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  char name[16];
  snprintf(name, sizeof name, "portico-w%d", index_);
  pthread_setname_np(pthread_self(), name);
  tls::Stats::bind(&stats_.tls);
  // Buffered access logs are written when a buffer fills, on reload, on exit, and every
  // `flush=` interval (nginx's access_log flush=).
  arm_flush_timer();
  loop_.run();
  current_->snapshot->log_files.flush(index_);
  finished_.store(true, std::memory_order_release);
  if (on_exit_) on_exit_();
}

void Worker::bind_listeners_to_snapshot() {
  const auto& addrs = current_->snapshot->http.addrs;
  for (auto& l : listeners_) {
    l->addr = nullptr;
    l->stream_server = nullptr;
    l->stream_proxy_protocol = false;
    l->stream_ssl = false;
    for (const auto& a : addrs)
      if (a->listen.key == l->key()) l->addr = a.get();
    for (const auto& s : current_->snapshot->stream.servers)
      for (const auto& la : s->listens)
        if (la.key == l->key()) {
          l->stream_server = s.get();
          l->stream_proxy_protocol = la.proxy_protocol;
          l->stream_ssl = la.ssl;
        }
  }
}

void Worker::stream_closed(void* self, stream::Session* s) {
  auto* w = static_cast<Worker*>(self);
  --w->active_connections_;
  stream::Session* last = w->stream_sessions_.back();
  w->stream_sessions_[s->slot] = last;
  last->slot = s->slot;
  w->stream_sessions_.pop_back();
  if (w->stopping_) w->maybe_finish_stop();
  if (w->accept_paused_ && !w->accept_timer_.armed() &&
      int(w->active_connections_) < w->current_->snapshot->main.worker_connections)
    w->resume_accepting();
}

Generation* Worker::acquire_generation() {
  ++current_->refs;
  return current_;
}

void Worker::release_generation(http::Generation* hg) {
  auto* g = static_cast<Generation*>(hg);
  assert(g->refs > 0);
  --g->refs;
  if (g != current_ && g->refs == 0) {
    g->snapshot->log_files.flush(index_);
    old_generations_.erase(std::remove(old_generations_.begin(), old_generations_.end(), g),
                           old_generations_.end());
    delete g;
  }
}

http::Request* Worker::acquire_request() {
  if (free_requests_.empty()) {
    auto* fresh = new http::Request();
    fresh->file_cache = &file_cache_;
    return fresh;
  }
  http::Request* r = free_requests_.back();
  free_requests_.pop_back();
  return r;
}

void Worker::release_request(http::Request* r) {
  r->reset();
  // Keep a bounded number of warm requests; the rest go back to the allocator.
  if (free_requests_.size() >= 1024) {
    delete r;
    return;
  }
  free_requests_.push_back(r);
}

char* Worker::acquire_block() {
  if (free_blocks_.empty()) return new char[kBlockSize];
  char* b = free_blocks_.back();
  free_blocks_.pop_back();
  return b;
}

void Worker::release_block(char* b) {
  if (free_blocks_.size() >= 1024) {
    delete[] b;
    return;
  }
  free_blocks_.push_back(b);
}

uint64_t Worker::next_connection_id() {
  // Unique across workers without shared state: worker i hands out i+1, i+1+N, ...
  static thread_local uint64_t seq = 0;
  return ++seq * 64 + uint64_t(index_);
}

void Worker::on_accept(Listener* l) {
  const int limit = current_->snapshot->main.worker_connections;
  for (int i = 0; i < 64; ++i) {
    if (int(active_connections_) >= limit && !reuse_idle_connections(limit)) {
      // nginx: "worker_connections are not enough". Leave the rest in the backlog and stop
      // listening until a connection closes: a level-triggered listener would spin otherwise.
      LOG_ALERT("{} worker_connections are not enough", limit);
      pause_accepting(0);
      return;
    }
    SockAddr peer{};
    sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    int fd =
        ::accept4(l->fd(), reinterpret_cast<sockaddr*>(&ss), &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      LOG_ALERT("accept4() failed ({})", errno_text(errno));
      // EMFILE/ENFILE and the like: retry in a while instead of spinning (nginx waits 500 ms).
      pause_accepting(500);
      return;
    }
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
      std::memcpy(&peer, &ss, std::min<size_t>(sslen, sizeof peer));
    } else {
      peer.sa.sa_family = AF_UNIX;
    }
    if (l->stream_server) {
      // The session pins the snapshot its server belongs to for as long as it lives.
      std::shared_ptr<const void> pin = current_->snapshot;
      auto* s = new stream::Session(&upstreams_, l->stream_server, std::move(pin), fd, peer,
                                    next_connection_id(), &Worker::stream_closed, this,
                                    l->stream_proxy_protocol, l->stream_ssl);
      ++active_connections_;
      s->slot = uint32_t(stream_sessions_.size());
      stream_sessions_.push_back(s);
      s->start();
      continue;
    }
    auto* c = new http::Connection(this, l, fd, peer, next_connection_id());
    c->start();
  }
}

bool Worker::reuse_idle_connections(int limit) {
  // As nginx's ngx_drain_connections: idle keep-alive connections make room for new ones.
  std::vector<http::Connection*> idle;
  for (auto* c : connections_) {
    if (c->reusable()) idle.push_back(c);
    if (idle.size() == 32) break;
  }
  if (idle.empty()) return false;
  LOG_WARN("{} worker_connections are not enough, reusing connections", limit);
  for (auto* c : idle) c->close();
  return true;
}

Status Worker::watch(Listener& l) {
  if (l.watched || l.fd() < 0) return Status::ok();
  const uint32_t ev = uint32_t(EPOLLIN) | (l.shared() ? uint32_t(EPOLLEXCLUSIVE) : 0u);
  Status s = loop_.add(l.fd(), ev, &l);
  if (s) l.watched = true;
  return s;
}

void Worker::unwatch(Listener& l) {
  if (!l.watched) return;
  // EPOLL_CTL_DEL rather than MOD to no events: EPOLLEXCLUSIVE registrations cannot be
  // modified, and DEL allocates nothing, so pausing cannot fail half way.
  loop_.remove(l.fd());
  l.watched = false;
}

void Worker::watch_listeners() {
  bool deaf = false;
  for (auto& l : listeners_) {
    if (Status s = watch(*l); !s) {
      LOG_ALERT("{} for listener {}, retrying in {} ms", s.message(), l->key(), kAcceptRetryMs);
      deaf = true;
    }
  }
  if (deaf) loop_.schedule(&accept_timer_, kAcceptRetryMs);
}

void Worker::pause_accepting(uint64_t retry_ms) {
  accept_paused_ = true;
  for (auto& l : listeners_) unwatch(*l);
  if (retry_ms) loop_.schedule(&accept_timer_, retry_ms);
}

void Worker::resume_accepting() {
  // Also the accept timer's retry of a listener whose registration failed: watch() skips the
  // listeners that are watched already.
  if (stopping_) return;
  accept_paused_ = false;
  loop_.cancel(&accept_timer_);
  watch_listeners();
}

namespace {
// Connections of this worker were accepted on its own Listeners.
Listener* listener_of(http::Connection* c) {
  return static_cast<Listener*>(c->listener());
}
}  // namespace

void Worker::connection_opened(http::Connection* c) {
  ++active_connections_;
  http::WorkerStats::bump(stats_.accepted);
  http::WorkerStats::bump(stats_.active);
  ++listener_of(c)->connections;
  c->slot = uint32_t(connections_.size());
  connections_.push_back(c);
}

void Worker::connection_closed(http::Connection* c) {
  --active_connections_;
  http::WorkerStats::bump(stats_.active, -1);
  --listener_of(c)->connections;
  assert(c->slot < connections_.size() && connections_[c->slot] == c);
  http::Connection* last = connections_.back();
  connections_[c->slot] = last;
  last->slot = c->slot;
  connections_.pop_back();
  if (stopping_) maybe_finish_stop();
  if (accept_paused_ && !accept_timer_.armed() &&
      int(active_connections_) < current_->snapshot->main.worker_connections)
    resume_accepting();
}

void Worker::post_reload(std::shared_ptr<const Snapshot> snapshot,
                         std::vector<ListenerSocket> added, std::vector<std::string> removed) {
  loop_.post([this, snapshot = std::move(snapshot), added = std::move(added),
              removed = std::move(removed)]() mutable {
    apply_reload(std::move(snapshot), std::move(added), std::move(removed));
  });
}

void Worker::arm_flush_timer() {
  if (const uint64_t ms = current_->snapshot->log_files.flush_interval_ms())
    loop_.schedule(&flush_timer_, ms);
  else
    loop_.cancel(&flush_timer_);
}

void Worker::apply_reload(std::shared_ptr<const Snapshot> snapshot,
                          std::vector<ListenerSocket> added, std::vector<std::string> removed) {
  Generation* old = current_;
  current_ = new Generation(std::move(snapshot));
  arm_flush_timer();
  if (old->refs == 0) {
    old->snapshot->log_files.flush(index_);
    delete old;
  } else {
    old_generations_.push_back(old);
  }
  for (const auto& key : removed) {
    for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
      if ((*it)->key() != key) continue;
      (*it)->close_socket();
      retired_listeners_.push_back(std::move(*it));
      listeners_.erase(it);
      break;
    }
  }
  for (auto& ls : added)
    listeners_.push_back(std::make_unique<Listener>(this, ls.key, ls.fd, ls.shared));
  // New listeners start watched unless accepting is paused (then resume_accepting does it);
  // one whose registration fails is retried like any other.
  if (!accept_paused_) watch_listeners();
  bind_listeners_to_snapshot();
  // Balancers of upstreams that are gone are dropped (sessions in flight hold their own).
  const Snapshot& snap = *current_->snapshot;
  upstreams_.prune([&snap](const upstream::Group* g) {
    for (const auto* ups : {&snap.http.upstreams, &snap.stream.upstreams})
      for (const auto& [name, uc] : *ups)
        if (uc->group.get() == g) return true;
    return false;
  });
  // Keep-alive connections on a removed address finish and close; idle ones close now. HTTP/2
  // connections get GOAWAY, as from nginx's old workers: their streams finish, and the client's
  // next connection has the new http2 settings (a session keeps the ones it started with).
  std::vector<http::Connection*> snapshot_conns = connections_;
  for (auto* c : snapshot_conns) {
    if (listener_of(c)->fd() < 0 || c->http2()) c->shutdown_gracefully();
  }
}

void Worker::post_stop(bool graceful) {
  loop_.post([this, graceful] { begin_stop(graceful); });
}

void Worker::begin_stop(bool graceful) {
  stopping_ = true;
  draining_ = true;
  for (auto& l : listeners_) l->close_socket();
  std::vector<http::Connection*> conns = connections_;
  for (auto* c : conns) {
    if (graceful)
      c->shutdown_gracefully();
    else
      c->close();
  }
  // TCP sessions have no request boundary to stop at: a graceful stop lets them run out, as
  // nginx does (bounded by worker_shutdown_timeout); a fast one ends them.
  const uint64_t limit = current_->snapshot->main.worker_shutdown_timeout;
  if (graceful && limit > 0) {
    shutdown_timer_.worker = this;
    shutdown_timer_.cb = [](Timer* t) {
      Worker* w = static_cast<AcceptTimer*>(t)->worker;
      LOG_NOTICE("worker_shutdown_timeout expired: closing remaining connections");
      w->begin_stop(false);
    };
    loop_.schedule(&shutdown_timer_, limit);
  }
  if (!graceful) {
    std::vector<stream::Session*> sessions = stream_sessions_;
    for (auto* s : sessions) s->close_now();
  }
  maybe_finish_stop();
}

void Worker::maybe_finish_stop() {
  if (active_connections_ == 0) loop_.stop();
}

}  // namespace portico::server
