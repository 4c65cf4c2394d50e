// libFuzzer harness for the TLS layer's first flight: the input is what a client sends on a
// TLS port (a ClientHello, anything else, plain HTTP), fed through a socket pair to a server
// tls::Session whose SNI lookup picks between a served name, a name that rejects handshakes
// and none. Checks: no crash, no leak, the session never claims a finished handshake from one
// flight (the client never sees our answer), and a first byte that cannot start a TLS record
// is always taken for plain HTTP and passed through unchanged. The same flight then goes to a
// stream{}-style session (no plain-HTTP detection, the handshake stepped explicitly, the
// $ssl_* getters read after it): it never turns plain and never finishes a handshake.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/transport.h"
#include "tls/context.h"
#include "tls/session.h"
#include "tls/variables.h"

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace {

using portico::IoResult;
using portico::Transport;
using namespace portico::tls;

std::string write_self_signed(const char* dir) {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, k);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("a"), -1,
                             -1, 0);
  X509_set_issuer_name(x, n);
  X509_sign(x, k, EVP_sha256());
  std::string base = std::string(dir) + "/c";
  FILE* f = std::fopen((base + ".crt").c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen((base + ".key").c_str(), "w");
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(k);
  return base;
}

struct Contexts {
  std::shared_ptr<const Context> served, other, reject;
  Contexts() {
    char tmpl[] = "/tmp/portico-tlsfuzz-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    FUZZ_CHECK(dir);
    std::string base = write_self_signed(dir);
    std::vector<BuildError> errs;
    Settings s;
    s.certs.push_back({base + ".crt", base + ".key", {}});
    s.alpn = {"http/1.1"};
    s.cache = Settings::Cache::kShared;
    s.cache_sessions = 64;
    served = Context::build(s, nullptr, &errs);
    s.protocols = kTLSv1_3;
    other = Context::build(s, nullptr, &errs);
    Settings r;
    r.reject_handshake = true;
    reject = Context::build(r, nullptr, &errs);
    FUZZ_CHECK(served && other && reject && errs.empty());
    unlink((base + ".crt").c_str());
    unlink((base + ".key").c_str());
    rmdir(dir);
  }
};

Contexts& contexts() {
  static Contexts c;
  return c;
}

std::shared_ptr<const Context> lookup(const void*, std::string_view name) {
  if (name == "b.test") return contexts().other;
  if (name == "reject.test") return contexts().reject;
  return nullptr;
}

// A socket pair whose fds[0] has `data` (as much as fits) waiting, then EOF; -1 on failure.
ssize_t flight(const uint8_t* data, size_t size, int fds[2]) {
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return -1;
  int buf = 256 * 1024;
  setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  const ssize_t sent = ::send(fds[1], data, size, 0);
  ::shutdown(fds[1], SHUT_WR);
  return sent;
}

// stream{}: the handshake stepped as stream::Session does, then every $ssl_* getter.
void stream_flight(const uint8_t* data, size_t size) {
  int fds[2];
  if (flight(data, size, fds) < 0) return;
  {
    Transport t(fds[0]);
    t.set_ready(true, true);
    Session s(contexts().served, 2, nullptr, nullptr);
    FUZZ_CHECK(s.attach(t, /*detect_plain=*/false));
    for (int i = 0; i < 64; ++i) {
      t.set_ready(true, true);
      if (!s.handshake_step(t).again()) break;
    }
    FUZZ_CHECK(!s.handshake_done() && !s.plain_http());
    std::string out;
    for (size_t v = 0; v < kVariableCount; ++v) (void)get_variable(v, &s, out);
    t.close();
  }
  ::close(fds[1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 60000) return 0;
  int fds[2];
  const ssize_t sent = flight(data, size, fds);
  if (sent < 0) return 0;
  {
    Transport t(fds[0]);
    t.set_ready(true, true);
    Session s(contexts().served, 1, &lookup, nullptr);
    FUZZ_CHECK(s.attach(t));
    std::string got;
    char out[4096];
    for (int i = 0; i < 64; ++i) {
      t.set_ready(true, true);
      IoResult r = t.read(out, sizeof out);
      if (!r.progress()) break;
      got.append(out, r.bytes());
    }
    FUZZ_CHECK(!s.handshake_done());
    const unsigned char first = data[0];
    if (sent > 0 && first != 0x16 && !(first & 0x80)) {
      FUZZ_CHECK(s.plain_http());
      FUZZ_CHECK(got == std::string(reinterpret_cast<const char*>(data), size_t(sent)));
    }
    t.close();
  }
  ::close(fds[1]);
  stream_flight(data, size);
  ERR_clear_error();
  return 0;
}
