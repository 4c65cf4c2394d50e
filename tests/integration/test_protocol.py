"""HTTP/1.x on the wire: keep-alive, pipelining, HTTP/1.0, Expect, chunked bodies, limits,
malformed requests and timeouts. Expected statuses are what nginx 1.22 sends."""

import email.utils
import time
import unittest

from harness import (HAS_PROXY, IS_NGINX, nginx_differs, nginx_only, requires_proxy, RawConn, Server, TinyUpstream, build_request, eventually,
                     exchange, nginx_differs, nginx_only, portico_only, request)

CONFIG = r"""
http {
    default_type text/plain;
    client_max_body_size 100;
    client_header_timeout 1s;
    client_body_timeout 1s;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;
        location / {
            return 200 "ok $request_method $uri\n";
        }
        location /static/ {
        }
        {proxy_location}
    }
}
"""


def bad(data, port):
    """Send data; return the statuses of all responses the server sent before it closed
    the connection (exchange() fails the test if it does not close)."""
    responses, _ = exchange(port, data)
    return [r.status for r in responses]


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = TinyUpstream()
        proxy = ("location /proxy/ { proxy_pass http://127.0.0.1:%d/; }" % cls.upstream.port
                 if HAS_PROXY else "")
        cls.srv = Server(CONFIG.replace("{proxy_location}", proxy),
                         {"html/static/f.txt": "static file\n"})
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.upstream.close()

    def conn(self, timeout=5.0):
        return RawConn(self.port, timeout=timeout)

    # ---- connection management ---------------------------------------------------------

    def test_keepalive_reuse(self):
        with self.conn() as c:
            for i in range(3):
                c.send(build_request("GET", f"/ka{i}", close=False))
                r = c.read_response()
                self.assertEqual((r.status, r.text), (200, f"ok GET /ka{i}\n"))
                self.assertEqual(r.header("Connection"), "keep-alive")
            self.assertTrue(c.is_open())

    def test_pipelining(self):
        with self.conn() as c:
            c.send(b"".join(build_request("GET", f"/p{i}", close=False) for i in range(3)))
            bodies = [c.read_response().text for _ in range(3)]
            self.assertEqual(bodies, ["ok GET /p0\n", "ok GET /p1\n", "ok GET /p2\n"])
            # a pipelined Connection: close ends the connection after its response
            c.send(build_request("GET", "/p3", close=False) + build_request("GET", "/p4")
                   + build_request("GET", "/never", close=False))
            self.assertEqual(c.read_response().text, "ok GET /p3\n")
            last = c.read_response()
            self.assertEqual((last.text, last.header("Connection")), ("ok GET /p4\n", "close"))
            self.assertTrue(c.closed_within(5))
            self.assertEqual(c.buf, b"")

    def test_pipelining_mixed_methods_and_bodies(self):
        with self.conn() as c:
            c.send(build_request("POST", "/a", body="12345", close=False)
                   + build_request("HEAD", "/static/f.txt", close=False)
                   + build_request("GET", "/static/f.txt", close=False))
            self.assertEqual(c.read_response().text, "ok POST /a\n")
            h = c.read_response("HEAD")
            self.assertEqual((h.status, h.body, h.header("Content-Length")), (200, b"", "12"))
            self.assertEqual(c.read_response().text, "static file\n")

    def test_http10_closes(self):
        with self.conn() as c:
            c.send(b"GET /x HTTP/1.0\r\n\r\n")
            r = c.read_response()
            # nginx answers with its own version, HTTP/1.1, and says it will close
            self.assertEqual((r.version, r.status), ("HTTP/1.1", 200))
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_within(5))

    def test_http10_keepalive(self):
        with self.conn() as c:
            c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.header("Connection"), "keep-alive")
            self.assertTrue(c.is_open())
            c.send(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            self.assertEqual(c.read_response().text, "ok GET /b\n")
            c.send(b"GET /c HTTP/1.0\r\n\r\n")
            self.assertEqual(c.read_response().text, "ok GET /c\n")
            self.assertTrue(c.closed_within(5))

    def test_http11_connection_close(self):
        with self.conn() as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response().header("Connection"), "close")
            self.assertTrue(c.closed_within(5))

    def test_head(self):
        with self.conn() as c:
            c.send(build_request("HEAD", "/x", close=False))
            r = c.read_response("HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), str(len("ok HEAD /x\n")))
            self.assertEqual(c.buf, b"")
            c.send(build_request("GET", "/y"))
            self.assertEqual(c.read_response().text, "ok GET /y\n")

    def test_date_and_server_headers(self):
        before = time.time()
        r = request(self.port, "/")
        d = r.header("Date")
        self.assertRegex(d, r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                            r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                            r"\d{2}:\d{2}:\d{2} GMT$")
        self.assertLess(abs(email.utils.parsedate_to_datetime(d).timestamp() - before), 5)
        self.assertIsNotNone(r.header("Server"))
        # nginx's header order: Server, Date, Content-Type, Content-Length, Connection
        names = [k for k, _ in r.headers]
        self.assertEqual(names[:2], ["Server", "Date"])

    @portico_only
    def test_server_header_names_portico(self):
        r = request(self.port, "/")
        self.assertRegex(r.header("Server"), r"^portico/\d+\.\d+\.\d+$")
        self.assertIn(b"<hr><center>portico/", request(self.port, "/static/missing").body)

    # ---- request bodies -----------------------------------------------------------------

    def test_expect_100_continue(self):
        with self.conn() as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            interim = c.read_response(timeout=3)
            self.assertEqual((interim.version, interim.status, interim.reason),
                             ("HTTP/1.1", 100, "Continue"))
            self.assertEqual(interim.headers, [])
            c.send(b"hello")
            r = c.read_response()
            self.assertEqual((r.status, r.text), (200, "ok POST /upload\n"))
            # the connection stays usable: the body was consumed, not parsed as a request
            c.send(build_request("GET", "/after"))
            self.assertEqual(c.read_response().text, "ok GET /after\n")

    @requires_proxy
    def test_expect_100_continue_proxied(self):
        with self.conn() as c:
            c.send(b"POST /proxy/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response(timeout=3).status, 100)
            c.send(b"hello")
            r = c.read_response()
            self.assertEqual((r.status, r.text), (200, "upstream got 5 bytes"))

    def test_expect_not_sent_when_answer_is_final(self):
        # static files do not take POST: the 405 comes at once, without a 100 first
        with self.conn() as c:
            c.send(b"POST /static/f.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            self.assertEqual(c.read_response(timeout=3).status, 405)

    @nginx_differs("nginx ignores an expectation it does not know; RFC 9110 10.1.1 allows 417, "
                   "and a client waiting for 100 Continue would otherwise wait in vain")
    def test_unknown_expectation_is_417(self):
        r = request(self.port, "/", headers={"Expect": "something-else"})
        self.assertEqual(r.status, 417)

    def test_chunked_request_body(self):
        with self.conn() as c:
            c.send(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
            self.assertEqual(c.read_response().text, "ok POST /chunked\n")
            c.send(build_request("GET", "/next"))
            self.assertEqual(c.read_response().text, "ok GET /next\n")

    @requires_proxy
    def test_chunked_request_body_proxied(self):
        with self.conn() as c:
            c.send(b"POST /proxy/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.text), (200, "upstream got 15 bytes"))

    def test_client_max_body_size(self):
        self.assertEqual(bad(build_request("POST", "/", body="x" * 101), self.port), [413])
        self.assertEqual(request(self.port, "/", method="POST", body="x" * 100).status, 200)
        # the limit is checked on Content-Length before any body byte is read
        with self.conn() as c:
            c.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
            r = c.read_response(timeout=3)
            self.assertEqual(r.status, 413)
            self.assertIn(b"<title>413 Request Entity Too Large</title>", r.body)
            self.assertEqual(r.header("Connection"), "close")
        self.srv.wait_error_log(r"client intended to send too large body: 1000000 bytes")

    @requires_proxy
    def test_client_max_body_size_chunked_proxied(self):
        body = b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n"
        statuses = bad(b"POST /proxy/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + body, self.port)
        self.assertEqual(statuses, [413])

    def test_client_max_body_size_chunked_discarded(self):
        # SURPRISE: a chunked body that a "return" location discards is not checked
        # against client_max_body_size (only bodies that are read are).
        body = b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n"
        r = request(self.port, "/", method="POST", body=body,
                    headers={"Transfer-Encoding": "chunked"})
        self.assertEqual(r.status, 200)

    # ---- malformed requests --------------------------------------------------------------

    def assertRejected(self, data, status):
        self.assertEqual(bad(data, self.port), [status], data)

    def test_bad_request_line(self):
        for line in (b"GARBAGE", b"get / HTTP/1.1", b"GET / http/1.1", b"GET /a b HTTP/1.1",
                     b"GET /a\tb HTTP/1.1", b"GET /a\x01b HTTP/1.1", b"GET /a\x00b HTTP/1.1",
                     b"GET @x HTTP/1.1", b"GET / HTTP/1", b"GET / FOO/1.1"):
            with self.subTest(line=line):
                self.assertRejected(line + b"\r\nHost: a\r\n\r\n", 400)

    def test_lenient_request_lines(self):
        # nginx accepts these (recorded so portico matches)
        cases = {
            b"GET  /double-space HTTP/1.1": "ok GET /double-space\n",
            b"GET /trailing-space HTTP/1.1 ": "ok GET /trailing-space\n",
            b"GET /minor HTTP/1.2": "ok GET /minor\n",       # any HTTP/1.x
            b"GET /frag#ment HTTP/1.1": "ok GET /frag\n",    # fragment dropped
            b"FOO /custom-method HTTP/1.1": "ok FOO /custom-method\n",
        }
        for line, body in cases.items():
            with self.subTest(line=line):
                with self.conn() as c:
                    c.send(line + b"\r\nHost: a\r\nConnection: close\r\n\r\n")
                    r = c.read_response()
                    self.assertEqual((r.status, r.text), (200, body))

    def test_leading_empty_lines_ignored(self):
        with self.conn() as c:
            c.send(b"\r\n\r\nGET /lead HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response().text, "ok GET /lead\n")

    def test_bare_lf_line_endings_accepted(self):
        # RFC 9112 2.2 lets a recipient accept a bare LF as line terminator; nginx does.
        with self.conn() as c:
            c.send(b"GET /lf HTTP/1.1\nHost: a\nConnection: close\n\n")
            self.assertEqual(c.read_response().text, "ok GET /lf\n")

    def test_connect_options_star_trace(self):
        self.assertRejected(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 405)
        self.assertRejected(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        self.assertRejected(b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405)

    @nginx_differs("nginx's parser refuses the authority-form target with 400")
    def test_connect_to_an_authority_is_not_allowed(self):
        # RFC 9110 9.3.6: CONNECT is for proxies; an origin server does not carry it out.
        self.assertRejected(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405)

    def test_content_length_with_transfer_encoding(self):
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)

    def test_duplicate_content_length(self):
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            b"Content-Length: 6\r\n\r\nhello!", 400)
        # even identical duplicates and lists are rejected
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            b"Content-Length: 5\r\n\r\nhello", 400)
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
                            400)

    def test_invalid_content_length(self):
        for value in (b"abc", b"-1", b"+5", b"5x", b"99999999999999999999999"):
            with self.subTest(value=value):
                self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + value
                                    + b"\r\n\r\nhello", 400)

    def test_bad_chunked_body(self):
        for body in (b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n",
                     b"-5\r\nhello\r\n0\r\n\r\n", b"ffffffffffffffffffff\r\nx\r\n0\r\n\r\n"):
            with self.subTest(body=body):
                self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n" + body, 400)
        self.srv.wait_error_log(r"client sent invalid chunked body")

    def test_transfer_encoding_rules(self):
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501)
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
                            b"\r\n\r\n0\r\n\r\n", 501)
        self.assertRejected(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
                            501)
        # Transfer-Encoding in an HTTP/1.0 request is a 400
        self.assertRejected(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                            400)
        # the coding name is case-insensitive
        r = request(self.port, "/", method="POST", body=b"0\r\n\r\n",
                    headers={"Transfer-Encoding": "Chunked"})
        self.assertEqual(r.status, 200)

    def test_obs_fold(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", 400)
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400)

    def test_bare_cr(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400)
        self.assertRejected(b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400)

    def test_nul(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400)
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX\x00A: b\r\n\r\n", 400)

    def test_space_before_colon(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400)
        self.assertRejected(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400)

    def test_empty_header_name(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400)

    def test_invalid_header_lines_ignored(self):
        # SURPRISE: with ignore_invalid_headers on (default), a line without a colon and
        # names with "_" or non-ASCII bytes are ignored, not rejected.
        for line in (b"NoColon", b"X_Under: v", b"X-\xc3\xa9: v"):
            with self.subTest(line=line):
                with self.conn() as c:
                    c.send(b"GET /ign HTTP/1.1\r\nHost: a\r\n" + line
                           + b"\r\nConnection: close\r\n\r\n")
                    self.assertEqual(c.read_response().text, "ok GET /ign\n")

    def test_huge_request_line_414(self):
        r = bad(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", self.port)
        self.assertEqual(r, [414])

    @nginx_only
    def test_huge_header_nginx_400(self):
        # nginx: one header line longer than a large_client_header_buffers buffer (8k) is
        # "400 Request Header Or Cookie Too Large" (internally 494).
        for data in (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: a\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n"):
            responses, _ = exchange(self.port, data)
            self.assertEqual([r.status for r in responses], [400])
            self.assertIn(b"<title>400 Request Header Or Cookie Too Large</title>",
                          responses[0].body)

    @nginx_differs("nginx answers 400 'Request Header Or Cookie Too Large' for one "
                   "over-long header line")
    def test_huge_header_431(self):
        r = bad(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n", self.port)
        self.assertEqual(r, [431])

    def test_too_many_header_bytes(self):
        # 40 x 1 KiB headers exceed the 4 x 8k large_client_header_buffers: 400 in nginx
        data = (b"GET / HTTP/1.1\r\nHost: a\r\n"
                + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(40)) + b"\r\n")
        r = bad(data, self.port)
        self.assertEqual(len(r), 1)
        if IS_NGINX:
            self.assertEqual(r, [400])
        else:
            self.assertIn(r[0], (400, 431))

    def test_http_version_not_supported(self):
        self.assertRejected(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505)
        self.assertRejected(b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505)

    def test_missing_host_http11(self):
        self.assertRejected(b"GET / HTTP/1.1\r\n\r\n", 400)
        # (nginx logs 'client sent HTTP/1.1 request without "Host" header' at info level)

    @nginx_only
    def test_http09_simple_request(self):
        # SURPRISE: nginx still answers an HTTP/0.9 simple request ("GET /") with a bare
        # body: no status line, no headers, then close.
        with self.conn() as c:
            c.send(b"GET /nine\r\n")
            self.assertEqual(c.read_until_close(5), b"ok GET /nine\n")

    @nginx_differs("answers HTTP/0.9 simple requests with a bare body")
    def test_http09_is_rejected(self):
        # portico does not speak HTTP/0.9: a request line without a version is malformed.
        self.assertRejected(b"GET /nine\r\n", 400)

    def test_absolute_form_target(self):
        # the target's host replaces the Host header; the scheme in the target is not
        # checked (any scheme, any case) and $scheme stays the connection's
        cases = {
            b"http://localhost/abs/path?q=1": "ok GET /abs/path\n",
            b"https://localhost:8443/s": "ok GET /s\n",
            b"HTTP://LOCALHOST/x": "ok GET /x\n",
            b"ftp://localhost/f": "ok GET /f\n",
            b"http://localhost": "ok GET /\n",        # empty path is "/"
            b"http://localhost?x": "ok GET /\n",
            b"//x/y": "ok GET /x/y\n",                # origin-form, merged slashes
        }
        for target, body in cases.items():
            with self.subTest(target=target):
                with self.conn() as c:
                    c.send(b"GET " + target + b" HTTP/1.1\r\nHost: ignored\r\n"
                           b"Connection: close\r\n\r\n")
                    self.assertEqual(c.read_response().text, body)
        for target in (b"http:/x", b"http://user@localhost/"):
            with self.subTest(target=target):
                self.assertRejected(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n", 400)

    # ---- timeouts -------------------------------------------------------------------------

    def test_client_header_timeout(self):
        # nginx closes without sending anything (408 is only logged); portico may send 408
        for data in (b"GET / HTTP/1.1\r\nHost: a\r\n", b""):
            with self.subTest(data=data):
                with self.conn(timeout=6) as c:
                    start = time.monotonic()
                    if data:
                        c.send(data)
                    out = c.read_until_close(6)
                    elapsed = time.monotonic() - start
                self.assertGreater(elapsed, 0.8)
                self.assertLess(elapsed, 4)
                if IS_NGINX:
                    self.assertEqual(out, b"")
                else:
                    self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 408 "), out)
        # the timed-out request is logged with status 408 (only the one that sent something)
        eventually(lambda: any('"GET / HTTP/1.1" 408 0 ' in l for l in self.srv.access_log()),
                   5, message="408 line in the access log")

    @requires_proxy
    def test_client_body_timeout(self):
        # body read for proxying stalls: nginx closes without a response after the timeout
        with self.conn(timeout=8) as c:
            start = time.monotonic()
            c.send(b"POST /proxy/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
            out = c.read_until_close(8)
            elapsed = time.monotonic() - start
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 4)
        if IS_NGINX:
            self.assertEqual(out, b"")
        else:
            self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 408 "), out)
        eventually(lambda: any('"POST /proxy/x HTTP/1.1" 408 ' in l
                               for l in self.srv.access_log()),
                   5, message="408 line in the access log")

    def test_unread_body_with_return(self):
        # return answers at once without waiting for the body; the rest of the body is then
        # discarded (nginx keeps reading it and closes after lingering_timeout, 5 s)
        with self.conn(timeout=8) as c:
            c.send(b"POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
            r = c.read_response(timeout=3)
            self.assertEqual((r.status, r.text), (200, "ok POST /early\n"))
            # finishing the body keeps the connection usable
            c.send(b"cdefghij" + build_request("GET", "/after-discard"))
            self.assertEqual(c.read_response(timeout=3).text, "ok GET /after-discard\n")


if __name__ == "__main__":
    unittest.main()
