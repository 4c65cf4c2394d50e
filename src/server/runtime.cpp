#include "server/runtime.h"
#include "server/status_module.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace portico::server {

namespace {

Status bind_error(const config::ListenAddr& a, const char* call) {
  return Status::error(fmt::format("{}() to {} failed ({})", call, a.key, errno_text(errno)));
}

// listen's rcvbuf=, sndbuf=, so_keepalive=, fastopen= (accepted connections inherit the
// buffer sizes and keepalive settings). A failure is logged, as nginx's "setsockopt() ... failed".
void apply_socket_options(int fd, const config::ListenAddr& a) {
  auto set = [&](int level, int opt, int value, const char* name) {
    if (setsockopt(fd, level, opt, &value, sizeof value) < 0)
      PORTICO_LOG(LogLevel::kAlert, 0, "setsockopt({}, {}) {} failed, ignored ({})", name, value,
                  a.key, errno_text(errno));
  };
  if (a.rcvbuf >= 0) set(SOL_SOCKET, SO_RCVBUF, a.rcvbuf, "SO_RCVBUF");
  if (a.sndbuf >= 0) set(SOL_SOCKET, SO_SNDBUF, a.sndbuf, "SO_SNDBUF");
  if (a.so_keepalive) set(SOL_SOCKET, SO_KEEPALIVE, a.so_keepalive == 1 ? 1 : 0, "SO_KEEPALIVE");
  if (a.keepidle) set(IPPROTO_TCP, TCP_KEEPIDLE, a.keepidle, "TCP_KEEPIDLE");
  if (a.keepintvl) set(IPPROTO_TCP, TCP_KEEPINTVL, a.keepintvl, "TCP_KEEPINTVL");
  if (a.keepcnt) set(IPPROTO_TCP, TCP_KEEPCNT, a.keepcnt, "TCP_KEEPCNT");
  if (a.fastopen >= 0) set(IPPROTO_TCP, TCP_FASTOPEN, a.fastopen, "TCP_FASTOPEN");
}

int make_socket(const config::ListenAddr& a, bool reuseport, Status* st) {
  int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *st = bind_error(a, "socket");
    return -1;
  }
  int one = 1;
  if (!a.is_unix) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (a.deferred) {
      // The kernel hands over a connection only once its first bytes are in: one wake-up per
      // connection instead of two (accept, then data).
      int secs = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    }
    apply_socket_options(fd, a);
    if (a.addr.ss_family == AF_INET6) {
      int v6only = a.ipv6only ? 1 : 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.addr_len) < 0) {
    *st = bind_error(a, "bind");
    ::close(fd);
    return -1;
  }
  if (::listen(fd, a.backlog) < 0) {
    *st = bind_error(a, "listen");
    ::close(fd);
    return -1;
  }
  return fd;
}

// Every address the snapshot listens on: http servers and stream servers.
std::vector<const config::ListenAddr*> listen_addrs(const Snapshot& s) {
  std::vector<const config::ListenAddr*> out;
  for (const auto& a : s.http.addrs) out.push_back(&a->listen);
  for (const auto& srv : s.stream.servers)
    for (const auto& la : srv->listens) out.push_back(&la);
  return out;
}

}  // namespace

Runtime::~Runtime() {
  join();
  for (auto& [key, fds] : sockets_)
    for (int fd : fds) ::close(fd);
  for (auto& [key, path] : unix_paths_) ::unlink(path.c_str());
}

Status Runtime::open_address(const config::ListenAddr& a, int workers, std::vector<int>* fds) {
  Status st;
  if (a.is_unix) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&a.addr);
    struct stat sb;
    if (::stat(un->sun_path, &sb) == 0 && S_ISSOCK(sb.st_mode)) ::unlink(un->sun_path);
    int fd = make_socket(a, false, &st);
    if (fd < 0) return st;
    chmod(un->sun_path, 0666);
    fds->push_back(fd);
    unix_paths_[a.key] = un->sun_path;
    return Status::ok();
  }
  if (workers > 1) {
    // Probe without SO_REUSEPORT first: another process sharing the port through SO_REUSEPORT
    // must be reported as "Address already in use", not silently joined.
    int probe = make_socket(a, false, &st);
    if (probe < 0) return st;
    ::close(probe);
  }
  for (int i = 0; i < workers; ++i) {
    int fd = make_socket(a, workers > 1, &st);
    if (fd < 0) {
      for (int f : *fds) ::close(f);
      fds->clear();
      return st;
    }
    fds->push_back(fd);
  }
  return Status::ok();
}

void Runtime::close_address(const std::string& key) {
  auto it = sockets_.find(key);
  if (it == sockets_.end()) return;
  auto u = unix_paths_.find(key);
  if (u != unix_paths_.end()) {
    // Shared by all workers: closed here once they have dropped it from their loops.
    ::close(it->second[0]);
    ::unlink(u->second.c_str());
    unix_paths_.erase(u);
  }
  sockets_.erase(it);
}

Status Runtime::start(std::shared_ptr<const Snapshot> snapshot) {
  const int n = snapshot->main.worker_processes;
  for (const config::ListenAddr* a : listen_addrs(*snapshot)) {
    if (sockets_.count(a->key)) {
      for (auto& [key, f] : sockets_)
        for (int fd : f) ::close(fd);
      sockets_.clear();
      return Status::error(
          fmt::format("duplicate listen {} (http and stream, or two stream servers)", a->key));
    }
    std::vector<int> fds;
    if (Status st = open_address(*a, n, &fds); !st) {
      for (auto& [key, f] : sockets_)
        for (int fd : f) ::close(fd);
      sockets_.clear();
      return st;
    }
    sockets_[a->key] = std::move(fds);
  }
  snapshot_ = snapshot;
  for (int i = 0; i < n; ++i) {
    std::vector<ListenerSocket> mine;
    for (const auto& [key, fds] : sockets_) {
      bool shared = unix_paths_.count(key) > 0;
      mine.push_back(ListenerSocket{key, shared ? fds[0] : fds[size_t(i)], shared});
    }
    workers_.push_back(std::make_unique<Worker>(i, snapshot, std::move(mine)));
    workers_.back()->set_exit_hook(exit_hook_);
  }
  std::vector<const http::WorkerStats*> stats;
  for (auto& w : workers_) stats.push_back(&w->stats());
  publish_worker_stats(std::move(stats));
  for (auto& w : workers_)
    if (Status st = w->start(); !st) return st;
  // Workers own their TCP sockets now; only unix sockets stay ours (shared).
  for (auto& [key, fds] : sockets_)
    if (!unix_paths_.count(key)) fds.assign(fds.size(), -1);
  return Status::ok();
}

Status Runtime::reload(std::shared_ptr<const Snapshot> snapshot) {
  const int n = int(workers_.size());
  if (snapshot->main.worker_processes != n)
    LOG_NOTICE("worker_processes {} takes effect on restart; running {} workers",
               snapshot->main.worker_processes, n);
  std::map<std::string, std::vector<int>> added;
  const auto addrs = listen_addrs(*snapshot);
  for (const config::ListenAddr* a : addrs) {
    if (sockets_.count(a->key) || added.count(a->key)) continue;
    std::vector<int> fds;
    if (Status st = open_address(*a, n, &fds); !st) {
      for (auto& [key, f] : added) {
        for (int fd : f) ::close(fd);
        auto u = unix_paths_.find(key);
        if (u != unix_paths_.end()) {
          ::unlink(u->second.c_str());
          unix_paths_.erase(u);
        }
      }
      return st;
    }
    added[a->key] = std::move(fds);
  }
  std::vector<std::string> removed;
  for (const auto& [key, fds] : sockets_) {
    bool keep = false;
    for (const config::ListenAddr* a : addrs) keep = keep || a->key == key;
    if (!keep) removed.push_back(key);
  }
  for (int i = 0; i < n; ++i) {
    std::vector<ListenerSocket> mine;
    for (const auto& [key, fds] : added) {
      bool shared = unix_paths_.count(key) > 0;
      mine.push_back(ListenerSocket{key, shared ? fds[0] : fds[size_t(i)], shared});
    }
    workers_[size_t(i)]->post_reload(snapshot, std::move(mine), removed);
  }
  for (auto& [key, fds] : added) {
    bool shared = unix_paths_.count(key) > 0;
    sockets_[key] = shared ? fds : std::vector<int>(fds.size(), -1);
  }
  for (const auto& key : removed) {
    // Unix sockets are shared: close after the workers dropped them (a posted task runs after
    // the reload task on each worker, so closing here only races with epoll removal, which is
    // harmless: epoll drops a closed descriptor by itself).
    if (unix_paths_.count(key)) {
      auto& fds = sockets_[key];
      fds.assign(1, fds.empty() ? -1 : fds[0]);
    }
    close_address(key);
  }
  snapshot_ = std::move(snapshot);
  return Status::ok();
}

void Runtime::stop(bool graceful) {
  for (auto& w : workers_) w->post_stop(graceful);
}

bool Runtime::finished() const {
  for (const auto& w : workers_)
    if (!w->finished()) return false;
  return true;
}

void Runtime::join() {
  for (auto& w : workers_) w->join();
  workers_.clear();
}

}  // namespace portico::server
