#include "proxy/health_check.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/strings.h"
#include "proxy/response_parser.h"

namespace portico::proxy {

namespace {
constexpr size_t kMaxResponse = 64 * 1024;  // what a check reads of a response, at most

bool status_ok(const MatchConf* m, int status) {
  if (!m || m->status.empty()) {
    bool ok = status >= 200 && status < 400;
    return m && m->status_negated ? !ok : ok;
  }
  bool in = false;
  for (const auto& [lo, hi] : m->status) in = in || (status >= lo && status <= hi);
  return m->status_negated ? !in : in;
}

bool response_ok(const MatchConf* m, const ResponseHead& head, std::string_view body) {
  if (!status_ok(m, head.status)) return false;
  if (!m) return true;
  for (const auto& t : m->headers) {
    const http::Header* h = head.find(t.name);
    using Op = MatchConf::HeaderTest::Op;
    switch (t.op) {
      case Op::kPresent:
        if (!h) return false;
        break;
      case Op::kAbsent:
        if (h) return false;
        break;
      case Op::kEq:
        if (!h || h->value != t.value) return false;
        break;
      case Op::kNe:
        if (h && h->value == t.value) return false;
        break;
      case Op::kMatch:
        if (!h || !t.regex->match(h->value, nullptr)) return false;
        break;
      case Op::kNotMatch:
        if (h && t.regex->match(h->value, nullptr)) return false;
        break;
    }
  }
  if (m->body && m->body->match(body, nullptr) == m->body_negated) return false;
  return true;
}
}  // namespace

// One peer of one check: a timer, then a connection per check.
struct HealthChecker::Probe final : IoHandler {
  EventLoop* loop;
  std::shared_ptr<const HealthCheckConf> conf;
  size_t peer;
  int fd = -1;
  uint32_t fails = 0, passes = 0;
  std::string request;
  std::string response;
  size_t sent = 0;
  bool connecting = false;
  struct ProbeTimer : Timer {
    Probe* owner;
  } timer;
  bool in_check = false;

  const upstream::Peer& p() const { return conf->upstream->group->peer(peer); }

  void schedule(uint64_t ms) {
    timer.owner = this;
    timer.cb = [](Timer* t) { static_cast<ProbeTimer*>(t)->owner->on_timer(); };
    loop->schedule(&timer, ms);
  }

  void on_timer() {
    if (in_check) {
      verdict(false, "timed out");
      return;
    }
    start_check();
  }

  void start_check() {
    const auto& addr = p().cfg.addr;
    fd = ::socket(addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      verdict(false, "socket() failed");
      return;
    }
    int rc;
    if (addr.sa.sa_family == AF_UNIX) {
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      std::string path = p().cfg.name.substr(5);
      std::memcpy(un.sun_path, path.c_str(), std::min(path.size() + 1, sizeof un.sun_path - 1));
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&un), socklen_t(sizeof un));
    } else {
      SockAddr a = addr;
      if (conf->port) {
        if (a.sa.sa_family == AF_INET)
          a.v4.sin_port = htons(uint16_t(conf->port));
        else
          a.v6.sin6_port = htons(uint16_t(conf->port));
      }
      rc = ::connect(fd, &a.sa,
                     a.sa.sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    }
    if (rc < 0 && errno != EINPROGRESS) {
      verdict(false, "connect() failed (" + errno_text(errno) + ")");
      return;
    }
    if (!loop->add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this)) {
      verdict(false, "epoll_ctl() failed");
      return;
    }
    request = "GET " + conf->uri + " HTTP/1.0\r\nHost: " + conf->host +
              "\r\nUser-Agent: portico-health-check\r\nConnection: close\r\n\r\n";
    response.clear();
    sent = 0;
    connecting = true;
    in_check = true;
    loop->schedule(&timer, conf->timeout_ms);
  }

  void on_io(uint32_t ev) override {
    if (fd < 0) return;
    if (connecting) {
      if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) {
        verdict(false, "connect() failed (" + errno_text(err) + ")");
        return;
      }
      connecting = false;
    }
    while (sent < request.size()) {
      ssize_t w = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN) return;
        verdict(false, "send() failed (" + errno_text(errno) + ")");
        return;
      }
      sent += size_t(w);
    }
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        response.append(buf, size_t(std::min<size_t>(size_t(n), kMaxResponse - response.size())));
        if (response.size() >= kMaxResponse) break;
        continue;
      }
      if (n < 0 && errno == EAGAIN) return;
      break;  // EOF or error: judge what arrived
    }
    judge();
  }

  void judge() {
    ResponseHead head;
    size_t consumed = 0;
    std::string why;
    ResponseParseLimits limits;
    limits.max_head_size = 16384;
    ParseStatus st = parse_response_head(response, limits, head, &consumed, &why);
    if (st != ParseStatus::kComplete) {
      verdict(false, st == ParseStatus::kError ? why : "incomplete response");
      return;
    }
    std::string_view body = std::string_view(response).substr(consumed);
    bool ok = response_ok(conf->match.get(), head, body);
    verdict(ok, ok ? ""
                   : "status " + std::to_string(head.status) +
                         (conf->match ? " or match \"" + conf->match->name + "\"" : ""));
  }

  void close_fd() {
    if (fd >= 0) ::close(fd);  // also leaves epoll
    fd = -1;
  }

  void verdict(bool ok, const std::string& why) {
    close_fd();
    in_check = false;
    connecting = false;
    const uint64_t now = loop->now_ms();
    const bool healthy = p().state->healthy.load(std::memory_order_relaxed);
    if (ok) {
      fails = 0;
      // A passing check is first-hand evidence: it also ends a passive failure period.
      p().state->fails.store(0, std::memory_order_relaxed);
      if (!healthy && ++passes >= conf->passes) {
        upstream::set_healthy(p(), true, now);
        LOG_NOTICE("peer {} of upstream \"{}\" is healthy again", p().cfg.name,
                   conf->upstream->group->name());
        passes = 0;
      }
    } else {
      passes = 0;
      if (healthy && ++fails >= conf->fails) {
        upstream::set_healthy(p(), false, now);
        LOG_WARN("peer {} of upstream \"{}\" is unhealthy: health check {}", p().cfg.name,
                 conf->upstream->group->name(), why);
        fails = 0;
      }
    }
    schedule(conf->interval_ms);
  }
};

HealthChecker::~HealthChecker() {
  stop_all();
}

void HealthChecker::stop_all() {
  for (Probe* pr : probes_) {
    loop_.cancel(&pr->timer);
    pr->close_fd();
    // Events of the current batch may still name it: free after the batch.
    struct Holder : Deferred {
      Probe* p;
      ~Holder() override { delete p; }
    };
    auto* h = new Holder();
    h->p = pr;
    loop_.defer_delete(h);
  }
  probes_.clear();
}

void HealthChecker::configure(const std::vector<std::shared_ptr<const HealthCheckConf>>& checks) {
  stop_all();
  for (const auto& c : checks) {
    for (size_t i = 0; i < c->upstream->group->size(); ++i) {
      auto* pr = new Probe();
      pr->loop = &loop_;
      pr->conf = c;
      pr->peer = i;
      probes_.push_back(pr);
      pr->schedule(0);  // first check at once
    }
  }
}

}  // namespace portico::proxy
