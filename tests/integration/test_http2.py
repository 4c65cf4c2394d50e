"""HTTP/2: ALPN "h2" on `listen ... ssl http2`, h2c with prior knowledge on `listen ... http2`,
`http2 on`; static files (large ones under flow control, many streams at once), error pages,
HEAD, return, gzip, proxying (request bodies to a real upstream), $http2 and the access log; and
the attacks (Rapid Reset, CONTINUATION flood, header bombs, PING/SETTINGS floods, empty frames,
MadeYouReset, a zero window held open): each is bounded, the server stays up and serves others.
Real clients: curl --http2 / --http2-prior-knowledge, nghttp, and python3-h2/hyperframe for the
frame-level scripts."""

import gzip
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    import hpack
    import hyperframe.frame as hf
except ImportError:  # Debian's python3-h2 under another interpreter (pyenv): pure Python
    sys.path.append("/usr/lib/python3/dist-packages")
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    import hpack
    import hyperframe.frame as hf

from harness import IS_NGINX, Server, eventually, portico_only
from upstreams import Upstream
import tls_certs

PKI = None
BIG = os.urandom(3 * 1024 * 1024 + 777)
TEXT = ("".join(f"line {i} of a compressible text file\n" for i in range(20000))).encode()


def setUpModule():
    global PKI
    PKI = tls_certs.make_pki(tempfile.mkdtemp(prefix="portico-h2-pki-"))


def tearDownModule():
    if PKI:
        shutil.rmtree(PKI, ignore_errors=True)


CONFIG = """
http {
    log_format h2 '$request $status $http2 $server_protocol';
    access_log logs/h2.log h2;
    server {
        listen 127.0.0.1:{port} ssl http2;
        listen 127.0.0.1:{port_h2c} http2;
        listen 127.0.0.1:{port_plain};
        server_name a.test;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        send_timeout 2s;
        client_max_body_size 4m;
        gzip on;
        gzip_types text/plain;
        root html;
        location = /vars { return 200 "$http2|$server_protocol|$request|$scheme\\n"; }
        location = /close { return 444; }
        location /up/ {
            proxy_pass http://127.0.0.1:{echo}/;
        }
    }
}
"""

NEW_SYNTAX = """
http {
    server {
        listen 127.0.0.1:{port} ssl;
        listen 127.0.0.1:{port_h2c};
        http2 on;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        location / { return 200 "$http2\\n"; }
    }
}
"""


def render(config, **ports):
    text = config.replace("PKI/", PKI + "/")
    for k, v in ports.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def curl(*args, timeout=30):
    p = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args], capture_output=True,
                       timeout=timeout + 5)
    return p


class H2:
    """A python3-h2 client over TLS (ALPN h2) or clear text; collects responses per stream."""

    def __init__(self, port, tls=True, settings=None, timeout=20):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(os.path.join(PKI, "root.crt"))
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="a.test")
            assert raw.selected_alpn_protocol() == "h2"
        self.sock = raw
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.sock.sendall(self.conn.data_to_send())
        self.responses = {}
        self.ended = set()
        self.reset = {}
        self.goaway = None
        self.closed = False
        self.auto_ack = True

    def request(self, path, method="GET", body=None, headers=()):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "https"),
                (":authority", "a.test"), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        self.responses[sid] = {"headers": None, "body": bytearray()}
        self.sock.sendall(self.conn.data_to_send())
        if body is not None:
            self._body = getattr(self, "_body", {})
            self._body[sid] = memoryview(body)
            self.pump_body(sid)
        return sid

    def pump_body(self, sid):
        rest = self._body.get(sid)
        try:
            while rest is not None and len(rest):
                room = min(self.conn.local_flow_control_window(sid),
                           self.conn.max_outbound_frame_size)
                if room <= 0:
                    break
                self.conn.send_data(sid, bytes(rest[:room]))
                rest = rest[room:]
                self._body[sid] = rest
            if rest is not None and not len(rest):
                self.conn.end_stream(sid)
                del self._body[sid]
        except h2.exceptions.StreamClosedError:  # the server answered and reset the stream
            del self._body[sid]
        self.sock.sendall(self.conn.data_to_send())

    def events(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return []
        evs = self.conn.receive_data(data)
        for ev in evs:
            if isinstance(ev, h2.events.ResponseReceived):
                self.responses[ev.stream_id]["headers"] = dict(
                    (k.decode(), v.decode()) for k, v in ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                self.responses[ev.stream_id]["body"] += ev.data
                if self.auto_ack:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                self.reset[ev.stream_id] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
            elif isinstance(ev, h2.events.WindowUpdated):
                for sid in list(getattr(self, "_body", {})):
                    self.pump_body(sid)
        out = self.conn.data_to_send()
        if out:
            try:
                self.sock.sendall(out)
            except OSError:
                self.closed = True
        return evs

    def wait(self, sids, timeout=20):
        deadline = time.monotonic() + timeout
        while not all(s in self.ended or s in self.reset for s in sids):
            if time.monotonic() > deadline:
                raise AssertionError(f"streams {sids} not done: ended {self.ended}")
            if self.closed:
                raise AssertionError("connection closed")
            self.events()
        return [self.responses[s] for s in sids]

    def get(self, path, **kw):
        sid = self.request(path, **kw)
        return self.wait([sid])[0]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def served(port):
    """Another client is served right now (over TLS h2)."""
    p = curl("-k", "--http2", f"https://127.0.0.1:{port}/small.txt")
    return p.returncode == 0 and p.stdout == b"small\n"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RawH2:
    """A frame-level client (hyperframe + hpack) for the attack scripts: writes what it is told,
    reads frames until a condition or the end of the connection."""

    def __init__(self, port, tls=False, timeout=10):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="a.test")
        self.sock = raw
        self.enc = hpack.Encoder()
        self.buf = b""
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + hf.SettingsFrame(0).serialize())
        self.closed = False

    def send(self, *frames):
        try:
            self.sock.sendall(b"".join(f.serialize() for f in frames))
            return True
        except OSError:
            self.closed = True
            return False

    def headers(self, sid, path="/small.txt", end_stream=True, end_headers=True, extra=()):
        f = hf.HeadersFrame(sid)
        f.data = self.enc.encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                  (":authority", "a.test"), *extra])
        f.flags.add("END_HEADERS") if end_headers else None
        if end_stream:
            f.flags.add("END_STREAM")
        return f

    def frames(self, timeout=5.0):
        """Frames received until `timeout` passes without data or the connection ends."""
        out = []
        self.sock.settimeout(timeout)
        while True:
            while len(self.buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                out.append(f)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return out
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return out
            self.buf += data

    def until_closed_or_goaway(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline and not self.closed:
            fs = self.frames(timeout=0.5)
            seen += fs
            if any(isinstance(f, hf.GoAwayFrame) for f in fs):
                break
        return seen

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def goaway_code(frames):
    for f in frames:
        if isinstance(f, hf.GoAwayFrame):
            return f.error_code
    return None


ENHANCE_YOUR_CALM = 0xB


class Http2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("echo", name="echo")
        cls.srv = Server(render(CONFIG, echo=cls.echo.port),
                         files={"html/big.bin": BIG, "html/small.txt": "small\n",
                                "html/text.txt": TEXT}, error_log_level="info")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()

    def port(self, name="port"):
        return self.srv.port(name)

    # ---- negotiation ----

    def test_curl_over_tls_negotiates_h2(self):
        p = curl("-k", "--http2", "-w", "%{http_version}", f"https://127.0.0.1:{self.port()}/vars")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode(), "h2|HTTP/2.0|GET /vars HTTP/2.0|https\n2")

    def test_curl_prior_knowledge_h2c(self):
        p = curl("--http2-prior-knowledge", "-w", "%{http_version}",
                 f"http://127.0.0.1:{self.port('port_h2c')}/vars")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode(), "h2c|HTTP/2.0|GET /vars HTTP/2.0|http\n2")

    def test_http11_still_served_on_the_same_addresses(self):
        for url in (f"https://127.0.0.1:{self.port()}/vars",
                    f"http://127.0.0.1:{self.port('port_h2c')}/vars"):
            p = curl("-k", "--http1.1", "-w", "%{http_version}", url)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(p.stdout.decode().startswith("|HTTP/1.1|GET /vars HTTP/1.1|"))
            self.assertTrue(p.stdout.decode().endswith("1.1"))

    def test_no_h2_without_http2_on_the_address(self):
        p = curl("--http2-prior-knowledge", f"http://127.0.0.1:{self.port('port_plain')}/vars")
        self.assertNotEqual(p.returncode, 0)  # the preface is not an HTTP/1.1 request

    def test_nghttp_client(self):
        p = subprocess.run(["nghttp", "-n", "-s", f"http://127.0.0.1:{self.port('port_h2c')}/"
                            "small.txt"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"200", p.stdout)

    # ---- static, errors, methods ----

    def test_static_file_and_headers(self):
        c = H2(self.port())
        try:
            r = c.get("/small.txt")
            self.assertEqual(r["headers"][":status"], "200")
            self.assertEqual(r["headers"]["content-length"], "6")
            self.assertIn("etag", r["headers"])
            self.assertNotIn("connection", r["headers"])
            self.assertEqual(bytes(r["body"]), b"small\n")
        finally:
            c.close()

    def test_not_found_head_and_444(self):
        c = H2(self.port())
        try:
            r = c.get("/nope")
            self.assertEqual(r["headers"][":status"], "404")
            self.assertIn(b"404 Not Found", bytes(r["body"]))
            r = c.get("/small.txt", method="HEAD")
            self.assertEqual(r["headers"][":status"], "200")
            self.assertEqual(r["headers"]["content-length"], "6")
            self.assertEqual(bytes(r["body"]), b"")
            sid = c.request("/close")
            c.wait([sid])
            self.assertIn(sid, c.reset)  # 444: the stream ends without an answer
            self.assertEqual(c.get("/small.txt")["body"], b"small\n")  # the connection lives
        finally:
            c.close()

    def test_large_file_under_flow_control(self):
        c = H2(self.port())
        try:
            r = c.get("/big.bin")
            self.assertEqual(r["headers"][":status"], "200")
            self.assertEqual(hashlib.sha256(r["body"]).digest(), hashlib.sha256(BIG).digest())
        finally:
            c.close()

    def test_many_concurrent_streams(self):
        c = H2(self.port("port_h2c"), tls=False)
        try:
            sids = [c.request("/big.bin" if i % 4 == 0 else "/small.txt") for i in range(40)]
            for sid, r in zip(sids, c.wait(sids, timeout=60)):
                want = BIG if sid % 8 == 1 else b"small\n"
                self.assertEqual(r["headers"][":status"], "200")
                self.assertEqual(len(r["body"]), len(want), sid)
                self.assertEqual(bytes(r["body"]) == want, True)
        finally:
            c.close()

    def test_gzip_over_h2(self):
        c = H2(self.port())
        try:
            r = c.get("/text.txt", headers=[("accept-encoding", "gzip")])
            self.assertEqual(r["headers"][":status"], "200")
            self.assertEqual(r["headers"].get("content-encoding"), "gzip")
            self.assertNotIn("content-length", r["headers"])
            self.assertEqual(gzip.decompress(bytes(r["body"])), TEXT)
        finally:
            c.close()

    def test_access_log_says_http2(self):
        p = curl("-k", "--http2", f"https://127.0.0.1:{self.port()}/small.txt?logme=1")
        self.assertEqual(p.returncode, 0)
        eventually(lambda: "GET /small.txt?logme=1 HTTP/2.0 200 h2 HTTP/2.0" in
                   self.srv._read("logs/h2.log"), message="h2 access log line")

    # ---- proxy ----

    def test_proxied_get_and_post_body(self):
        c = H2(self.port())
        try:
            r = c.get("/up/x?a=1", headers=[("x-test", "yes"), ("cookie", "a=1"),
                                             ("cookie", "b=2")])
            self.assertEqual(r["headers"][":status"], "200")
            info = json.loads(bytes(r["body"]))
            self.assertEqual(info["method"], "GET")
            self.assertEqual(info["target"], "/x?a=1")
            hdrs = {k.lower(): v for k, v in info["headers"]}
            self.assertEqual(hdrs["x-test"], "yes")
            self.assertEqual(hdrs["cookie"], "a=1; b=2")
            body = os.urandom(1024 * 1024 + 3)
            r = c.get("/up/post", method="POST", body=body,
                      headers=[("content-length", str(len(body)))])
            info = json.loads(bytes(r["body"]))
            self.assertEqual(info["body_len"], len(body))
            self.assertEqual(info["body_sha256"], hashlib.sha256(body).hexdigest())
            # Without a Content-Length: the length is unknown until the stream ends.
            r = c.get("/up/post2", method="POST", body=body[:300000])
            info = json.loads(bytes(r["body"]))
            self.assertEqual(info["body_len"], 300000)
            self.assertEqual(info["body_sha256"], hashlib.sha256(body[:300000]).hexdigest())
            # Over client_max_body_size: 413, and the connection goes on.
            big = os.urandom(5 * 1024 * 1024)
            r = c.get("/up/post3", method="POST", body=big,
                      headers=[("content-length", str(len(big)))])
            self.assertEqual(r["headers"][":status"], "413")
            self.assertEqual(c.get("/small.txt")["body"], b"small\n")
        finally:
            c.close()

    def test_proxied_large_response(self):
        big = Upstream("stream", name="big")
        try:
            srv = Server(render("""
http { server { listen 127.0.0.1:{port} http2;
                location / { proxy_pass http://127.0.0.1:UP; } } }""".replace(
                "UP", str(big.port))))
            try:
                c = H2(srv.port(), tls=False)
                r = c.get("/x?size=5000000")
                self.assertEqual(r["headers"][":status"], "200")
                import upstreams
                self.assertEqual(hashlib.sha256(r["body"]).hexdigest(),
                                 upstreams.gen_sha256(5000000))
                c.close()
            finally:
                srv.stop()
        finally:
            big.stop()

    # ---- attacks: bounded, the server stays up and serves others ----

    def test_rapid_reset_ends_in_goaway(self):
        c = RawH2(self.port("port_h2c"))
        try:
            sid, sent = 1, 0
            deadline = time.monotonic() + 20
            while not c.closed and time.monotonic() < deadline and sent < 20000:
                batch = []
                for _ in range(100):
                    batch += [c.headers(sid), hf.RstStreamFrame(sid, error_code=8)]
                    sid += 2
                    sent += 1
                if not c.send(*batch):
                    break
            frames = c.until_closed_or_goaway()
            self.assertTrue(c.closed or goaway_code(frames) is not None,
                            f"still open after {sent} resets")
            self.assertLess(sent, 20000)
        finally:
            c.close()
        self.assertTrue(served(self.port()))

    def test_continuation_flood_is_cut(self):
        c = RawH2(self.port("port_h2c"))
        try:
            c.send(c.headers(1, end_headers=False))
            sent = 0
            deadline = time.monotonic() + 10
            while not c.closed and sent < 10000 and time.monotonic() < deadline:
                f = hf.ContinuationFrame(1)
                f.data = c.enc.encode([("x-flood", "a" * 100)])
                if not c.send(f):
                    break
                sent += 1
            frames = c.until_closed_or_goaway()
            self.assertTrue(c.closed or goaway_code(frames) is not None)
            self.assertLess(sent, 10000)
        finally:
            c.close()
        self.assertTrue(served(self.port()))

    def test_header_count_bomb_resets_the_stream(self):
        c = RawH2(self.port("port_h2c"))
        try:
            # HPACK: one field in the table, then thousands of 1-byte references to it.
            first = c.enc.encode([("x-a", "b")])
            f = hf.HeadersFrame(1)
            f.data = c.enc.encode([(":method", "GET"), (":path", "/small.txt"),
                                   (":scheme", "http"), (":authority", "a.test")]) + first
            f.data += c.enc.encode([("x-a", "b")]) * 8000
            f.flags.add("END_HEADERS")
            f.flags.add("END_STREAM")
            c.send(f)
            frames = c.frames(timeout=2)
            statuses = [fr for fr in frames if isinstance(fr, (hf.RstStreamFrame,
                                                               hf.GoAwayFrame))]
            self.assertTrue(statuses or c.closed, frames)
        finally:
            c.close()
        self.assertTrue(served(self.port()))

    def flood_without_reading(self, frame):
        """Sends `frame` over and over without reading the acknowledgements; returns how it
        ended: 'blocked' (the server stopped reading), 'closed', or 'sent-all'."""
        c = RawH2(self.port("port_h2c"))
        try:
            c.sock.setblocking(False)
            payload = frame.serialize() * 1000
            sent = 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sent < 300000:
                try:
                    n = c.sock.send(payload)
                    sent += n // len(frame.serialize())
                except BlockingIOError:
                    # The socket buffers are full: the server stopped reading (its output waits
                    # for us) or libnghttp2 cut it off; either way its memory stays bounded.
                    c.sock.setblocking(True)
                    frames = c.until_closed_or_goaway(timeout=5)
                    return "closed" if c.closed or goaway_code(frames) is not None else "blocked"
                except OSError:
                    return "closed"
            return "sent-all"
        finally:
            c.close()

    def test_ping_and_settings_floods_are_bounded(self):
        pid = self.srv.pid
        before = rss_kb(pid)
        self.assertIn(self.flood_without_reading(hf.PingFrame(0, opaque_data=b"12345678")),
                      ("closed", "blocked"))
        self.assertIn(self.flood_without_reading(hf.SettingsFrame(0, settings={4: 65535})),
                      ("closed", "blocked"))
        self.assertLess(rss_kb(pid) - before, 64 * 1024)
        self.assertTrue(served(self.port()))

    def test_empty_data_frames_end_in_goaway(self):
        c = RawH2(self.port("port_h2c"))
        try:
            c.send(c.headers(1, path="/up/slow?sleep=5", end_stream=False))
            for _ in range(40):
                if not c.send(*[hf.DataFrame(1, data=b"")] * 100):
                    break
            frames = c.until_closed_or_goaway()
            self.assertEqual(goaway_code(frames), ENHANCE_YOUR_CALM)
        finally:
            c.close()
        self.assertTrue(served(self.port()))

    def test_made_you_reset_is_counted(self):
        # Each WINDOW_UPDATE of 0 on an open stream makes the server reset it (a stream error):
        # resets the client provokes count toward the same budget as its own.
        c = RawH2(self.port("port_h2c"))
        try:
            sid = 1
            for _ in range(30):
                batch = []
                for _ in range(50):
                    batch += [c.headers(sid, path="/up/x?sleep=1", end_stream=False),
                              hf.WindowUpdateFrame(sid, window_increment=0)]
                    sid += 2
                if not c.send(*batch):
                    break
            frames = c.until_closed_or_goaway()
            self.assertTrue(c.closed or goaway_code(frames) is not None)
        finally:
            c.close()
        self.assertTrue(served(self.port()))

    def test_zero_window_held_open_times_out(self):
        c = H2(self.port(), settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        c.auto_ack = False
        try:
            c.request("/big.bin")
            start = time.monotonic()
            while not c.closed and time.monotonic() - start < 15:
                c.events()
            self.assertTrue(c.closed)  # send_timeout 2s: the stalled connection is closed
            self.assertTrue(served(self.port()))
        finally:
            c.close()


@portico_only
class Http2OnTest(unittest.TestCase):
    """nginx 1.25.1's `http2 on;` (nginx 1.22 does not know it)."""

    def test_http2_on_enables_alpn_and_h2c(self):
        srv = Server(render(NEW_SYNTAX))
        try:
            p = curl("-k", "--http2", f"https://127.0.0.1:{srv.port()}/")
            self.assertEqual(p.stdout, b"h2\n")
            p = curl("--http2-prior-knowledge", f"http://127.0.0.1:{srv.port('port_h2c')}/")
            self.assertEqual(p.stdout, b"h2c\n")
        finally:
            srv.stop()

    def test_keepalive_requests_counts_streams(self):
        srv = Server("""
http { server { listen 127.0.0.1:{port} http2; keepalive_requests 3;
                location / { return 200 ok; } } }""")
        try:
            c = RawH2(srv.port())
            c.send(*[c.headers(sid, path="/") for sid in (1, 3, 5, 7)])
            frames = c.until_closed_or_goaway()
            frames += c.frames(timeout=1)
            goaway = [f for f in frames if isinstance(f, hf.GoAwayFrame)]
            self.assertEqual(len(goaway), 1)
            self.assertEqual(goaway[0].last_stream_id, 5)  # the third stream was the last
            answered = {f.stream_id for f in frames if isinstance(f, hf.HeadersFrame)}
            self.assertEqual(answered, {1, 3, 5})
            c.close()
        finally:
            srv.stop()

    def test_obsolete_directives_are_accepted_with_warnings(self):
        srv = Server("""
http {
    http2_recv_buffer_size 128k;
    server {
        listen 127.0.0.1:{port} http2;
        http2_idle_timeout 30s;
        http2_max_field_size 8k;
        http2_max_concurrent_streams 64;
        http2_body_preread_size 128k;
        http2_chunk_size 16k;
        http2_push_preload on;
        location / { http2_push /x.css; return 200 ok; }
    }
}""", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn('"http2_idle_timeout" directive is obsolete', out.stderr)
        finally:
            srv.stop()

    def test_bad_values_are_refused_with_file_and_line(self):
        srv = Server("""
http {
    server {
        listen 127.0.0.1:{port} http2;
        http2_chunk_size 0;
        http2_max_concurrent_streams abc;
    }
}""", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("http2_chunk_size", out.stderr)
            self.assertRegex(out.stderr, r"portico\.conf:\d+")
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
