// libFuzzer harness for the HTTP/2 codec: the input is what a client sends after the connection
// preface (frames, or anything), fed through a socket pair to a real http::Connection on an
// `http2` address of a real configuration (return, static files, error pages, a tiny header
// limit), driven by the real event loop. The connection detects the preface, hands itself to the
// HTTP/2 session, which runs libnghttp2 and our streams (request heads through the HTTP/1.1
// parser, local responses, flow control, the attack limits). Checks: no crash, no leak, no
// sanitizer report, and the connection always ends (closed by itself or by the harness) with
// every request released.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/file_cache.h"
#include "http/connection.h"
#include "http/http_config.h"
#include "http/request.h"
#include "http/worker_services.h"
#include "server/loader.h"
#include "server/modules.h"
#include "server/snapshot.h"

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace {

using namespace portico;

// The worker side a Connection needs, without threads: requests and blocks from the heap, one
// generation, no module states (the configuration uses none).
class FakeWorker final : public http::WorkerServices {
 public:
  EventLoop loop_;
  FileCache cache_;
  http::Generation gen_;
  int requests_out = 0;
  bool closed = false;

  EventLoop& loop() override { return loop_; }
  int index() const override { return 0; }
  bool draining() const override { return false; }
  http::Generation* acquire_generation() override {
    ++gen_.refs;
    return &gen_;
  }
  void release_generation(http::Generation* g) override { --g->refs; }
  http::Request* acquire_request() override {
    ++requests_out;
    auto* r = new http::Request();
    r->file_cache = &cache_;
    return r;
  }
  void release_request(http::Request* r) override {
    --requests_out;
    r->reset();
    delete r;
  }
  char* acquire_block() override { return new char[kBlockSize]; }
  void release_block(char* b) override { delete[] b; }
  void connection_opened(http::Connection*) override {}
  void connection_closed(http::Connection*) override { closed = true; }
  http::ModuleWorkerState* module_state(int) override { return nullptr; }
  http::WorkerStats& stats() override { return stats_; }
  http::WorkerStats stats_;
};

struct Env {
  std::shared_ptr<Snapshot> snap;
  Env() {
    server::register_http_modules();
    char tmpl[] = "/tmp/portico-h2fuzz-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    FUZZ_CHECK(dir);
    std::string d = dir;
    FILE* f = std::fopen((d + "/index.html").c_str(), "w");
    std::fputs("hello from a file\n", f);
    std::fclose(f);
    f = std::fopen((d + "/big.bin").c_str(), "w");
    for (int i = 0; i < 4096; ++i) std::fputs("0123456789abcdef0123456789abcdef", f);
    std::fclose(f);
    const std::string conf = d + "/portico.conf";
    f = std::fopen(conf.c_str(), "w");
    std::fprintf(f,
                 "events {}\n"
                 "http {\n"
                 "  access_log off;\n"
                 "  server {\n"
                 "    listen 127.0.0.1:1 http2;\n"
                 "    large_client_header_buffers 2 256;\n"
                 "    http2_max_concurrent_streams 8;\n"
                 "    http2_body_preread_size 1k;\n"
                 "    http2_chunk_size 1k;\n"
                 "    root %s;\n"
                 "    location = /r { return 200 \"$http2 $request $request_length\"; }\n"
                 "    location = /x { return 444; }\n"
                 "    location = /e { return 302 /elsewhere; }\n"
                 "    location / { add_header X-A b; expires 1h; }\n"
                 "  }\n"
                 "}\n",
                 dir);
    std::fclose(f);
    server::LoadOptions o;
    o.prefix = d + "/";
    o.conf_path = conf;
    server::LoadResult res = server::load(o);
    FUZZ_CHECK(res.snapshot);
    snap = res.snapshot;
  }
};

void drain(int fd) {
  char buf[65536];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

void one_iteration(FakeWorker& w) {
  w.loop_.post([&w] { w.loop_.stop(); });
  w.loop_.run();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env env;
  FakeWorker w;
  FUZZ_CHECK(w.loop_.init().is_ok());
  w.gen_.http = &env.snap->http;
  http::ListenPoint lp{env.snap->http.addrs.front().get()};
  int sv[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  SockAddr peer{};
  peer.sa.sa_family = AF_UNIX;
  auto* c = new http::Connection(&w, &lp, sv[0], peer, 1);

  std::string input = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  input.append(reinterpret_cast<const char*>(data), size);
  c->start();
  size_t off = 0;
  for (int round = 0; round < 64 && !w.closed; ++round) {
    if (off < input.size()) {
      const ssize_t n = write(sv[1], input.data() + off, input.size() - off);
      if (n > 0) off += size_t(n);
    }
    one_iteration(w);
    drain(sv[1]);
    if (off == input.size() && round > 8) break;
  }
  if (!w.closed) c->close();  // deferred: freed by the next iteration
  one_iteration(w);
  close(sv[1]);
  FUZZ_CHECK(w.closed);
  FUZZ_CHECK(w.requests_out == 0);
  FUZZ_CHECK(w.gen_.refs == 0);
  return 0;
}
