"""Limits. worker_connections: the limit holds, idle keep-alive connections make room for new
ones (nginx's "reusing connections"), the worker does not spin while the limit is reached, and
it accepts again as soon as a connection closes. limit_req and limit_conn: burst, nodelay,
delay=, dry run, status codes, log lines, $limit_req_status/$limit_conn_status, zones shared by
every worker thread (exact counts under concurrency), zones kept across a reload.

Every expectation was checked against nginx (PORTICO_TEST_TARGET=nginx). Timing checks only
bound from below (a delayed request cannot come back sooner); no fixed sleeps."""

import os
import socket
import time
import unittest

import threading

from harness import (IS_NGINX, RawConn, Server, build_request, eventually, free_port,
                     portico_only, request, requires_proxy, requires_stream, stream_prelude)
from upstreams import Upstream

CONFIG = r"""
worker_processes 1;
events { worker_connections 8; }
http {
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "ok\n"; }
    }
}
"""


def cpu_ticks(pid):
    """utime+stime of a process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def serving_pid(srv):
    """The process that accepts: portico itself, or nginx's single worker."""
    if not IS_NGINX:
        return srv.proc.pid
    with open(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children") as f:
        return int(f.read().split()[0])


def answered(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(4096).startswith(b"HTTP/1.1 200")  # the whole small response
    except (socket.timeout, ConnectionError):
        return False


class WorkerConnectionsTest(unittest.TestCase):
    # nginx resets some half-received connections in this situation rather than making them
    # wait; portico keeps them waiting in the backlog, so this is checked on portico only.
    @portico_only
    def test_busy_connections_hold_the_limit_without_spinning(self):
        with Server(CONFIG) as srv:
            port = srv.port()
            socks = []
            try:
                # Half a request each: busy, not reusable. More than the limit.
                for _ in range(12):
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(b"GET / HTTP/1.1\r\n")
                    socks.append(s)
                time.sleep(0.3)
                for s in socks:
                    s.sendall(b"Host: a\r\n\r\n")
                first = [s for s in socks if answered(s, 0.5)]
                waiting = [s for s in socks if s not in first]
                self.assertTrue(first, "nothing was served")
                self.assertTrue(waiting, "the limit was not enforced")
                # While full, the server sleeps instead of spinning on the ready listener.
                pid = serving_pid(srv)
                before = cpu_ticks(pid)
                time.sleep(1.0)
                self.assertLess(cpu_ticks(pid) - before, os.sysconf("SC_CLK_TCK") // 5,
                                "worker spins while at the limit")
                # Closing served connections lets the waiting ones in.
                for s in first:
                    s.close()
                pending = list(waiting)

                def progress():
                    for s in list(pending):
                        if answered(s, 0.2):
                            pending.remove(s)
                    return not pending

                eventually(progress, 10, message="waiting connections served")
            finally:
                for s in socks:
                    s.close()
            self.assertIn("worker_connections are not enough", srv.error_log())

    def test_idle_keepalive_connections_are_reused(self):
        with Server(CONFIG, error_log_level="warn") as srv:
            port = srv.port()
            socks = []
            try:
                # Each connection completes a request and then idles in keep-alive: new
                # connections beyond the limit are still served, idle ones get closed.
                for _ in range(16):
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    self.assertTrue(answered(s, 5))
                    socks.append(s)
                closed = 0
                for s in socks:
                    s.settimeout(0.2)
                    try:
                        if s.recv(1) == b"":
                            closed += 1
                    except socket.timeout:
                        pass
                self.assertGreater(closed, 0)
            finally:
                for s in socks:
                    s.close()
            self.assertIn("worker_connections are not enough, reusing connections",
                          srv.error_log())


if __name__ == "__main__":
    unittest.main()


LIMITS_CONFIG = r"""
worker_processes 4;
events {}
http {
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=many:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=slow:1m rate=2r/s;
    limit_req_zone $binary_remote_addr zone=leave:1m rate=2r/s;
    limit_req_zone $binary_remote_addr zone=errpage:1m rate=2r/s;
    limit_req_zone $binary_remote_addr zone=dry:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=mixed:1m rate=4r/s;
    limit_req_zone $arg_k zone=bykey:1m rate=1r/m;
    limit_conn_zone $binary_remote_addr zone=conn:1m;
    limit_conn_zone $binary_remote_addr zone=conndry:1m;
    add_header X-Req "$limit_req_status" always;
    add_header X-Conn "$limit_conn_status" always;
    server {
        listen 127.0.0.1:{port};
        # limit_req runs after the rewrite phase (`return`), as nginx: static files here
        root {prefix}/html;
        location /one/ { limit_req zone=one burst=1 nodelay; limit_req_status 429; }
        location /many/ { limit_req zone=many burst=9 nodelay; }
        location /slow/ { limit_req zone=slow burst=5; }
        location /leave/ { limit_req zone=leave burst=5; }
        location /errpage/ { limit_req zone=errpage burst=5; }
        location /dead/ {
            proxy_pass http://127.0.0.1:@DEAD@;
            error_page 502 /errpage/page;
        }
        location /mixed/ { limit_req zone=mixed burst=5 delay=2; }
        location /dry/ { limit_req zone=dry; limit_req_dry_run on; }
        location /key/ { limit_req zone=bykey; }
        location /conn/ {
            limit_conn conn 1;
            limit_conn_status 429;
            limit_conn_log_level warn;
            proxy_pass http://127.0.0.1:@SLOW@;
        }
        location /conndry/ {
            limit_conn conndry 1;
            limit_conn_dry_run on;
            proxy_pass http://127.0.0.1:@SLOW@;
        }
    }
}
"""


def timed(port, path):
    start = time.monotonic()
    r = request(port, path)
    return r, time.monotonic() - start


@requires_proxy
class LimitReqConnTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.slow = Upstream("slow", "--header-delay", "1.5", name="slow")
        try:
            files = {f"html/{d}/index.html": "ok"
                     for d in ("one", "many", "slow", "mixed", "dry", "key")}
            files["html/leave/x"] = files["html/leave/leaving"] = "ok"
            files["html/errpage/page"] = "error page"
            cfg = LIMITS_CONFIG.replace("@DEAD@", str(free_port()))
            cls.srv = Server(cfg.replace("@SLOW@", str(cls.slow.port)),
                             files=files, error_log_level="info")
        except BaseException:
            cls.slow.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.slow.stop()

    def test_burst_nodelay_and_status(self):
        statuses = [request(self.port, "/one/").status for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 429, 429])
        r = request(self.port, "/one/")
        self.assertEqual(r.header("X-Req"), "REJECTED")
        self.srv.wait_error_log(r'limiting requests, excess: 2\.000 by zone "one", client: '
                                r'127\.0\.0\.1')

    def test_zone_is_shared_by_every_worker(self):
        # 40 clients at once over 4 worker threads: exactly 1 + burst pass, as with nginx's
        # shared memory.
        results = []
        lock = threading.Lock()

        def one():
            st = request(self.port, "/many/").status
            with lock:
                results.append(st)
        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 40)
        self.assertEqual(results.count(200), 10)
        self.assertEqual(results.count(503), 30)

    def test_delay(self):
        # 2r/s, burst 5, no nodelay: each request after the first waits its turn (500 ms).
        first, _ = timed(self.port, "/slow/")
        self.assertEqual((first.status, first.header("X-Req")), (200, "PASSED"))
        second, took = timed(self.port, "/slow/")
        self.assertEqual((second.status, second.header("X-Req")), (200, "DELAYED"))
        self.assertGreaterEqual(took, 0.3)
        self.srv.wait_error_log(r'delaying request, excess: \d\.\d{3}, by zone "slow"')

    def test_delay_parameter(self):
        # burst 5 delay=2 at 4r/s: three requests go at once, the fourth waits.
        passed = [request(self.port, "/mixed/").header("X-Req") for _ in range(3)]
        self.assertEqual(passed, ["PASSED"] * 3)
        r, took = timed(self.port, "/mixed/")
        self.assertEqual((r.status, r.header("X-Req")), (200, "DELAYED"))
        self.assertGreaterEqual(took, 0.1)

    def test_client_leaving_a_delayed_request(self):
        # Fill the bucket, then leave while delayed: the server logs 499 and goes on.
        for _ in range(3):
            request(self.port, "/leave/x")
        c = RawConn(self.port)
        c.send(build_request("GET", "/leave/leaving"))
        c.close()
        eventually(lambda: any("/leave/leaving" in l and '" 499 ' in l
                               for l in self.srv.access_log()),
                   timeout=15, message="a 499 for the request the client left")

    def test_error_page_into_a_limited_location(self):
        # A failed proxy attempt's error_page leads to a location with limit_req: it applies
        # there (the first location had none), and may delay the page.
        first = request(self.port, "/dead/a")
        self.assertEqual((first.status, first.text), (502, "error page"))
        self.assertEqual(first.header("X-Req"), "PASSED")
        second, took = timed(self.port, "/dead/b")
        self.assertEqual((second.status, second.text), (502, "error page"))
        self.assertEqual(second.header("X-Req"), "DELAYED")
        self.assertGreaterEqual(took, 0.3)

    def test_dry_run(self):
        got = [request(self.port, "/dry/") for _ in range(3)]
        self.assertEqual([r.status for r in got], [200, 200, 200])
        self.assertEqual([r.header("X-Req") for r in got],
                         ["PASSED", "REJECTED_DRY_RUN", "REJECTED_DRY_RUN"])
        self.srv.wait_error_log(r'limiting requests, dry run, excess: 1\.000 by zone "dry"')

    def test_empty_key_is_not_limited(self):
        for _ in range(3):
            r = request(self.port, "/key/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("X-Req", ""), "")
        self.assertEqual(request(self.port, "/key/?k=a").status, 200)
        self.assertEqual(request(self.port, "/key/?k=a").status, 503)
        self.assertEqual(request(self.port, "/key/?k=b").status, 200)

    def test_limit_conn(self):
        holder = RawConn(self.port, timeout=10)
        try:
            holder.send(build_request("GET", "/conn/first"))
            self.slow.wait_for(lambda u: any(e[1:4] == ("req", "1", "GET") and
                                             e[4].endswith("/conn/first") for e in u.events
                                             if len(e) >= 5),
                               message="the first request reached the upstream")
            r = request(self.port, "/conn/second")
            self.assertEqual((r.status, r.header("X-Conn")), (429, "REJECTED"))
            first = holder.read_final_response()
            self.assertEqual((first.status, first.header("X-Conn")), (200, "PASSED"))
        finally:
            holder.close()
        # Released with the end of the request: the next one passes.
        eventually(lambda: request(self.port, "/conn/third").status == 200, timeout=10,
                   message="limit_conn released")
        self.srv.wait_error_log(r'\[warn\].*limiting connections by zone "conn"')

    def test_limit_conn_dry_run(self):
        holder = RawConn(self.port, timeout=10)
        try:
            holder.send(build_request("GET", "/conndry/first"))
            self.slow.wait_for(lambda u: any(len(e) >= 5 and e[4].endswith("/conndry/first")
                                             for e in u.events),
                               message="the first request reached the upstream")
            r = request(self.port, "/conndry/second")
            self.assertEqual((r.status, r.header("X-Conn")), (200, "REJECTED_DRY_RUN"))
            holder.read_final_response()
        finally:
            holder.close()


class LimitReloadTest(unittest.TestCase):
    CONFIG = r"""
    events {}
    http {
        limit_req_zone $binary_remote_addr zone=z:1m rate=1r/m;
        server {
            listen 127.0.0.1:{port};
            root {prefix}/html;
            location / { limit_req zone=z; add_header X-Gen GEN; }
        }
    }
    """

    def test_zone_survives_reload(self):
        srv = Server(self.CONFIG.replace("GEN", "one"), files={"html/index.html": "ok"})
        try:
            self.assertEqual(request(srv.port(), "/").status, 200)
            self.assertEqual(request(srv.port(), "/").status, 503)
            srv.reload(self.CONFIG.replace("GEN", "two"))
            # A refusal carries add_header only with `always`: wait for the new generation by
            # its refusals' absence of... the status alone: it stays 503 across the reload.
            for _ in range(3):
                self.assertEqual(request(srv.port(), "/").status, 503)
        finally:
            srv.stop()


class LimitConfigTest(unittest.TestCase):
    def refused(self, http_body, pattern, needle):
        """-t refuses the config with `pattern` at the line holding `needle`."""
        srv = Server("events {}\nhttp {\n" + http_body + "\n}\n", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0, out.stderr)
            self.assertRegex(out.stderr, pattern + rf" in \S+:{srv.line_of(needle)}\b")
        finally:
            srv.stop()

    def test_errors_name_file_and_line(self):
        self.refused("limit_req_zone $binary_remote_addr zone=z:1m rate=1x/s;",
                     r'invalid rate "rate=1x/s"', "rate=1x/s")
        self.refused("limit_req_zone $binary_remote_addr zone=z:1k rate=1r/s;",
                     r'zone "zone=z:1k" is too small', "z:1k")
        self.refused("limit_req_zone $binary_remote_addr zone=z:1m foo=1;",
                     r'invalid parameter "foo=1"', "foo=1")
        self.refused("limit_req_zone $binary_remote_addr zone=z:1m;",
                     r'invalid number of arguments in "limit_req_zone" directive', "z:1m")
        self.refused("limit_conn_zone $binary_remote_addr zone=c:1m;\n"
                     "server { listen 127.0.0.1:{port}; limit_conn c 70000; }",
                     r'connection limit must be less 65536', "70000")
        self.refused("limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\n"
                     "server { listen 127.0.0.1:{port}; limit_req zone=z burst=x; }",
                     r'invalid burst value "burst=x"', "burst=x")
        self.refused("server { listen 127.0.0.1:{port}; limit_req_status 600; }",
                     r'value must be between 400 and 599', "limit_req_status")

    def test_unknown_zone(self):
        # nginx names no line for it (it is found when the shared zones are set up).
        srv = Server("events {}\nhttp {\nserver { listen 127.0.0.1:{port}; "
                     "limit_req zone=nope; }\n}\n", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertIn('zero size shared memory zone "nope"', out.stderr)
        finally:
            srv.stop()


STREAM_LIMIT_CONFIG = r"""
events {}
stream {
    limit_conn_zone $binary_remote_addr zone=one:1m;
    log_format st '$remote_addr $status';
    access_log logs/stream.log st;
    server {
        listen 127.0.0.1:{port};
        limit_conn one 1;
        limit_conn_log_level warn;
        proxy_pass 127.0.0.1:@ECHO@;
    }
    server {
        listen 127.0.0.1:{port_dry};
        limit_conn one 1;
        limit_conn_dry_run on;
        proxy_pass 127.0.0.1:@ECHO@;
    }
}
"""


def echo_once(sock, data=b"ping", timeout=10):
    """Sends data and reads until it is echoed back; b"" when the server closed instead."""
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
    except OSError:
        return b""
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < len(data) and time.monotonic() < deadline:
        try:
            chunk = sock.recv(len(data) - len(got))
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        got += chunk
    return got


@requires_stream
class StreamLimitConnTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("tcpecho", name="echo")
        try:
            cls.srv = Server(stream_prelude() + STREAM_LIMIT_CONFIG.replace(
                "@ECHO@", str(cls.echo.port)), default_access_log=False, error_log_level="info")
        except BaseException:
            cls.echo.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()

    def test_second_session_is_refused_until_the_first_ends(self):
        port = self.srv.port()
        first = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            self.assertEqual(echo_once(first), b"ping")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
                self.assertEqual(echo_once(second), b"")
            self.srv.wait_error_log(r'\[warn\].*limiting connections by zone "one"')
            eventually(lambda: "127.0.0.1 503" in self.srv.access_log("logs/stream.log"),
                       message="the refused session is logged 503")
        finally:
            first.close()

        def passes():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                return echo_once(s) == b"ping"
        eventually(passes, timeout=10, message="the limit is free again")

    def test_dry_run_lets_it_through(self):
        port = self.srv.port("port_dry")
        first = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            self.assertEqual(echo_once(first), b"ping")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
                self.assertEqual(echo_once(second), b"ping")
        finally:
            first.close()
