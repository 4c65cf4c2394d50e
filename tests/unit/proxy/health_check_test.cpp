#include "proxy/health_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "proxy/response_parser.h"
#include "upstream/group.h"

namespace portico::proxy {
namespace {

// ---- response_passes: the `match` block -------------------------------------------------------

struct Parsed {
  std::string raw;
  ResponseHead head;
  std::string_view body;
};

std::unique_ptr<Parsed> parsed(std::string raw) {
  auto p = std::make_unique<Parsed>();
  p->raw = std::move(raw);
  size_t consumed = 0;
  std::string why;
  EXPECT_EQ(parse_response_head(p->raw, {}, p->head, &consumed, &why), ParseStatus::kComplete)
      << why;
  p->body = std::string_view(p->raw).substr(consumed);
  return p;
}

bool passes(const MatchConf* m, const std::string& raw) {
  auto p = parsed(raw);
  return response_passes(m, p->head, p->body);
}

std::shared_ptr<const Regex> re(const char* pattern) {
  return Regex::compile(pattern, false, nullptr);
}

TEST(HealthCheckMatch, WithoutMatchBlock2xxAnd3xxPass) {
  EXPECT_TRUE(passes(nullptr, "HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_TRUE(passes(nullptr, "HTTP/1.1 302 Found\r\n\r\n"));
  EXPECT_FALSE(passes(nullptr, "HTTP/1.1 404 Not Found\r\n\r\n"));
  EXPECT_FALSE(passes(nullptr, "HTTP/1.1 500 Oops\r\n\r\n"));
  EXPECT_FALSE(passes(nullptr, "HTTP/1.1 101 Switching\r\n\r\n"));
}

TEST(HealthCheckMatch, StatusListAndNegation) {
  MatchConf m;
  m.status = {{200, 200}, {400, 499}};
  EXPECT_TRUE(passes(&m, "HTTP/1.1 404 Not Found\r\n\r\n"));
  EXPECT_FALSE(passes(&m, "HTTP/1.1 204 No Content\r\n\r\n"));
  m.status_negated = true;  // status ! 200 400-499;
  EXPECT_FALSE(passes(&m, "HTTP/1.1 404 Not Found\r\n\r\n"));
  EXPECT_TRUE(passes(&m, "HTTP/1.1 204 No Content\r\n\r\n"));
}

TEST(HealthCheckMatch, HeaderTests) {
  using Op = MatchConf::HeaderTest::Op;
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n";
  auto with = [](Op op, std::string value = "", std::shared_ptr<const Regex> r = nullptr) {
    MatchConf m;
    m.headers.push_back({"content-type", op, std::move(value), std::move(r)});
    return m;
  };
  auto m = with(Op::kPresent);
  EXPECT_TRUE(passes(&m, ok));
  m = with(Op::kAbsent);
  EXPECT_FALSE(passes(&m, ok));
  m = with(Op::kEq, "text/html");
  EXPECT_TRUE(passes(&m, ok));
  m = with(Op::kNe, "text/html");
  EXPECT_FALSE(passes(&m, ok));
  m = with(Op::kMatch, "", re("^text/"));
  EXPECT_TRUE(passes(&m, ok));
  m = with(Op::kNotMatch, "", re("^text/"));
  EXPECT_FALSE(passes(&m, ok));
  // A missing header fails the positive tests and passes the negative ones.
  const std::string bare = "HTTP/1.1 200 OK\r\n\r\n";
  m = with(Op::kEq, "text/html");
  EXPECT_FALSE(passes(&m, bare));
  m = with(Op::kNe, "text/html");
  EXPECT_TRUE(passes(&m, bare));
  m = with(Op::kNotMatch, "", re("^text/"));
  EXPECT_TRUE(passes(&m, bare));
}

TEST(HealthCheckMatch, Body) {
  MatchConf m;
  m.body = re("healthy");
  EXPECT_TRUE(passes(&m, "HTTP/1.1 200 OK\r\n\r\nI am healthy"));
  EXPECT_FALSE(passes(&m, "HTTP/1.1 200 OK\r\n\r\nI am sick"));
  m.body_negated = true;  // body !~ "healthy";
  EXPECT_FALSE(passes(&m, "HTTP/1.1 200 OK\r\n\r\nI am healthy"));
  EXPECT_FALSE(passes(&m, "HTTP/1.1 500 Oops\r\n\r\nI am sick")) << "the status still counts";
}

// ---- the HTTP probe against a loopback server -----------------------------------------------

// Accepts one connection on its own thread, reads the request head, answers `response`.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr_.v4.sin_family = AF_INET;
    addr_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr_.v4;
    EXPECT_EQ(::bind(fd_, &addr_.sa, len), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    EXPECT_EQ(::getsockname(fd_, &addr_.sa, &len), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);  // ends a pending accept() if no check came
    thread_.join();
    ::close(fd_);
  }
  const SockAddr& addr() const { return addr_; }
  // The request head received; read only after the probe reported.
  const std::string& request() const { return request_; }

 private:
  void serve() {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    timeval tv{5, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, size_t(n));
    }
    request_ = head;
    [[maybe_unused]] ssize_t w = ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  std::string response_;
  int fd_ = -1;
  SockAddr addr_{};
  std::string request_;
  std::thread thread_;
};

struct Result final : upstream::ProbeSink {
  void probe_done(bool ok_, std::string_view why_) override {
    reported = true;
    ok = ok_;
    why = why_;
    if (loop) loop->stop();
  }
  EventLoop* loop = nullptr;
  bool reported = false;
  bool ok = false;
  std::string why;
};

std::shared_ptr<const upstream::Group> group_of(const SockAddr& addr) {
  upstream::GroupConfig g;
  g.name = "u";
  upstream::PeerConfig p;
  p.name = "127.0.0.1:" + std::to_string(ntohs(addr.v4.sin_port));
  p.addr = addr;
  g.peers.push_back(p);
  std::shared_ptr<const upstream::Group> group;
  EXPECT_TRUE(upstream::Group::create(std::move(g), nullptr, &group).is_ok());
  return group;
}

struct Deadline : Timer {
  EventLoop* loop = nullptr;
};

// Runs one check of the group's only peer; the loop runs until the probe reports, 10 s at most.
Result check_once(const HealthCheckConf& conf) {
  EventLoop loop;
  EXPECT_TRUE(loop.init().is_ok());
  Result r;
  r.loop = &loop;
  auto probe = conf.make_probe(loop, r);
  probe->start(conf.group->peer(0));
  if (!r.reported) {
    Deadline d;
    d.loop = &loop;
    d.cb = [](Timer* t) { static_cast<Deadline*>(t)->loop->stop(); };
    loop.schedule(&d, 10'000);
    loop.run();
    loop.cancel(&d);
  }
  probe.reset();
  return r;
}

TEST(HttpProbe, SendsTheCheckRequestAndJudgesTheAnswer) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nI am healthy");
  HealthCheckConf conf;
  conf.group = group_of(server.addr());
  conf.uri = "/health?x=1";
  conf.host = "backend";
  auto m = std::make_shared<MatchConf>();
  m->body = re("healthy");
  conf.match = m;
  Result r = check_once(conf);
  ASSERT_TRUE(r.reported) << "no report within the deadline";
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_EQ(server.request().rfind("GET /health?x=1 HTTP/1.0\r\nHost: backend\r\n", 0), 0u)
      << server.request();
}

TEST(HttpProbe, BadStatusFailsWithTheReason) {
  OneShotServer server("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
  HealthCheckConf conf;
  conf.group = group_of(server.addr());
  Result r = check_once(conf);
  ASSERT_TRUE(r.reported);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.why, "status 500");
}

TEST(HttpProbe, RefusedConnectionFails) {
  SockAddr closed{};
  {
    OneShotServer gone("");  // a port that was just free: nobody listens there afterwards
    closed = gone.addr();
  }
  HealthCheckConf conf;
  conf.group = group_of(closed);
  Result r = check_once(conf);
  ASSERT_TRUE(r.reported);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.why.find("connect() failed"), std::string::npos) << r.why;
}

}  // namespace
}  // namespace portico::proxy
