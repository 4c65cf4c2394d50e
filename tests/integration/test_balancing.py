"""Upstream groups: balancers (weighted round robin, least_conn, ip_hash, hash [consistent],
random [two]), backup and down servers, passive health (max_fails / fail_timeout), retries
(proxy_next_upstream*), upstream keepalive, and an upstream dying under steady load.

Upstreams are real processes (upstreams.py); expectations are nginx 1.22's behaviour."""

import collections
import re
import threading
import time
import unittest

from harness import (HAVE_IPV6, RawConn, Server, build_request, eventually, free_port,
                     nginx_only, request, requires_proxy, requires_realip)
from upstreams import Upstream, fill, info, ka_fields, name_of


def run_requests(port, paths, threads=4, headers=None, timeout=60, addr="127.0.0.1"):
    """GET every path in `paths`, spread over `threads` keep-alive client connections.
    Returns a list of (path, Response or Exception), in no particular order."""
    results = []
    lock = threading.Lock()
    deadline = time.monotonic() + timeout
    slices = [paths[i::threads] for i in range(threads)]

    def worker(mine):
        conn = None
        out = []
        for path in mine:
            if time.monotonic() > deadline:
                out.append((path, TimeoutError("run_requests deadline")))
                continue
            try:
                if conn is None:
                    conn = RawConn(port, addr=addr, timeout=10)
                conn.send(build_request("GET", path, headers=headers, close=False))
                r = conn.read_response()
                out.append((path, r))
                if (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - reported to the caller
                out.append((path, e))
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()
        with lock:
            results.extend(out)

    ts = [threading.Thread(target=worker, args=(s,), daemon=True) for s in slices if s]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return results


def counts(results):
    bad = [(p, r) for p, r in results if not (hasattr(r, "status") and r.status == 200)]
    if bad:
        raise AssertionError(f"{len(bad)} failed requests, e.g. {bad[:3]}")
    return collections.Counter(name_of(r) for _, r in results)


KEEPALIVE = """
            proxy_http_version 1.1;
            proxy_set_header Connection "";"""


class UpstreamSet:
    """Named `keepalive`-mode upstreams (they answer "name=N conn=C req=R")."""

    def __init__(self, names, mode="keepalive", quiet=False, extra=()):
        self.ups = {}
        try:
            for n in names:
                self.ups[n] = Upstream(mode, *extra, name=n, quiet=quiet)
        except BaseException:
            self.stop()
            raise

    def __getitem__(self, name):
        return self.ups[name]

    def port(self, name):
        return self.ups[name].port

    def stop(self):
        for u in self.ups.values():
            u.stop()


# ============================================================================================
# Balancers
# ============================================================================================

BALANCE_CONFIG = r"""
http {
    default_type text/plain;
    upstream wrr {
        server 127.0.0.1:@A@ weight=5;
        server 127.0.0.1:@B@;
        server 127.0.0.1:@C@;
        server 127.0.0.1:@D@ down;
        keepalive 16;
    }
    upstream rr2 {
        server 127.0.0.1:@SA@;
        server 127.0.0.1:@SB@;
    }
    upstream lc {
        least_conn;
        server 127.0.0.1:@SA@;
        server 127.0.0.1:@SB@;
    }
    upstream r2 {
        random two least_conn;
        server 127.0.0.1:@SA@;
        server 127.0.0.1:@SB@;
    }
    upstream iph {
        ip_hash;
        server 127.0.0.1:@A@;
        server 127.0.0.1:@B@;
        server 127.0.0.1:@C@;
        keepalive 16;
    }
    upstream hsh {
        hash $arg_key;
        server 127.0.0.1:@A@;
        server 127.0.0.1:@B@;
        server 127.0.0.1:@C@;
        keepalive 16;
    }
    upstream rnd {
        random;
        server 127.0.0.1:@A@;
        server 127.0.0.1:@B@;
        server 127.0.0.1:@C@;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:{port};
        listen [::1]:{port};
        server_name localhost;
        location /wrr/  { proxy_pass http://wrr; KEEPALIVE }
        location /rr2/  { proxy_pass http://rr2; }
        location /lc/   { proxy_pass http://lc; }
        location /r2/   { proxy_pass http://r2; }
        location /iph/  { proxy_pass http://iph; KEEPALIVE }
        location /hsh/  { proxy_pass http://hsh; KEEPALIVE }
        location /rnd/  { proxy_pass http://rnd; KEEPALIVE }
    }
}
""".replace("KEEPALIVE", KEEPALIVE)


@requires_proxy
class BalancersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ks = UpstreamSet(["a", "b", "c", "d"], quiet=True)
        # echo mode (answers after ?sleep=S), with events: for least_conn
        cls.slow = UpstreamSet(["sa", "sb"], mode="echo")
        try:
            cfg = fill(BALANCE_CONFIG, A=cls.ks.port("a"), B=cls.ks.port("b"),
                       C=cls.ks.port("c"), D=cls.ks.port("d"), SA=cls.slow.port("sa"),
                       SB=cls.slow.port("sb"))
            if not HAVE_IPV6:
                cfg = cfg.replace("listen [::1]:{port};", "")
            cls.srv = Server(cfg)
        except BaseException:
            cls.ks.stop()
            cls.slow.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.ks.stop()
        cls.slow.stop()

    def test_weighted_round_robin(self):
        # weights 5:1:1 over 7,000 requests, within 3 % of the total; a "down" server never
        # gets a request
        n = 7000
        c = counts(run_requests(self.port, ["/wrr/x"] * n))
        self.assertEqual(sum(c.values()), n)
        self.assertEqual(c["d"], 0)
        for name, share in (("a", 5 / 7), ("b", 1 / 7), ("c", 1 / 7)):
            self.assertLess(abs(c[name] - share * n), 0.03 * n, f"{name}: {c}")

    @nginx_only
    def test_nginx_smooth_weighted_sequence(self):
        # nginx's smooth weighted round robin interleaves: 5:1:1 gives a a b a c a a (one
        # worker, one client, sequential requests)
        seq = [name_of(request(self.port, "/wrr/s")) for _ in range(14)]
        self.assertEqual(seq, list("aabacaa") * 2)

    def slow_on(self):
        """Start GET ...?sleep=2 on rr/lc in the background; return (thread, name of the
        upstream holding it)."""
        result = {}

        def bg(path):
            result["r"] = request(self.port, path, timeout=10)

        def start(path):
            before = {n: len(self.slow[n].requests()) for n in ("sa", "sb")}
            t = threading.Thread(target=bg, args=(path,), daemon=True)
            t.start()

            def holder():
                for n in ("sa", "sb"):
                    if len(self.slow[n].requests()) > before[n]:
                        return n
                return None
            return t, eventually(holder, 5, message="slow request at an upstream"), result
        return start

    def busy_then_quick(self, prefix):
        t, busy, result = self.slow_on()(f"{prefix}slow?sleep=2")
        quick = [info(request(self.port, f"{prefix}q{i}"))["name"] for i in range(10)]
        t.join(10)
        self.assertEqual(result["r"].status, 200)
        return busy, quick

    def test_least_conn_avoids_busy_peer(self):
        busy, quick = self.busy_then_quick("/lc/")
        other = {"sa": "sb", "sb": "sa"}[busy]
        self.assertEqual(quick, [other] * 10)

    def test_round_robin_ignores_load(self):
        # the contrast: plain round robin keeps sending every other request to the busy one
        busy, quick = self.busy_then_quick("/rr2/")
        self.assertEqual(quick.count(busy), 5, quick)

    def test_random_two_least_conn(self):
        # with two servers "two" always compares both: the idle one wins
        busy, quick = self.busy_then_quick("/r2/")
        other = {"sa": "sb", "sb": "sa"}[busy]
        self.assertEqual(quick, [other] * 10)

    def test_ip_hash_stable_per_client(self):
        for addr in ("127.0.0.1", "::1") if HAVE_IPV6 else ("127.0.0.1",):
            with self.subTest(addr=addr):
                c = counts(run_requests(self.port, ["/iph/x"] * 30, threads=2, addr=addr))
                self.assertEqual(len(c), 1, c)

    def test_hash_key_stable_and_spread(self):
        paths = [f"/hsh/x?key=k{i}" for i in range(300)]
        first = {p: name_of(r) for p, r in run_requests(self.port, paths)}
        again = {p: name_of(r) for p, r in run_requests(self.port, paths)}
        self.assertEqual(first, again)
        spread = collections.Counter(first.values())
        self.assertEqual(set(spread), {"a", "b", "c"})
        for n in "abc":
            self.assertGreater(spread[n], 50, spread)

    def test_random_spreads(self):
        c = counts(run_requests(self.port, ["/rnd/x"] * 900))
        for n in "abc":
            self.assertGreater(c[n], 200, c)   # expected 300 each, sd ~14


IPHASH_REALIP_CONFIG = r"""
http {
    default_type text/plain;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Client;
    upstream iph {
        ip_hash;
        server 127.0.0.1:@A@;
        server 127.0.0.1:@B@;
        server 127.0.0.1:@C@;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / { proxy_pass http://iph; }
    }
}
"""


@requires_proxy
@requires_realip
class IpHashRealIpTest(unittest.TestCase):
    """ip_hash over many client addresses. Every test client is 127.0.0.1 or ::1, so the
    address comes from X-Client through the realip module (set_real_ip_from /
    real_ip_header): this class needs realip as well."""

    @classmethod
    def setUpClass(cls):
        cls.ks = UpstreamSet(["a", "b", "c"], quiet=True)
        try:
            cls.srv = Server(fill(IPHASH_REALIP_CONFIG, A=cls.ks.port("a"),
                                  B=cls.ks.port("b"), C=cls.ks.port("c")))
        except BaseException:
            cls.ks.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.ks.stop()

    def server_for(self, ip):
        return name_of(request(self.port, "/x", headers=[("X-Client", ip)]))

    def test_ip_hash_uses_ipv4_first_three_octets(self):
        for net in ("10.1.2", "192.0.2", "172.16.99"):
            with self.subTest(net=net):
                self.assertEqual({self.server_for(f"{net}.{h}") for h in (1, 77, 254)},
                                 {self.server_for(f"{net}.9")})
        # many /24 networks spread over all three servers
        seen = collections.Counter(self.server_for(f"10.{i}.{i * 7 % 256}.1")
                                   for i in range(60))
        self.assertEqual(set(seen), {"a", "b", "c"}, seen)

    def test_ip_hash_ipv6_uses_whole_address(self):
        seen = collections.Counter(self.server_for(f"2001:db8::{i:x}") for i in range(60))
        self.assertEqual(set(seen), {"a", "b", "c"}, seen)


# ============================================================================================
# hash ... consistent: adding a server moves about 1/N of the keys, all to the new server
# ============================================================================================

def consistent_config(servers, gen):
    lines = "\n".join(f"        server 127.0.0.1:{p};" for p in servers)
    return f"""
http {{
    default_type text/plain;
    upstream ch {{
        hash $arg_key consistent;
{lines}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{{port}};
        server_name localhost;
        location / {{
            proxy_pass http://ch;{KEEPALIVE}
            add_header X-Gen {gen};
        }}
    }}
}}
"""


@requires_proxy
class ConsistentHashTest(unittest.TestCase):
    def setUp(self):
        self.ks = UpstreamSet(["a", "b", "c", "d"], quiet=True)
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()
        self.ks.stop()

    def mapping(self, keys, gen):
        paths = [f"/x?key={k}" for k in keys]
        out = {}

        def all_answered():
            todo = [p for p in paths if p not in out]
            for p, r in run_requests(self.srv.port(), todo):
                if hasattr(r, "status") and r.status == 200 and r.header("X-Gen") == str(gen):
                    out[p] = name_of(r)
            return len(out) == len(paths)

        # Rounds until every key has an answer from generation `gen`, bounded in time: a
        # number of rounds is no bound on how long the old generation may still answer.
        eventually(all_answered, 30, interval=0.1,
                   message=f"every key answered by generation {gen}")
        return {p.split("=", 1)[1]: n for p, n in out.items()}

    def test_adding_a_server_moves_about_a_quarter(self):
        keys = [f"user-{i}" for i in range(1000)]
        three = [self.ks.port(n) for n in "abc"]
        self.srv = Server(consistent_config(three, 1))
        before = self.mapping(keys, 1)
        spread = collections.Counter(before.values())
        self.assertEqual(set(spread), {"a", "b", "c"})
        self.srv.reload(consistent_config(three + [self.ks.port("d")], 2))
        eventually(lambda: request(self.srv.port(), "/x?key=probe").header("X-Gen") == "2",
                   10, message="reloaded config")
        after = self.mapping(keys, 2)
        moved = [k for k in keys if before[k] != after[k]]
        # every key that moved went to the new server, and about 1/4 of them moved
        self.assertEqual({after[k] for k in moved}, {"d"})
        self.assertGreater(len(moved), 150, len(moved))
        self.assertLess(len(moved), 350, len(moved))


# ============================================================================================
# backup, down, passive health, retries
# ============================================================================================

RETRY_STATUSES = (500, 503, 504, 403, 404, 429)

RETRY_CONFIG = r"""
http {
    default_type text/plain;
    log_format up '$request_uri|$status|$upstream_addr|$upstream_status';
    access_log logs/up.log up;
    proxy_read_timeout 1s;
    upstream bk {
        server 127.0.0.1:@PRIMARY@;
        server 127.0.0.1:@BACKUP@ backup;
    }
    upstream pf1 {
        server 127.0.0.1:@DEAD@ max_fails=1 fail_timeout=2s;
        server 127.0.0.1:@B@;
    }
    upstream pf3 {
        server 127.0.0.1:@DEAD2@ max_fails=3 fail_timeout=30s;
        server 127.0.0.1:@B@;
    }
    upstream pf0 {
        server 127.0.0.1:@DEAD3@ max_fails=0;
        server 127.0.0.1:@B@;
    }
    upstream e502 {
        server 127.0.0.1:@F502@ max_fails=0;
        server 127.0.0.1:@B@ max_fails=0;
    }
    upstream all502 {
        server 127.0.0.1:@F502@ max_fails=0;
        server 127.0.0.1:@G502@ max_fails=0;
        server 127.0.0.1:@H502@ max_fails=0;
    }
    upstream rst {
        server 127.0.0.1:@RESET@ max_fails=0;
        server 127.0.0.1:@B@ max_fails=0;
    }
    upstream refused {
        server 127.0.0.1:@DEAD4@ max_fails=0;
        server 127.0.0.1:@B@ max_fails=0;
    }
    upstream hang {
        server 127.0.0.1:@HANG@ max_fails=0;
        server 127.0.0.1:@B@ max_fails=0;
    }
    upstream hang3 {
        server 127.0.0.1:@HANG@ max_fails=0;
        server 127.0.0.1:@HANG2@ max_fails=0;
        server 127.0.0.1:@HANG3@ max_fails=0;
    }
    upstream st {
        server 127.0.0.1:@STATUS@ max_fails=0;
        server 127.0.0.1:@B@ max_fails=0;
    }
    upstream inv {
        server 127.0.0.1:@INVALID@ max_fails=0;
        server 127.0.0.1:@B@ max_fails=0;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location /bk/      { proxy_pass http://bk; }
        location /pf1/     { proxy_pass http://pf1; }
        location /pf3/     { proxy_pass http://pf3; }
        location /pf0/     { proxy_pass http://pf0; }
        location /e502/    { proxy_pass http://e502; }
        location /n502/    { proxy_pass http://e502; proxy_next_upstream error http_502; }
        location /tries2/  { proxy_pass http://all502; proxy_next_upstream http_502;
                             proxy_next_upstream_tries 2; }
        location /tries0/  { proxy_pass http://all502; proxy_next_upstream http_502; }
        location /rst/     { proxy_pass http://rst; }
        location /rstnonid/ { proxy_pass http://rst;
                              proxy_next_upstream error timeout non_idempotent; }
        location /refused/ { proxy_pass http://refused; }
        location /off/     { proxy_pass http://refused; proxy_next_upstream off; }
        location /hang/    { proxy_pass http://hang; }
        location /hangerr/ { proxy_pass http://hang; proxy_next_upstream error; }
        location /nut/     { proxy_pass http://hang3; proxy_next_upstream_timeout 1500ms; }
        location /stnone/  { proxy_pass http://st; }
        STATUS_LOCATIONS
        location /inv/     { proxy_pass http://inv; }
        location /invretry/ { proxy_pass http://inv;
                              proxy_next_upstream error timeout invalid_header; }
    }
}
""".replace("STATUS_LOCATIONS", "\n".join(
    f"location /st{c}/ {{ proxy_pass http://st; proxy_next_upstream http_{c}; }}"
    for c in RETRY_STATUSES))


@requires_proxy
class RetryTest(unittest.TestCase):
    """Servers with max_fails=0 are never marked down, so round robin keeps alternating
    between a failing and a good server: of two consecutive requests one meets the
    failing server first."""

    @classmethod
    def setUpClass(cls):
        # the upstreams live for the class; each test gets a fresh server (fresh peer
        # state) and a fresh "primary" (one test kills it)
        cls.ups = []

        def up(*a, **kw):
            u = Upstream(*a, **kw)
            cls.ups.append(u)
            return u
        try:
            cls.backup = up("keepalive", name="backup")
            cls.b = up("keepalive", name="b")
            cls.f502 = [up("fixed", "--status", "502", "--body", f"bad{i}", name=f"f502-{i}")
                        for i in range(3)]
            cls.reset = up("reset", name="reset")
            cls.hang = up("hang", name="hang")
            cls.hang2, cls.hang3 = up("hang", name="hang2"), up("hang", name="hang3")
            cls.status = up("echo", name="status")  # answers ?status=N
            cls.invalid = up("garbage", "--kind", "header", name="invalid")
        except BaseException:
            cls.tearDownClass()
            raise
        cls.dead = [free_port() for _ in range(4)]

    @classmethod
    def tearDownClass(cls):
        for u in cls.ups:
            u.stop()

    def setUp(self):
        self.primary = Upstream("keepalive", name="primary")
        try:
            cfg = fill(RETRY_CONFIG, PRIMARY=self.primary.port, BACKUP=self.backup.port,
                       B=self.b.port, DEAD=self.dead[0], DEAD2=self.dead[1],
                       DEAD3=self.dead[2], DEAD4=self.dead[3], F502=self.f502[0].port,
                       G502=self.f502[1].port, H502=self.f502[2].port,
                       RESET=self.reset.port, HANG=self.hang.port, HANG2=self.hang2.port,
                       HANG3=self.hang3.port, STATUS=self.status.port,
                       INVALID=self.invalid.port)
            self.srv = Server(cfg)
        except BaseException:
            self.primary.stop()
            raise
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()
        self.primary.stop()

    def log(self, uri):
        f = self.srv.wait_log_fields(uri, "logs/up.log")
        return {"status": f[1], "addr": f[2].split(", "), "ustatus": f[3].split(", ")}

    def addr(self, port):
        return f"127.0.0.1:{port}"

    # ---- backup / down -----------------------------------------------------------------

    def test_backup_only_when_primaries_down(self):
        for i in range(6):
            self.assertEqual(name_of(request(self.port, f"/bk/{i}")), "primary")
        self.primary.kill()
        for i in range(6):
            r = request(self.port, f"/bk/after{i}")
            self.assertEqual(r.status, 200)
            self.assertEqual(name_of(r), "backup")

    # ---- passive health ----------------------------------------------------------------

    def test_max_fails_1_marks_peer_down_for_fail_timeout(self):
        r = request(self.port, "/pf1/0")
        self.assertEqual(name_of(r), "b")
        self.assertEqual(request(self.port, "/pf1/1").status, 200)
        # one of the first two requests met the dead server and was retried on b
        tried = [self.log(f"/pf1/{i}")["addr"] for i in range(2)]
        self.assertIn([self.addr(self.dead[0]), self.addr(self.b.port)], tried)
        # then the dead server is skipped for fail_timeout (2 s)
        t_fail = time.monotonic()
        for i in range(2, 8):
            self.assertEqual(request(self.port, f"/pf1/{i}").status, 200)
        for i in range(2, 8):
            if time.monotonic() - t_fail < 1.5:
                self.assertEqual(self.log(f"/pf1/{i}")["addr"], [self.addr(self.b.port)])
        # after fail_timeout it is tried again (and fails again, retried to b)
        seen = []

        def retried():
            n = len(seen)
            seen.append(n)
            uri = f"/pf1/late{n}"
            self.assertEqual(request(self.port, uri).status, 200)
            return self.log(uri)["addr"][0] == self.addr(self.dead[0])
        eventually(retried, 6, interval=0.2, message="dead peer tried after fail_timeout")
        self.assertGreater(time.monotonic() - t_fail, 1.5)

    def test_max_fails_3(self):
        for i in range(20):
            self.assertEqual(request(self.port, f"/pf3/{i}").status, 200)
        attempts = sum(self.addr(self.dead[1]) in self.log(f"/pf3/{i}")["addr"]
                       for i in range(20))
        self.assertEqual(attempts, 3)

    def test_max_fails_0_never_marks_down(self):
        for i in range(10):
            self.assertEqual(request(self.port, f"/pf0/{i}").status, 200)
        attempts = sum(self.addr(self.dead[2]) in self.log(f"/pf0/{i}")["addr"]
                       for i in range(10))
        self.assertEqual(attempts, 5)

    # ---- proxy_next_upstream -------------------------------------------------------------

    def test_http_502_not_retried_by_default(self):
        statuses = sorted(request(self.port, f"/e502/{i}").status for i in range(2))
        self.assertEqual(statuses, [200, 502])

    def test_http_502_retried_when_listed(self):
        for i in range(4):
            r = request(self.port, f"/n502/{i}")
            self.assertEqual(r.status, 200)
            self.assertEqual(name_of(r), "b")
        logs = [self.log(f"/n502/{i}") for i in range(4)]
        self.assertIn(["502", "200"], [e["ustatus"] for e in logs])

    def test_next_upstream_tries(self):
        r = request(self.port, "/tries2/x")
        self.assertEqual(r.status, 502)
        e = self.log("/tries2/x")
        self.assertEqual(len(e["addr"]), 2)
        self.assertEqual(e["ustatus"], ["502", "502"])
        # tries 0 (the default): every server once; the last answer is relayed
        r = request(self.port, "/tries0/x")
        self.assertEqual(r.status, 502)
        self.assertIn(r.text, {"bad0", "bad1", "bad2"})
        e = self.log("/tries0/x")
        self.assertEqual(sorted(e["addr"]), sorted(self.addr(u.port) for u in self.f502))

    def test_next_upstream_off(self):
        statuses = sorted(request(self.port, f"/off/{i}").status for i in range(2))
        self.assertEqual(statuses, [200, 502])

    def test_get_retried_after_reset(self):
        for i in range(4):
            self.assertEqual(request(self.port, f"/rst/g{i}").status, 200)

    def test_post_not_retried_after_reset(self):
        # the POST was sent to the upstream that reset: not idempotent, not retried
        statuses = sorted(request(self.port, f"/rst/p{i}", method="POST", body="x").status
                          for i in range(2))
        self.assertEqual(statuses, [200, 502])
        failed = [self.log(f"/rst/p{i}") for i in range(2)]
        self.assertIn([self.addr(self.reset.port)], [e["addr"] for e in failed])

    def test_post_retried_with_non_idempotent(self):
        for i in range(4):
            self.assertEqual(request(self.port, f"/rstnonid/p{i}", method="POST",
                                     body="x").status, 200)

    def test_post_retried_when_never_sent(self):
        # connection refused: the request never left, so even a POST is retried
        for i in range(4):
            self.assertEqual(request(self.port, f"/refused/p{i}", method="POST",
                                     body="x").status, 200)

    def test_timeout_retried(self):
        t0 = time.monotonic()
        for i in range(2):
            self.assertEqual(request(self.port, f"/hang/{i}").status, 200)
        self.assertGreater(time.monotonic() - t0, 0.8)
        self.assertIn(["504", "200"], [self.log(f"/hang/{i}")["ustatus"] for i in range(2)])

    def test_http_status_conditions(self):
        for code in RETRY_STATUSES:
            with self.subTest(code=code):
                # not listed: the upstream's status is relayed
                got = sorted(request(self.port, f"/stnone/{i}?status={code}").status
                             for i in range(2))
                self.assertEqual(got, sorted([200, code]))
                # listed: retried on the next server
                for i in range(2):
                    r = request(self.port, f"/st{code}/{i}?status={code}")
                    self.assertEqual(r.status, 200)
                    self.assertEqual(name_of(r), "b")

    def test_invalid_header(self):
        # an invalid response is an error of its own class, not retried by the default
        # "error timeout"
        got = sorted(request(self.port, f"/inv/{i}").status for i in range(2))
        self.assertEqual(got, [200, 502])
        for i in range(2):
            self.assertEqual(request(self.port, f"/invretry/{i}").status, 200)

    def test_next_upstream_timeout(self):
        # three hanging servers, proxy_read_timeout 1s, proxy_next_upstream_timeout 1.5s:
        # a second try starts at ~1 s, and at ~2 s the time for trying is over -> 504
        t0 = time.monotonic()
        r = request(self.port, "/nut/x")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 504)
        self.assertGreater(elapsed, 1.8)
        self.assertLess(elapsed, 2.9)
        self.assertEqual(len(self.log("/nut/x")["addr"]), 2)

    def test_timeout_not_retried_without_timeout(self):
        statuses = sorted(request(self.port, f"/hangerr/{i}").status for i in range(2))
        self.assertEqual(statuses, [200, 504])


# ============================================================================================
# Upstream keepalive pool
# ============================================================================================

KEEPALIVE_CONFIG = r"""
http {
    default_type text/plain;
    upstream pool {
        server 127.0.0.1:@K@;
        keepalive 16;
    }
    upstream pool5 {
        server 127.0.0.1:@K@;
        keepalive 16;
        keepalive_requests 5;
    }
    upstream poolshort {
        server 127.0.0.1:@K2@;
        keepalive 16;
        keepalive_timeout 1s;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location /pool/   { proxy_pass http://pool; KEEPALIVE }
        location /pool10/ { proxy_pass http://pool; }
        location /pool5/  { proxy_pass http://pool5; KEEPALIVE }
        location /short/  { proxy_pass http://poolshort; KEEPALIVE }
        location /direct/ { proxy_pass http://127.0.0.1:@K@; KEEPALIVE }
    }
}
""".replace("KEEPALIVE", KEEPALIVE)


@requires_proxy
class UpstreamKeepaliveTest(unittest.TestCase):
    def setUp(self):
        self.k = Upstream("keepalive", name="k")
        self.k2 = Upstream("keepalive", name="k2")
        self.srv = Server(fill(KEEPALIVE_CONFIG, K=self.k.port, K2=self.k2.port))
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()
        self.k.stop()
        self.k2.stop()

    def seq(self, path, n):
        return [ka_fields(request(self.port, f"{path}{i}")) for i in range(n)]

    def test_pooled_connection_reused(self):
        got = self.seq("/pool/", 20)
        conns = {c for _, c, _ in got}
        self.assertLessEqual(len(conns), 2, got)
        self.assertGreaterEqual(max(r for _, _, r in got), 10)

    def test_pooled_connection_survives_idle_gaps(self):
        # Between requests the pooled connection sits idle while the upstream's ACKs arrive
        # (an EPOLLOUT edge): that must not make the proxy drop it.
        got = []
        for i in range(4):
            # a large body fills the send buffer, so ACKs keep arriving after the response
            body = "x" * (1 << 20) if i % 2 == 0 else None
            got.append(ka_fields(request(self.port, f"/pool/gap{i}", method="POST" if body else "GET",
                                         body=body)))
            time.sleep(0.3)
        self.assertEqual(len({c for _, c, _ in got}), 1, got)
        self.assertEqual([r for _, _, r in got], [1, 2, 3, 4])

    def test_no_pool_without_http11_and_empty_connection(self):
        # the keepalive group but HTTP/1.0 + Connection: close: a connection per request
        got = self.seq("/pool10/", 6)
        self.assertEqual([r for _, _, r in got], [1] * 6)
        self.assertEqual(len({c for _, c, _ in got}), 6)
        # HTTP/1.1 and Connection "" but no upstream{} keepalive: no reuse either
        got = self.seq("/direct/", 6)
        self.assertEqual([r for _, _, r in got], [1] * 6)

    def test_keepalive_requests(self):
        got = self.seq("/pool5/", 12)
        self.assertEqual(max(r for _, _, r in got), 5)
        self.assertEqual([r for _, _, r in got][:10], [1, 2, 3, 4, 5] * 2)

    def test_keepalive_timeout_closes_idle_pooled_connection(self):
        got = self.seq("/short/", 2)
        self.assertEqual([r for _, _, r in got], [1, 2])
        t0 = time.monotonic()
        self.k2.wait_for(lambda u: u.count("close") >= 1, 5, "pooled connection closed")
        self.assertGreater(time.monotonic() - t0, 0.5)


# ============================================================================================
# An upstream dies under steady load: no failed client request
# ============================================================================================

LOAD_CONFIG = r"""
http {
    default_type text/plain;
    access_log off;
    upstream pair {
        server 127.0.0.1:@A@;
        server 127.0.0.1:@B@;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / { proxy_pass http://pair; }
    }
}
"""


class SteadyLoad(threading.Thread):
    """GET /load/N on one keep-alive connection in a loop until stop() is called. The test
    stops the clients once the load it waits for has happened, so nothing here counts
    requests (a faster machine would run through any count first). `backstop` seconds only
    bounds a test that fails before stopping its clients: a client still running then records
    a failure."""

    def __init__(self, port, backstop=60):
        super().__init__(daemon=True)
        self.port = port
        self.deadline = time.monotonic() + backstop
        self.stop_event = threading.Event()
        self.names = []
        self.failures = []

    def stop(self):
        self.stop_event.set()

    def run(self):
        conn = None
        i = 0
        # Bounded in time (the backstop); every iteration blocks on the network.
        while not self.stop_event.is_set():
            if time.monotonic() > self.deadline:
                self.failures.append("backstop deadline passed before the test stopped "
                                     "the client")
                break
            i += 1
            try:
                if conn is None:
                    conn = RawConn(self.port, timeout=5)
                conn.send(build_request("GET", f"/load/{i}", close=False))
                r = conn.read_response(timeout=5)
                if r.status != 200:
                    self.failures.append(f"status {r.status}: {r.text[:100]}")
                else:
                    self.names.append(name_of(r))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()


@requires_proxy
class KillUnderLoadTest(unittest.TestCase):
    def test_killing_one_of_two_upstreams_fails_no_request(self):
        a = Upstream("keepalive", name="a", quiet=True)
        b = Upstream("keepalive", name="b", quiet=True)
        try:
            with Server(fill(LOAD_CONFIG, A=a.port, B=b.port)) as srv:
                clients = [SteadyLoad(srv.port()) for _ in range(4)]
                try:
                    for c in clients:
                        c.start()
                    eventually(lambda: sum(len(c.names) for c in clients) > 400, 10,
                               message="load running")
                    a.kill()
                    at_kill = [len(c.names) for c in clients]
                    eventually(lambda: sum(len(c.names) for c in clients) - sum(at_kill) > 800,
                               15, message="load after the kill")
                finally:
                    for c in clients:
                        c.stop()
                    for c in clients:
                        c.join(10)
                self.assertFalse(any(c.is_alive() for c in clients), "a client did not stop")
                failures = [f for c in clients for f in c.failures]
                total = sum(len(c.names) for c in clients)
                self.assertEqual(failures, [], f"{len(failures)} failed of {total}")
                before = collections.Counter(n for c, k in zip(clients, at_kill)
                                             for n in c.names[:k])
                after = collections.Counter(n for c, k in zip(clients, at_kill)
                                            for n in c.names[k + 4:])
                self.assertGreater(before["a"], 100, before)
                self.assertEqual(after["a"], 0, after)
                self.assertGreater(after["b"], 700, after)
        finally:
            a.stop()
            b.stop()


if __name__ == "__main__":
    unittest.main()
