#include "upstream/pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace portico::upstream {
namespace {

struct NoOwner final : IoHandler {
  void on_io(uint32_t) override {}
};

bool fd_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

// An idle connection in `pool` for `key`; *other_end receives the upstream's end.
Pool::Conn* idle_conn(Pool& pool, const PeerState* key, int* other_end) {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  static NoOwner owner;
  Pool::Conn* c = pool.attach(Transport(sv[0]), &owner);
  EXPECT_NE(c, nullptr);
  EXPECT_TRUE(pool.put(c, key, 8, 60000));
  *other_end = sv[1];
  return c;
}

TEST(UpstreamPool, CloseIdleClosesOnlyThatPeer) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().is_ok());
  Pool pool(loop);
  PeerState a, b;
  int ea1, ea2, eb;
  int fa1 = idle_conn(pool, &a, &ea1)->transport.fd();
  int fa2 = idle_conn(pool, &a, &ea2)->transport.fd();
  int fb = idle_conn(pool, &b, &eb)->transport.fd();
  EXPECT_EQ(pool.idle_count(), 3u);
  pool.close_idle(&a);
  EXPECT_EQ(pool.idle_count(), 1u);
  EXPECT_FALSE(fd_open(fa1));
  EXPECT_FALSE(fd_open(fa2));
  EXPECT_TRUE(fd_open(fb));
  char c;
  EXPECT_EQ(::read(ea1, &c, 1), 0);  // the upstream sees the close
  EXPECT_EQ(pool.take(&a, nullptr), nullptr);
  for (int fd : {ea1, ea2, eb}) ::close(fd);
}

TEST(UpstreamPool, DrainingPeerKeepsNoIdleConnection) {
  EventLoop loop;
  ASSERT_TRUE(loop.init().is_ok());
  Pool pool(loop);
  PeerState p;
  p.draining = true;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  NoOwner owner;
  Pool::Conn* c = pool.attach(Transport(sv[0]), &owner);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(pool.put(c, &p, 8, 60000));
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_FALSE(fd_open(sv[0]));
  ::close(sv[1]);
}

}  // namespace
}  // namespace portico::upstream
