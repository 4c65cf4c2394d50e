#include "core/tunnel.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace portico {
namespace {

// One side of the tunnel: its transport, and the peer's raw end the test plays with.
struct Side {
  Transport t;
  int peer = -1;
  Side() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    t = Transport(fds[0]);
    t.set_ready(true, true);
    peer = fds[1];
  }
  ~Side() {
    if (peer >= 0) ::close(peer);
  }
  void send(std::string_view s) {
    ASSERT_EQ(::send(peer, s.data(), s.size(), 0), ssize_t(s.size()));
  }
  std::string recv_all() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(peer, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
  bool peer_sees_eof() {
    char c;
    return ::recv(peer, &c, 1, MSG_DONTWAIT) == 0;
  }
};

TEST(Tunnel, RelaysBothWaysStartingWithWhatIsBuffered) {
  Side a, b;
  char to_b[64], to_a[64];
  std::memcpy(to_b, "early", 5);
  std::memcpy(to_a, "xxHELLO", 7);
  Tunnel t;
  t.start(a.t, b.t, {to_b, sizeof to_b, 0, 5}, {to_a, sizeof to_a, 2, 7});
  EXPECT_EQ(t.pump(), Tunnel::Result::kIdle);
  EXPECT_EQ(b.recv_all(), "early");
  EXPECT_EQ(a.recv_all(), "HELLO");
  a.send("ping");
  a.t.on_events(EPOLLIN);
  b.send("pong");
  b.t.on_events(EPOLLIN);
  EXPECT_EQ(t.pump(), Tunnel::Result::kIdle);
  EXPECT_EQ(b.recv_all(), "ping");
  EXPECT_EQ(a.recv_all(), "pong");
  EXPECT_EQ(t.to_a_bytes(), 5u + 4u);
  EXPECT_EQ(t.to_b_bytes(), 5u + 4u);
}

TEST(Tunnel, HalfClosesArePassedOnAndBothEndIt) {
  Side a, b;
  char to_b[64], to_a[64];
  Tunnel t;
  t.start(a.t, b.t, {to_b, sizeof to_b, 0, 0}, {to_a, sizeof to_a, 0, 0});
  a.send("last words");
  ::shutdown(a.peer, SHUT_WR);
  a.t.on_events(EPOLLIN | EPOLLRDHUP);
  EXPECT_EQ(t.pump(), Tunnel::Result::kIdle);  // b may still answer
  EXPECT_EQ(b.recv_all(), "last words");
  EXPECT_TRUE(b.peer_sees_eof());
  b.send("reply");
  b.t.on_events(EPOLLIN);
  EXPECT_EQ(t.pump(), Tunnel::Result::kIdle);
  EXPECT_EQ(a.recv_all(), "reply");
  ::close(b.peer);
  b.peer = -1;
  b.t.on_events(EPOLLIN | EPOLLRDHUP);
  EXPECT_EQ(t.pump(), Tunnel::Result::kDone);
  EXPECT_TRUE(a.peer_sees_eof());
}

TEST(Tunnel, AFullDestinationHoldsTheBufferUntilWritable) {
  Side a, b;
  int small = 4096;
  ::setsockopt(b.t.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::vector<char> to_b(65536), to_a(64);
  Tunnel t;
  t.start(a.t, b.t, {to_b.data(), to_b.size(), 0, 0}, {to_a.data(), to_a.size(), 0, 0});
  std::string sent(200000, 'z');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = char('a' + i % 26);
  size_t off = 0;
  std::string got;
  for (int i = 0; i < 100000 && got.size() < sent.size(); ++i) {
    if (off < sent.size()) {
      ssize_t n = ::send(a.peer, sent.data() + off, sent.size() - off, MSG_DONTWAIT);
      if (n > 0) off += size_t(n);
    }
    a.t.on_events(EPOLLIN);
    EXPECT_EQ(t.pump(), Tunnel::Result::kIdle);
    got += b.recv_all();
    b.t.on_events(EPOLLOUT);
  }
  EXPECT_EQ(got, sent);
}

}  // namespace
}  // namespace portico
