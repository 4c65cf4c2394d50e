// idle_conns — opens N keep-alive connections to 127.0.0.1:PORT, sends one
// "GET PATH HTTP/1.1" on each, reads the whole response, then holds every
// connection open and idle until SIGTERM/SIGINT. Used by bench/run.sh (row 4)
// to measure server memory per idle keep-alive connection.
//
// Single thread, one epoll loop; at most MAX_INFLIGHT connections are being
// set up at once so the server's listen backlog never overflows.
//
// Usage: idle_conns PORT COUNT PATH READY_FILE [MAX_INFLIGHT] [SETUP_TIMEOUT_S]
//   When every connection is idle (or has failed) it writes
//   "ok=<n> failed=<n> closed_by_peer=<n>" to READY_FILE (atomically, via rename).
//   On SIGTERM/SIGINT it prints "ok=<n> failed=<n> closed_by_peer=<n> open=<n>"
//   to stdout and exits, closing everything.
//
// Built by run.sh with: gcc -O2 -Wall -o idle_conns idle_conns.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum State { kUnused, kConnecting, kReading, kIdle, kDead };

struct Conn {
    int fd;
    enum State state;
    size_t sent;      // bytes of the request written so far
    size_t have;      // bytes of header collected in hdr
    long body_left;   // -1 until the header is complete
    char *hdr;        // header accumulation buffer while in flight
};

enum { kHdrCap = 8192 };

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long content_length(const char *hdr, size_t len) {
    // Case-insensitive search for "\r\ncontent-length:" within the header.
    static const char key[] = "\r\ncontent-length:";
    size_t klen = sizeof key - 1;
    for (size_t i = 0; i + klen <= len; i++) {
        if (strncasecmp(hdr + i, key, klen) == 0) {
            return strtol(hdr + i + klen, NULL, 10);
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT COUNT PATH READY_FILE [MAX_INFLIGHT] [SETUP_TIMEOUT_S]\n",
                argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int count = atoi(argv[2]);
    const char *path = argv[3];
    const char *ready_file = argv[4];
    int max_inflight = argc > 5 ? atoi(argv[5]) : 256;
    double setup_timeout = argc > 6 ? atof(argv[6]) : 60.0;

    struct rlimit rl = {(rlim_t)count + 64, (rlim_t)count + 64};
    struct rlimit cur;
    getrlimit(RLIMIT_NOFILE, &cur);
    if (cur.rlim_cur < rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "idle_conns: cannot raise RLIMIT_NOFILE to %lu: %s\n",
                (unsigned long)rl.rlim_cur, strerror(errno));
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    char req[512];
    int req_len = snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle_conns\r\n\r\n", path);

    struct Conn *conns = calloc((size_t)count, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) { perror("idle_conns: setup"); return 1; }

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);

    int next = 0, inflight = 0, ok = 0, failed = 0, closed_by_peer = 0;
    int ready_written = 0;
    double deadline = now_s() + setup_timeout;
    struct epoll_event evs[512];
    static char scratch[65536];

    while (!g_stop) {
        // Start new connections up to the in-flight limit.
        while (next < count && inflight < max_inflight && now_s() < deadline) {
            struct Conn *c = &conns[next];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0 ||
                (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)) {
                if (failed < 5) fprintf(stderr, "idle_conns: connect #%d: %s\n", next, strerror(errno));
                if (c->fd >= 0) close(c->fd);
                c->state = kDead;
                failed++;
                next++;
                continue;
            }
            c->state = kConnecting;
            c->body_left = -1;
            c->hdr = malloc(kHdrCap);
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            inflight++;
            next++;
        }
        int setup_done = (next >= count && inflight == 0);
        if (!setup_done && now_s() >= deadline) {
            // Give up on whatever has not finished: count it as failed.
            for (int i = 0; i < next; i++) {
                struct Conn *c = &conns[i];
                if (c->state == kConnecting || c->state == kReading) {
                    close(c->fd); free(c->hdr); c->hdr = NULL; c->state = kDead; failed++; inflight--;
                }
            }
            failed += count - next;
            next = count;
            setup_done = 1;
        }
        if (setup_done && !ready_written) {
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s.tmp", ready_file);
            FILE *f = fopen(tmp, "w");
            if (f) {
                fprintf(f, "ok=%d failed=%d closed_by_peer=%d\n", ok, failed, closed_by_peer);
                fclose(f);
                rename(tmp, ready_file);
            }
            ready_written = 1;
        }

        int n = epoll_wait(ep, evs, 512, 100);
        for (int k = 0; k < n; k++) {
            struct Conn *c = &conns[evs[k].data.u32];
            uint32_t e = evs[k].events;
            if (c->state == kConnecting) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err == 0 && (e & EPOLLOUT)) {
                    ssize_t w = write(c->fd, req + c->sent, (size_t)req_len - c->sent);
                    if (w > 0) c->sent += (size_t)w;
                    if (c->sent == (size_t)req_len) {
                        c->state = kReading;
                        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = evs[k].data.u32};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    }
                    continue;
                }
                if (err != 0 || (e & (EPOLLERR | EPOLLHUP))) {
                    if (failed < 5) fprintf(stderr, "idle_conns: connect: %s\n", strerror(err));
                    close(c->fd); free(c->hdr); c->hdr = NULL; c->state = kDead; failed++; inflight--;
                }
                continue;
            }
            if (c->state == kReading) {
                for (;;) {
                    char *dst = c->body_left < 0 ? c->hdr + c->have : scratch;
                    size_t cap = c->body_left < 0 ? kHdrCap - c->have : sizeof scratch;
                    ssize_t r = read(c->fd, dst, cap);
                    if (r < 0 && errno == EAGAIN) break;
                    if (r <= 0 || cap == 0) {
                        close(c->fd); free(c->hdr); c->hdr = NULL; c->state = kDead; failed++; inflight--;
                        break;
                    }
                    if (c->body_left < 0) {
                        c->have += (size_t)r;
                        char *end = memmem(c->hdr, c->have, "\r\n\r\n", 4);
                        if (!end) continue;
                        size_t hlen = (size_t)(end - c->hdr) + 4;
                        if (strncmp(c->hdr, "HTTP/1.1 200", 12) != 0) {
                            if (failed < 5) fprintf(stderr, "idle_conns: bad status: %.20s\n", c->hdr);
                            close(c->fd); free(c->hdr); c->hdr = NULL; c->state = kDead; failed++; inflight--;
                            break;
                        }
                        long cl = content_length(c->hdr, hlen);
                        if (cl < 0) cl = 0;
                        c->body_left = cl - (long)(c->have - hlen);
                    } else {
                        c->body_left -= r;
                    }
                    if (c->body_left <= 0) {
                        free(c->hdr); c->hdr = NULL;
                        c->state = kIdle; ok++; inflight--;
                        break;
                    }
                }
                continue;
            }
            if (c->state == kIdle) {
                // An idle connection became readable: the server closed it (or
                // sent something unexpected). Either way it no longer counts.
                ssize_t r = read(c->fd, scratch, sizeof scratch);
                if (r == 0 || (r < 0 && errno != EAGAIN) || (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                    close(c->fd); c->state = kDead; closed_by_peer++;
                }
            }
        }
    }
    int open = 0;
    for (int i = 0; i < count; i++) if (conns[i].state == kIdle) open++;
    printf("ok=%d failed=%d closed_by_peer=%d open=%d\n", ok, failed, closed_by_peer, open);
    fflush(stdout);
    return 0;
}
