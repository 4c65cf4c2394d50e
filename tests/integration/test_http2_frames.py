"""HTTP/2 at the frame level, as nginx's own suite drives it: large header blocks both ways
(a request HEADERS frame above 16 KiB, a response head of about 96 KiB through a listener with
`sndbuf=128`, joined into one frame when the client's SETTINGS_MAX_FRAME_SIZE allows it), a
response head no codec would send (the stream ends with RST_STREAM, never hangs), and request
bodies (DATA against Content-Length, empty DATA frames, END_STREAM on HEADERS, windows).
Clients: hyperframe + hpack (python3-h2) over raw sockets, bounded by time and state."""

import json
import os
import signal
import socket
import sys
import time
import unittest

try:
    import hpack
    import hyperframe.frame as hf
except ImportError:  # Debian's python3-h2 under another interpreter (pyenv): pure Python
    sys.path.append("/usr/lib/python3/dist-packages")
    import hpack
    import hyperframe.frame as hf

from harness import Server, nginx_differs, portico_only
from upstreams import Upstream

PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
ENHANCE_YOUR_CALM = 0xB


class Raw:
    """A frame-level h2c client: sends the preface with `settings`, then what it is told;
    collects frames and decodes header blocks (HEADERS + CONTINUATION) per stream."""

    def __init__(self, port, settings=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.dec.max_header_list_size = 4 * 1024 * 1024
        self.buf = b""
        self.frames = []
        self.heads = {}  # stream id -> [(name, value)] once the block is complete
        self._block = {}
        self.closed = False
        sf = hf.SettingsFrame(0)
        sf.settings = dict(settings or {})
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + sf.serialize())
        # The server's SETTINGS (acknowledged by _take) before anything that relies on them.
        if not self.read_until(lambda c: c.of(0, hf.SettingsFrame), timeout=timeout):
            raise AssertionError("no SETTINGS from the server")

    def send(self, *frames):
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def headers(self, sid, fields, end_stream=True, huffman=True):
        f = hf.HeadersFrame(sid)
        f.data = self.enc.encode(fields, huffman=huffman)
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f

    def get(self, sid, path, end_stream=True, extra=(), huffman=True):
        return self.headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                  (":authority", "localhost"), *extra], end_stream, huffman)

    def _take(self, f):
        self.frames.append(f)
        if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
            ack = hf.SettingsFrame(0)
            ack.flags.add("ACK")
            self.send(ack)
        if isinstance(f, (hf.HeadersFrame, hf.ContinuationFrame)):
            self._block[f.stream_id] = self._block.get(f.stream_id, b"") + f.data
            if "END_HEADERS" in f.flags:
                self.heads[f.stream_id] = self.dec.decode(self._block.pop(f.stream_id))

    def read_until(self, done, timeout=10.0):
        """Reads frames until done(self) holds, the connection ends or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while not done(self) and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(min(left, 1.0))
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                f, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                self._take(f)
        return done(self)

    def data(self, sid, payload, end_stream=False):
        f = hf.DataFrame(sid)
        f.data = payload
        if end_stream:
            f.flags.add("END_STREAM")
        return f

    def status(self, sid):
        return field(self.heads.get(sid, []), ":status")

    def goaway(self):
        return [f.error_code for f in self.frames if isinstance(f, hf.GoAwayFrame)]

    def of(self, sid, kind=None):
        return [f for f in self.frames
                if f.stream_id == sid and (kind is None or isinstance(f, kind))]

    def ended(self, sid):
        return any("END_STREAM" in f.flags for f in self.of(sid)
                   if isinstance(f, (hf.HeadersFrame, hf.DataFrame))) or \
            bool(self.of(sid, hf.RstStreamFrame))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def field(head, name):
    return [v for k, v in head if k == name]


HEADERS_CONFIG = """
http {
    server {
        listen 127.0.0.1:{port} http2 sndbuf=128;
        server_name localhost;
        large_client_header_buffers 2 64k;
        location /long {
            add_header X-Long $arg_h;
            add_header X-Long $arg_h;
            add_header X-Long $arg_h;
            return 200 body;
        }
        location /huge {
            LOTS
            return 200 body;
        }
        location /one {
            http2_chunk_size 1;
            return 200 body;
        }
        location / { return 200 ok; }
    }
}
""".replace("LOTS", "add_header X-Huge $arg_h;\n" * 20)


class LargeHeaderBlockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(HEADERS_CONFIG)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def long_request(self, c, sid, path):
        c.send(c.get(sid, path))
        self.assertTrue(c.read_until(lambda c: c.ended(sid), timeout=15),
                        f"stream {sid} never ended; frames: {c.frames}")

    def test_large_head_joined_into_one_frame_through_a_tiny_send_buffer(self):
        # The request's HEADERS frame is about 28 KiB (over the 16 KiB default: the server's
        # SETTINGS_MAX_FRAME_SIZE must allow it); the answer's head about 96 KiB, in one frame
        # because this client takes frames of 128 KiB.
        c = Raw(self.srv.port(), settings={hf.SettingsFrame.MAX_FRAME_SIZE: 1 << 17})
        try:
            self.long_request(c, 1, "/long?h=" + "x" * 32768)
            heads = c.of(1, hf.HeadersFrame)
            self.assertEqual(len(heads), 1)
            self.assertIn("END_HEADERS", heads[0].flags)
            self.assertEqual(c.of(1, hf.ContinuationFrame), [])
            head = c.heads[1]
            self.assertEqual(field(head, ":status"), ["200"])
            self.assertEqual(len("".join(field(head, "x-long"))), 3 * 32768)
            self.assertEqual(b"".join(f.data for f in c.of(1, hf.DataFrame)), b"body")
        finally:
            c.close()

    def test_large_head_split_within_the_default_frame_size(self):
        c = Raw(self.srv.port())
        try:
            self.long_request(c, 1, "/long?h=" + "y" * 32768)
            blocks = c.of(1, hf.HeadersFrame) + c.of(1, hf.ContinuationFrame)
            self.assertGreater(len(blocks), 1)
            self.assertLessEqual(max(len(f.data) for f in blocks), 16384)
            self.assertEqual(len("".join(field(c.heads[1], "x-long"))), 3 * 32768)
        finally:
            c.close()

    def test_http2_chunk_size_of_the_location(self):
        c = Raw(self.srv.port())
        try:
            self.long_request(c, 1, "/one")
            data = c.of(1, hf.DataFrame)
            self.assertEqual([f.data for f in data], [b"b", b"o", b"d", b"y"])
            self.assertEqual(["END_STREAM" in f.flags for f in data], [False, False, False, True])
        finally:
            c.close()

    @portico_only  # nginx sends a head of any size
    def test_head_too_large_to_send_resets_the_stream(self):
        # 20 x 60 KB: over the 1 MiB a response head may have. The stream ends with
        # RST_STREAM INTERNAL_ERROR; the connection goes on serving.
        c = Raw(self.srv.port(), settings={hf.SettingsFrame.MAX_FRAME_SIZE: 1 << 17})
        try:
            self.long_request(c, 1, "/huge?h=" + "z" * 60000)
            rst = c.of(1, hf.RstStreamFrame)
            self.assertEqual([f.error_code for f in rst], [INTERNAL_ERROR])
            self.assertEqual(c.of(1, hf.HeadersFrame), [])
            c.send(c.get(3, "/"))
            self.assertTrue(c.read_until(lambda c: c.ended(3)))
            self.assertEqual(field(c.heads[3], ":status"), ["200"])
        finally:
            c.close()
        with open(self.srv.path("logs/error.log")) as f:
            self.assertIn("HTTP/2 response header not sent", f.read())


BODY_CONFIG = """
http {
    server {
        listen 127.0.0.1:{port} http2;
        server_name localhost;
        large_client_header_buffers 2 512;
        error_page 400 /err.html;
        location = /err.html { }
        location /buffered/ { proxy_pass http://127.0.0.1:{echo}/; }
        location /unbuffered/ {
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:{echo}/;
        }
        location /hang/ {
            proxy_request_buffering off;
            proxy_pass http://127.0.0.1:{hang}/;
        }
        location / { return 200 ok; }
    }
}
"""


class RequestBodyTest(unittest.TestCase):
    """Bodies against their Content-Length as nginx answers them: 400 (also once an unbuffered
    body went upstream), nothing of a short body passed on; Content-Length: 0 with DATA frames
    still to come; and the request fields HTTP/2 forbids."""

    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("echo", name="echo")
        cls.hang = Upstream("hang", name="hang")
        cls.srv = Server(BODY_CONFIG.replace("{echo}", str(cls.echo.port))
                         .replace("{hang}", str(cls.hang.port)),
                         files={"html/err.html": "custom 400 page\n"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()
        cls.hang.stop()

    def setUp(self):
        self.c = Raw(self.srv.port())

    def tearDown(self):
        self.c.close()

    def post(self, sid, path, length=None, extra=()):
        cl = [] if length is None else [("content-length", str(length))]
        return self.c.headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                    (":authority", "localhost"), *cl, *extra],
                              end_stream=False)

    def finish(self, sid):
        self.assertTrue(self.c.read_until(lambda c: c.ended(sid)),
                        f"stream {sid} never ended: {self.c.frames}")

    def test_buffered_body_shorter_or_longer_than_declared_gets_400(self):
        before = len(self.echo.requests())
        c = self.c
        c.send(self.post(1, "/buffered/", 5), c.data(1, b"TEST", end_stream=True))
        c.send(self.post(3, "/buffered/", 3), c.data(3, b"TEST", end_stream=True))
        self.finish(1)
        self.finish(3)
        self.assertEqual(c.status(1), ["400"])
        self.assertEqual(c.status(3), ["400"])
        self.assertEqual(len(self.echo.requests()), before)  # nothing went upstream

    def test_unbuffered_body_longer_than_declared_gets_400_after_it_went_upstream(self):
        c = self.c
        c.send(self.post(1, "/hang/", 10), c.data(1, b"0123456789"))
        self.hang.wait_for(lambda u: u.requests(), message="the request upstream")
        c.send(c.data(1, b"many", end_stream=True))
        self.finish(1)
        self.assertEqual(c.status(1), ["400"])

    def test_unbuffered_body_ending_short_gets_400(self):
        c = self.c
        c.send(self.post(1, "/hang/", 10), c.data(1, b"0123"))
        c.send(c.data(1, b"567", end_stream=True))
        self.finish(1)
        self.assertEqual(c.status(1), ["400"])

    def test_zero_content_length_with_data_frames_to_come_is_answered_at_once(self):
        c = self.c
        c.send(self.post(1, "/unbuffered/", 0), c.data(1, b""))
        self.assertTrue(c.read_until(lambda c: c.of(1, hf.DataFrame) and c.ended(1) or
                                     c.of(1, hf.RstStreamFrame)))
        self.assertEqual(c.status(1), ["200"])
        body = b"".join(f.data for f in c.of(1, hf.DataFrame))
        self.assertIn(b'"body_len": 0', body)
        c.send(c.data(1, b"", end_stream=True))
        c.send(c.get(3, "/"))
        self.finish(3)
        self.assertEqual(c.status(3), ["200"])

    def test_empty_body_is_a_body_of_length_zero(self):
        # HEADERS without END_STREAM, then an empty DATA frame that ends the stream (in the same
        # read): a body of 0 bytes, passed on with Content-Length: 0, as nginx.
        c = self.c
        c.send(self.post(1, "/buffered/"), c.data(1, b"", end_stream=True))
        self.finish(1)
        self.assertEqual(c.status(1), ["200"])
        got = json.loads(b"".join(f.data for f in c.of(1, hf.DataFrame)))
        self.assertEqual(got["method"], "POST")
        self.assertIn(["Content-Length", "0"], got["headers"])
        self.assertEqual(got["body_len"], 0)

    def test_bad_request_gets_the_default_servers_error_page(self):
        c = self.c
        c.send(c.headers(1, [(":method", "GET"), (":scheme", "http"),
                             (":authority", "localhost")]))  # no :path
        self.finish(1)
        self.assertEqual(c.status(1), ["400"])
        self.assertEqual(b"".join(f.data for f in c.of(1, hf.DataFrame)), b"custom 400 page\n")

    def test_a_request_without_scheme_or_path_is_a_bad_request(self):
        # RFC 9113 8.3.1; nginx: "client sent no :scheme header" (was served by portico).
        c = self.c
        c.send(c.headers(1, [(":method", "GET"), (":path", "/"), (":authority", "localhost")]),
               c.headers(3, [(":method", "GET"), (":scheme", "http"), (":path", ""),
                             (":authority", "localhost")]))
        self.finish(1)
        self.finish(3)
        self.assertEqual(c.status(1), ["400"])
        self.assertEqual(c.status(3), ["400"])

    def test_malformed_fields_reset_the_stream(self):
        c = self.c
        c.send(c.get(1, "/", extra=[("x-foo", "a\r\nreferer: smuggled")]),
               c.get(3, "/", extra=[("X-Upper", "1")]))
        self.assertTrue(c.read_until(lambda c: c.ended(1) and c.ended(3)))
        for sid in (1, 3):
            self.assertEqual([f.error_code for f in c.of(sid, hf.RstStreamFrame)],
                             [PROTOCOL_ERROR], f"stream {sid}")
            self.assertEqual(c.of(sid, hf.HeadersFrame), [])
        c.send(c.get(5, "/", extra=[("te", "trailers")]))
        self.finish(5)
        self.assertEqual(c.status(5), ["200"])

    @nginx_differs("nginx 1.22 ignores connection-specific fields over HTTP/2")
    def test_connection_specific_fields_reset_the_stream(self):
        # RFC 9113 8.2.2: malformed. Passed on into an HTTP/1.1 head they would change its
        # framing (transfer-encoding) or hop-by-hop meaning.
        c = self.c
        bad = [("te", "gzip"), ("connection", "keep-alive"), ("transfer-encoding", "chunked"),
               ("keep-alive", "1"), ("upgrade", "h2c"), ("proxy-connection", "x")]
        sids = [1 + 2 * i for i in range(len(bad))]
        for sid, f in zip(sids, bad):
            c.send(c.get(sid, "/", extra=[f]))
        self.assertTrue(c.read_until(lambda c: all(c.ended(s) for s in sids)))
        for sid in sids:
            self.assertEqual([f.error_code for f in c.of(sid, hf.RstStreamFrame)],
                             [PROTOCOL_ERROR], f"stream {sid}")

    def test_field_over_a_header_buffer_ends_the_connection(self):
        # large_client_header_buffers 2 512: a value of 513 bytes (nginx: "client exceeded
        # http2_max_field_size limit"), GOAWAY ENHANCE_YOUR_CALM; 512 is served.
        c = self.c
        # Sent without Huffman coding: the length on the wire is what nginx measures (portico
        # measures the decoded value).
        c.send(c.get(1, "/", extra=[("x-v", "v" * 512)], huffman=False))
        self.finish(1)
        self.assertEqual(c.status(1), ["200"])
        c.send(c.get(3, "/", extra=[("x-v", "v" * 513)], huffman=False))
        self.assertTrue(c.read_until(lambda c: c.goaway()))
        self.assertEqual(c.goaway(), [ENHANCE_YOUR_CALM])
        self.assertEqual(c.of(3, hf.HeadersFrame), [])

    def test_fields_over_all_header_buffers_end_the_connection(self):
        # Names and values together over 2 x 512 bytes, each field within 512.
        c = self.c
        c.send(c.get(1, "/", extra=[(f"x-{i}", "v" * 300) for i in range(4)]))
        self.assertTrue(c.read_until(lambda c: c.goaway()))
        self.assertEqual(c.goaway(), [ENHANCE_YOUR_CALM])
        self.assertEqual(c.of(1, hf.HeadersFrame), [])


KEEPALIVE_CONFIG = """
http {
    server {
        listen 127.0.0.1:{port} http2 sndbuf=1m;
        server_name localhost;
        keepalive_requests 2;
        location / { }
    }
    server {
        listen 127.0.0.1:{port_kt0} http2;
        server_name localhost;
        keepalive_timeout 0;
        location / { }
    }
}
"""
BIG = b"SEE-THAT" * 50000


class ConnectionEndTest(unittest.TestCase):
    """How a connection ends: GOAWAY after the last stream keepalive_requests allows (or at
    once with keepalive_timeout 0) and on reload, then a lingering close, so a client whose
    last frames were still unread by the server loses none of its response to a RST."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(KEEPALIVE_CONFIG, files={"html/big.html": BIG, "html/t.html": "t"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def big_client(self, port):
        c = Raw(port, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 1 << 20})
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        wu = hf.WindowUpdateFrame(0)
        wu.window_increment = 1 << 21
        c.send(wu)
        return c

    def test_last_stream_arrives_whole_although_the_client_wrote_after_it(self):
        c = self.big_client(self.srv.port())
        try:
            c.send(c.get(1, "/t.html"))
            self.assertTrue(c.read_until(lambda c: c.ended(1)))
            c.send(c.get(3, "/big.html"))
            time.sleep(0.1)  # the server writes all of it into its socket buffer and ends
            ping = hf.PingFrame(0)
            ping.opaque_data = b"SEE-THIS"
            c.send(ping)  # unread by the server when it closes: a RST without lingering
            time.sleep(0.2)
            c.read_until(lambda c: False, timeout=5)  # to the end of the connection
            self.assertTrue(c.closed)
            self.assertEqual(sum(len(f.data) for f in c.of(3, hf.DataFrame)), len(BIG))
            goaway = [f for f in c.frames if isinstance(f, hf.GoAwayFrame)]
            self.assertEqual([(f.last_stream_id, f.error_code) for f in goaway], [(3, 0)])
        finally:
            c.close()

    def test_keepalive_timeout_zero_makes_the_first_stream_the_last(self):
        c = Raw(self.srv.port("port_kt0"))
        try:
            c.send(c.get(1, "/t.html"))
            self.assertTrue(c.read_until(lambda c: c.ended(1) and c.goaway()))
            self.assertEqual(c.status(1), ["200"])
            self.assertEqual(c.goaway(), [0])
        finally:
            c.close()

    def test_reload_sends_goaway_and_the_stream_in_flight_finishes(self):
        c = self.big_client(self.srv.port())
        try:
            c.send(c.get(1, "/big.html"))
            self.assertTrue(c.read_until(lambda c: c.of(1, hf.DataFrame)))
            os.kill(self.srv.pid, signal.SIGHUP)
            c.read_until(lambda c: False, timeout=5)
            self.assertTrue(c.closed)
            self.assertEqual(sum(len(f.data) for f in c.of(1, hf.DataFrame)), len(BIG))
            goaway = [f for f in c.frames if isinstance(f, hf.GoAwayFrame)]
            self.assertEqual([(f.last_stream_id, f.error_code) for f in goaway], [(1, 0)])
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
