"""`expires` (ngx_http_headers_module): Expires and Cache-Control on static and proxied
responses, for the codes add_header uses; epoch, max, negative times, `modified`, `@time`,
inheritance and `off`; a proxied response's own Expires/Cache-Control are replaced.

Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx)."""

import email.utils
import os
import time
import unittest

from harness import Server, request, requires_proxy
from upstreams import Upstream

CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;
        expires 1h;
        location /inherit/ { }
        location /off/ { expires off; }
        location /epoch/ { expires epoch; }
        location /max/ { expires max; }
        location /neg/ { expires -1; }
        location /mod/ { expires modified 2d; }
        location /daily/ { expires @3h30m; }
        location /both/ { expires 30d; add_header Cache-Control public; }
        location /p/ { proxy_pass http://127.0.0.1:@FIXED@/; expires 10m; }
        location /pnone/ { proxy_pass http://127.0.0.1:@FIXED@/; expires off; }
    }
}
"""

FILES = {f"html/{d}/f.txt": "hello\n"
         for d in ("inherit", "off", "epoch", "max", "neg", "mod", "daily", "both")}
FILES["html/missing-parent/.keep"] = ""


def date_of(resp, name):
    return email.utils.parsedate_to_datetime(resp.header(name)).timestamp()


class ExpiresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixed = Upstream("fixed", "--header", "Expires: Thu, 01 Jan 2099 00:00:00 GMT",
                             "--header", "Cache-Control: private", "--header",
                             "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT", "--body", "up",
                             name="fixed")
        try:
            cls.srv = Server(CONFIG.replace("@FIXED@", str(cls.fixed.port)), files=FILES)
        except BaseException:
            cls.fixed.stop()
            raise
        cls.port = cls.srv.port()
        mtime = time.time() - 86400  # a day old: `modified 2d` leaves one day
        os.utime(cls.srv.path("html/mod/f.txt"), (mtime, mtime))
        cls.mtime = int(mtime)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.fixed.stop()

    def get(self, path):
        r = request(self.port, path)
        self.assertIn(r.status, (200, 404), r)
        return r

    def assert_relative(self, r, seconds):
        self.assertEqual(r.headers_all("Cache-Control"), [f"max-age={seconds}"])
        self.assertAlmostEqual(date_of(r, "Expires") - date_of(r, "Date"), seconds, delta=1)

    def test_inherited_time(self):
        self.assert_relative(self.get("/inherit/f.txt"), 3600)

    def test_off(self):
        r = self.get("/off/f.txt")
        self.assertIsNone(r.header("Expires"))
        self.assertIsNone(r.header("Cache-Control"))

    def test_epoch(self):
        r = self.get("/epoch/f.txt")
        self.assertEqual(r.header("Expires"), "Thu, 01 Jan 1970 00:00:01 GMT")
        self.assertEqual(r.header("Cache-Control"), "no-cache")

    def test_max(self):
        r = self.get("/max/f.txt")
        self.assertEqual(r.header("Expires"), "Thu, 31 Dec 2037 23:55:55 GMT")
        self.assertEqual(r.header("Cache-Control"), "max-age=315360000")

    def test_negative_is_no_cache(self):
        r = self.get("/neg/f.txt")
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        self.assertAlmostEqual(date_of(r, "Expires") - date_of(r, "Date"), -1, delta=1)

    def test_modified_counts_from_the_file_time(self):
        r = self.get("/mod/f.txt")
        self.assertAlmostEqual(date_of(r, "Expires"), self.mtime + 2 * 86400, delta=1)
        age = int(r.header("Cache-Control").removeprefix("max-age="))
        self.assertAlmostEqual(age, 86400, delta=2)

    def test_daily(self):
        r = self.get("/daily/f.txt")
        at = date_of(r, "Expires")
        now = date_of(r, "Date")
        self.assertGreater(at, now)
        self.assertLessEqual(at - now, 86400)
        local = time.localtime(at)
        self.assertEqual((local.tm_hour, local.tm_min, local.tm_sec), (3, 30, 0))

    def test_add_header_cache_control_comes_after(self):
        r = self.get("/both/f.txt")
        self.assertEqual(r.headers_all("Cache-Control"), ["max-age=2592000", "public"])

    def test_not_on_errors(self):
        r = self.get("/inherit/nothing-here")
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.header("Expires"))

    @requires_proxy
    def test_proxied_response_headers_are_replaced(self):
        r = self.get("/p/x")
        self.assertEqual(r.body, b"up")
        self.assert_relative(r, 600)

    @requires_proxy
    def test_proxied_response_headers_pass_without_expires(self):
        r = self.get("/pnone/x")
        self.assertEqual(r.header("Expires"), "Thu, 01 Jan 2099 00:00:00 GMT")
        self.assertEqual(r.header("Cache-Control"), "private")


CONFIG_ERRORS = [
    ("expires 1x;", '"expires" directive invalid value'),
    ("expires @25h;", "daily time value must be less than 24 hours"),
    ("expires later 1h;", '"expires" directive invalid value'),
]


class ExpiresConfigTest(unittest.TestCase):
    def test_errors(self):
        for line, message in CONFIG_ERRORS:
            with self.subTest(line=line):
                srv = Server("http { server { listen 127.0.0.1:{port}; location / { "
                             + line + " } } }", start=False)
                try:
                    r = srv.run_cli("-t")
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertIn(message, r.stderr)
                finally:
                    srv.stop()


if __name__ == "__main__":
    unittest.main()
