"""L4 proxy (stream {}): TCP echo through the proxy, half-close, balancing, passive retry,
allow/deny, connect/idle timeouts, and the stream access log.

Under nginx the stream module is dynamic on Debian (libnginx-mod-stream): the config starts
with load_module (harness.stream_prelude()). Skipped for portico unless PORTICO_HAS_STREAM=1.
The upstreams are upstreams.py's `tcpecho` mode: it echoes, and when the client half-closes
it sends `[EOF NAME N]` (N = bytes it received) and closes."""

import collections
import hashlib
import os
import signal
import re
import socket
import threading
import time
import unittest

from harness import (HAVE_IPV6, Server, eventually, free_port, nginx_only, request,
                     requires_stream, stream_prelude)
from upstreams import FullBacklog, Upstream

STREAM_CONFIG = r"""
events {}
stream {
    log_format basic '$remote_addr|$upstream_addr|$bytes_sent|$bytes_received|'
                     '$session_time|$status|$server_port|$upstream_bytes_sent|'
                     '$upstream_bytes_received';
    access_log logs/stream.log basic;
    upstream pair {
        server 127.0.0.1:@E1@;
        server 127.0.0.1:@E2@;
    }
    upstream withdead {
        server 127.0.0.1:@DEAD@;
        server 127.0.0.1:@E1@;
    }
    server {
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:@E1@;
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:{port_nohalf};
        proxy_pass 127.0.0.1:@E1@;
    }
    server {
        listen 127.0.0.1:{port_pair};
        proxy_pass pair;
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:{port_acl};
        IPV6_ACL_LISTEN
        deny ::1;
        allow 127.0.0.1;
        deny all;
        proxy_pass 127.0.0.1:@E1@;
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:{port_refused};
        proxy_pass 127.0.0.1:@DEAD@;
    }
    server {
        listen 127.0.0.1:{port_backlog};
        proxy_pass 127.0.0.1:@BACKLOG@;
        proxy_connect_timeout 1s;
    }
    server {
        listen 127.0.0.1:{port_quiet};
        proxy_pass 127.0.0.1:@E1@;
        proxy_connect_timeout 300ms;
    }
    server {
        listen 127.0.0.1:{port_idle};
        proxy_pass 127.0.0.1:@E1@;
        proxy_timeout 1s;
    }
    server {
        listen 127.0.0.1:{port_retry};
        proxy_pass withdead;
        proxy_half_close on;
    }
    upstream hashed {
        hash $remote_addr;
        server 127.0.0.1:@E1@;
        server 127.0.0.1:@E2@;
    }
    upstream hashed_fixed {
        hash "k-$server_port" consistent;
        server 127.0.0.1:@E1@;
        server 127.0.0.1:@E2@;
    }
    server {
        listen 127.0.0.1:{port_hash};
        proxy_pass hashed;
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:{port_hash_fixed};
        proxy_pass hashed_fixed;
        proxy_half_close on;
    }
}
"""


def connect(port, addr="127.0.0.1", timeout=10):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((addr, port))
    return s


def recv_exact(s, n, timeout=10):
    deadline = time.monotonic() + timeout
    buf = b""
    for _ in range(1_000_000):
        if len(buf) >= n:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"got {len(buf)} of {n} bytes")
        s.settimeout(left)
        chunk = s.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_until_eof(s, timeout=10):
    """All bytes until EOF (a reset counts as EOF). Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    buf = b""
    for _ in range(1_000_000):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no EOF; have {buf[-200:]!r}")
        s.settimeout(left)
        try:
            chunk = s.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


@requires_stream
class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.e1 = Upstream("tcpecho", name="e1")
        cls.e2 = Upstream("tcpecho", name="e2")
        cls.backlog = FullBacklog()
        cls.dead = free_port()
        cfg = STREAM_CONFIG
        for k, v in dict(E1=cls.e1.port, E2=cls.e2.port, DEAD=cls.dead,
                         BACKLOG=cls.backlog.port).items():
            cfg = cfg.replace(f"@{k}@", str(v))
        cfg = cfg.replace("IPV6_ACL_LISTEN", "listen [::1]:{port_acl};" if HAVE_IPV6 else "")
        try:
            cls.srv = Server(stream_prelude() + cfg, default_access_log=False)
        except BaseException:
            cls.e1.stop()
            cls.e2.stop()
            cls.backlog.close()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.e1.stop()
        cls.e2.stop()
        cls.backlog.close()

    def log_lines(self):
        out = []
        for line in self.srv.access_log("logs/stream.log"):
            f = line.split("|")
            out.append(dict(zip(["addr", "upstream", "sent", "received", "time", "status",
                                 "port", "up_sent", "up_received"], f)))
        return out

    def wait_log(self, pred, message):
        return eventually(lambda: next((e for e in self.log_lines() if pred(e)), None), 5,
                          message=message)

    # ---- echo and half-close -----------------------------------------------------------

    def test_echo(self):
        with connect(self.port) as s:
            for msg in (b"hello", b"x" * 10000, os.urandom(100)):
                s.sendall(msg)
                self.assertEqual(recv_exact(s, len(msg)), msg)

    def test_half_close_reply_still_arrives(self):
        # client shutdown(SHUT_WR) -> the upstream sees EOF -> its reply still arrives
        with connect(self.port) as s:
            s.sendall(b"question")
            self.assertEqual(recv_exact(s, 8), b"question")
            s.shutdown(socket.SHUT_WR)
            rest = recv_until_eof(s)
        self.assertEqual(rest, b"[EOF e1 8]")

    def test_half_close_right_after_data(self):
        with connect(self.port) as s:
            s.sendall(b"abc")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(s), b"abc[EOF e1 3]")

    @nginx_only
    def test_nginx_without_proxy_half_close_ends_session_on_client_eof(self):
        # SURPRISE: nginx's default is proxy_half_close off: the client's EOF ends the whole
        # session and the upstream's reply to the EOF never reaches the client; the other
        # servers here set proxy_half_close on (nginx >= 1.21.4)
        with connect(self.srv.port("port_nohalf")) as s:
            s.sendall(b"abc")
            self.assertEqual(recv_exact(s, 3), b"abc")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(s), b"")

    def test_large_both_ways(self):
        data = os.urandom(8 * 1024 * 1024)
        got = []
        with connect(self.port, timeout=30) as s:
            def reader():
                try:
                    got.append(recv_until_eof(s, 30))
                except Exception as e:  # noqa: BLE001 - checked below
                    got.append(e)
            t = threading.Thread(target=reader, daemon=True)
            t.start()
            for i in range(0, len(data), 1 << 20):
                s.sendall(data[i:i + (1 << 20)])
            s.shutdown(socket.SHUT_WR)
            t.join(35)
        self.assertIsInstance(got[0], bytes, got[0])
        trailer = f"[EOF e1 {len(data)}]".encode()
        self.assertTrue(got[0].endswith(trailer), got[0][-50:])
        self.assertEqual(hashlib.sha256(got[0][:-len(trailer)]).hexdigest(),
                         hashlib.sha256(data).hexdigest())

    # ---- balancing, retry -----------------------------------------------------------------

    def session_name(self, port):
        with connect(port) as s:
            s.shutdown(socket.SHUT_WR)
            data = recv_until_eof(s)
        m = re.fullmatch(rb"\[EOF (\w+) 0\]", data)
        self.assertIsNotNone(m, data)
        return m.group(1).decode()

    def test_round_robin_across_two(self):
        names = collections.Counter(self.session_name(self.srv.port("port_pair"))
                                    for _ in range(10))
        self.assertEqual(names, {"e1": 5, "e2": 5})

    def test_hash_by_remote_addr_sticks(self):
        # every session comes from 127.0.0.1: `hash $remote_addr` sends all to one server
        # (the key used to be ignored: round robin spread them 5/5)
        for port_name in ("port_hash", "port_hash_fixed"):
            names = collections.Counter(self.session_name(self.srv.port(port_name))
                                        for _ in range(10))
            self.assertEqual(len(names), 1, (port_name, names))
            self.assertEqual(sum(names.values()), 10)

    def test_refused_peer_retried(self):
        for _ in range(4):
            self.assertEqual(self.session_name(self.srv.port("port_retry")), "e1")
        # The attempt that did not connect is in the per-attempt variables with 0 bytes.
        e = self.wait_log(lambda e: e["port"] == str(self.srv.port("port_retry"))
                          and ", " in e["upstream"], "log line of a retried session")
        self.assertEqual(e["upstream"], f"127.0.0.1:{self.dead}, 127.0.0.1:{self.e1.port}")
        self.assertRegex(e["up_sent"], r"^0, \d+$")
        self.assertRegex(e["up_received"], r"^0, [1-9]\d*$")

    # ---- access control ----------------------------------------------------------------

    def test_allow(self):
        with connect(self.srv.port("port_acl")) as s:
            s.sendall(b"ok?")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(s), b"ok?[EOF e1 3]")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_deny_closes_without_data(self):
        port = self.srv.port("port_acl")
        with connect(port, addr="::1") as s:
            try:
                s.sendall(b"let me in")
            except OSError:
                pass
            self.assertEqual(recv_until_eof(s, 5), b"")
        self.wait_log(lambda e: e["addr"] == "::1" and e["status"] == "403",
                      "403 for the denied session")

    # ---- failures and timeouts -----------------------------------------------------------

    def test_refused_upstream_closes_client(self):
        with connect(self.srv.port("port_refused")) as s:
            self.assertEqual(recv_until_eof(s, 5), b"")
        e = self.wait_log(lambda e: e["port"] == str(self.srv.port("port_refused")),
                          "log line of the refused session")
        self.assertEqual(e["status"], "502")
        self.assertEqual(e["upstream"], f"127.0.0.1:{self.dead}")
        self.srv.wait_error_log(r"connect\(\) failed \(111: Connection refused\) while "
                                r"connecting to upstream")

    def test_connect_timeout(self):
        if not self.backlog.ok:
            self.skipTest("could not fill the accept queue")
        t0 = time.monotonic()
        with connect(self.srv.port("port_backlog")) as s:
            self.assertEqual(recv_until_eof(s, 5), b"")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 4)
        self.srv.wait_error_log(r"upstream timed out \(110: Connection timed out\) while "
                                r"connecting to upstream")
        self.wait_log(lambda e: e["port"] == str(self.srv.port("port_backlog"))
                      and e["status"] == "502", "502 after the connect timeout")

    def test_quiet_session_outlives_the_connect_timeout(self):
        # proxy_connect_timeout ends with the connect: a client that says nothing at first
        # (nginx-tests stream_proxy.t) keeps its session until proxy_timeout.
        with connect(self.srv.port("port_quiet")) as s:
            s.settimeout(1.0)  # more than three connect timeouts: the session must stay
            with self.assertRaises(socket.timeout):
                s.recv(1)
            s.sendall(b"late")
            self.assertEqual(recv_exact(s, 4), b"late")

    def test_idle_timeout(self):
        with connect(self.srv.port("port_idle")) as s:
            s.sendall(b"hi")
            self.assertEqual(recv_exact(s, 2), b"hi")
            t0 = time.monotonic()
            self.assertEqual(recv_until_eof(s, 5), b"")
            elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.7)
        self.assertLess(elapsed, 4)
        # an idle timeout is a normal end of the session
        e = self.wait_log(lambda e: e["port"] == str(self.srv.port("port_idle"))
                          and e["received"] == "2", "log line of the idle session")
        self.assertEqual(e["status"], "200")
        self.assertEqual(e["sent"], "2")
        self.assertGreaterEqual(float(e["time"]), 0.9)

    # ---- access log -------------------------------------------------------------------

    def test_access_log_fields(self):
        with connect(self.port) as s:
            s.sendall(b"0123456789ABC")  # 13 bytes
            self.assertEqual(recv_exact(s, 13), b"0123456789ABC")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(s), b"[EOF e1 13]")
        e = self.wait_log(lambda e: e["port"] == str(self.port) and e["received"] == "13",
                          "log line of the session")
        self.assertEqual(e["addr"], "127.0.0.1")
        self.assertEqual(e["upstream"], f"127.0.0.1:{self.e1.port}")
        self.assertEqual(e["sent"], str(13 + len(b"[EOF e1 13]")))
        self.assertRegex(e["time"], r"^\d+\.\d{3}$")
        self.assertEqual(e["status"], "200")


REOPEN_CONFIG = r"""
events {}
http {
    server {
        listen 127.0.0.1:{port_http};
        location / { return 200 "ok\n"; }
    }
}
stream {
    log_format basic '$bytes_received|$server_port';
    access_log logs/stream.log basic;
    server {
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:@E1@;
    }
}
"""


@requires_stream
@requires_stream
class NextUpstreamTimeoutTest(unittest.TestCase):
    """proxy_next_upstream_timeout bounds the time spent trying servers: three servers that
    never answer a SYN, 1 s connect timeout each; 1.5 s allowed: two tries, not three."""

    def test_gives_up_after_the_time_allowed(self):
        holes = [FullBacklog() for _ in range(3)]
        try:
            if not all(h.ok for h in holes):
                self.skipTest("could not fill the accept queues")
            # max_fails=0: the harness's readiness probe (a session too) must not mark them down
            servers = "".join(f"        server 127.0.0.1:{h.port} max_fails=0;\n" for h in holes)
            cfg = ("events {}\nstream {\n    upstream holes {\n" + servers + "    }\n"
                   "    server {\n        listen 127.0.0.1:{port};\n"
                   "        proxy_pass holes;\n        proxy_connect_timeout 1s;\n"
                   "        proxy_next_upstream_timeout 1500ms;\n    }\n}\n")
            with Server(stream_prelude() + cfg, default_access_log=False) as srv:
                t0 = time.monotonic()
                with connect(srv.port()) as s:
                    self.assertEqual(recv_until_eof(s, 10), b"")
                elapsed = time.monotonic() - t0
                # two connect timeouts (2 s), then the 1.5 s budget is spent; three would be 3 s
                self.assertGreater(elapsed, 1.8)
                self.assertLess(elapsed, 2.9)
                srv.wait_error_log(r"upstream timed out")
        finally:
            for h in holes:
                h.close()


@requires_stream
class BufferSizeTest(unittest.TestCase):
    """proxy_buffer_size bounds each step of the relay; tcp_nodelay off|on at stream and
    server level. A 1-byte buffer still relays everything, in order, both ways."""

    def test_one_byte_buffer_relays_everything(self):
        with Upstream("tcpecho", name="e1") as e1:
            cfg = ("events {}\nstream {\n    proxy_buffer_size 1;\n    tcp_nodelay off;\n"
                   f"    server {{ listen 127.0.0.1:{{port}}; proxy_pass 127.0.0.1:{e1.port}; }}\n"
                   f"    server {{ tcp_nodelay on; listen 127.0.0.1:{{port2}};"
                   f" proxy_pass 127.0.0.1:{e1.port}; }}\n}}\n")
            with Server(stream_prelude() + cfg, default_access_log=False) as srv:
                data = os.urandom(3000)
                for port in (srv.port(), srv.port("port2")):
                    with connect(port) as s:
                        s.sendall(data)
                        self.assertEqual(recv_exact(s, len(data)), data)


class StreamConfigTest(unittest.TestCase):
    """A stream `hash` key with an unknown variable is refused at the hash line."""

    @requires_stream
    def test_unknown_variable_in_hash_key(self):
        cfg = ("events {}\nstream {\n    upstream u {\n        hash $no_such_thing;\n"
               "        server 127.0.0.1:1;\n    }\n    server {\n"
               "        listen 127.0.0.1:{port};\n        proxy_pass u;\n    }\n}\n")
        srv = Server(stream_prelude() + cfg, start=False, default_access_log=False)
        try:
            line = srv.line_of("hash $no_such_thing")
            r = srv.run_cli("-t")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertRegex(r.stderr, r"\[emerg\] (\d+#\d+: )?" + re.escape(
                f'unknown "no_such_thing" variable in {srv.conf_path}:{line}'))
        finally:
            srv.stop()


class LogReopenTest(unittest.TestCase):
    """USR1 (logrotate's postrotate) reopens every log file: the stream access log too, not
    only http's."""

    def session(self, port, payload):
        with connect(port) as s:
            s.sendall(payload)
            self.assertEqual(recv_exact(s, len(payload)), payload)
            s.shutdown(socket.SHUT_WR)
            recv_until_eof(s)

    def test_usr1_reopens_stream_and_http_access_logs(self):
        e1 = Upstream("tcpecho", name="e1")
        try:
            with Server(stream_prelude() + REOPEN_CONFIG.replace("@E1@", str(e1.port))) as srv:
                port, http_port = srv.port(), srv.port("port_http")
                self.session(port, b"before")  # 6 bytes
                eventually(lambda: f"6|{port}" in srv.access_log("logs/stream.log"), 5,
                           message="stream log line before the rotation")
                for name in ("stream.log", "access.log"):
                    os.rename(srv.path(f"logs/{name}"), srv.path(f"logs/{name}.1"))
                srv.signal(signal.SIGUSR1)
                eventually(lambda: all(os.path.exists(srv.path(f"logs/{n}"))
                                       for n in ("stream.log", "access.log")), 5,
                           message="log files reopened")

                def stream_line_in_new_file():
                    self.session(port, b"rotated")  # 7 bytes
                    return f"7|{port}" in srv.access_log("logs/stream.log")

                def http_line_in_new_file():
                    request(http_port, "/after-rotation")
                    return any("/after-rotation" in line for line in srv.access_log())

                # Sessions until one is logged to the new file (nginx's workers reopen a
                # moment after the master): the rotated file only ever gets them otherwise.
                eventually(stream_line_in_new_file, 5, interval=0.2,
                           message="a stream session logged to the new stream.log")
                eventually(http_line_in_new_file, 5, interval=0.2,
                           message="a request logged to the new access.log")
        finally:
            e1.stop()


SHUTDOWN_CONFIG = r"""
worker_shutdown_timeout 1s;
events {}
stream {
    server {
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:@E1@;
    }
}
"""


@requires_stream
class GracefulStopTest(unittest.TestCase):
    def test_quit_waits_for_sessions_up_to_worker_shutdown_timeout(self):
        # A TCP session has no request boundary: a graceful stop lets it run, but no longer
        # than worker_shutdown_timeout; then the process exits and the session is closed.
        e1 = Upstream("tcpecho", name="e1")
        try:
            srv = Server(stream_prelude() + SHUTDOWN_CONFIG.replace("@E1@", str(e1.port)),
                         default_access_log=False)
            try:
                s = connect(srv.port())
                s.sendall(b"ping")
                self.assertEqual(recv_exact(s, 4), b"ping")
                t0 = time.monotonic()
                os.kill(srv.proc.pid, signal.SIGQUIT)
                self.assertTrue(srv.wait_exit(10), "did not exit")
                elapsed = time.monotonic() - t0
                self.assertGreater(elapsed, 0.5)
                self.assertLess(elapsed, 5)
                self.assertEqual(recv_until_eof(s, 5), b"")
                s.close()
            finally:
                srv.stop()
        finally:
            e1.stop()


if __name__ == "__main__":
    unittest.main()
