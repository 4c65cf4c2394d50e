"""Reload and graceful shutdown: no failed requests under load while reloading, listeners
added and removed on reload, in-flight transfers finish on reload and on graceful quit."""

import hashlib
import os
import signal
import socket
import tempfile
import threading
import time
import unittest

from harness import (ConnectionClosed, RawConn, Server, build_request, eventually,
                     port_accepts, portico_only, request)


def versioned(body, extra_listen=""):
    return r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        EXTRA
        server_name localhost;
        root {prefix}/html;
        location = /v {
            return 200 "BODY";
        }
        location / {
        }
    }
}
""".replace("BODY", body).replace("EXTRA", extra_listen)


class LoadClient(threading.Thread):
    """Sends GET /v in a loop until stop() is called: bursts on one keep-alive connection
    alternating with fresh Connection: close connections.

    The test stops the clients once they have seen the state it waits for, so the amount of
    load follows the machine's speed; nothing here counts requests (a faster machine would run
    through any count before the last reload). `backstop` seconds is only a bound for a test
    that fails before stopping its clients: a client still running then records a failure.

    A request that fails on a *reused* keep-alive connection before any response byte
    arrived is retried once on a new connection, as every HTTP client does (RFC 9112 9.3.1):
    the server may close an idle keep-alive connection at any moment (nginx does so when old
    workers shut down after a reload). Everything else counts as a failure."""

    def __init__(self, port, backstop=60):
        super().__init__(daemon=True)
        self.port = port
        self.deadline = time.monotonic() + backstop
        self.stop_event = threading.Event()
        self.bodies = []
        self.failures = []
        self.retries = 0

    def stop(self):
        self.stop_event.set()

    def one(self, conn, close):
        conn.send(build_request("GET", "/v", close=close))
        r = conn.read_response(timeout=5)
        if r.status != 200:
            raise AssertionError(f"status {r.status}")
        return r

    def run(self):
        conn, used = None, 0
        fresh = True
        # Bounded in time (the backstop); every iteration blocks on the network.
        while not self.stop_event.is_set():
            if time.monotonic() > self.deadline:
                self.failures.append("backstop deadline passed before the test stopped "
                                     "the client")
                break
            fresh = not fresh
            try:
                if fresh:
                    with RawConn(self.port, timeout=5) as c:
                        self.bodies.append(self.one(c, close=True).text)
                    continue
                if conn is None:
                    conn, used = RawConn(self.port, timeout=5), 0
                try:
                    r = self.one(conn, close=False)
                except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
                    partial = getattr(e, "partial", b"")
                    if used == 0 or partial:
                        raise
                    conn.close()
                    self.retries += 1
                    conn, used = RawConn(self.port, timeout=5), 0
                    r = self.one(conn, close=False)
                used += 1
                self.bodies.append(r.text)
                if r.header("Connection") == "close" or used >= 5:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.failures.append(repr(e))
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()


class ReloadUnderLoadTest(unittest.TestCase):
    def test_reload_under_load_loses_nothing(self):
        with Server(versioned("v1")) as srv:
            port = srv.port()
            clients = [LoadClient(port) for _ in range(2)]
            try:
                for c in clients:
                    c.start()
                start = time.monotonic()
                for n in (2, 3, 4):
                    # every client is being answered by the current config ...
                    eventually(lambda: all(c.bodies[-1:] == [f"v{n - 1}"] for c in clients), 10,
                               message=f"clients seeing v{n - 1}")
                    time.sleep(1.0)  # ... and load runs on it a while (pacing, not readiness)
                    srv.reload(versioned(f"v{n}"))
                    eventually(lambda: request(port, "/v").text == f"v{n}", 10,
                               message=f"v{n} after reload")
                # keep the load going for a moment on the final config
                eventually(lambda: all(c.bodies[-3:] == ["v4"] * 3 for c in clients), 10,
                           message="clients seeing v4")
            finally:
                for c in clients:
                    c.stop()
                for c in clients:
                    c.join(10)
            self.assertFalse(any(c.is_alive() for c in clients), "a client did not stop")
            elapsed = time.monotonic() - start
            total = sum(len(c.bodies) for c in clients)
            failures = [f for c in clients for f in c.failures]
            self.assertEqual(failures, [], f"{len(failures)} failed of {total} in {elapsed:.1f}s")
            self.assertGreater(total, 50)
            seen = {b for c in clients for b in c.bodies}
            self.assertLessEqual(seen, {"v1", "v2", "v3", "v4"})
            self.assertIn("v1", seen)
            self.assertIn("v4", seen)


class ListenerReloadTest(unittest.TestCase):
    def test_add_and_remove_listener(self):
        with Server(versioned("one")) as srv:
            port, port2 = srv.port(), srv.port("port2")
            self.assertFalse(port_accepts("127.0.0.1", port2))
            srv.reload(versioned("two", "listen 127.0.0.1:{port2};"))
            eventually(lambda: port_accepts("127.0.0.1", port2), 10, message="new listener")
            eventually(lambda: request(port2, "/v").text == "two", 10)
            # old workers may still take a connection or two on the old port meanwhile
            eventually(lambda: request(port, "/v").text == "two", 10)
            srv.reload(versioned("three"))
            eventually(lambda: request(port, "/v").text == "three", 10)
            eventually(lambda: not port_accepts("127.0.0.1", port2), 10,
                       message="removed listener closed")
            self.assertTrue(srv.running())


BIG = os.urandom(32 * 1024 * 1024)
BIG_SHA = hashlib.sha256(BIG).hexdigest()


def start_slow_download(port):
    """Request /big.bin and read the head and a little of the body, then stop reading: the
    file is far larger than the socket buffers, so the response stays in flight until the
    client reads on. Returns (conn, response head, bytes read so far)."""
    conn = RawConn(port, timeout=20)
    conn.send(build_request("GET", "/big.bin"))
    got = b""
    for _ in range(1000):
        if b"\r\n\r\n" in conn.buf and len(conn.buf) > 100_000:
            break
        chunk = conn.sock.recv(16384)
        if not chunk:
            break
        conn.buf += chunk
    head, _, got = conn.buf.partition(b"\r\n\r\n")
    conn.buf = b""
    return conn, head, got


def finish_download(conn, got, expected_len, timeout=20):
    deadline = time.monotonic() + timeout
    conn.sock.settimeout(5)
    for _ in range(100000):
        if len(got) >= expected_len or time.monotonic() > deadline:
            break
        chunk = conn.sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    return got


class GracefulTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(versioned("g1"), {"html/big.bin": BIG})
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()

    def test_inflight_transfer_survives_reload(self):
        conn, head, got = start_slow_download(self.port)
        with conn:
            self.assertIn(b" 200 ", head.split(b"\r\n")[0])
            self.srv.reload(versioned("g2"))
            eventually(lambda: request(self.port, "/v").text == "g2", 10)
            got = finish_download(conn, got, len(BIG))
        self.assertEqual(len(got), len(BIG))
        self.assertEqual(hashlib.sha256(got).hexdigest(), BIG_SHA)

    def test_graceful_quit_finishes_inflight_request(self):
        conn, head, got = start_slow_download(self.port)
        with conn:
            self.assertIn(b" 200 ", head.split(b"\r\n")[0])
            self.assertLess(len(got), len(BIG) // 2)
            self.srv.signal(signal.SIGQUIT)
            # new connections are refused once the listeners are closed
            eventually(lambda: not port_accepts("127.0.0.1", self.port), 10,
                       message="listener closed after SIGQUIT")
            self.assertTrue(self.srv.running(), "exited before the transfer finished")
            got = finish_download(conn, got, len(BIG))
        self.assertEqual(len(got), len(BIG))
        self.assertEqual(hashlib.sha256(got).hexdigest(), BIG_SHA)
        self.assertTrue(self.srv.wait_exit(10), "did not exit after the last request")
        self.assertEqual(self.srv.proc.returncode, 0)

    def test_graceful_quit_closes_idle_keepalive(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/v", close=False))
            self.assertEqual(c.read_response().text, "g1")
            self.srv.signal(signal.SIGQUIT)
            self.assertTrue(c.closed_within(10))
            self.assertEqual(c.buf, b"")
        self.assertTrue(self.srv.wait_exit(10))


@portico_only
class SystemdNotifyTest(unittest.TestCase):
    """sd_notify as systemd's Type=notify-reload expects: READY=1 with MAINPID, RELOADING=1
    with MONOTONIC_USEC (the clock the reload began), READY=1 again, STOPPING=1."""

    def test_ready_reloading_stopping(self):
        path = os.path.join(tempfile.mkdtemp(prefix="portico-notify-"), "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        old = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = path
        srv = None
        try:
            srv = Server("http {\n server { listen 127.0.0.1:{port}; return 200; }\n}\n")

            def next_message(timeout=10):
                sock.settimeout(timeout)
                return sock.recv(4096).decode()

            ready = next_message()
            self.assertIn("READY=1", ready.split("\n"))
            self.assertIn(f"MAINPID={srv.pid}", ready.split("\n"))
            before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            srv.signal(signal.SIGHUP)
            reloading = dict(l.split("=", 1) for l in next_message().split("\n") if "=" in l)
            after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            self.assertEqual(reloading.get("RELOADING"), "1", reloading)
            self.assertIn("MONOTONIC_USEC", reloading)
            self.assertTrue(before <= int(reloading["MONOTONIC_USEC"]) <= after, reloading)
            self.assertIn("READY=1", next_message().split("\n"))
            srv.signal(signal.SIGQUIT)
            self.assertIn("STOPPING=1", next_message().split("\n"))
        finally:
            if old is None:
                os.environ.pop("NOTIFY_SOCKET", None)
            else:
                os.environ["NOTIFY_SOCKET"] = old
            if srv:
                srv.stop()
            sock.close()
            os.unlink(path)
            os.rmdir(os.path.dirname(path))


if __name__ == "__main__":
    unittest.main()
