"""The proxy's per-attempt $upstream_* variables as nginx prints them: one value per attempt,
", " between attempts and " : " between the attempts of two proxied locations (an internal
redirect); $upstream_response_length, $upstream_bytes_received/_sent; the attempt under way
while the response head is built (add_header, add_trailer); $upstream_http_* in the access
log, after the upstream's buffer was reused.

Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx)."""

import re
import unittest

from harness import RawConn, Server, build_request, free_port, request, requires_proxy
from upstreams import Upstream, fill

BODY = "twenty-two bytes here!"  # 22 bytes
# sent chunked by the upstream (upstreams.py unescapes it): 4 + 22 + 2 + 5 = 33 bytes
CHUNKED_BODY = "16\\r\\n" + BODY + "\\r\\n0\\r\\n\\r\\n"

CONFIG = r"""
http {
    default_type text/plain;
    log_format up '$request_uri|$status|$upstream_status|$upstream_response_length|'
                  '$upstream_bytes_received|$upstream_bytes_sent|$upstream_http_x_tag|'
                  '$upstream_addr|$upstream_header_time';
    access_log logs/up.log up;
    upstream twice {
        server 127.0.0.1:@DEAD@;
        server 127.0.0.1:@FIXED@;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location /one/ { proxy_pass http://127.0.0.1:@FIXED@; }
        location /two/ { proxy_pass http://twice; }
        location /inflight/ {
            proxy_pass http://127.0.0.1:@FIXED@;
            add_header X-Status $upstream_status;
            add_header X-Header-Time $upstream_header_time;
            add_header X-Response-Time $upstream_response_time;
            add_header X-Tag $upstream_http_x_tag;
            add_trailer X-Length $upstream_response_length;
            add_trailer X-Received $upstream_bytes_received;
        }
        location /redirected/ {
            proxy_pass http://127.0.0.1:@MISSING@;
            proxy_intercept_errors on;
            error_page 404 = /one/after;
        }
    }
}
"""


@requires_proxy
class ProxyUpstreamVarsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixed = Upstream("fixed", "--body", CHUNKED_BODY, "--header", "X-Tag: kept",
                             "--header", "Transfer-Encoding: chunked", name="fixed")
        cls.missing = Upstream("fixed", "--status", "404", "--body", "nope", name="missing")
        cls.dead = free_port()
        try:
            cls.srv = Server(fill(CONFIG, FIXED=cls.fixed.port, MISSING=cls.missing.port,
                                  DEAD=cls.dead))
        except BaseException:
            cls.fixed.stop()
            cls.missing.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.fixed.stop()
        cls.missing.stop()

    def log_entry(self, uri):
        f = self.srv.wait_log_fields(uri, "logs/up.log")
        keys = ["uri", "status", "ustatus", "length", "received", "sent", "tag", "addr",
                "htime"]
        return dict(zip(keys, f))

    def test_lengths_and_bytes_of_one_attempt(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/one/a"))
            r = c.read_final_response()
        self.assertEqual(r.status, 200)
        e = self.log_entry("/one/a")
        self.assertEqual(e["ustatus"], "200")
        # The body as read from the upstream, its chunked framing included ("16\r\n" + 22 +
        # "\r\n" + "0\r\n\r\n"): nginx counts what its pipe read.
        self.assertEqual(e["length"], str(4 + 22 + 2 + 5))
        received = int(e["received"])
        self.assertGreater(received, int(e["length"]))
        self.assertGreater(int(e["sent"]), len("GET /one/a HTTP/1.0\r\n\r\n"))
        # the upstream's field, read by the log after the response's buffer was reused
        self.assertEqual(e["tag"], "kept")

    def test_two_attempts_are_comma_separated(self):
        r = request(self.port, "/two/b")
        self.assertEqual(r.status, 200)
        e = self.log_entry("/two/b")
        self.assertEqual(e["ustatus"], "502, 200")
        self.assertEqual(e["addr"], f"127.0.0.1:{self.dead}, 127.0.0.1:{self.fixed.port}")
        self.assertEqual(e["length"], "0, 33")
        sent = e["sent"].split(", ")
        self.assertEqual(sent[0], "0")
        self.assertGreater(int(sent[1]), 0)
        self.assertRegex(e["htime"], r"^-, \d+\.\d{3}$")

    def test_internal_redirect_separates_with_colon(self):
        r = request(self.port, "/redirected/c")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, BODY.encode())
        e = self.log_entry("/redirected/c")
        self.assertEqual(e["ustatus"], "404 : 200")
        self.assertEqual(e["addr"],
                         f"127.0.0.1:{self.missing.port} : 127.0.0.1:{self.fixed.port}")
        self.assertRegex(e["length"], r"^\d+ : 33$")

    def test_attempt_under_way_in_headers_and_trailers(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/inflight/d"))
            r = c.read_final_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Status"), "200")
        self.assertRegex(r.header("X-Header-Time"), r"^\d+\.\d{3}$")
        # the response is not over while its head goes out
        self.assertEqual(r.header("X-Response-Time"), "-")
        self.assertEqual(r.header("X-Tag"), "kept")
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        e = self.log_entry("/inflight/d")
        self.assertEqual(e["length"], "33")

    def test_trailers_carry_the_finished_lengths(self):
        # The raw bytes: the trailer section after the last chunk.
        with RawConn(self.port) as c:
            c.send(b"GET /inflight/e HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                piece = c.sock.recv(65536)
                if not piece:
                    break
                data += piece
        self.assertIn(b"\r\n0\r\nX-Length: 33\r\n", data)
        m = re.search(rb"X-Received: (\d+)\r\n", data)
        self.assertIsNotNone(m, data)
        self.assertGreater(int(m.group(1)), 33)


if __name__ == "__main__":
    unittest.main()
