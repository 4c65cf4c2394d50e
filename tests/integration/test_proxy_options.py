"""Connection options of the proxy that real configurations carry: proxy_bind,
proxy_socket_keepalive, chunked_transfer_encoding, and the directives popular guides add that
change nothing without a cache (proxy_cache off, proxy_cache_bypass, proxy_no_cache) or only
size nginx's hash tables (*_hash_max_size, *_hash_bucket_size).

Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx)."""

import re
import time
import unittest

from harness import IS_PORTICO, RawConn, Server, build_request, request, requires_proxy
from upstreams import Upstream, fill, info

CONFIG = r"""
http {
    default_type text/plain;
    types_hash_max_size 2048;
    server_names_hash_bucket_size 64;
    map_hash_bucket_size 128;
    variables_hash_max_size 2048;
    proxy_headers_hash_max_size 1024;
    proxy_headers_hash_bucket_size 128;
    upstream pooled { server 127.0.0.1:@ECHO@; keepalive 4; }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location /bind/ { proxy_pass http://127.0.0.1:@ECHO@; proxy_bind 127.0.0.2; }
        location /nobind/ { proxy_pass http://127.0.0.1:@ECHO@; proxy_bind 127.0.0.2;
                            location /nobind/off/ { proxy_pass http://127.0.0.1:@ECHO@;
                                                    proxy_bind off; } }
        location /bindvar/ { proxy_pass http://127.0.0.1:@ECHO@; proxy_bind $arg_b; }
        location /bindport/ { proxy_pass http://127.0.0.1:@ECHO@;
                              proxy_bind 127.0.0.2:$remote_port; }
        location /ka/ {
            proxy_pass http://pooled;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_socket_keepalive on;
        }
        location /noka/ {
            proxy_pass http://pooled;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /chunked/ { proxy_pass http://127.0.0.1:@CHUNKED@; }
        location /nochunk/ {
            proxy_pass http://127.0.0.1:@CHUNKED@;
            chunked_transfer_encoding off;
        }
        location /cache/ {
            proxy_pass http://127.0.0.1:@ECHO@;
            proxy_cache off;
            proxy_cache_bypass $http_upgrade;
            proxy_no_cache $cookie_nocache $arg_nocache;
        }
    }
}
"""


def keepalive_timer_on(upstream_port):
    """For the proxy's established connections to 127.0.0.1:upstream_port, whether the kernel
    runs the keep-alive timer on them (/proc/net/tcp `tr` = 2 on an idle socket with
    SO_KEEPALIVE). None if there is no such connection."""
    want = f"0100007F:{upstream_port:04X}"
    found = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == want and fields[3] == "01":  # ESTABLISHED, remote = upstream
                timer = fields[5].split(":")[0]
                found = (found or False) or timer == "02"
    return found


@requires_proxy
class ProxyOptionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("echo", name="echo")
        cls.chunked = Upstream("chunked", "--chunks", "3", "--chunk-size", "5", name="chunked")
        try:
            cls.srv = Server(fill(CONFIG, ECHO=cls.echo.port, CHUNKED=cls.chunked.port))
        except BaseException:
            cls.echo.stop()
            cls.chunked.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()
        cls.chunked.stop()

    def test_proxy_bind_sets_the_source_address(self):
        i = info(request(self.port, "/bind/x"))
        self.assertTrue(i["peer"].startswith("127.0.0.2:"), i["peer"])

    def test_proxy_bind_off_in_a_nested_location(self):
        self.assertTrue(info(request(self.port, "/nobind/x"))["peer"].startswith("127.0.0.2:"))
        self.assertTrue(
            info(request(self.port, "/nobind/off/x"))["peer"].startswith("127.0.0.1:"))

    def test_proxy_socket_keepalive(self):
        # The pooled connection stays open after the request; the kernel's keep-alive timer
        # runs on it only with proxy_socket_keepalive on.
        r = request(self.port, "/noka/x")
        self.assertEqual(r.status, 200)
        time.sleep(0.1)
        self.assertIs(keepalive_timer_on(self.echo.port), False)
        r = request(self.port, "/ka/x?new=1", headers={"X-Force": "1"})
        self.assertEqual(r.status, 200)
        # /ka/ may reuse the pooled connection /noka/ made (one pool per upstream, as nginx);
        # a second concurrent request forces a connection made under /ka/.
        with RawConn(self.port) as a, RawConn(self.port) as b:
            a.send(build_request("GET", "/ka/slow?sleep=0.3", close=False))
            b.send(build_request("GET", "/ka/slow?sleep=0.3", close=False))
            a.read_response()
            b.read_response()
        time.sleep(0.1)
        self.assertIs(keepalive_timer_on(self.echo.port), True)

    def test_chunked_transfer_encoding_on_rechunks_for_http11(self):
        r = request(self.port, "/chunked/x")
        self.assertEqual(r.status, 200)
        self.assertEqual((r.header("Transfer-Encoding") or "").lower(), "chunked")
        self.assertEqual(len(r.body), 15)

    def test_chunked_transfer_encoding_off_closes_instead(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/nochunk/x", close=False))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertIsNone(r.header("Content-Length"))
            self.assertEqual((r.header("Connection") or "").lower(), "close")
            self.assertEqual(len(r.body), 15)

    def test_cache_directives_without_a_cache_change_nothing(self):
        r = request(self.port, "/cache/x?nocache=1", headers={"Upgrade": "websocket"})
        self.assertEqual(r.status, 200)
        self.assertEqual(info(r)["path"], "/cache/x")

    def test_proxy_bind_with_variables(self):
        self.assertTrue(
            info(request(self.port, "/bindvar/x?b=127.0.0.2"))["peer"].startswith("127.0.0.2:"))
        # An empty value binds nothing; one that is not an address is logged and binds nothing.
        self.assertTrue(info(request(self.port, "/bindvar/x"))["peer"].startswith("127.0.0.1:"))
        self.assertTrue(
            info(request(self.port, "/bindvar/x?b=nope"))["peer"].startswith("127.0.0.1:"))
        self.srv.wait_error_log(r'invalid local address "nope"')

    def test_proxy_bind_with_a_port(self):
        with RawConn(self.port) as c:
            client_port = c.sock.getsockname()[1]
            c.send(build_request("GET", "/bindport/x"))
            i = info(c.read_final_response("GET"))
        self.assertEqual(i["peer"], f"127.0.0.2:{client_port}")


@requires_proxy
class ProxyOptionsConfigTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server("http { server { listen 127.0.0.1:{port}; } }", start=False)

    def tearDown(self):
        self.srv.stop()

    def check_t(self, body="", ok=True, message=None):
        self.srv.set_config("http { server { listen 127.0.0.1:{port}; location / { "
                            "proxy_pass http://127.0.0.1:9; " + body + " } } }")
        r = self.srv.run_cli("-t")
        self.assertEqual(r.returncode, 0 if ok else 1, r.stderr)
        if message:
            self.assertRegex(r.stderr, message)

    def test_proxy_bind_needs_an_address(self):
        self.check_t("proxy_bind not-an-address;", ok=False, message="invalid address")
        self.check_t("proxy_bind 127.0.0.2 sometimes;", ok=False, message="invalid parameter")
        self.check_t("proxy_bind $arg_b transparent;")

    def test_proxy_cache_zone_is_refused_with_a_reason(self):
        from harness import IS_NGINX
        if IS_NGINX:
            # nginx: the zone must exist (proxy_cache_path); without one it is an error too
            self.check_t("proxy_cache my_zone;", ok=False)
        else:
            self.check_t("proxy_cache my_zone;", ok=False,
                        message=re.escape("\"proxy_cache\": response caching is not "
                                          "supported by portico yet"))

    def test_proxy_cache_off_is_fine(self):
        self.check_t("proxy_cache off; proxy_cache_bypass $http_upgrade; proxy_no_cache 1;")


if __name__ == "__main__":
    unittest.main()


@requires_proxy
class InterceptErrorsTest(unittest.TestCase):
    """proxy_intercept_errors with an error_page that answers with `return 200 text`: the
    response keeps the upstream's status (nginx's err_status), and an intercepted 401 keeps
    the upstream's WWW-Authenticate (proxy_intercept_errors.t)."""

    CONFIG = r"""
http {
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass http://127.0.0.1:{port2};
            proxy_intercept_errors on;
            error_page 401 500 /intercepted;
        }
        location = /intercepted { return 200 "intercepted\n"; }
    }
    server {
        listen 127.0.0.1:{port2};
        location / { return 404 "SEE-THIS"; }
        location /500 { return 500; }
        location /auth {
            add_header WWW-Authenticate foo always;
            add_header WWW-Authenticate bar always;
            return 401;
        }
    }
}
"""

    def test_intercepted_keeps_status_and_challenge(self):
        with Server(self.CONFIG) as s:
            r = request(s.port(), "/")
            self.assertEqual((r.status, r.text), (404, "SEE-THIS"))  # no error_page: passed on
            r = request(s.port(), "/500")
            self.assertEqual((r.status, r.text), (500, "intercepted\n"))
            r = request(s.port(), "/auth")
            self.assertEqual((r.status, r.text), (401, "intercepted\n"))
            # nginx 1.22 keeps the first challenge, 1.23 and portico all of them.
            self.assertEqual(r.headers_all("WWW-Authenticate")[0], "foo")
            if IS_PORTICO:
                self.assertEqual(r.headers_all("WWW-Authenticate"), ["foo", "bar"])
