#include "proxy/health_check.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/strings.h"
#include "core/transport.h"
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

bool header_ok(const MatchConf::HeaderTest& t, const ResponseHead& head) {
  const http::Header* h = head.find(t.name);
  using Op = MatchConf::HeaderTest::Op;
  switch (t.op) {
    case Op::kPresent:
      return h != nullptr;
    case Op::kAbsent:
      return h == nullptr;
    case Op::kEq:
      return h && h->value == t.value;
    case Op::kNe:
      return !h || h->value != t.value;
    case Op::kMatch:
      return h && t.regex->match(h->value, nullptr);
    case Op::kNotMatch:
      return !h || !t.regex->match(h->value, nullptr);
  }
  return false;
}

// One peer's checks: a connection per check, `GET uri` over HTTP/1.0, the response read to
// EOF (at most kMaxResponse) and judged. Lives on the checker's loop; the checker owns the
// timeout and frees the probe only after the loop iteration that last used it.
class HttpProbe final : public upstream::HealthProbe, public IoHandler {
 public:
  HttpProbe(EventLoop& loop, const HealthCheckConf& conf, upstream::ProbeSink& sink)
      : loop_(loop), conf_(conf), sink_(sink) {}
  ~HttpProbe() override { close_fd(); }

  void start(const upstream::Peer& peer) override {
    const int fd =
        ::socket(peer.cfg.addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      report(false, "socket() failed");
      return;
    }
    t_ = Transport(fd);
    if (connect_to(peer) < 0 && errno != EINPROGRESS) {
      report(false, "connect() failed (" + errno_text(errno) + ")");
      return;
    }
    if (!loop_.add(t_.fd(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this)) {
      report(false, "epoll_ctl() failed");
      return;
    }
    request_ = "GET " + conf_.uri + " HTTP/1.0\r\nHost: " + conf_.host +
               "\r\nUser-Agent: portico-health-check\r\nConnection: close\r\n\r\n";
    response_.clear();
    sent_ = 0;
    connecting_ = true;
  }

  void cancel() override { close_fd(); }

  void on_io(uint32_t ev) override {
    if (!t_.is_open()) return;  // closed earlier in this loop iteration
    if (connecting_) {
      if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(t_.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) {
        report(false, "connect() failed (" + errno_text(err) + ")");
        return;
      }
      connecting_ = false;
    }
    while (sent_ < request_.size()) {
      IoResult w = t_.write(request_.data() + sent_, request_.size() - sent_);
      if (w.again()) return;
      if (!w.progress()) {
        report(false, "send() failed (" + errno_text(w.err()) + ")");
        return;
      }
      sent_ += w.bytes();
    }
    char buf[16384];
    for (;;) {
      IoResult n = t_.read(buf, sizeof buf);
      if (n.progress()) {
        response_.append(buf, std::min<size_t>(n.bytes(), kMaxResponse - response_.size()));
        if (response_.size() >= kMaxResponse) break;
        continue;
      }
      if (n.again()) return;
      break;  // EOF or error: judge what arrived
    }
    judge();
  }

 private:
  // connect(2) of the probe's socket to the peer (or to `port` on its address): 0, or -1 with errno
  // (EINPROGRESS: under way).
  int connect_to(const upstream::Peer& peer) {
    const SockAddr& addr = peer.cfg.addr;
    if (addr.sa.sa_family == AF_UNIX) {
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      std::string path = peer.cfg.name.substr(5);
      std::memcpy(un.sun_path, path.c_str(), std::min(path.size() + 1, sizeof un.sun_path - 1));
      return ::connect(t_.fd(), reinterpret_cast<sockaddr*>(&un), socklen_t(sizeof un));
    }
    SockAddr a = addr;
    if (conf_.port) {
      if (a.sa.sa_family == AF_INET)
        a.v4.sin_port = htons(uint16_t(conf_.port));
      else
        a.v6.sin6_port = htons(uint16_t(conf_.port));
    }
    return ::connect(t_.fd(), &a.sa,
                     a.sa.sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
  }

  void judge() {
    ResponseHead head;
    size_t consumed = 0;
    std::string why;
    ResponseParseLimits limits;
    limits.max_head_size = 16384;
    ParseStatus st = parse_response_head(response_, limits, head, &consumed, &why);
    if (st != ParseStatus::kComplete) {
      report(false, st == ParseStatus::kError ? why : "incomplete response");
      return;
    }
    std::string_view body = std::string_view(response_).substr(consumed);
    bool ok = response_passes(conf_.match.get(), head, body);
    report(ok, ok ? ""
                  : "status " + std::to_string(head.status) +
                        (conf_.match ? " or match \"" + conf_.match->name + "\"" : ""));
  }

  void report(bool ok, const std::string& why) {
    close_fd();
    connecting_ = false;
    sink_.probe_done(ok, why);
  }

  void close_fd() { t_.close(); }  // also leaves epoll

  EventLoop& loop_;
  const HealthCheckConf& conf_;  // owned by the checker's PeerCheck, which owns this probe
  upstream::ProbeSink& sink_;
  Transport t_;  // the check's connection
  bool connecting_ = false;
  std::string request_;
  std::string response_;
  size_t sent_ = 0;
};

}  // namespace

bool response_passes(const MatchConf* m, const ResponseHead& head, std::string_view body) {
  if (!status_ok(m, head.status)) return false;
  if (!m) return true;
  for (const auto& t : m->headers)
    if (!header_ok(t, head)) return false;
  if (m->body && m->body->match(body, nullptr) == m->body_negated) return false;
  return true;
}

std::unique_ptr<upstream::HealthProbe> HealthCheckConf::make_probe(
    EventLoop& loop, upstream::ProbeSink& sink) const {
  return std::make_unique<HttpProbe>(loop, *this, sink);
}

}  // namespace portico::proxy
