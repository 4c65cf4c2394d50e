"""RFC 9110/9112 requirements on an origin server and on a reverse proxy, each checked on the
wire with raw sockets (requests built byte by byte). docs/CONFORMANCE.md lists every row and
names the test that checks it; the rows already checked elsewhere (test_protocol.py, the unit
tests) are cited there, not repeated here. Where nginx is lax and portico follows the RFC,
the test is marked nginx_differs with what nginx does."""

import email.utils
import os
import time
import unittest

from harness import (RawConn, Server, TinyUpstream, build_request, exchange, nginx_differs, requires_proxy,
                     request)

CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;
        location / {
            expires 1h;
        }
        location = /echo {
            return 200 "[$http_x_a]";
        }
        location = /nocontent {
            return 204;
        }
        location /p/ {
            proxy_pass http://127.0.0.1:{upstream}/;
        }
        location /ws/ {
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }
    }
}
"""

FILE_BODY = b"0123456789abcdefghij"  # 20 bytes


def statuses(port, data):
    responses, _ = exchange(port, data)
    return [r.status for r in responses]


class ScriptedUpstream(TinyUpstream):
    """An upstream on 127.0.0.1 answering each request with the raw bytes given for its path
    (then closing), and keeping every request it received (TinyUpstream.requests)."""

    def __init__(self, answers):
        self.answers = answers  # path -> raw response bytes
        super().__init__()

    def answer(self, head, body):
        line = head.split(b"\r\n", 1)[0].split(b" ")
        path = line[1].decode("latin-1") if len(line) > 1 else "/"
        return self.answers.get(path, b"HTTP/1.1 404 Not Found\r\n"
                                      b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    def head_for(self, path):
        for head, _ in reversed(list(self.requests)):
            h = head.decode("latin-1")
            if h.split(" ")[1] == path:
                return h
        return None


UPSTREAM_ANSWERS = {
    "/plain": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    "/no-date": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    "/204": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "/space-colon": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A : b\r\n"
                     b"Connection: close\r\n\r\nok"),
    "/101": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             b"Connection: upgrade\r\n\r\ntunnel bytes"),
    "/fold": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Fold: a\r\n b\r\n"
              b"Connection: close\r\n\r\nok"),
}


class RfcOriginTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = ScriptedUpstream(UPSTREAM_ANSWERS)
        cls.srv = Server(CONFIG.replace("{upstream}", str(cls.upstream.port)),
                         {"html/f.txt": FILE_BODY, "html/future.txt": FILE_BODY})
        cls.port = cls.srv.port()
        r = request(cls.port, "/f.txt")
        cls.etag = r.header("ETag")
        cls.last_modified = r.header("Last-Modified")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.upstream.close()

    def get(self, path, headers=None, method="GET", version="HTTP/1.1", host="localhost",
            body=None):
        return request(self.port, path, method=method, headers=headers, version=version,
                       host=host, body=body)

    def assertRejected(self, data, status):
        self.assertEqual(statuses(self.port, data), [status], data)

    # ---- RFC 9112 3.2: Host ---------------------------------------------------------------

    def test_more_than_one_host_is_400(self):
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        self.assertRejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400)

    def test_host_with_an_invalid_value_is_400(self):
        for value in (b"a/b", b"..", b"a..b", b"a b", b"a\x01b"):
            with self.subTest(value=value):
                self.assertRejected(b"GET / HTTP/1.1\r\nHost: " + value + b"\r\n\r\n", 400)

    @nginx_differs("nginx accepts a Host with '\\', '@', '\"', '<', '{', '|' ... (no uri-host)")
    def test_host_outside_the_uri_host_grammar_is_400(self):
        for value in (b"a\\b", b"user@a", b"a\"b", b"a<b>", b"a{b}", b"a|b", b"a^b", b"a`b"):
            with self.subTest(value=value):
                self.assertRejected(b"GET / HTTP/1.1\r\nHost: " + value + b"\r\n\r\n", 400)
        # sub-delims, '%', '_', '~' and an IP-literal are valid
        for value in ("a-b_c~d.example", "a!$&'()*+,;=b", "a%41", "[::1]:8080"):
            with self.subTest(value=value):
                self.assertEqual(self.get("/echo", host=value).status, 200)

    def test_http10_request_needs_no_host(self):
        r = self.get("/echo", version="HTTP/1.0", host=None)
        self.assertEqual(r.status, 200)

    # ---- RFC 9112 3 / 9110 5.5: request line and field values --------------------------------

    def test_request_line_of_8000_octets_is_served(self):
        # 9112 3: "It is RECOMMENDED that all HTTP senders and recipients support, at a
        # minimum, request-line lengths of 8000 octets."
        path = "/f.txt?" + "q" * (8000 - len("GET /f.txt? HTTP/1.1"))
        line = f"GET {path} HTTP/1.1"
        self.assertEqual(len(line), 8000)
        self.assertEqual(self.get(path).status, 200)

    @nginx_differs("nginx strips spaces but keeps a leading or trailing HTAB in a field value")
    def test_leading_and_trailing_whitespace_is_not_part_of_the_value(self):
        with RawConn(self.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: \t v  w \t \r\n"
                   b"Connection: close\r\n\r\n")
            self.assertEqual(c.read_response().text, "[v  w]")

    # ---- RFC 9110 2.5 / 6.2: versions ---------------------------------------------------------

    def test_response_to_http10_says_http11(self):
        r = self.get("/f.txt", version="HTTP/1.0")
        self.assertEqual((r.version, r.status), ("HTTP/1.1", 200))
        self.assertIsNone(r.header("Transfer-Encoding"))

    # ---- RFC 9112 6.3: message body length of requests -------------------------------------

    def test_request_without_length_has_no_body(self):
        # a POST with neither Content-Length nor Transfer-Encoding has an empty body: the
        # bytes after its head are the next request
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: second\r\nConnection: close\r\n\r\n")
            first = c.read_response()
            second = c.read_response()
        self.assertIn(first.status, (200, 405))
        self.assertEqual((second.status, second.text), (200, "[second]"))

    def test_unknown_transfer_coding_is_refused(self):
        # 9112 6.1: an unknown coding SHOULD get 501; 6.3 (4) asks 400 when chunked is not
        # the final coding. portico answers 501 for both, as nginx does (nginx-tests'
        # body_chunked.t pins it); either way the request is refused and the connection
        # closed, which is what 6.3 protects (docs/CONFORMANCE.md, deliberate difference).
        for te in (b"gzip", b"identity", b"chunked, gzip", b"gzip, chunked"):
            with self.subTest(te=te):
                self.assertRejected(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                                    + te + b"\r\n\r\n0\r\n\r\n", 501)

    @nginx_differs("nginx answers 501 to 'chunked, chunked' in one field (400 for two fields)")
    def test_chunked_twice_is_400(self):
        # 9112 7: a sender MUST NOT apply chunked more than once; the body has no framing
        for te in (b"Transfer-Encoding: chunked, chunked\r\n",
                   b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"):
            with self.subTest(te=te):
                self.assertRejected(b"POST /echo HTTP/1.1\r\nHost: a\r\n" + te
                                    + b"\r\n5\r\nhello\r\n0\r\n\r\n", 400)

    def test_chunk_extensions_are_ignored_and_trailers_accepted(self):
        # 9112 7.1.1: a recipient MUST ignore unrecognized chunk extensions; 7.1.2 trailers
        with RawConn(self.port) as c:
            c.send(b"POST /p/plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;name=value;flag\r\nhello\r\n3 ; q=\"x y\"\r\nabc\r\n0\r\n"
                   b"X-Trailer: t\r\n\r\n"
                   b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: next\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            self.assertEqual(c.read_response().text, "[next]")

    # ---- RFC 9110 10.1.1: Expect -------------------------------------------------------------

    def test_expect_100_continue_in_http10_is_ignored(self):
        # "A server that receives a 100-continue expectation in an HTTP/1.0 request MUST
        # ignore that expectation."
        with RawConn(self.port) as c:
            c.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            # no 100 comes: the first thing sent is the final answer, after the body
            c.send(b"hi")
            r = c.read_response()
        self.assertEqual(r.status, 200)

    # ---- RFC 9110 6.4.1 / 15.3.5 / 15.4.5 / 9112 6.3: responses without content ---------------

    def test_204_has_no_content_length_and_no_body(self):
        with RawConn(self.port) as c:
            c.send(b"GET /nocontent HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: after\r\nConnection: close\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 204)
            self.assertIsNone(r.header("Content-Length"))
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertEqual(c.read_response().text, "[after]")

    def test_304_has_no_body_and_the_fields_a_200_would(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/f.txt", headers={"If-None-Match": self.etag},
                                 close=False)
                   + b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: after\r\nConnection: close\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 304)
            self.assertEqual(r.header("ETag"), self.etag)
            self.assertIsNotNone(r.header("Date"))
            self.assertEqual(r.header("Cache-Control"), "max-age=3600")
            self.assertIsNotNone(r.header("Expires"))
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertEqual(c.read_response().text, "[after]")

    def test_head_has_the_fields_of_get_and_no_body(self):
        g = self.get("/f.txt")
        with RawConn(self.port) as c:
            c.send(build_request("HEAD", "/f.txt", close=False)
                   + b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: after\r\nConnection: close\r\n\r\n")
            h = c.read_response("HEAD")
            self.assertEqual(c.read_response().text, "[after]")
        for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified"):
            self.assertEqual(h.header(name), g.header(name), name)

    # ---- RFC 9112 2.2 / 9.6: message parsing and closing --------------------------------------

    def test_whitespace_before_the_first_field_line(self):
        # 2.2: such a line MUST be rejected or consumed without further processing
        for data in (b"GET /echo HTTP/1.1\r\n X-A: y\r\nHost: a\r\n\r\n",
                     b"GET /echo HTTP/1.1\r\n\tHost: a\r\nHost: a\r\n\r\n"):
            with self.subTest(data=data):
                self.assertRejected(data, 400)

    def test_no_request_is_processed_after_close(self):
        # 9.6: after a request with "close" the server MUST NOT process further requests
        with RawConn(self.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: first\r\nConnection: close\r\n\r\n"
                   b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: second\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.text, "[first]")
            self.assertEqual(r.header("Connection"), "close")
            self.assertEqual(c.read_until_close(5), b"")

    # ---- RFC 9110 8.8.2.1 / 13.2.1: validators and when preconditions apply ---------------------

    @nginx_differs("nginx sends a file's future modification time as Last-Modified")
    def test_last_modified_is_never_later_than_date(self):
        path = self.srv.path("html/future.txt")
        future = time.time() + 86400
        os.utime(path, (future, future))
        r = self.get("/future.txt")
        self.assertEqual(r.status, 200)
        lm = email.utils.parsedate_to_datetime(r.header("Last-Modified")).timestamp()
        date = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
        self.assertLessEqual(lm, date)

    def test_preconditions_are_ignored_when_the_answer_is_no_2xx(self):
        # 13.2.1: a server MUST ignore the preconditions when the response without them would
        # be other than 2xx or 412
        for cond in ({"If-Match": '"x"'}, {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"},
                     {"If-None-Match": "*"}):
            with self.subTest(cond=cond):
                self.assertEqual(self.get("/missing.txt", cond).status, 404)

    # ---- RFC 9110 13.2.2: conditional requests and their precedence ------------------------

    def test_if_match(self):
        self.assertEqual(self.get("/f.txt", {"If-Match": self.etag}).status, 200)
        self.assertEqual(self.get("/f.txt", {"If-Match": "*"}).status, 200)
        self.assertEqual(self.get("/f.txt", {"If-Match": '"other"'}).status, 412)
        # If-Match uses the strong comparison: a weak validator never matches
        self.assertEqual(self.get("/f.txt", {"If-Match": "W/" + self.etag}).status, 412)

    @nginx_differs("nginx evaluates If-Unmodified-Since even when If-Match is present and matched")
    def test_if_match_takes_precedence_over_if_unmodified_since(self):
        # step 2 is evaluated only "when If-Match is not present"
        old = "Thu, 01 Jan 1970 00:00:01 GMT"
        self.assertEqual(self.get("/f.txt", {"If-Unmodified-Since": old}).status, 412)
        self.assertEqual(self.get("/f.txt", {"If-Match": self.etag,
                                             "If-Unmodified-Since": old}).status, 200)

    def test_if_none_match_uses_the_weak_comparison(self):
        self.assertEqual(self.get("/f.txt", {"If-None-Match": self.etag}).status, 304)
        self.assertEqual(self.get("/f.txt", {"If-None-Match": "W/" + self.etag}).status, 304)
        self.assertEqual(self.get("/f.txt", {"If-None-Match": '"x", ' + self.etag}).status, 304)
        self.assertEqual(self.get("/f.txt", {"If-None-Match": "*"}).status, 304)
        self.assertEqual(self.get("/f.txt", {"If-None-Match": '"other"'}).status, 200)

    def test_if_none_match_takes_precedence_over_if_modified_since(self):
        # step 4 is evaluated only "when If-None-Match is not present"
        self.assertEqual(self.get("/f.txt", {"If-Modified-Since": self.last_modified}).status,
                         304)
        self.assertEqual(self.get("/f.txt", {"If-None-Match": '"other"',
                                             "If-Modified-Since": self.last_modified}).status,
                         200)

    def test_if_modified_since_with_an_invalid_date_is_ignored(self):
        self.assertEqual(self.get("/f.txt", {"If-Modified-Since": "yesterday"}).status, 200)

    def test_failed_precondition_beats_range(self):
        r = self.get("/f.txt", {"If-Match": '"other"', "Range": "bytes=0-1"})
        self.assertEqual(r.status, 412)

    # ---- RFC 9110 14: ranges -------------------------------------------------------------------

    def test_range(self):
        r = self.get("/f.txt", {"Range": "bytes=2-4"})
        self.assertEqual((r.status, r.body), (206, FILE_BODY[2:5]))
        self.assertEqual(r.header("Content-Range"), "bytes 2-4/20")
        r = self.get("/f.txt", {"Range": "bytes=-3"})
        self.assertEqual((r.status, r.body), (206, FILE_BODY[-3:]))
        r = self.get("/f.txt", {"Range": "bytes=15-"})
        self.assertEqual((r.status, r.body), (206, FILE_BODY[15:]))

    def test_unsatisfiable_range_is_416_with_the_length(self):
        r = self.get("/f.txt", {"Range": "bytes=20-30"})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.header("Content-Range"), "bytes */20")

    def test_range_in_an_unknown_unit_is_ignored(self):
        r = self.get("/f.txt", {"Range": "pages=1-2"})
        self.assertEqual((r.status, r.body), (200, FILE_BODY))

    def test_multiple_ranges_are_multipart_byteranges(self):
        r = self.get("/f.txt", {"Range": "bytes=0-1,5-6"})
        self.assertEqual(r.status, 206)
        self.assertRegex(r.header("Content-Type"), r"^multipart/byteranges; boundary=")
        self.assertIn(b"Content-Range: bytes 0-1/20", r.body)
        self.assertIn(b"Content-Range: bytes 5-6/20", r.body)

    def test_if_range(self):
        # a matching validator gives the range, another one the whole representation
        r = self.get("/f.txt", {"Range": "bytes=0-1", "If-Range": self.etag})
        self.assertEqual((r.status, r.body), (206, FILE_BODY[:2]))
        r = self.get("/f.txt", {"Range": "bytes=0-1", "If-Range": '"other"'})
        self.assertEqual((r.status, r.body), (200, FILE_BODY))
        r = self.get("/f.txt", {"Range": "bytes=0-1", "If-Range": self.last_modified})
        self.assertEqual((r.status, r.body), (206, FILE_BODY[:2]))
        r = self.get("/f.txt", {"Range": "bytes=0-1",
                                "If-Range": "Thu, 01 Jan 1970 00:00:01 GMT"})
        self.assertEqual((r.status, r.body), (200, FILE_BODY))
        # 13.1.5: a weak entity tag never matches If-Range
        r = self.get("/f.txt", {"Range": "bytes=0-1", "If-Range": "W/" + self.etag})
        self.assertEqual((r.status, r.body), (200, FILE_BODY))

    @nginx_differs("nginx answers a HEAD with Range 206")
    def test_range_on_head_is_ignored(self):
        # 14.2: a server MUST ignore Range on a method range handling is not defined for
        # (GET is the only one); HEAD then has the fields a GET without Range would
        with RawConn(self.port) as c:
            c.send(build_request("HEAD", "/f.txt", headers={"Range": "bytes=0-1"}))
            r = c.read_response("HEAD")
        self.assertEqual((r.status, r.header("Content-Length")), (200, "20"))
        self.assertIsNone(r.header("Content-Range"))

    # ---- RFC 9110 15.5.6: 405 --------------------------------------------------------------------

    @nginx_differs("nginx sends 405 without an Allow field")
    def test_405_carries_allow(self):
        # 9110 15.5.6: the origin server MUST generate Allow in a 405
        for method, path in (("DELETE", "/f.txt"), ("PUT", "/"), ("POST", "/f.txt")):
            with self.subTest(method=method, path=path):
                r = self.get(path, method=method, body=b"" if method != "DELETE" else None)
                self.assertEqual(r.status, 405)
                self.assertEqual(r.header("Allow"), "GET, HEAD")


@requires_proxy
class RfcProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = ScriptedUpstream(UPSTREAM_ANSWERS)
        cls.srv = Server(CONFIG.replace("{upstream}", str(cls.upstream.port)))
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.upstream.close()

    def test_date_is_added_when_the_upstream_sends_none(self):
        # 9110 6.6.1: a recipient with a clock MUST append Date to a response it forwards
        r = request(self.port, "/p/no-date")
        d = r.header("Date")
        self.assertIsNotNone(d)
        self.assertLess(abs(email.utils.parsedate_to_datetime(d).timestamp() - time.time()), 5)

    def test_upstream_obs_fold_is_not_forwarded_as_is(self):
        # 9112 5.2: a proxy MUST either send 502 or replace each obs-fold with SP
        r = request(self.port, "/p/fold")
        if r.status == 200:
            self.assertNotIn("\r\n ", r.raw_head)
        else:
            self.assertEqual(r.status, 502)


    def test_field_lines_with_the_same_name_keep_their_order(self):
        # 9110 5.3: a proxy MUST NOT change the order of field line values with the same name
        with RawConn(self.port) as c:
            c.send(b"GET /p/plain HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nX-Other: o\r\n"
                   b"X-Multi: 2\r\nX-Multi: 3, 4\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
        head = self.upstream.head_for("/plain")
        values = [line.partition(":")[2].strip() for line in head.split("\r\n")
                  if line.lower().startswith("x-multi:")]
        self.assertEqual(", ".join(values), "1, 2, 3, 4")

    @nginx_differs("nginx relays an upstream's Content-Length: 0 in a 204")
    def test_no_content_length_in_a_204(self):
        # 9110 8.6: a server MUST NOT send Content-Length in a 204 (an upstream did)
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/p/204", close=False) + build_request("GET", "/p/plain"))
            r = c.read_response()
            self.assertEqual(r.status, 204)
            self.assertIsNone(r.header("Content-Length"))
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertEqual(c.read_response().body, b"ok")

    def test_upstream_whitespace_before_colon(self):
        # 9112 5.1: a proxy MUST remove such whitespace from a response before forwarding
        # (refusing the response with 502 removes it too)
        r = request(self.port, "/p/space-colon")
        if r.status == 200:
            self.assertNotRegex(r.raw_head, r"(?m)^X-A\s+:")
        else:
            self.assertEqual(r.status, 502)

    @nginx_differs("nginx relays an upstream's 101 to a request that did not ask for it")
    def test_a_101_nobody_asked_for_is_502(self):
        # 9110 7.8: a server MUST NOT switch to a protocol the client did not ask for
        r = request(self.port, "/ws/101")
        self.assertEqual(r.status, 502)
        self.assertNotIn(b"tunnel bytes", r.body)

    @nginx_differs("nginx tunnels an HTTP/1.0 client's Upgrade")
    def test_upgrade_in_an_http10_request_is_ignored(self):
        # 9110 7.8: "A server MUST ignore an Upgrade header field that is received in an
        # HTTP/1.0 request": the upstream's 101 is then one nobody asked for
        with RawConn(self.port) as c:
            c.send(b"GET /ws/101 HTTP/1.0\r\nHost: a\r\nConnection: upgrade\r\n"
                   b"Upgrade: websocket\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 502)

if __name__ == "__main__":
    unittest.main()
