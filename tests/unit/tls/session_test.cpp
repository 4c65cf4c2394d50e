// The TLS layer over a real socket pair: a server Session behind a Transport against an
// in-process OpenSSL client, both non-blocking, small socket buffers so the handshake and the
// writes meet "would block". Certificates are made in memory.
#include "tls/session.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "test_pki.h"
#include "tls/context.h"

namespace portico::tls {
namespace {

// A self-signed ECDSA certificate for "a.test", written as PEM files under a temp directory.
struct Pki {
  std::string dir, cert, key;
  Pki() {
    char tmpl[] = "/tmp/portico-tls-XXXXXX";
    dir = mkdtemp(tmpl);
    cert = dir + "/a.crt";
    key = dir + "/a.key";
    test_pki::write_self_signed(cert, key);
  }
  ~Pki() { std::filesystem::remove_all(dir); }
};

Pki& pki() {
  static Pki p;
  return p;
}

std::shared_ptr<const Context> server_context(Settings s = {}) {
  s.certs.push_back({pki().cert, pki().key, {}});
  s.alpn = {"http/1.1"};
  std::vector<BuildError> errs;
  auto c = Context::build(s, nullptr, &errs);
  EXPECT_TRUE(c) << (errs.empty() ? "" : errs[0].message);
  return c;
}

// A connected pair: the server side behind a Transport with a Session, the client an SSL.
struct Link {
  Transport t;
  std::unique_ptr<Session> server;
  int peer = -1;
  SSL_CTX* cctx = nullptr;
  SSL* client = nullptr;

  explicit Link(std::shared_ptr<const Context> ctx, int sndbuf = 0) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    if (sndbuf) {
      for (int fd : fds) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
      }
    }
    t = Transport(fds[0]);
    t.set_ready(true, true);
    peer = fds[1];
    server = std::make_unique<Session>(std::move(ctx), 1, nullptr, nullptr);
    EXPECT_TRUE(server->attach(t));
    cctx = SSL_CTX_new(TLS_client_method());
    client = SSL_new(cctx);
    SSL_set_fd(client, peer);
    SSL_set_tlsext_host_name(client, "a.test");
    SSL_set_connect_state(client);
  }
  ~Link() {
    t.close();
    SSL_free(client);
    SSL_CTX_free(cctx);
    ::close(peer);
  }

  // Drives both sides until the handshake is done; bounded by time and by the state.
  bool handshake() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool client_done = false;
    char buf[16];
    while (std::chrono::steady_clock::now() < deadline) {
      if (!client_done) {
        int rc = SSL_do_handshake(client);
        if (rc == 1)
          client_done = true;
        else if (int e = SSL_get_error(client, rc);
                 e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
          return false;
      }
      t.set_ready(true, true);  // a socket pair has no epoll here: poll both ways
      IoResult r = t.read(buf, sizeof buf);
      if (r.error() || r.eof()) return false;
      if (client_done && server->handshake_done()) return true;
    }
    return false;
  }
};

TEST(TlsSession, HandshakeThenBothDirections) {
  Link l(server_context());
  ASSERT_TRUE(l.handshake());
  EXPECT_FALSE(l.server->plain_http());
  EXPECT_EQ(l.server->server_name(), "a.test");
  ASSERT_EQ(SSL_write(l.client, "hello", 5), 5);
  char buf[64];
  IoResult r = l.t.read(buf, sizeof buf);
  ASSERT_TRUE(r.progress());
  EXPECT_EQ(std::string(buf, r.bytes()), "hello");
  // Drained: the next read says "again" and clears readability.
  r = l.t.read(buf, sizeof buf);
  EXPECT_TRUE(r.again());
  EXPECT_FALSE(l.t.readable());

  // Several pieces leave as one record.
  struct iovec iov[3] = {{const_cast<char*>("HTTP/1.1 200 OK\r\n"), 17},
                         {const_cast<char*>("\r\n"), 2},
                         {const_cast<char*>("body"), 4}};
  r = l.t.writev(iov, 3, false);
  ASSERT_TRUE(r.progress());
  EXPECT_EQ(r.bytes(), 23u);
  char out[64];
  int n = SSL_read(l.client, out, sizeof out);
  ASSERT_EQ(n, 23);
  EXPECT_EQ(std::string(out, 23), "HTTP/1.1 200 OK\r\n\r\nbody");
}

TEST(TlsSession, SendfileFallsBackToPreadAndWriteWithoutKtls) {
  Link l(server_context(), 4096);
  ASSERT_TRUE(l.handshake());
  std::string content(1 << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char((i * 7 + i / 4096) & 0xff);
  content += "tail";
  int fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
  // This kernel has no tls module: the record layer stays in OpenSSL.
  EXPECT_FALSE(BIO_get_ktls_send(SSL_get_wbio(l.server->native())));

  std::string got;
  size_t sent = 0;
  bool blocked_once = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < content.size() && std::chrono::steady_clock::now() < deadline) {
    if (sent < content.size()) {
      l.t.set_writable(true);
      IoResult r = l.t.sendfile(fd, off_t(sent), content.size() - sent);
      ASSERT_FALSE(r.error()) << r.err();
      ASSERT_FALSE(r.eof());
      if (r.progress()) sent += r.bytes();
      if (r.again()) blocked_once = true;
    }
    char buf[16384];
    for (;;) {
      int n = SSL_read(l.client, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
  }
  ::close(fd);
  EXPECT_TRUE(blocked_once);  // the small buffers made a write wait and be retried
  ASSERT_EQ(got.size(), content.size());
  EXPECT_TRUE(got == content);
}

TEST(TlsSession, SendfilePastTheEndIsEof) {
  Link l(server_context());
  ASSERT_TRUE(l.handshake());
  int fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_EQ(::write(fd, "abc", 3), 3);
  EXPECT_TRUE(l.t.sendfile(fd, 3, 10).eof());
  ::close(fd);
}

TEST(TlsSession, PlainHttpIsPassedThrough) {
  Link l(server_context());
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(::send(l.peer, req.data(), req.size(), 0), ssize_t(req.size()));
  char buf[128];
  IoResult r = l.t.read(buf, sizeof buf);
  ASSERT_TRUE(r.progress());
  EXPECT_TRUE(l.server->plain_http());
  EXPECT_EQ(std::string(buf, r.bytes()), req);
  r = l.t.write("HTTP/1.1 400 Bad Request\r\n\r\n", 28);
  ASSERT_TRUE(r.progress());
  char out[64];
  EXPECT_EQ(::recv(l.peer, out, sizeof out, 0), 28);
}

TEST(TlsSession, NothingYetIsAgain) {
  Link l(server_context());
  char buf[16];
  EXPECT_TRUE(l.t.read(buf, sizeof buf).again());
  EXPECT_FALSE(l.t.readable());
}

TEST(TlsSession, GarbageHandshakeEndsTheConnection) {
  Link l(server_context());
  const char junk[] = "\x16\x03\x01\x00\x05hello";
  ASSERT_EQ(::send(l.peer, junk, sizeof junk - 1, 0), ssize_t(sizeof junk - 1));
  char buf[16];
  IoResult r = l.t.read(buf, sizeof buf);
  EXPECT_TRUE(r.eof() || r.error());
  ERR_clear_error();
}

TEST(TlsSession, ShutdownWriteSendsCloseNotify) {
  Link l(server_context());
  ASSERT_TRUE(l.handshake());
  EXPECT_TRUE(l.t.shutdown_write().progress());
  char buf[16];
  int n = SSL_read(l.client, buf, sizeof buf);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(SSL_get_error(l.client, n), SSL_ERROR_ZERO_RETURN);
}

TEST(TlsSession, PeerClosingIsEof) {
  Link l(server_context());
  ASSERT_TRUE(l.handshake());
  SSL_shutdown(l.client);
  char buf[16];
  l.t.set_readable(true);
  EXPECT_TRUE(l.t.read(buf, sizeof buf).eof());
}

TEST(TlsContext, ErrorsNameTheFileInNginxWords) {
  Settings s;
  s.certs.push_back({"/nonexistent/x.crt", pki().key, {"conf", 7}});
  std::vector<BuildError> errs;
  EXPECT_FALSE(Context::build(s, nullptr, &errs));
  ASSERT_FALSE(errs.empty());
  EXPECT_NE(errs[0].message.find("cannot load certificate \"/nonexistent/x.crt\""),
            std::string::npos);
  EXPECT_EQ(errs[0].at.line, 7);

  Settings k;
  k.certs.push_back({pki().cert, pki().cert, {"conf", 8}});  // a certificate is not a key
  errs.clear();
  EXPECT_FALSE(Context::build(k, nullptr, &errs));
  ASSERT_FALSE(errs.empty());
  EXPECT_NE(errs[0].message.find("cannot load certificate key"), std::string::npos);

  Settings c;
  c.certs.push_back({pki().cert, pki().key, {"conf", 9}});
  c.ciphers = "NOT-A-CIPHER";
  errs.clear();
  EXPECT_FALSE(Context::build(c, nullptr, &errs));
  ASSERT_FALSE(errs.empty());
  EXPECT_NE(errs[0].message.find("SSL_CTX_set_cipher_list(\"NOT-A-CIPHER\") failed"),
            std::string::npos);
}

TEST(TlsTicketKeys, DerivedKeysAreStablePerEpochAndRotate) {
  Context::TicketKey a = derived_ticket_key(300, 1000);
  Context::TicketKey b = derived_ticket_key(300, 1000);
  Context::TicketKey next = derived_ticket_key(300, 1001);
  Context::TicketKey other_period = derived_ticket_key(600, 1000);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0);  // every thread computes the same key
  EXPECT_NE(std::memcmp(a.name, next.name, 16), 0);
  EXPECT_NE(std::memcmp(a.aes, next.aes, 32), 0);
  EXPECT_NE(std::memcmp(a.hmac, other_period.hmac, 32), 0);
  EXPECT_EQ(std::memcmp(a.name, "ptk1", 4), 0);
}

}  // namespace
}  // namespace portico::tls
