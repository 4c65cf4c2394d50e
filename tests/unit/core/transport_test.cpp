#include "core/transport.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace portico {
namespace {

// A connected, non-blocking socket pair: `t` is the transport under test, `peer` the raw other end.
struct Pair {
  Transport t;
  int peer = -1;
  explicit Pair(int type = SOCK_STREAM) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    t = Transport(fds[0]);
    t.set_ready(true, true);
    peer = fds[1];
  }
  ~Pair() {
    if (peer >= 0) ::close(peer);
  }
  void send_peer(std::string_view s) {
    ASSERT_EQ(::send(peer, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size()));
  }
  std::string drain_peer() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(peer, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
};

// An anonymous file holding `content`.
struct TempFile {
  int fd = -1;
  explicit TempFile(std::string_view content) {
    fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
  }
  ~TempFile() { ::close(fd); }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char('a' + i % 26);
  return s;
}

TEST(Transport, ReadReportsProgressAgainAndEof) {
  Pair p;
  char buf[64];
  IoResult r = p.t.read(buf, sizeof buf);
  EXPECT_TRUE(r.again());
  EXPECT_FALSE(p.t.readable());  // drained: wait for the next edge
  p.send_peer("hello");
  p.t.on_events(EPOLLIN);
  EXPECT_TRUE(p.t.readable());
  r = p.t.read(buf, sizeof buf);
  ASSERT_TRUE(r.progress());
  EXPECT_EQ(std::string_view(buf, r.bytes()), "hello");
  EXPECT_FALSE(p.t.readable());  // a short read drained the socket
  ::close(p.peer);
  p.peer = -1;
  p.t.on_events(EPOLLIN | EPOLLRDHUP);
  EXPECT_TRUE(p.t.read_closed());
  EXPECT_TRUE(p.t.read(buf, sizeof buf).eof());
}

TEST(Transport, ShortReadAfterHalfCloseStaysReadable) {
  Pair p;
  p.send_peer("abc");
  ::shutdown(p.peer, SHUT_WR);
  p.t.on_events(EPOLLIN | EPOLLRDHUP);
  char buf[64];
  IoResult r = p.t.read(buf, sizeof buf);
  ASSERT_TRUE(r.progress());
  EXPECT_EQ(r.bytes(), 3u);
  // No new edge will announce the EOF: the transport must still say "readable".
  EXPECT_TRUE(p.t.readable());
  EXPECT_TRUE(p.t.read(buf, sizeof buf).eof());
}

TEST(Transport, FullReadKeepsReadable) {
  Pair p;
  p.send_peer("0123456789");
  char buf[4];
  IoResult r = p.t.read(buf, sizeof buf);
  ASSERT_TRUE(r.progress());
  EXPECT_EQ(r.bytes(), 4u);
  EXPECT_TRUE(p.t.readable());  // more may be there
}

TEST(Transport, WritevGathersAndPartialWritesEndInAgain) {
  Pair p;
  struct iovec iov[3] = {{const_cast<char*>("GET "), 4},
                         {const_cast<char*>("/ "), 2},
                         {const_cast<char*>("HTTP/1.1\r\n"), 10}};
  IoResult w = p.t.writev(iov, 3);
  ASSERT_TRUE(w.progress());
  EXPECT_EQ(w.bytes(), 16u);
  EXPECT_EQ(p.drain_peer(), "GET / HTTP/1.1\r\n");

  // Fill the socket buffer: writes get shorter, then say again and clear writable().
  const std::string big = pattern(1 << 20);
  size_t sent = 0;
  bool saw_again = false;
  for (int i = 0; i < 10000 && !saw_again; ++i) {
    IoResult r = p.t.write(big.data() + sent % big.size(), big.size() - sent % big.size());
    if (r.again()) {
      saw_again = true;
    } else {
      ASSERT_TRUE(r.progress());
      sent += r.bytes();
    }
  }
  EXPECT_TRUE(saw_again);
  EXPECT_FALSE(p.t.writable());
  EXPECT_GT(sent, 0u);
  p.t.on_events(EPOLLOUT);
  EXPECT_TRUE(p.t.writable());
}

TEST(Transport, WriteToClosedPeerIsAnErrorWithoutSigpipe) {
  Pair p;
  ::close(p.peer);
  p.peer = -1;
  IoResult w = p.t.write("x", 1);
  ASSERT_TRUE(w.error());
  EXPECT_EQ(w.err(), EPIPE);
}

TEST(Transport, SendfileSendsRangesAndReportsShortFiles) {
  Pair p;
  const std::string content = pattern(1000);
  TempFile f(content);
  IoResult w = p.t.sendfile(f.fd, 100, 50);
  ASSERT_TRUE(w.progress());
  EXPECT_EQ(w.bytes(), 50u);
  EXPECT_EQ(p.drain_peer(), content.substr(100, 50));
  w = p.t.sendfile(f.fd, 990, 100);  // only 10 bytes left
  ASSERT_TRUE(w.progress());
  EXPECT_EQ(w.bytes(), 10u);
  EXPECT_EQ(p.drain_peer(), content.substr(990));
  EXPECT_TRUE(p.t.sendfile(f.fd, 1000, 10).eof());  // the file shrank under the caller
}

TEST(Transport, SendfileToFullSocketSaysAgain) {
  Pair p;
  const std::string content = pattern(4 << 20);
  TempFile f(content);
  size_t off = 0;
  bool saw_again = false;
  for (int i = 0; i < 10000 && !saw_again && off < content.size(); ++i) {
    IoResult w = p.t.sendfile(f.fd, off_t(off), content.size() - off);
    if (w.again()) saw_again = true;
    if (w.progress()) off += w.bytes();
  }
  EXPECT_TRUE(saw_again);
  EXPECT_FALSE(p.t.writable());
  std::string got = p.drain_peer();
  EXPECT_EQ(got, content.substr(0, got.size()));
}

TEST(Transport, ShutdownWriteEndsThePeersReadsOnly) {
  Pair p;
  EXPECT_TRUE(p.t.shutdown_write().progress());
  char c;
  EXPECT_EQ(::recv(p.peer, &c, 1, 0), 0);  // the peer sees EOF
  p.send_peer("still reading");
  p.t.on_events(EPOLLIN);
  char buf[32];
  IoResult r = p.t.read(buf, sizeof buf);
  ASSERT_TRUE(r.progress());
  EXPECT_EQ(std::string_view(buf, r.bytes()), "still reading");
}

TEST(Transport, PeekSeesDataWithoutConsumingAndTheEnd) {
  Pair p;
  EXPECT_TRUE(p.t.peek().again());
  p.send_peer("x");
  IoResult pk = p.t.peek();
  ASSERT_TRUE(pk.progress());
  EXPECT_EQ(pk.bytes(), 1u);
  char c;
  ASSERT_TRUE(p.t.read(&c, 1).progress());  // still there
  EXPECT_EQ(c, 'x');
  ::close(p.peer);
  p.peer = -1;
  EXPECT_TRUE(p.t.peek().eof());
}

TEST(Transport, SpliceThroughAPipe) {
  Pair a, b;
  ASSERT_TRUE(a.t.can_splice());
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_NONBLOCK | O_CLOEXEC), 0);
  EXPECT_TRUE(a.t.splice_to_pipe(pipefd[1], 4096).again());  // nothing to move yet
  a.send_peer("relayed bytes");
  IoResult in = a.t.splice_to_pipe(pipefd[1], 4096);
  ASSERT_TRUE(in.progress());
  EXPECT_EQ(in.bytes(), 13u);
  IoResult out = b.t.splice_from_pipe(pipefd[0], in.bytes());
  ASSERT_TRUE(out.progress());
  EXPECT_EQ(out.bytes(), 13u);
  EXPECT_EQ(b.drain_peer(), "relayed bytes");
  ::close(a.peer);
  a.peer = -1;
  EXPECT_TRUE(a.t.splice_to_pipe(pipefd[1], 4096).eof());
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

TEST(Transport, MoveTransfersOwnershipAndCloseIsIdempotent) {
  Pair p;
  const int fd = p.t.fd();
  Transport moved = std::move(p.t);
  EXPECT_FALSE(p.t.is_open());
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_TRUE(moved.readable());
  moved.close();
  moved.close();
  EXPECT_FALSE(moved.is_open());
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // the descriptor is gone
}

// A layer that transforms the bytes (XOR 0x20: case flip for letters): what TLS will do, and
// proof that every call goes through it and nothing bypasses it.
struct FlipLayer final : Transport::Layer {
  int reads = 0, writes = 0, closes = 0;
  static void flip(char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = char(p[i] ^ 0x20);
  }
  IoResult read(Transport& t, char* buf, size_t len) override {
    ++reads;
    IoResult r = t.raw_read(buf, len);
    if (r.progress()) flip(buf, r.bytes());
    return r;
  }
  IoResult peek(Transport&) override { return IoResult::blocked(); }
  IoResult writev(Transport& t, const struct iovec* iov, size_t cnt, bool more) override {
    ++writes;
    std::string tmp;
    for (size_t i = 0; i < cnt; ++i)
      tmp.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
    flip(tmp.data(), tmp.size());
    struct iovec one = {tmp.data(), tmp.size()};
    return t.raw_writev(&one, 1, more);
  }
  IoResult sendfile(Transport& t, int file_fd, off_t offset, size_t len) override {
    char buf[256];
    ssize_t n = ::pread(file_fd, buf, std::min(len, sizeof buf), offset);
    if (n <= 0) return IoResult::ended();
    struct iovec iov = {buf, size_t(n)};
    return writev(t, &iov, 1, false);
  }
  IoResult shutdown_write(Transport&) override { return IoResult::moved(0); }
  void close(Transport&) override { ++closes; }
};

TEST(Transport, ALayerSeesEveryCallAndCannotSplice) {
  FlipLayer layer;
  {
    Pair p;
    p.t.set_layer(&layer);
    EXPECT_FALSE(p.t.can_splice());
    ASSERT_TRUE(p.t.write("Hello", 5).progress());
    EXPECT_EQ(p.drain_peer(), "hELLO");
    TempFile f("File");
    ASSERT_TRUE(p.t.sendfile(f.fd, 0, 4).progress());
    EXPECT_EQ(p.drain_peer(), "fILE");
    p.send_peer("wORLD");
    char buf[16];
    IoResult r = p.t.read(buf, sizeof buf);
    ASSERT_TRUE(r.progress());
    EXPECT_EQ(std::string_view(buf, r.bytes()), "World");
    EXPECT_TRUE(p.t.peek().again());
  }
  EXPECT_EQ(layer.reads, 1);
  EXPECT_EQ(layer.writes, 2);
  EXPECT_EQ(layer.closes, 1);  // the destructor closed through the layer
}

}  // namespace
}  // namespace portico
