"""The headers filter and the keep-alive rules beside it, with real clients: add_trailer over
HTTP/1.1 (chunked, raw socket) and HTTP/2 (python3-h2, h2c), expires with variables, add_header
replacing ETag/Last-Modified and feeding $sent_http_* (several fields joined), repeated
single-value request fields (400), ignore_invalid_headers, underscores_in_headers,
limit_except, keepalive_time,
keepalive_disable, $connection_time, and the upstream pool's keepalive_time.

Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx) except where marked:
nginx 1.22 joins only Cache-Control and Link in $sent_http_* (1.23 joins all, as portico)."""

import json
import socket
import sys
import time
import unittest

from harness import (IS_NGINX, RawConn, Server, build_request, eventually, nginx_differs,
                     request, requires_proxy)
from upstreams import Upstream

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:  # Debian's python3-h2 under another interpreter (pyenv)
    sys.path.append("/usr/lib/python3/dist-packages")
    import h2.config
    import h2.connection
    import h2.events

CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{port_h2} http2;
        server_name localhost;
        root html;

        add_trailer X-Var $host;
        add_trailer X-Always always-$uri always;
        add_trailer X-Empty '';
        add_trailer X-Seen $sent_trailer_x_var;

        location /t/ { }
        location /nochunk/ { chunked_transfer_encoding off; }
        location = /empty { return 200 ""; }
        location /s/ {
            add_trailer X-T t;
            add_header Cache-Control a;
            add_header Cache-Control b;
            add_header X-Sent-CC $sent_http_cache_control;
            add_header ETag '';
            add_header Last-Modified "Mon, 28 Sep 1970 06:00:00 GMT";
        }
        location /var/ {
            add_trailer X-T t;
            expires $arg_e;
            location /var/mod/ { expires modified $arg_e; }
        }
        location /ka/ {
            add_trailer X-T t;
            keepalive_time 1s;
            add_header X-Conn $connection_requests:$connection_time;
        }
        location /safari/ { add_trailer X-T t; keepalive_disable safari; }
        location /none/ { add_trailer X-T t; keepalive_disable none; }
        location = /unique { add_trailer X-T t; return 204; }
        location /order/ { add_header X-Added 1; proxy_pass http://127.0.0.1:{port}/inner/; }
        location /inner/ { add_header X-Up up; return 200 "x"; }
    }
}
"""

FILES = {
    "html/t/f.txt": "SEE-THIS",
    "html/nochunk/f.txt": "SEE-THIS",
    "html/s/f.txt": "x",
    "html/var/f.txt": "x",
    "html/var/mod/f.txt": "x",
    "html/ka/f.txt": "x",
    "html/safari/f.txt": "x",
    "html/none/f.txt": "x",
}


def raw(port, data, timeout=5.0):
    """All bytes the server sends for `data` before it closes."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        return c.read_until_close()


def get(port, path, version="HTTP/1.1", method="GET", headers=None):
    return raw(port, build_request(method, path, version=version, headers=headers))


class H2c:
    """A python3-h2 client over clear text (prior knowledge); one request at a time."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                     (":authority", "localhost")], end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        out = {"headers": None, "body": b"", "trailers": None}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed")
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    out["headers"] = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, h2.events.DataReceived):
                    out["body"] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.TrailersReceived):
                    out["trailers"] = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    return out
            self.sock.sendall(self.conn.data_to_send())
        raise AssertionError(f"stream {sid} did not end")

    def close(self):
        self.sock.close()


class HeadersFilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, files=FILES)
        cls.port = cls.srv.port()
        cls.h2port = cls.srv.port("port_h2")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- add_trailer over HTTP/1.1 --------------------------------------------------------

    def test_trailers_end_a_chunked_body(self):
        r = get(self.port, "/t/f.txt")
        head, _, body = r.partition(b"\r\n\r\n")
        self.assertNotIn(b"Content-Length", head)
        self.assertIn(b"Transfer-Encoding: chunked", head)
        self.assertNotIn(b"X-Var", head)
        self.assertEqual(body, b"8\r\nSEE-THIS\r\n0\r\nX-Var: localhost\r\n"
                               b"X-Always: always-/t/f.txt\r\nX-Seen: localhost\r\n\r\n")

    def test_only_always_trailers_on_errors(self):
        r = get(self.port, "/t/missing")
        self.assertIn(b" 404 ", r.split(b"\r\n")[0])
        self.assertNotIn(b"X-Var", r)
        self.assertTrue(r.endswith(b"0\r\nX-Always: always-/t/missing\r\n\r\n"), r)

    def test_no_trailers_without_chunked_framing(self):
        r = get(self.port, "/t/f.txt", version="HTTP/1.0")
        self.assertIn(b"Content-Length: 8", r)
        self.assertTrue(r.endswith(b"\r\n\r\nSEE-THIS"), r)
        r = get(self.port, "/nochunk/f.txt")
        self.assertIn(b"Content-Length: 8", r)
        self.assertNotIn(b"X-Always", r)
        r = get(self.port, "/t/f.txt", method="HEAD")
        self.assertNotIn(b"X-Always", r)
        self.assertTrue(r.endswith(b"\r\n\r\n"), r)

    def test_empty_body_still_carries_trailers(self):
        r = get(self.port, "/empty")
        self.assertTrue(r.endswith(b"\r\n\r\n0\r\nX-Var: localhost\r\nX-Always: always-/empty\r\n"
                                   b"X-Seen: localhost\r\n\r\n"), r)

    def test_keep_alive_survives_trailers(self):
        with RawConn(self.port) as c:
            for _ in range(3):
                c.send(build_request("GET", "/t/f.txt", close=False))
                resp = c.read_response()
                self.assertEqual(resp.body, b"SEE-THIS")
            self.assertTrue(c.is_open())

    # ---- add_trailer over HTTP/2 ----------------------------------------------------------

    def test_h2_trailers(self):
        c = H2c(self.h2port)
        try:
            r = c.get("/t/f.txt")
            self.assertEqual(r["body"], b"SEE-THIS")
            self.assertNotIn("x-var", r["headers"])
            self.assertEqual(r["trailers"], {"x-var": "localhost", "x-always": "always-/t/f.txt",
                                             "x-seen": "localhost"})
            r = c.get("/empty")  # no DATA at all: HEADERS, then the trailers
            self.assertEqual(r["body"], b"")
            self.assertEqual(r["trailers"]["x-var"], "localhost")
            r = c.get("/t/missing")
            self.assertEqual(r["headers"][":status"], "404")
            self.assertEqual(r["trailers"], {"x-always": "always-/t/missing"})
        finally:
            c.close()

    # ---- add_header and $sent_http_* -------------------------------------------------------

    def test_add_header_replaces_etag_and_last_modified(self):
        r = request(self.port, "/s/f.txt")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("ETag"))
        self.assertEqual(r.headers_all("Last-Modified"), ["Mon, 28 Sep 1970 06:00:00 GMT"])

    def test_added_headers_follow_the_upstreams(self):
        # nginx's filters append to the fields the upstream sent: X-Up before X-Added.
        head = get(self.port, "/order/")
        lines = head.split(b"\r\n\r\n")[0].split(b"\r\n")
        names = [line.split(b":")[0].lower() for line in lines]
        self.assertIn(b"x-up", names, head)
        self.assertIn(b"x-added", names, head)
        self.assertLess(names.index(b"x-up"), names.index(b"x-added"), head)

    @nginx_differs("nginx 1.22 joins Cache-Control in $sent_http_* too; this one matches")
    def test_sent_http_joins_fields(self):
        r = request(self.port, "/s/f.txt")
        self.assertEqual(r.headers_all("Cache-Control"), ["a", "b"])
        self.assertEqual(r.header("X-Sent-CC"), "a, b")

    # ---- expires with variables ------------------------------------------------------------

    def test_expires_from_a_variable(self):
        self.assertEqual(request(self.port, "/var/f.txt?e=2048").header("Cache-Control"),
                         "max-age=2048")
        self.assertEqual(request(self.port, "/var/f.txt?e=epoch").header("Cache-Control"),
                         "no-cache")
        self.assertIn("2037", request(self.port, "/var/f.txt?e=max").header("Expires"))
        self.assertEqual(request(self.port, "/var/f.txt?e=-5").header("Cache-Control"), "no-cache")
        self.assertTrue(request(self.port, "/var/f.txt?e=@33s").header("Expires").endswith(
            ":33 GMT"))
        age = request(self.port, "/var/mod/f.txt?e=1h").header("Cache-Control")
        self.assertRegex(age, r"^max-age=3[56]\d\d$")

    def test_expires_variable_off_empty_or_bad_means_none(self):
        for q in ("?e=off", "", "?e=bad", "?e=@25h"):
            with self.subTest(q=q):
                r = request(self.port, "/var/f.txt" + q)
                self.assertEqual(r.status, 200)
                self.assertIsNone(r.header("Expires"))
        # `modified` takes a time only
        self.assertIsNone(request(self.port, "/var/mod/f.txt?e=epoch").header("Expires"))

    # ---- request fields ----------------------------------------------------------------------

    def test_repeated_single_value_fields_are_refused(self):
        for name in ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
                     "If-Range", "Content-Range", "Authorization", "Expect"):
            with self.subTest(name=name):
                r = get(self.port, "/unique", headers=[(name, "a"), (name, "b")])
                self.assertIn(b" 400 ", r.split(b"\r\n")[0])
        r = get(self.port, "/unique", headers=[("Via", "a"), ("Via", "b")])
        self.assertIn(b" 204 ", r.split(b"\r\n")[0])

    # ---- keep-alive ----------------------------------------------------------------------------

    def test_keepalive_time_ends_an_old_connection(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/ka/f.txt", close=False))
            first = c.read_response()
            self.assertEqual(first.header("Connection"), "keep-alive")
            self.assertRegex(first.header("X-Conn"), r"^1:0\.\d{3}$")
            # Past keepalive_time the next response is the connection's last.
            time.sleep(1.2)
            c.send(build_request("GET", "/ka/f.txt", close=False))
            second = c.read_response()
            self.assertEqual(second.header("Connection"), "close")
            self.assertRegex(second.header("X-Conn"), r"^2:1\.\d{3}$")
            self.assertTrue(c.closed_within(5))

    def test_keepalive_disable(self):
        safari = "Mozilla/5.0 (Macintosh; Mac OS X 10_7) Safari/7534.48.3"
        msie = "Mozilla/4.0 (compatible; MSIE 5.0; Windows 98)"

        def conn(path, ua, method="GET"):
            r = get(self.port, path, method=method, headers=[("User-Agent", ua),
                                                              ("Content-Length", "0")])
            head = r.split(b"\r\n\r\n")[0]
            return [l for l in head.split(b"\r\n") if l.startswith(b"Connection:")][0]

        # build_request asks for close; keep-alive must be asked for to be refused
        def ka(path, ua, method="GET"):
            with RawConn(self.port) as c:
                c.send(build_request(method, path, close=False,
                                     headers=[("User-Agent", ua), ("Content-Length", "0")]))
                return c.read_response(method).header("Connection")

        self.assertEqual(ka("/safari/f.txt", safari), "close")
        self.assertEqual(ka("/t/f.txt", safari), "keep-alive")   # default: msie6 only
        self.assertEqual(ka("/t/f.txt", msie, "POST"), "close")
        self.assertEqual(ka("/t/f.txt", msie), "keep-alive")      # only after a POST
        self.assertEqual(ka("/none/f.txt", msie, "POST"), "keep-alive")
        self.assertEqual(conn("/t/f.txt", msie), b"Connection: close")  # asked to close


CONFIG_ERRORS = [
    ("keepalive_disable opera;", 'invalid value "opera"'),
    ("keepalive_time 1x;", '"keepalive_time" directive invalid value'),
    ("add_trailer X-A b sometimes;", 'invalid parameter "sometimes"'),
]


class HeadersConfigTest(unittest.TestCase):
    def test_errors(self):
        for line, message in CONFIG_ERRORS:
            with self.subTest(line=line):
                srv = Server("http { server { listen 127.0.0.1:{port}; location / { "
                             + line + " } } }", start=False)
                try:
                    r = srv.run_cli("-t")
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertIn(message, r.stderr)
                    self.assertIn("portico.conf:" if not IS_NGINX else ".conf:", r.stderr)
                finally:
                    srv.stop()


UPSTREAM_CONFIG = r"""
http {
    upstream ka { server 127.0.0.1:@UP@; keepalive 4; keepalive_time 2s; }
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://ka; proxy_http_version 1.1;
                     proxy_set_header Connection ""; }
    }
}
"""


@requires_proxy
class UpstreamKeepaliveTimeTest(unittest.TestCase):
    def test_an_old_upstream_connection_is_not_reused(self):
        up = Upstream("keepalive", name="u")
        try:
            with Server(UPSTREAM_CONFIG.replace("@UP@", str(up.port))) as srv:
                started = time.monotonic()
                first = request(srv.port(), "/").text.split()
                second = request(srv.port(), "/").text.split()
                if time.monotonic() - started < 1.5:  # a loaded machine may take longer
                    self.assertEqual(second[1], first[1])  # same conn=, req=2
                    self.assertEqual(second[2], "req=2")
                # keepalive_time 2s: a connection older than that is closed, not pooled
                seen = {}

                def moved_on():
                    words = request(srv.port(), "/").text.split()
                    seen["last"] = words
                    return words[1] != first[1]

                eventually(moved_on, timeout=8, interval=0.2,
                           message="a new upstream connection after keepalive_time")
                self.assertGreaterEqual(time.monotonic() - started, 2.0)
        finally:
            up.stop()


INVALID_CONFIG = r"""
http {
    server {
        listen 127.0.0.1:{port};
        ignore_invalid_headers off;
        location / { proxy_pass http://127.0.0.1:@UP@; }
    }
    server {
        listen 127.0.0.1:{port_on};
        location / { proxy_pass http://127.0.0.1:@UP@; }
        location /lmt/ {
            proxy_pass http://127.0.0.1:@UP@;
            limit_except GET { deny all; }
        }
    }
    server {
        listen 127.0.0.1:{port_us};
        underscores_in_headers on;
        add_header X-Foo $http_x_foo;
        location / { proxy_pass http://127.0.0.1:@UP@; }
    }
}
"""


@requires_proxy
class InvalidHeadersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream("echo", name="echo")
        try:
            cls.srv = Server(INVALID_CONFIG.replace("@UP@", str(cls.up.port)))
        except BaseException:
            cls.up.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.up.stop()

    def forwarded(self, port_name, *lines):
        data = "GET / HTTP/1.0\r\n" + "".join(l + "\r\n" for l in lines) + "\r\n"
        r = raw(self.srv.port(port_name), data)
        head, _, body = r.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0], r)
        return [name.lower() for name, _ in json.loads(body)["headers"]]

    def test_off_forwards_token_names(self):
        names = self.forwarded("port", "x_foo: a", "_foo: b", "x.foo: c", ".foo: d")
        for n in ("x_foo", "_foo", "x.foo", ".foo"):
            self.assertIn(n, names)

    def test_on_drops_them(self):
        names = self.forwarded("port_on", "x_foo: a", "_foo: b", "x.foo: c", "x-ok: d")
        self.assertEqual([n for n in names if "foo" in n or n == "x-ok"], ["x-ok"])

    def test_underscores_in_headers(self):
        names = self.forwarded("port_us", "x_foo: a", "_foo: b", "x.foo: c")
        self.assertIn("x_foo", names)
        self.assertIn("_foo", names)
        self.assertNotIn("x.foo", names)
        # $http_x_foo finds X_Foo: '_' and '-' are one in a variable's name (nginx)
        r = raw(self.srv.port("port_us"), "GET / HTTP/1.0\r\nX_Foo: under\r\n\r\n")
        self.assertIn(b"\r\nX-Foo: under\r\n", r)

    @nginx_differs("with ignore_invalid_headers off nginx forwards any name it can split off")
    def test_names_that_are_no_token_never_pass(self):
        # '<' and '>' are no tchar (RFC 9110 5.6.2): dropped even with the switch off.
        names = self.forwarded("port", "coo: foo", "co<kie>: x-bar")
        self.assertNotIn("co<kie>", names)
        self.assertIn("coo", names)
        r = raw(self.srv.port("port"), "GET / HTTP/1.0\r\n</kie>: x\r\n\r\n")
        self.assertIn(b" 400 ", r.split(b"\r\n")[0])  # no name at all before the '<'

    def test_names_starting_with_no_token_are_refused(self):
        for line in (":foo: x", " foo: x", "foo\x02: x"):
            with self.subTest(line=line):
                r = raw(self.srv.port("port"), "GET / HTTP/1.0\r\n" + line + "\r\n\r\n")
                self.assertIn(b" 400 ", r.split(b"\r\n")[0])

    def test_limit_except(self):
        port = self.srv.port("port_on")
        self.assertEqual(request(port, "/lmt/x").status, 200)
        self.assertEqual(request(port, "/lmt/x", method="HEAD").status, 200)
        self.assertEqual(request(port, "/lmt/x", method="POST", body=b"").status, 403)
        self.assertEqual(request(port, "/lmt/x", method="DELETE").status, 403)


if __name__ == "__main__":
    unittest.main()
