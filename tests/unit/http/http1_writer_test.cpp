#include "http/http1_writer.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/transport.h"
#include "http/http_config.h"
#include "http/phases.h"
#include "http/request.h"

namespace portico::http {
namespace {

// The writer's transport and the raw client end, which the test reads.
struct Pair {
  Transport t;
  int client = -1;
  explicit Pair(int sndbuf = 0) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    if (sndbuf > 0) ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    t = Transport(fds[0]);
    t.set_ready(true, true);
    client = fds[1];
  }
  ~Pair() { ::close(client); }
  std::string drain() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
};

struct TempFile {
  int fd = -1;
  explicit TempFile(std::string_view content) {
    fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
  }
  ~TempFile() { ::close(fd); }
};

std::string pattern(size_t n, size_t seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + seed) % 26);
  return s;
}

// Splits a response into head and body.
std::pair<std::string, std::string> split(const std::string& resp) {
  size_t end = resp.find("\r\n\r\n");
  if (end == std::string::npos) return {resp, ""};
  return {resp.substr(0, end + 4), resp.substr(end + 4)};
}

// Decodes a chunked body strictly; returns the data, or "<bad>".
std::string dechunk(std::string_view body, size_t* chunks = nullptr, size_t* largest = nullptr) {
  std::string out;
  size_t n = 0, big = 0;
  for (;;) {
    size_t crlf = body.find("\r\n");
    if (crlf == std::string_view::npos) return "<bad>";
    size_t size = std::stoul(std::string(body.substr(0, crlf)), nullptr, 16);
    body.remove_prefix(crlf + 2);
    if (size == 0) {
      if (body != "\r\n") return "<bad>";
      break;
    }
    if (body.size() < size + 2 || body.substr(size, 2) != "\r\n") return "<bad>";
    out += body.substr(0, size);
    body.remove_prefix(size + 2);
    ++n;
    big = std::max(big, size);
  }
  if (chunks) *chunks = n;
  if (largest) *largest = big;
  return out;
}

// Writes everything (draining the client when the socket is full); returns what arrived.
std::string write_all(Http1Writer& w, Request& r, Pair& p, std::span<const OutChunk> body,
                      bool use_sendfile = true) {
  std::string got;
  size_t skip = 0;
  for (int i = 0; i < 100000 && !w.finished(); ++i) {
    IoResult res = w.write(r, p.t, body, skip, true, use_sendfile);
    if (res.again()) {
      got += p.drain();
      p.t.set_writable(true);
      continue;
    }
    EXPECT_TRUE(res.progress());
    if (!res.progress()) break;
    skip += res.bytes();
  }
  got += p.drain();
  return got;
}

TEST(Http1Writer, HeadAndSmallBodyLeaveInOneWrite) {
  Pair p;
  Request r;
  r.resp.status = 200;
  r.resp.content_type = "text/plain";
  r.resp.content_length = 5;
  Http1Writer w;
  w.start(r);
  EXPECT_TRUE(w.pending());
  EXPECT_FALSE(w.chunked());
  const OutChunk body[] = {{"hello", 5, -1, 0}};
  IoResult res = w.write(r, p.t, body, 0, true, true);
  ASSERT_TRUE(res.progress());
  EXPECT_EQ(res.bytes(), 5u);
  EXPECT_TRUE(w.finished());
  auto [head, data] = split(p.drain());
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\nServer: portico/", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(data, "hello");
  EXPECT_EQ(r.body_bytes_sent, 5u);
  EXPECT_EQ(r.bytes_sent, head.size() + 5);
}

TEST(Http1Writer, PassedFieldsAndStatusLineVerbatim) {
  Pair p;
  Request r;
  r.resp.status = 403;
  r.resp.status_line = "403.1 Forbidden";
  r.resp.content_length = 0;
  r.resp.omit_server = true;
  r.resp.fields.push_back(Header{"Server", "upstream/1"});
  r.resp.fields.push_back(Header{"X-A", "1"});
  Http1Writer w;
  w.start(r);
  EXPECT_TRUE(r.resp.fields.empty());  // views: gone once serialized
  std::string got = write_all(w, r, p, {});
  EXPECT_EQ(got.rfind("HTTP/1.1 403.1 Forbidden\r\nDate: ", 0), 0u) << got;
  EXPECT_EQ(got.find("portico"), std::string::npos);
  EXPECT_NE(got.find("\r\nServer: upstream/1\r\nX-A: 1\r\n\r\n"), std::string::npos) << got;
}

TEST(Http1Writer, UnknownLengthIsChunkedForHttp11) {
  Pair p;
  Request r;
  r.resp.status = 200;  // content_length -1: unknown
  Http1Writer w;
  w.start(r);
  EXPECT_TRUE(w.chunked());
  EXPECT_TRUE(r.resp.keep_alive);
  // Two writes, the second with the end: framing rides with the data.
  const OutChunk a[] = {{"hello ", 6, -1, 0}};
  ASSERT_EQ(w.write(r, p.t, a, 0, false, true).bytes(), 6u);
  EXPECT_FALSE(w.finished());
  const OutChunk b[] = {{"wor", 3, -1, 0}, {"ld", 2, -1, 0}};
  ASSERT_EQ(w.write(r, p.t, b, 0, true, true).bytes(), 5u);
  EXPECT_TRUE(w.finished());
  auto [head, body] = split(p.drain());
  EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << head;
  EXPECT_EQ(body, "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
}

TEST(Http1Writer, EndAloneAfterTheData) {
  Pair p;
  Request r;
  Http1Writer w;
  w.start(r);
  const OutChunk a[] = {{"abc", 3, -1, 0}};
  ASSERT_EQ(w.write(r, p.t, a, 0, false, true).bytes(), 3u);
  IoResult res = w.write(r, p.t, {}, 0, true, true);
  ASSERT_TRUE(res.progress());
  EXPECT_EQ(res.bytes(), 0u);
  EXPECT_TRUE(w.finished());
  EXPECT_EQ(split(p.drain()).second, "3\r\nabc\r\n0\r\n\r\n");
}

TEST(Http1Writer, UnknownLengthForHttp10EndsTheConnection) {
  Pair p;
  Request r;
  r.head.version_minor = 0;
  Http1Writer w;
  w.start(r);
  EXPECT_FALSE(w.chunked());
  EXPECT_FALSE(r.resp.keep_alive);
  const OutChunk a[] = {{"abc", 3, -1, 0}};
  std::string got = write_all(w, r, p, a);
  EXPECT_NE(got.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_EQ(split(got).second, "abc");
}

TEST(Http1Writer, HeaderOnlyAndUpgradeAreNotFramed) {
  {
    Pair p;
    Request r;
    r.resp.status = 304;
    r.resp.header_only = true;
    Http1Writer w;
    w.start(r);
    EXPECT_FALSE(w.chunked());
    EXPECT_TRUE(r.resp.keep_alive);
    std::string got = write_all(w, r, p, {});
    EXPECT_EQ(got.find("Transfer-Encoding"), std::string::npos);
    EXPECT_EQ(split(got).second, "");
  }
  {
    Pair p;
    Request r;
    r.resp.status = 101;
    r.resp.upgrade = true;
    r.resp.keep_alive = false;
    r.resp.fields.push_back(Header{"Upgrade", "websocket"});
    Http1Writer w;
    w.start(r);
    std::string got = write_all(w, r, p, {});
    EXPECT_NE(got.find("\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"), std::string::npos)
        << got;
  }
}

TEST(Http1Writer, ChunkedSurvivesShortWritesAnywhere) {
  // A small socket buffer: writes stop inside size lines, data and CRLFs; the producer gives
  // the same bytes again past what was taken, and may regroup them (as the proxy's spool does).
  Pair p(4096);
  Request r;
  Http1Writer w;
  w.start(r);
  const std::string data = pattern(300000, 3);
  std::string got;
  size_t taken = 0;
  for (int i = 0; i < 1000000 && !w.finished(); ++i) {
    // Offer the rest in pieces of a varying size, as a producer would.
    const size_t piece = 1000 + (i * 7919) % 20000;
    const size_t n = std::min(piece, data.size() - taken);
    const OutChunk c[] = {{data.data() + taken, n, -1, 0}};
    const bool last = taken + n == data.size();
    IoResult res = w.write(r, p.t, std::span<const OutChunk>(c, n ? 1 : 0), 0, last, true);
    if (res.again()) {
      got += p.drain();
      p.t.set_writable(true);
      continue;
    }
    ASSERT_TRUE(res.progress());
    taken += res.bytes();
  }
  got += p.drain();
  EXPECT_TRUE(w.finished());
  EXPECT_EQ(dechunk(split(got).second), data);
}

TEST(Http1Writer, FileRangesGoWithSendfileOrPread) {
  const std::string content = pattern(100000, 1);
  TempFile f(content);
  for (bool use_sendfile : {true, false}) {
    Pair p;
    Request r;
    r.resp.content_length = 5 + 50000 + 3;
    Http1Writer w;
    w.start(r);
    const OutChunk body[] = {{"head:", 5, -1, 0}, {nullptr, 50000, f.fd, 1000}, {"end", 3, -1, 0}};
    std::string got = write_all(w, r, p, body, use_sendfile);
    EXPECT_EQ(split(got).second, "head:" + content.substr(1000, 50000) + "end") << use_sendfile;
  }
}

TEST(Http1Writer, FileChunksAreBounded) {
  const std::string content = pattern(1 << 20, 2);
  TempFile f(content);
  Pair p;
  Request r;
  Http1Writer w;
  w.start(r);
  const OutChunk body[] = {{nullptr, content.size(), f.fd, 0}};
  std::string got = write_all(w, r, p, body);
  size_t chunks = 0, largest = 0;
  EXPECT_EQ(dechunk(split(got).second, &chunks, &largest), content);
  EXPECT_LE(largest, 256u * 1024);
  EXPECT_GE(chunks, 4u);
}

TEST(Http1Writer, ShrunkFileIsReported) {
  TempFile f("short");
  for (bool use_sendfile : {true, false}) {
    Pair p;
    Request r;
    r.resp.content_length = 100;
    Http1Writer w;
    w.start(r);
    const OutChunk body[] = {{nullptr, 100, f.fd, 0}};
    size_t skip = 0;
    IoResult res = IoResult::moved(0);
    for (int i = 0; i < 10 && res.progress(); ++i) {
      res = w.write(r, p.t, body, skip, true, use_sendfile);
      if (res.progress()) skip += res.bytes();
    }
    EXPECT_TRUE(res.eof()) << use_sendfile;
    EXPECT_EQ(w.file_error(), 0);
    EXPECT_EQ(skip, 5u);
  }
}

// add_trailer: a body of known length goes chunked so the last chunk can carry the fields,
// through short writes that stop inside the trailer section too.
TEST(Http1Writer, TrailersEndTheChunkedBody) {
  LocationConf loc;
  AddHeader a;
  a.name = "X-Long";
  a.value = ComplexValue::literal_value(std::string(5000, 't'));
  loc.add_trailers.push_back(a);
  a.name = "X-Empty";
  a.value = ComplexValue::literal_value("");
  loc.add_trailers.push_back(a);
  for (int sndbuf : {0, 4096}) {
    Pair p(sndbuf);
    Request r;
    r.loc = &loc;
    r.resp.status = 200;
    r.resp.content_length = 100000;
    apply_headers_filter(r);
    EXPECT_TRUE(r.resp.expect_trailers);
    Http1Writer w;
    w.start(r);
    EXPECT_TRUE(w.chunked());
    EXPECT_EQ(r.resp.content_length, -1);
    const std::string data = pattern(100000, 5);
    const OutChunk body[] = {{data.data(), data.size(), -1, 0}};
    auto [head, rest] = split(write_all(w, r, p, body));
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    const std::string tail = "0\r\nX-Long: " + std::string(5000, 't') + "\r\n\r\n";
    ASSERT_GE(rest.size(), tail.size());
    EXPECT_EQ(rest.substr(rest.size() - tail.size()), tail);  // X-Empty left out
    EXPECT_EQ(dechunk(rest.substr(0, rest.size() - tail.size()) + "0\r\n\r\n"), data);
  }
}

// Trailers apply to the codes add_header applies to, other codes only with `always`; an
// HTTP/1.0 client and a HEAD get none.
TEST(Http1Writer, TrailersOnlyWhereTheyApply) {
  LocationConf loc;
  AddHeader a;
  a.name = "X-T";
  a.value = ComplexValue::literal_value("v");
  loc.add_trailers.push_back(a);
  Request r;
  r.loc = &loc;
  r.resp.status = 404;
  apply_headers_filter(r);
  EXPECT_FALSE(r.resp.expect_trailers);
  r.resp.clear();
  r.resp.status = 200;
  r.resp.content_length = 3;
  r.head.version_minor = 0;
  apply_headers_filter(r);
  Http1Writer w;
  w.start(r);
  EXPECT_FALSE(w.chunked());
  EXPECT_EQ(r.resp.content_length, 3);
}

}  // namespace
}  // namespace portico::http
