"""Response buffering (proxy_buffering, proxy_buffers, proxy_max_temp_file_size, X-Accel-Buffering,
proxy_ignore_headers) and client aborts while the upstream works (proxy_ignore_client_abort).

What a user relies on: behind a buffering proxy, a slow client does not hold an application
process (gunicorn, Passenger's apps, a thread-per-request Java server) for the length of its
download; the upstream hands over the whole response and is free for the next request. With
buffering off (or `X-Accel-Buffering: no`, used for server-sent events) the client sets the
pace. A client that gives up before the answer comes makes the proxy close the upstream
connection (499 in the access log), unless proxy_ignore_client_abort is on.

The upstream here is an in-process threaded server that records when it has finished writing
each response, so a test can see whether the proxy took the whole response while its client
read nothing. Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx)."""

import hashlib
import signal
import socket
import struct
import time
import unittest
import urllib.parse

from harness import RawConn, Server, nginx_differs, requires_proxy
from upstreams import ThreadedUpstream, gen_bytes, gen_sha256

MiB = 1 << 20
# Larger than every kernel buffer between the upstream and a client that reads nothing (the
# upstream's send buffer, the proxy's receive and send buffers, the client's receive buffer),
# so only the proxy's own buffering can take it all.
BIG = 40 * MiB


class RecordingUpstream(ThreadedUpstream):
    """HTTP/1.1 upstream on 127.0.0.1, a thread per connection, keep-alive.

    Query options: size=N body bytes (gen_bytes), chunked=1 (chunked framing), close=1
    (close-delimited, no length), xab=yes|no (X-Accel-Buffering), sleep=S (before answering),
    stall=S (after the body, wait S seconds, then send one byte more, counted in the length).
    The body starts with nothing special; the answer's `X-Conn: C` and `X-Req: N` say which
    connection and request number carried it. Events: ("open", C), ("sent", C, N) once the whole
    response was written, ("closed", C) when the proxy closed the connection (EOF or error),
    ("stalled", C, N) when a stall=S answer starts waiting."""

    def has(self, *ev):
        with self._cond:
            return ev in self.events

    def wait_for(self, ev, timeout):
        """True if event `ev` happened within `timeout` seconds."""
        return self.wait_until(lambda: ev in self.events, timeout)

    def _serve(self, s, cid):
        buf = b""
        n = 0
        try:
            s.settimeout(15)
            for _ in range(10_000):
                while b"\r\n\r\n" not in buf:
                    data = s.recv(65536)
                    if not data:
                        self._event("closed", cid)
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                n += 1
                q = urllib.parse.parse_qs(target.partition("?")[2])
                if "sleep" in q:
                    # Wait, but notice the proxy closing the connection meanwhile.
                    s.settimeout(float(q["sleep"][0]))
                    try:
                        if not s.recv(1, socket.MSG_PEEK):
                            self._event("closed", cid)
                            return
                    except socket.timeout:
                        pass
                    s.settimeout(15)
                size = int(q.get("size", ["0"])[0])
                stall = float(q["stall"][0]) if "stall" in q else 0.0
                hdrs = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream",
                        f"X-Conn: {cid}", f"X-Req: {n}"]
                if "xab" in q:
                    hdrs.append(f"X-Accel-Buffering: {q['xab'][0]}")
                chunked = "chunked" in q
                close = "close" in q
                if chunked:
                    hdrs.append("Transfer-Encoding: chunked")
                elif close:
                    hdrs.append("Connection: close")
                else:
                    hdrs.append(f"Content-Length: {size + (1 if stall else 0)}")
                s.sendall(("\r\n".join(hdrs) + "\r\n\r\n").encode())
                for block in gen_bytes(size):
                    if chunked:
                        s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
                    else:
                        s.sendall(block)
                if stall:
                    # The app pauses mid-response; a close by the proxy meanwhile is noticed.
                    self._event("stalled", cid, n)
                    s.settimeout(stall)
                    try:
                        if not s.recv(1, socket.MSG_PEEK):
                            self._event("closed", cid)
                            return
                    except socket.timeout:
                        pass
                    s.settimeout(15)
                    s.sendall(b"1\r\n.\r\n" if chunked else b".")
                if chunked:
                    s.sendall(b"0\r\n\r\n")
                self._event("sent", cid, n)
                if close:
                    return
        except OSError:
            self._event("closed", cid)


def wait_rx_drained(port, timeout):
    """Waits until every IPv4 TCP socket connected to 127.0.0.1:port has an empty receive
    queue (/proc/net/tcp: the proxy has read what the upstream sent). True if it happened."""
    deadline = time.monotonic() + timeout
    want = f":{port:04X}"
    for _ in range(100000):
        queued = 0
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[2].endswith(want):
                    queued += int(fields[4].split(":")[1], 16)
        if queued == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return False


def read_response(conn, timeout=30.0, pace=None):
    """Reads one response from RawConn `conn`: (status, headers dict, body sha256, body length).
    pace=(bytes, seconds): read at most `bytes` then sleep `seconds`, repeatedly (a slow
    client)."""
    sock = conn.sock
    sock.settimeout(timeout)
    buf, conn.buf = conn.buf, b""  # bytes of this response read with the previous one
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"connection closed before the head: {buf!r}")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    h = hashlib.sha256()
    total = 0
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    length = int(headers["content-length"]) if "content-length" in headers else None
    pending = rest

    def more():
        nonlocal pending
        want = pace[0] if pace else 1 << 20
        data = sock.recv(want)
        if pace:
            time.sleep(pace[1])
        if not data:
            raise EOFError
        pending += data

    if chunked:
        for _ in range(10_000_000):
            while b"\r\n" not in pending:
                more()
            line, _, pending = pending.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(pending) < size + 2:
                more()
            if size == 0:
                conn.buf = pending[2:]  # a pipelined response's bytes, if any
                break
            h.update(pending[:size])
            total += size
            pending = pending[size + 2:]
    else:
        for _ in range(10_000_000):
            if length is not None and total + len(pending) >= length:
                conn.buf = pending[length - total:]  # a pipelined response's bytes, if any
                pending = pending[:length - total]
                break
            if pending:
                h.update(pending)
                total += len(pending)
                pending = b""
            try:
                more()
            except EOFError:
                if length is None:
                    break
                raise
        if pending:
            h.update(pending)
            total += len(pending)
    return status, headers, h.hexdigest(), total


CONFIG = """
http {
    upstream app {
        server 127.0.0.1:@UP@;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / { proxy_pass http://app; @EXTRA@ }
        location /off/ { proxy_pass http://app/; proxy_buffering off; }
        location /mem/ { proxy_pass http://app/; proxy_max_temp_file_size 0; }
        location /ign/ { proxy_pass http://app/; proxy_ignore_headers X-Accel-Buffering; }
        location /abort-ok/ { proxy_pass http://app/; proxy_ignore_client_abort on; }
        location /st/ { proxy_pass http://app/; send_timeout 1s; }
        location /small-file/ {
            proxy_pass http://app/; proxy_buffers 4 4k; proxy_max_temp_file_size 100k;
        }
    }
}
"""


@requires_proxy
class ProxyBufferingTest(unittest.TestCase):
    extra = ""

    def setUp(self):
        self.up = RecordingUpstream()
        try:
            self.srv = Server(CONFIG.replace("@UP@", str(self.up.port)).replace("@EXTRA@",
                                                                                   self.extra),
                              error_log_level="info")
        except BaseException:
            self.up.stop()
            raise

    def tearDown(self):
        self.srv.stop()
        self.up.stop()

    def slow_client(self, path):
        """Sends a GET for `path` on a client with a small receive buffer that reads nothing."""
        c = RawConn(self.srv.port(), rcvbuf=32 * 1024, timeout=30)
        c.send(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
        return c

    def check_body(self, c, size, pace=None):
        status, headers, sha, total = read_response(c, pace=pace)
        self.assertEqual(status, 200)
        self.assertEqual(total, size)
        self.assertEqual(sha, gen_sha256(size))
        return headers

    # ---- buffering on: the upstream is freed ------------------------------------------

    def _upstream_freed(self, query):
        with self.slow_client(f"/big?size={BIG}{query}") as c:
            self.assertTrue(self.up.wait_for(("sent", 1, 1), 10),
                            "the upstream could not hand over its response while the client "
                            "read nothing (proxy_buffering on should take it all)")
            self.check_body(c, BIG)

    def test_slow_client_does_not_hold_the_upstream_content_length(self):
        self._upstream_freed("")

    def test_slow_client_does_not_hold_the_upstream_chunked(self):
        self._upstream_freed("&chunked=1")

    def test_slow_client_does_not_hold_the_upstream_close_delimited(self):
        self._upstream_freed("&close=1")

    @nginx_differs("nginx 1.22 keeps the upstream connection until the client has the whole "
                   "response, so B gets a second connection")
    def test_freed_upstream_connection_serves_the_next_request(self):
        # The point of buffering for an app server: while client A is still downloading, the
        # same upstream connection (keepalive) already carries client B's request.
        with self.slow_client(f"/big?size={BIG}") as a:
            self.assertTrue(self.up.wait_for(("sent", 1, 1), 10))
            # "sent" means the upstream wrote it all; the proxy may still have to read the
            # last megabytes from its socket. Wait until its receive queue is empty.
            self.assertTrue(wait_rx_drained(self.up.port, 10), "the proxy stopped reading")
            time.sleep(0.2)
            with RawConn(self.srv.port()) as b:
                b.send("GET /small?size=10 HTTP/1.1\r\nHost: t\r\n\r\n")
                status, headers, _, total = read_response(b)
                self.assertEqual((status, total), (200, 10))
                self.assertEqual((headers["x-conn"], headers["x-req"]), ("1", "2"))
            self.check_body(a, BIG)

    def test_slow_reader_gets_every_byte_in_order(self):
        # The client reads in small bursts while the upstream is still sending: the held bytes
        # move between memory, the temporary file and the socket many times.
        size = 12 * MiB
        with RawConn(self.srv.port(), rcvbuf=32 * 1024, timeout=30) as c:
            c.send(f"GET /x?size={size}&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.check_body(c, size, pace=(256 * 1024, 0.002))
            # and the client connection stays usable
            c.send("GET /y?size=100 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.check_body(c, 100)

    def test_small_temp_file_limit_keeps_order(self):
        # A temporary file limit smaller than the response: the held bytes fill the memory
        # buffers and the file, drain, and fill again many times, always in order.
        size = 6 * MiB
        with RawConn(self.srv.port(), rcvbuf=32 * 1024, timeout=30) as c:
            c.send(f"GET /small-file/x?size={size}&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.check_body(c, size, pace=(64 * 1024, 0.002))
            c.send("GET /small-file/y?size=100 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.check_body(c, 100)

    def test_graceful_stop_lets_a_held_response_drain(self):
        # SIGQUIT while a slow client still reads a response held by the proxy: the client
        # gets all of it, then the server exits.
        with self.slow_client(f"/big?size={BIG}") as c:
            self.assertTrue(self.up.wait_for(("sent", 1, 1), 10))
            self.srv.signal(signal.SIGQUIT)
            time.sleep(0.3)
            self.check_body(c, BIG)
        self.assertTrue(self.srv.wait_exit(10))

    def test_empty_body_with_content_length_completes_at_once(self):
        # "Content-Length: 0" ends the response with its head: nothing to wait for.
        with RawConn(self.srv.port()) as c:
            for i in range(3):
                t0 = time.monotonic()
                c.send("GET /e?size=0 HTTP/1.1\r\nHost: t\r\n\r\n")
                status, headers, _, total = read_response(c, timeout=5)
                self.assertEqual((status, total, headers["content-length"]), (200, 0, "0"))
                self.assertLess(time.monotonic() - t0, 1.0)

    # ---- the client sets the pace -------------------------------------------------------

    def _client_paced(self, path):
        with self.slow_client(path) as c:
            self.assertFalse(self.up.wait_for(("sent", 1, 1), 1.5),
                             "the proxy took the whole response although buffering is off")
            self.check_body(c, BIG)
            self.assertTrue(self.up.wait_for(("sent", 1, 1), 5))

    def test_buffering_off_the_client_sets_the_pace(self):
        self._client_paced(f"/off/big?size={BIG}")

    def test_x_accel_buffering_no_the_client_sets_the_pace(self):
        self._client_paced(f"/big?size={BIG}&xab=no")

    def test_without_temp_file_the_client_sets_the_pace(self):
        # proxy_max_temp_file_size 0: only proxy_buffers (memory) are used.
        self._client_paced(f"/mem/big?size={BIG}")

    def test_ignored_x_accel_buffering_keeps_buffering(self):
        with self.slow_client(f"/ign/big?size={BIG}&xab=no") as c:
            self.assertTrue(self.up.wait_for(("sent", 1, 1), 10))
            headers = self.check_body(c, BIG)
            self.assertNotIn("x-accel-buffering", headers)

    # ---- send_timeout while the response is held ---------------------------------------

    def read_all(self, c, limit):
        """Bytes received until EOF, a reset, 10 s of silence or `limit` bytes."""
        got = 0
        c.sock.settimeout(10)
        try:
            for _ in range(1_000_000):
                data = c.sock.recv(1 << 20)
                if not data:
                    break
                got += len(data)
                if got >= limit:
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        return got

    def test_client_sending_does_not_extend_send_timeout(self):
        # send_timeout bounds the time the client takes nothing; bytes it sends meanwhile (the
        # start of a pipelined request, one byte every 0.25 s) are no progress and must not
        # restart it.
        with self.slow_client(f"/st/big?size={BIG}") as c:
            self.assertTrue(self.up.wait_for(("sent", 1, 1), 10))
            part = b"GET /next HTTP/1.1\r\nX-Pad: " + b"a" * 40
            for i in range(16):
                try:
                    c.sock.send(part[i:i + 1])
                except OSError:
                    break  # already closed: fine
                time.sleep(0.25)
            self.assertLess(self.read_all(c, BIG), BIG,
                            "send_timeout 1s never fired while the client sent bytes")
        self.assertRegex(self.srv.error_log(), r"client timed out")

    def test_send_timeout_fires_while_the_upstream_is_idle(self):
        # The client reads nothing and the upstream pauses mid-response: both sides wait, and
        # send_timeout (1s) still ends the request (closing the upstream connection) long before
        # the upstream's pause (4s) or proxy_read_timeout (60s) is over.
        with self.slow_client(f"/st/big?size={BIG}&stall=4") as c:
            self.assertTrue(self.up.wait_for(("stalled", 1, 1), 10))
            self.assertTrue(self.up.wait_for(("closed", 1), 3),
                            f"only the upstream's read timeout was running: {self.up.events}")
            self.assertLess(self.read_all(c, BIG + 1), BIG + 1)

    # ---- client aborts ------------------------------------------------------------------

    def _abort(self, path):
        c = RawConn(self.srv.port())
        c.send(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(self.up.wait_for(("open", 1), 5))
        time.sleep(0.3)
        c.close()

    def test_client_abort_closes_the_upstream_connection(self):
        self._abort("/slow?sleep=3")
        self.assertTrue(self.up.wait_for(("closed", 1), 2),
                        f"the upstream connection stayed open: {self.up.events}")
        self.srv.wait_access_log(1)
        self.assertRegex(self.srv.access_log()[-1], r'"GET /slow\?sleep=3 HTTP/1.1" 499 ')
        self.assertRegex(self.srv.error_log(), r"client prematurely closed connection")

    def test_ignore_client_abort_lets_the_upstream_finish(self):
        self._abort("/abort-ok/slow?sleep=1.5")
        self.assertFalse(self.up.wait_for(("closed", 1), 1.0))
        self.assertTrue(self.up.wait_for(("sent", 1, 1), 5))

    def test_client_abort_is_not_an_upstream_failure(self):
        # A client resetting its connection mid-response is the client's doing: the server that
        # was answering stays in the group (max_fails 1 would otherwise take it out for
        # fail_timeout), and the next requests keep alternating between both servers.
        other = RecordingUpstream()
        srv = Server("""
            http {
                upstream two { server 127.0.0.1:%d; server 127.0.0.1:%d; }
                server {
                    listen 127.0.0.1:{port};
                    location / { proxy_pass http://two; proxy_buffering off; }
                }
            }""" % (self.up.port, other.port), error_log_level="info")
        try:
            c = RawConn(srv.port(), rcvbuf=32 * 1024)
            c.send(f"GET /big?size={BIG} HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertTrue(c.sock.recv(100).startswith(b"HTTP/1.1 200"))
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # RST
            time.sleep(0.5)
            for _ in range(6):
                with RawConn(srv.port()) as d:
                    d.send("GET /s?size=5 HTTP/1.1\r\nHost: t\r\n\r\n")
                    self.assertEqual(read_response(d)[0], 200)
            self.assertEqual(self.up.conns + other.conns, 7)
            self.assertGreaterEqual(min(self.up.conns, other.conns), 3,
                                    f"one server got all: {self.up.conns}, {other.conns}")
        finally:
            srv.stop()
            other.stop()

    def test_pipelined_request_is_not_an_abort(self):
        # Data after the request (a pipelined request) is not a close.
        with RawConn(self.srv.port()) as c:
            c.send("GET /slow?sleep=0.5&size=5 HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /next?size=7 HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, _, total = read_response(c)
            self.assertEqual((status, total), (200, 5))
            status, _, _, total = read_response(c)
            self.assertEqual((status, total), (200, 7))


if __name__ == "__main__":
    unittest.main()
