"""Upstream health beyond passive checks, and what reload keeps.

Most of this is portico's own (the issue: "Beyond nginx OSS"): active health checks
(`health_check interval= fails= passes= uri= match=` with `match {}` blocks, nginx Plus
syntax), `queue N timeout=T` when every peer is at max_conns, `slow_start=T`, and a reload
that keeps unchanged upstreams' health, counters and pooled connections. nginx OSS cannot
validate these: they are @portico_only and state the expected behaviour from the issue.

What nginx OSS does in the same situations is recorded by @nginx_only tests (it rejects the
directives; without a queue a request finding every peer at max_conns gets 502; a reload
starts the upstream state afresh), and the plain max_conns behaviour is checked on both."""

import collections
import threading
import time
import unittest

from harness import (requires_active_health, requires_queue, IS_NGINX, Server, _descendants, eventually, free_port, nginx_only,
                     portico_only, request, requires_proxy)
from upstreams import Upstream, fill, ka_fields, name_of


class Ups:
    """Start upstreams, stop them all in teardown."""

    def __init__(self):
        self.all = []

    def add(self, *a, **kw):
        u = Upstream(*a, **kw)
        self.all.append(u)
        return u

    def stop(self):
        for u in self.all:
            u.stop()


def get_all(port, path, n):
    return [request(port, f"{path}{i}") for i in range(n)]


def health_requests(u, uri):
    """Times (monotonic, as seen by the test) are not in the events; count them instead."""
    return [r for r in u.requests() if r[3] == uri]


# ============================================================================================
# nginx OSS: what it says about the extensions
# ============================================================================================


@requires_proxy
class ExtensionsConfigTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server("http { server { listen 127.0.0.1:{port}; } }", start=False)

    def tearDown(self):
        self.srv.stop()

    def t(self, http_body):
        self.srv.set_config("http {\n" + http_body + "\n}\n")
        return self.srv.run_cli("-t")

    @nginx_only
    def test_nginx_oss_rejects_the_extensions(self):
        cases = [
            ("upstream u { zone u 64k; server 127.0.0.1:9; }\n"
             "server { listen 127.0.0.1:{port}; location / { proxy_pass http://u;\n"
             "health_check interval=1s; } }", 'unknown directive "health_check"'),
            ("match ok { status 200; }\n", 'unknown directive "match"'),
            ("upstream u { server 127.0.0.1:9 max_conns=1; queue 10 timeout=2s; }",
             'unknown directive "queue"'),
            ("upstream u { server 127.0.0.1:9 slow_start=10s; }",
             'invalid parameter "slow_start=10s"'),
        ]
        for body, message in cases:
            with self.subTest(message=message):
                r = self.t(body)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(message, r.stderr)

    @portico_only
    @requires_queue
    def test_extensions_accepted(self):
        r = self.t("upstream u { zone u 64k; server 127.0.0.1:9 max_conns=2 slow_start=10s;\n"
                   "             queue 10 timeout=2s; }\n"
                   "match ok { status 200-399; header Content-Type ~ text; body ~ \"ok\"; }\n"
                   "server { listen 127.0.0.1:{port};\n"
                   "  location / { proxy_pass http://u;\n"
                   "    health_check interval=1s fails=2 passes=3 uri=/health match=ok; } }")
        self.assertEqual(r.returncode, 0, r.stderr)

    @portico_only
    @requires_active_health
    def test_match_must_exist(self):
        r = self.t("upstream u { zone u 64k; server 127.0.0.1:9; }\n"
                   "server { listen 127.0.0.1:{port};\n"
                   "  location / { proxy_pass http://u; health_check match=nosuch; } }")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nosuch", r.stderr)


# ============================================================================================
# Active health checks (portico)
# ============================================================================================

HC_CONFIG = r"""
http {
    default_type text/plain;
    match healthy {
        status 200;
        body ~ "healthy";
    }
    upstream hc {
        zone hc 64k;
        server 127.0.0.1:@A@;
        server 127.0.0.1:@B@;
    }
    upstream hcs {
        zone hcs 64k;
        server 127.0.0.1:@A@;
        server 127.0.0.1:@BAD@;
    }
    upstream hcm {
        zone hcm 64k;
        server 127.0.0.1:@GOOD@;
        server 127.0.0.1:@SICK@;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {
            proxy_pass http://hc;
            health_check interval=300ms fails=2 passes=2 uri=/health;
        }
        location /s/ {
            proxy_pass http://hcs;
            health_check interval=300ms fails=2 passes=2 uri=/s-health;
        }
        location /m/ {
            proxy_pass http://hcm;
            health_check interval=300ms fails=1 passes=1 uri=/h match=healthy;
        }
    }
}
"""


@requires_proxy
@requires_active_health
@portico_only
class ActiveHealthCheckTest(unittest.TestCase):
    """Expected (issue 3, nginx Plus semantics): every `interval` the checker sends
    GET `uri` to each peer; `fails` consecutive failed checks (connect error, timeout, a
    status outside 2xx/3xx, or a response that does not satisfy the `match` block) make the
    peer unhealthy and it gets no client requests; `passes` consecutive good checks make
    it healthy again."""

    def setUp(self):
        self.ups = Ups()
        self.a = self.ups.add("keepalive", name="a")
        self.b_port = free_port()  # b is not running at first: checks fail
        self.good = self.ups.add("fixed", "--body", "I am healthy", name="good")
        self.sick = self.ups.add("fixed", "--body", "I am sick", name="sick")
        self.bad = self.ups.add("fixed", "--status", "500", "--body", "broken", name="bad")
        self.b = None
        self.srv = Server(fill(HC_CONFIG, A=self.a.port, B=self.b_port, GOOD=self.good.port,
                               SICK=self.sick.port, BAD=self.bad.port))
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()
        self.ups.stop()

    def all_to(self, name, n=10, path="/x"):
        return all(name_of(r) == name for r in get_all(self.port, path, n))

    def test_checks_are_sent_at_the_interval(self):
        # a is a peer of both hc and hcs, and each group's health_check probes it on its own
        # schedule; /health counts hc's probes only (hcs's ask for /s-health), so this
        # measures one probe's interval and 3 checks take about 3 intervals
        self.a.wait_for(lambda u: len(health_requests(u, "/health")) >= 1, 5, "a first check")
        n0 = len(health_requests(self.a, "/health"))
        t0 = time.monotonic()
        self.a.wait_for(lambda u: len(health_requests(u, "/health")) >= n0 + 3, 5,
                        "3 more health checks")
        elapsed = time.monotonic() - t0
        # 3 more checks 300 ms apart: about 0.9 s (some jitter allowed)
        self.assertGreater(elapsed, 0.5)
        self.assertLess(elapsed, 3.0)

    def test_unhealthy_peer_gets_no_requests_then_returns(self):
        # b refuses connections: it is out (client requests that meet it are retried on a,
        # and passive health would keep it out for the default fail_timeout of 10 s)
        eventually(lambda: self.all_to("a"), 5, message="b taken out")
        # start b on its port: after passes=2 good checks (~0.6 s, well before the passive
        # 10 s) it gets requests again
        self.b = self.ups.add("keepalive", port=self.b_port, name="b")
        self.b.wait_for(lambda u: len(health_requests(u, "/health")) >= 2, 5, "checks on b")
        eventually(lambda: "b" in {name_of(r) for r in get_all(self.port, "/y", 6)}, 5,
                   message="b back in rotation")

    def test_failing_status_takes_peer_out(self):
        # "bad" answers 500 to everything (the client sees its 500s until the checks
        # take it out); afterwards every request goes to a
        def only_a():
            rs = get_all(self.port, "/s/", 10)
            return all(r.status == 200 and name_of(r) == "a" for r in rs)
        eventually(only_a, 5, message="500-answering peer taken out")
        self.assertGreaterEqual(len(health_requests(self.bad, "/s-health")), 2)

    def test_match_block(self):
        # both answer 200, only "good" has "healthy" in its body
        def only_good():
            return {r.text for r in get_all(self.port, "/m/", 8)} == {"I am healthy"}
        eventually(only_good, 5, message="sick peer taken out by match")
        self.assertGreaterEqual(len(health_requests(self.sick, "/h")), 1)


# ============================================================================================
# max_conns, and queue (portico)
# ============================================================================================

MAXCONNS_CONFIG = r"""
http {
    default_type text/plain;
    upstream mc {
        server 127.0.0.1:@E@ max_conns=1;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / { proxy_pass http://mc; }
    }
}
"""

QUEUE_CONFIG = r"""
http {
    default_type text/plain;
    upstream q1 {
        zone q1 64k;
        server 127.0.0.1:@E@ max_conns=1;
        queue 1 timeout=5s;
    }
    upstream qshort {
        zone qshort 64k;
        server 127.0.0.1:@E@ max_conns=1;
        queue 10 timeout=500ms;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location /q1/ { proxy_pass http://q1; }
        location /qshort/ { proxy_pass http://qshort; }
    }
}
"""


class Background:
    """A request in a thread; .result is the Response (or the exception)."""

    def __init__(self, port, path, timeout=10):
        self.result = None
        self.t0 = time.monotonic()
        self.elapsed = None

        def run():
            try:
                self.result = request(port, path, timeout=timeout)
            except Exception as e:  # noqa: BLE001 - inspected by the test
                self.result = e
            self.elapsed = time.monotonic() - self.t0
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout=15):
        self.thread.join(timeout)
        return self.result


def at_upstream(u, path):
    return lambda v: any(r[3].startswith(path) for r in v.requests())


@requires_proxy
class MaxConnsTest(unittest.TestCase):
    def setUp(self):
        self.e = Upstream("echo", name="e")
        self.srv = Server(fill(MAXCONNS_CONFIG, E=self.e.port))
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()
        self.e.stop()

    def test_all_peers_at_max_conns_is_502(self):
        # no queue: a request that finds every peer at max_conns fails at once.
        # SURPRISE: 502 ("no live upstreams"), not 503
        slow = Background(self.port, "/slow?sleep=2")
        self.e.wait_for(at_upstream(self.e, "/slow"), 5, "slow request at the upstream")
        t0 = time.monotonic()
        r = request(self.port, "/second")
        self.assertEqual(r.status, 502)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.srv.wait_error_log(r"no live upstreams while connecting to upstream")
        self.assertEqual(slow.join().status, 200)
        # the slot is free again
        self.assertEqual(request(self.port, "/third").status, 200)


@requires_proxy
@requires_queue
@portico_only
class QueueTest(unittest.TestCase):
    """Expected (issue 3): with `queue N timeout=T`, a request that finds every peer at
    max_conns waits in the group's queue (FIFO) for a free slot; it gets 503 when the queue
    already holds N requests, or when it has waited T."""

    def setUp(self):
        self.e = Upstream("echo", name="e")
        self.srv = Server(fill(QUEUE_CONFIG, E=self.e.port))
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()
        self.e.stop()

    def test_queued_request_is_served_when_slot_frees(self):
        first = Background(self.port, "/q1/first?sleep=2")
        self.e.wait_for(at_upstream(self.e, "/q1/first"), 5)
        # two more while the only slot is busy: whichever is queued first waits and is
        # served after "first"; the other finds the queue (size 1) full: 503 at once
        second = Background(self.port, "/q1/second")
        third = Background(self.port, "/q1/third")
        self.assertEqual(first.join().status, 200)
        results = sorted([second, third], key=lambda b: getattr(b.join(), "status", 0))
        served, rejected = results
        self.assertEqual(served.result.status, 200)
        self.assertEqual(rejected.result.status, 503)
        self.assertLess(rejected.elapsed, 1.0)
        self.assertGreater(served.elapsed, 1.0)  # it waited for "first" to finish
        # The upstream's event line may trail its response: wait for it, then check that
        # exactly one of the two reached the upstream.
        def queued_ones(u):
            return sum(t.startswith(("/q1/second", "/q1/third")) for _, _, _, t in u.requests())
        self.e.wait_for(queued_ones, 5)
        time.sleep(0.2)
        self.assertEqual(queued_ones(self.e), 1)

    def test_queue_timeout_is_503(self):
        first = Background(self.port, "/qshort/first?sleep=2")
        self.e.wait_for(at_upstream(self.e, "/qshort/first"), 5)
        t0 = time.monotonic()
        r = request(self.port, "/qshort/second")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 503)
        self.assertGreater(elapsed, 0.4)
        self.assertLess(elapsed, 1.8)
        self.assertEqual(first.join().status, 200)


# ============================================================================================
# slow_start (portico)
# ============================================================================================

SLOW_START_CONFIG = r"""
http {
    default_type text/plain;
    upstream ss {
        zone ss 64k;
        server 127.0.0.1:@A@ slow_start=3s max_fails=1 fail_timeout=1s;
        server 127.0.0.1:@B@;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / { proxy_pass http://ss; }
    }
}
"""


@requires_proxy
@portico_only
class SlowStartTest(unittest.TestCase):
    """Expected (issue 3, nginx Plus semantics): when a server comes back after being
    unhealthy its weight grows from zero to the nominal weight over slow_start, so it gets
    a small share of requests at first and its full share (here 1/2) by the end."""

    def test_recovered_server_ramps_up(self):
        ups = Ups()
        try:
            a_port = free_port()
            b = ups.add("keepalive", name="b", quiet=True)
            with Server(fill(SLOW_START_CONFIG, A=a_port, B=b.port)) as srv:
                port = srv.port()
                # a is down: its failure takes it out
                for i in range(4):
                    self.assertEqual(request(port, f"/x{i}").status, 200)
                ups.add("keepalive", port=a_port, name="a", quiet=True)
                # after fail_timeout a is tried again, succeeds, and starts slowly
                eventually(lambda: name_of(request(port, "/probe")) == "a", 5, interval=0.05,
                           message="a tried again")
                t_back = time.monotonic()
                samples = []
                for i in range(100000):
                    now = time.monotonic() - t_back
                    if now > 4.0:
                        break
                    samples.append((now, name_of(request(port, f"/s{i}"))))
                early = [n for t, n in samples if t < 1.0]
                late = [n for t, n in samples if t > 3.3]
                self.assertLess(early.count("a") / len(early), 0.3, collections.Counter(early))
                self.assertGreater(late.count("a") / len(late), 0.35, collections.Counter(late))
        finally:
            ups.stop()


# ============================================================================================
# Reload and upstream state
# ============================================================================================

RELOAD_CONFIG = r"""
http {
    default_type text/plain;
    log_format up '$request_uri|$status|$upstream_addr';
    access_log logs/up.log up;
    upstream grp {
        server 127.0.0.1:@DEAD@ max_fails=1 fail_timeout=30s;
        server 127.0.0.1:@B@;
    }
    upstream pool {
        server 127.0.0.1:@K@;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        add_header X-Gen GEN;
        location = /gen { return 200 "gen\n"; }
        location /grp/ { proxy_pass http://grp; }
        location /pool/ {
            proxy_pass http://pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
"""


@requires_proxy
class ReloadStateTest(unittest.TestCase):
    def setUp(self):
        self.ups = Ups()
        self.b = self.ups.add("keepalive", name="b")
        self.k = self.ups.add("keepalive", name="k")
        self.dead = free_port()
        self.srv = Server(self.config(1))
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()
        self.ups.stop()

    def config(self, gen):
        return fill(RELOAD_CONFIG, DEAD=self.dead, B=self.b.port, K=self.k.port) \
            .replace("GEN", str(gen))

    def addrs(self, uri):
        def find():
            for line in self.srv.access_log("logs/up.log"):
                f = line.split("|")
                if f[0] == uri:
                    return f[2].split(", ")
            return None
        return eventually(find, 5, message=f"log line for {uri}")

    def fail_dead_peer(self):
        for i in range(2):
            self.assertEqual(request(self.port, f"/grp/f{i}").status, 200)
        tried = [self.addrs(f"/grp/f{i}") for i in range(2)]
        self.assertIn(f"127.0.0.1:{self.dead}", [a for t in tried for a in t])

    def reload_to(self, gen):
        self.srv.reload(self.config(gen))
        eventually(lambda: request(self.port, "/gen").header("X-Gen") == str(gen),
                   10, message=f"generation {gen}")
        if IS_NGINX:
            # until the old worker has exited it may still accept a connection or two
            eventually(lambda: len(_descendants(self.srv.pid)) == 1, 10,
                       message="old nginx worker gone")

    def dead_tried_after_reload(self, n=4):
        for i in range(n):
            self.assertEqual(request(self.port, f"/grp/after{i}").status, 200)
        return any(f"127.0.0.1:{self.dead}" in self.addrs(f"/grp/after{i}") for i in range(n))

    @nginx_only
    def test_nginx_reload_forgets_failures(self):
        # nginx: new worker processes start with fresh peer state, so the peer that
        # failed (fail_timeout=30s) is tried again right after the reload
        self.fail_dead_peer()
        self.reload_to(2)
        self.assertTrue(self.dead_tried_after_reload())

    @portico_only
    def test_reload_keeps_unchanged_upstream_failures(self):
        # issue 3: reload keeps unchanged upstreams' health and counters, so the failed
        # peer stays out for the rest of its fail_timeout
        self.fail_dead_peer()
        self.reload_to(2)
        self.assertFalse(self.dead_tried_after_reload())

    def pool_fields(self, n):
        return [ka_fields(request(self.port, f"/pool/{i}")) for i in range(n)]

    @nginx_only
    def test_nginx_reload_opens_new_upstream_connections(self):
        before = self.pool_fields(3)
        self.assertEqual([r for _, _, r in before], [1, 2, 3])
        self.reload_to(2)
        after = self.pool_fields(2)
        self.assertNotIn(after[-1][1], {c for _, c, _ in before})

    @portico_only
    def test_reload_keeps_pooled_upstream_connections(self):
        # issue 3: pooled keepalive connections of an unchanged upstream survive reload
        before = self.pool_fields(3)
        conns = {c for _, c, _ in before}
        self.reload_to(2)
        after = self.pool_fields(3)
        self.assertTrue({c for _, c, _ in after} & conns, (before, after))
        self.assertGreater(max(r for _, _, r in after), 3)


if __name__ == "__main__":
    unittest.main()
