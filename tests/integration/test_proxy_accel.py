"""X-Accel-Redirect from a real upstream process: the request goes on in the URI (or @named
location) the upstream names, as a GET, with the upstream's Content-Type, Set-Cookie,
Content-Disposition, Cache-Control, Expires and Accept-Ranges kept and its other fields and
body dropped; unsafe URIs get 404; proxy_ignore_headers X-Accel-Redirect passes the response
on instead.

Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx)."""

import json
import unittest
import urllib.parse

from harness import Server, request, requires_proxy
from upstreams import Upstream, fill

CONFIG = r"""
http {
    default_type text/plain;
    log_format xar '$request_uri|$status|$upstream_status|$request_method';
    access_log logs/xar.log xar;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;
        location /app/ { proxy_pass http://127.0.0.1:@ECHO@; }
        location /ignored/ {
            proxy_pass http://127.0.0.1:@ECHO@;
            proxy_ignore_headers X-Accel-Redirect;
        }
        location /files/ { internal; }
        location /backend/ { internal; proxy_pass http://127.0.0.1:@ECHO@; }
        location @named { return 200 "named $uri $upstream_status $request_method"; }
    }
}
"""

FILES = {"html/files/a.txt": "file a\n", "html/files/a b.txt": "file a b\n",
         "html/secret.txt": "secret\n"}


def via(path, accel, *extra):
    hdrs = [("X-Accel-Redirect", accel), ("Set-Cookie", "s=1; Path=/"),
            ("Cache-Control", "private"), ("Content-Disposition", "attachment"),
            ("X-Dropped", "yes")] + list(extra)
    q = "&".join("hdr=" + urllib.parse.quote(f"{k}:{v}", safe="") for k, v in hdrs)
    return f"{path}?{q}"


@requires_proxy
class ProxyAccelRedirectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("echo", name="echo")
        try:
            cls.srv = Server(fill(CONFIG, ECHO=cls.echo.port), FILES)
        except BaseException:
            cls.echo.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()

    def test_to_an_internal_file_keeping_the_upstreams_fields(self):
        r = request(self.port, via("/app/x", "/files/a.txt"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"file a\n")
        # the upstream's type wins over the file's (nginx sets a type only where none is)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("Set-Cookie"), "s=1; Path=/")
        self.assertEqual(r.header("Cache-Control"), "private")
        self.assertEqual(r.header("Content-Disposition"), "attachment")
        self.assertIsNone(r.header("X-Dropped"))
        self.assertIsNone(r.header("X-Upstream"))
        self.assertIsNone(r.header("X-Accel-Redirect"))

    def test_escaped_uri_is_decoded(self):
        r = request(self.port, via("/app/x", "/files/a%20b.txt"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"file a b\n")

    def test_post_goes_on_as_get_with_the_new_args(self):
        r = request(self.port, via("/app/p", "/backend/next?a=1&b=2"), method="POST",
                    body=b"payload")
        self.assertEqual(r.status, 200)
        info = json.loads(r.body)
        self.assertEqual(info["method"], "GET")
        self.assertEqual(info["target"], "/backend/next?a=1&b=2")

    def test_named_location(self):
        r = request(self.port, via("/app/n", "@named"), method="POST", body=b"x")
        self.assertEqual(r.status, 200)
        # a named location keeps the URI; the method of a named redirect stays
        self.assertEqual(r.body, b"named /app/n 200 POST")

    def test_head_stays_head(self):
        r = request(self.port, via("/app/h", "/files/a.txt"), method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), "7")
        self.assertEqual(r.body, b"")

    def test_unsafe_uris_get_404(self):
        for accel in ("..", "../secret.txt", "/files/..", "/files/../../secret.txt",
                      "/files/.%2e/secret.txt"):
            with self.subTest(accel=accel):
                self.assertEqual(request(self.port, via("/app/u", accel)).status, 404)
        # the decoded form is named when decoding showed it
        self.srv.wait_error_log(r'unsafe URI "/files/\.\./secret\.txt" was detected while reading '
                                r'response header from upstream')

    def test_ignored(self):
        r = request(self.port, via("/ignored/i", "/files/a.txt"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Upstream"), "echo")
        self.assertEqual(json.loads(r.body)["path"], "/ignored/i")
        # nginx hides X-Accel-* from the client whether or not it acts on them
        self.assertIsNone(r.header("X-Accel-Redirect"))

    def test_unknown_named_location_is_500(self):
        self.assertEqual(request(self.port, via("/app/m", "@missing")).status, 500)


if __name__ == "__main__":
    unittest.main()
