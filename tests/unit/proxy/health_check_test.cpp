#include "proxy/health_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/event_loop.h"
#include "upstream/group.h"

namespace portico::proxy {
namespace {

double steady_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A loopback HTTP server on its own thread: answers every request 200 and records when each
// connection (= one health check) was accepted.
class CheckTarget {
 public:
  CheckTarget() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr_.v4.sin_family = AF_INET;
    addr_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr_.v4;
    EXPECT_EQ(::bind(fd_, &addr_.sa, len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, &addr_.sa, &len), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~CheckTarget() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  const SockAddr& addr() const { return addr_; }
  std::vector<double> arrivals() {
    std::lock_guard<std::mutex> lock(mu_);
    return arrivals_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        arrivals_.push_back(steady_ms());
      }
      timeval tv{1, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, size_t(n));
      }
      static constexpr char kResponse[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
      [[maybe_unused]] ssize_t w = ::send(c, kResponse, sizeof kResponse - 1, MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  SockAddr addr_{};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<double> arrivals_;
  std::thread thread_;
};

std::shared_ptr<const HealthCheckConf> check_of(const SockAddr& addr, uint64_t interval_ms) {
  upstream::GroupConfig g;
  g.name = "u";
  upstream::PeerConfig p;
  p.name = addr_text(addr) + ":" + std::to_string(addr_port(addr));
  p.addr = addr;
  g.peers.push_back(p);
  std::shared_ptr<const upstream::Group> group;
  Status s = upstream::Group::create(std::move(g), nullptr, &group);
  EXPECT_TRUE(s.is_ok()) << s.message();
  auto up = std::make_shared<upstream::UpstreamConf>();
  up->group = group;
  auto c = std::make_shared<HealthCheckConf>();
  c->upstream = up;
  c->interval_ms = interval_ms;
  c->uri = "/health";
  c->host = "localhost";
  c->timeout_ms = 1000;
  return c;
}

// A timer with what its test callback needs.
struct TestTimer : Timer {
  EventLoop* loop = nullptr;
  uint64_t stall_ms = 0;
  double* stall_end = nullptr;
};

// `interval` is the minimum gap between two checks of one peer: a timer that fires late (the
// loop was busy for several intervals) gives one check at once and the next an interval after
// it, never a burst of checks to catch up with the missed ones.
TEST(HealthChecker, LateTimerGivesOneCheckNotABurst) {
  constexpr uint64_t kInterval = 200;
  CheckTarget target;
  EventLoop loop;  // declared before the checker: the checker frees its probes through it
  ASSERT_TRUE(loop.init().is_ok());
  HealthChecker checker(loop);
  checker.configure({check_of(target.addr(), kInterval)});

  // Between the 2nd and 3rd checks the loop thread blocks for 3.5 intervals (a busy worker),
  // so the probe's timer comes due while nobody runs it.
  double stall_end = 0;
  TestTimer stall;
  stall.stall_ms = kInterval * 7 / 2;
  stall.stall_end = &stall_end;
  stall.cb = [](Timer* t) {
    auto* s = static_cast<TestTimer*>(t);
    std::this_thread::sleep_for(std::chrono::milliseconds(s->stall_ms));
    *s->stall_end = steady_ms();
  };
  loop.schedule(&stall, kInterval * 3 / 2);
  TestTimer stop;
  stop.loop = &loop;
  stop.cb = [](Timer* t) { static_cast<TestTimer*>(t)->loop->stop(); };
  loop.schedule(&stop, kInterval * 10);
  loop.run();

  const std::vector<double> at = target.arrivals();
  ASSERT_GE(at.size(), 5u) << "too few checks to judge";
  size_t after_stall = 0;
  for (double t : at) after_stall += t >= stall_end ? 1 : 0;
  EXPECT_GE(after_stall, 2u) << "no checks after the late timer";
  // Scheduling jitter of the two threads may shorten a measured gap a little; a burst makes
  // it about 0.
  for (size_t i = 1; i < at.size(); ++i)
    EXPECT_GE(at[i] - at[i - 1], double(kInterval) * 3 / 4)
        << "checks " << i - 1 << " and " << i << " of one peer closer than the interval";
}

}  // namespace
}  // namespace portico::proxy
