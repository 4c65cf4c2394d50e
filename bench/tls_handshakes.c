// tls_handshakes — new TLS connections per second, full or resumed, for bench/run.sh rows 12-13.
//
// wrk and h2load open their connections once (and OpenSSL clients they build on may resume
// silently); this client opens connection after connection and says for each what it was:
// every connection is a TCP connect, a TLS handshake, "GET PATH" with Connection: close, the
// whole response read to the server's close, then close. In "full" mode no session is ever
// offered, so every handshake is a full one (certificate, signature, key exchange); in
// "resume" mode each process offers the newest session (TLS 1.3: the newest ticket) it got,
// as a browser does, and a handshake the server did not resume is counted as such.
//
// Usage: tls_handshakes HOST PORT PATH SECONDS PROCS full|resume
// PROCS processes run side by side (so the server always has handshakes to do while the
// clients verify signatures); the output mimics wrk's summary lines so bench/report.py reads
// it, plus a "Handshakes:" line:
//     12345 requests in 10.00s, 0 read
//   Requests/sec:   1234.50
//   Handshakes: full 12345, resumed 0, TLS1.3 12345, other-protocol 0, bad-response 0
//   Socket errors: connect 0, read 0, write 0, timeout 0
//   Handshake mode mismatches: 0     (full: resumed anyway; resume: offered, not resumed)
//   Non-2xx or 3xx responses: 0
// Exit status 0 when at least one connection completed.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct counts {
  long done, full, resumed, tls13, other_proto, bad_response, non2xx, mismatch;
  long err_connect, err_read, err_write, err_timeout;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// One connection: connect, handshake (offering *sess if set), request, response, close.
// Returns 0 when the response was complete; updates c and *sess.
static int one(SSL_CTX* ctx, const struct sockaddr_in* sa, const char* req, size_t req_len, int resume,
               SSL_SESSION** sess, struct counts* c) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    c->err_connect++;
    return -1;
  }
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one_ = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof one_);
  if (connect(fd, (const struct sockaddr*)sa, sizeof *sa) != 0) {
    c->err_connect++;
    close(fd);
    return -1;
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  const int offered = resume && *sess;
  if (offered) SSL_set_session(ssl, *sess);
  int rc = -1;
  if (SSL_connect(ssl) != 1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      c->err_timeout++;
    else
      c->err_read++;
    goto out;
  }
  if (SSL_version(ssl) == TLS1_3_VERSION)
    c->tls13++;
  else
    c->other_proto++;
  if (SSL_session_reused(ssl))
    c->resumed++;
  else
    c->full++;
  // Full mode: nothing offered, so a resumption would be the client library's doing; resume
  // mode: a session was offered and the server did a full handshake anyway.
  if (SSL_session_reused(ssl) != offered) c->mismatch++;
  size_t n;
  if (SSL_write_ex(ssl, req, req_len, &n) != 1) {
    c->err_write++;
    goto out;
  }
  char buf[16384];
  size_t got = 0;
  char head[16] = {0};
  for (;;) {
    if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) {
      int e = SSL_get_error(ssl, 0);
      if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0) ||
          (e == SSL_ERROR_SSL && got > 0)) {
        // close_notify, or a bare EOF after the response (Connection: close)
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        c->err_timeout++;
      else
        c->err_read++;
      goto out;
    }
    if (got < sizeof head - 1) memcpy(head + got, buf, n < sizeof head - 1 - got ? n : sizeof head - 1 - got);
    got += n;
  }
  if (strncmp(head, "HTTP/1.1 ", 9) != 0) {
    c->bad_response++;
    goto out;
  }
  if (head[9] != '2' && head[9] != '3') c->non2xx++;
  c->done++;
  rc = 0;
  if (resume) {
    // The newest session: TLS 1.3 tickets arrive after the handshake, before the response.
    SSL_SESSION* s = SSL_get1_session(ssl);
    if (s) {
      if (*sess) SSL_SESSION_free(*sess);
      *sess = s;
    }
  }
out:
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);  // no close_notify wait
  SSL_free(ssl);
  close(fd);
  ERR_clear_error();
  return rc;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s HOST PORT PATH SECONDS PROCS full|resume\n", argv[0]);
    return 2;
  }
  const char* host = argv[1];
  const int port = atoi(argv[2]);
  const char* path = argv[3];
  const double seconds = atof(argv[4]);
  const int procs = atoi(argv[5]);
  const int resume = strcmp(argv[6], "resume") == 0;
  if (port <= 0 || seconds <= 0 || procs <= 0 || procs > 64 || (!resume && strcmp(argv[6], "full") != 0)) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "bad host %s (an IPv4 address)\n", host);
    return 2;
  }
  char req[512];
  const int req_len =
      snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);

  int fds[64][2];
  pid_t pids[64];
  const double t0 = now_s();
  for (int i = 0; i < procs; ++i) {
    if (pipe(fds[i]) != 0) return 1;
    pids[i] = fork();
    if (pids[i] < 0) return 1;
    if (pids[i] == 0) {
      close(fds[i][0]);
      SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
      // No client-side session cache: a session is offered only when this program sets one.
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
      static const unsigned char alpn[] = "\x08http/1.1";
      SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
      struct counts c;
      memset(&c, 0, sizeof c);
      SSL_SESSION* sess = NULL;
      const double end = t0 + seconds;
      while (now_s() < end) one(ctx, &sa, req, (size_t)req_len, resume, &sess, &c);
      if (write(fds[i][1], &c, sizeof c) != (ssize_t)sizeof c) _exit(1);
      _exit(0);
    }
    close(fds[i][1]);
  }
  struct counts total;
  memset(&total, 0, sizeof total);
  for (int i = 0; i < procs; ++i) {
    struct counts c;
    if (read(fds[i][0], &c, sizeof c) == (ssize_t)sizeof c) {
      long* t = (long*)&total;
      const long* x = (const long*)&c;
      for (size_t k = 0; k < sizeof c / sizeof(long); ++k) t[k] += x[k];
    }
    close(fds[i][0]);
    waitpid(pids[i], NULL, 0);
  }
  const double elapsed = now_s() - t0;
  printf("  %ld requests in %.2fs, 0 read\n", total.done, elapsed);
  printf("Requests/sec: %10.2f\n", total.done / elapsed);
  printf("Handshakes: full %ld, resumed %ld, TLS1.3 %ld, other-protocol %ld, bad-response %ld\n", total.full,
         total.resumed, total.tls13, total.other_proto, total.bad_response);
  printf("Socket errors: connect %ld, read %ld, write %ld, timeout %ld\n", total.err_connect,
         total.err_read + total.bad_response, total.err_write, total.err_timeout);
  printf("Handshake mode mismatches: %ld\n", total.mismatch);
  if (total.non2xx) printf("Non-2xx or 3xx responses: %ld\n", total.non2xx);
  return total.done > 0 ? 0 : 1;
}
