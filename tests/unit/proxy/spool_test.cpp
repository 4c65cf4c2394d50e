#include "proxy/spool.h"

#include "core/transport.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

// A socket pair whose reading end the test drains by hand.
struct Pair {
  Transport w;
  int r = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    w = Transport(fds[0]);
    r = fds[1];
  }
  ~Pair() { ::close(r); }
  std::string drain() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(r, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
};

std::string pattern(size_t n, size_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + seed) % 26);
  return s;
}

// Sends what front() offers in one call (writev or sendfile), as the client stream would, and
// consumes what went out.
IoResult send_front(Spool& sp, Transport& t) {
  http::OutChunk pieces[2];
  const size_t n = sp.front(pieces);
  EXPECT_GT(n, 0u);
  IoResult w = IoResult::moved(0);
  if (pieces[0].fd >= 0) {
    EXPECT_EQ(n, 1u);
    w = t.sendfile(pieces[0].fd, pieces[0].offset, pieces[0].len);
  } else {
    struct iovec iov[2];
    for (size_t i = 0; i < n; ++i) iov[i] = {const_cast<char*>(pieces[i].data), pieces[i].len};
    w = t.writev(iov, n);
  }
  if (w.progress()) sp.consume(w.bytes());
  return w;
}

// Sends everything the spool holds (draining the reader as needed); returns what arrived.
std::string send_all(Spool& sp, Pair& p) {
  std::string got;
  for (int i = 0; i < 100000 && !sp.empty(); ++i) {
    IoResult w = send_front(sp, p.w);
    if (!w.progress()) {
      EXPECT_TRUE(w.again());
      got += p.drain();
    }
  }
  got += p.drain();
  return got;
}

TEST(ProxySpool, EmptyUntilUsedAndRoomCountsRingAndFile) {
  Spool sp;
  sp.configure(1024, 4096, "/tmp");
  EXPECT_TRUE(sp.empty());
  EXPECT_EQ(sp.size(), 0u);
  EXPECT_EQ(sp.room(), 1024u + 4096u);
  std::string err;
  ASSERT_TRUE(sp.append("hello", 5, &err));
  EXPECT_EQ(sp.size(), 5u);
  EXPECT_EQ(sp.room(), 1019u + 4096u);
}

TEST(ProxySpool, MemoryOnlyWithoutFile) {
  Spool sp;
  sp.configure(100, 0, "/tmp");
  std::string err;
  std::string a = pattern(60, 1), b = pattern(40, 2);
  ASSERT_TRUE(sp.append(a.data(), a.size(), &err));
  ASSERT_TRUE(sp.append(b.data(), b.size(), &err));
  EXPECT_EQ(sp.room(), 0u);
  Pair p;
  EXPECT_EQ(send_all(sp, p), a + b);
  EXPECT_EQ(sp.room(), 100u);
}

TEST(ProxySpool, RingWrapsInOrder) {
  Spool sp;
  sp.configure(100, 0, "/tmp");
  Pair p;
  std::string err, sent, got;
  // Fill, send part, refill past the end of the ring, many times.
  for (size_t round = 0; round < 50; ++round) {
    std::string piece = pattern(std::min<uint64_t>(sp.room(), 37 + round % 23), round);
    ASSERT_TRUE(sp.append(piece.data(), piece.size(), &err));
    sent += piece;
    if (round % 3 == 0) {
      IoResult w = send_front(sp, p.w);
      ASSERT_TRUE(w.progress() && w.bytes() > 0);
      got += p.drain();
    }
  }
  got += send_all(sp, p);
  EXPECT_EQ(got, sent);
}

TEST(ProxySpool, SpillsToFileAndKeepsOrder) {
  Spool sp;
  sp.configure(64, 1 << 20, "/tmp");
  std::string err;
  std::string a = pattern(50, 1), b = pattern(300, 2), c = pattern(10, 3);
  ASSERT_TRUE(sp.append(a.data(), a.size(), &err));
  ASSERT_TRUE(sp.append(b.data(), b.size(), &err));  // 14 in the ring, 286 in the file
  EXPECT_EQ(sp.size(), 350u);
  // Ring space behind file data cannot be used: only the file's room counts.
  EXPECT_EQ(sp.room(), (1u << 20) - 286u);
  Pair p;
  ASSERT_GT(send_front(sp, p.w).bytes(), 0u);  // the ring goes first
  EXPECT_EQ(p.drain(), a + b.substr(0, 14));
  ASSERT_TRUE(sp.append(c.data(), c.size(), &err));  // behind the file data: into the file
  std::string rest = send_all(sp, p);
  EXPECT_EQ(rest, b.substr(14) + c);
  EXPECT_TRUE(sp.empty());
  // The drained file starts over: the whole limit is available again.
  EXPECT_EQ(sp.room(), 64u + (1u << 20));
}

TEST(ProxySpool, FileLimitBoundsRoom) {
  Spool sp;
  sp.configure(16, 100, "/tmp");
  std::string err;
  std::string a = pattern(116, 5);
  ASSERT_TRUE(sp.append(a.data(), a.size(), &err));
  EXPECT_EQ(sp.room(), 0u);
  Pair p;
  EXPECT_EQ(send_all(sp, p), a);
}

TEST(ProxySpool, UnusableDirectoryFallsBackToTmp) {
  Spool sp;
  sp.configure(8, 1000, "/proc/definitely/not/a/dir");
  std::string err;
  std::string a = pattern(100, 9);
  ASSERT_TRUE(sp.append(a.data(), a.size(), &err)) << err;
  Pair p;
  EXPECT_EQ(send_all(sp, p), a);
}

}  // namespace
}  // namespace portico::proxy
