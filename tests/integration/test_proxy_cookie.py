"""proxy_cookie_domain and proxy_cookie_path: the Domain and Path attributes of the upstream's
Set-Cookie rewritten (plain rules, variables, regexes with captures, `off`, several rules per
location, a location's own rules replacing inherited ones), the cookie rebuilt as nginx does
("; " between attributes); a Set-Cookie no rule matches passes unchanged.

Expectations validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx)."""

import unittest
import urllib.parse

from harness import Server, request, requires_proxy
from upstreams import Upstream, fill

CONFIG = r"""
http {
    default_type text/plain;
    proxy_cookie_path /inherited/ /from-http/;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {
            proxy_pass http://127.0.0.1:@ECHO@;
            proxy_cookie_domain www.example.org .example.com;
            proxy_cookie_domain .$host.com en.$host.org;
            proxy_cookie_domain ~^(.+)\.com$ $1.org;
            proxy_cookie_path /path/ /new/;
            proxy_cookie_path ~*^/caseless/(.+)$ /$1;
            proxy_cookie_path ~^/regex/(.+)$ /r/$1;
            location /off/ {
                proxy_pass http://127.0.0.1:@ECHO@;
                proxy_cookie_domain off;
                proxy_cookie_path off;
            }
        }
        location /plain/ { proxy_pass http://127.0.0.1:@ECHO@; }
    }
}
"""


def set_cookies(port, path, *cookies):
    q = "&".join("hdr=" + urllib.parse.quote("Set-Cookie:" + c, safe="") for c in cookies)
    r = request(port, f"{path}?body=0&{q}")
    assert r.status == 200, r.status
    return r.headers_all("Set-Cookie")


@requires_proxy
class ProxyCookieTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("echo", name="echo")
        try:
            cls.srv = Server(fill(CONFIG, ECHO=cls.echo.port))
        except BaseException:
            cls.echo.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()

    def one(self, path, cookie):
        got = set_cookies(self.port, path, cookie)
        self.assertEqual(len(got), 1, got)
        return got[0]

    def test_domain_plain_ignores_case_and_drops_the_replacements_dot(self):
        self.assertEqual(self.one("/a", "v=1; Domain=www.Example.org"),
                         "v=1; Domain=example.com")

    def test_domain_with_variables_keeps_the_cookies_dot(self):
        self.assertEqual(self.one("/a", "v=1; domain=.LocalHost.com; Secure"),
                         "v=1; domain=.en.localhost.org; Secure")

    def test_domain_regex_with_capture(self):
        self.assertEqual(self.one("/a", "v=1; Domain=www.example.COM"),
                         "v=1; Domain=www.example.org")

    def test_path_prefix_and_regexes(self):
        self.assertEqual(self.one("/a", "v=1; Path=/path/x.html"), "v=1; Path=/new/x.html")
        self.assertEqual(self.one("/a", "v=1; Path=/CASEless/y"), "v=1; Path=/y")
        self.assertEqual(self.one("/a", "v=1; Path=/regex/z"), "v=1; Path=/r/z")
        # ~ is case-sensitive: no rule matches, the value passes as it came
        self.assertEqual(self.one("/a", "v=1;Path=/REGEX/z"), "v=1;Path=/REGEX/z")

    def test_both_attributes_and_the_rebuilt_spacing(self):
        self.assertEqual(self.one("/a", "v=a=b;Domain=www.example.org;  Path=/path/p;HttpOnly"),
                         "v=a=b; Domain=example.com; Path=/new/p; HttpOnly")

    def test_each_set_cookie_on_its_own(self):
        got = set_cookies(self.port, "/a", "a=1; Path=/path/1", "b=2; Path=/other",
                          "c=3; Domain=www.example.org")
        self.assertEqual(got, ["a=1; Path=/new/1", "b=2; Path=/other",
                               "c=3; Domain=example.com"])

    def test_off_in_a_nested_location(self):
        self.assertEqual(self.one("/off/a", "v=1; Domain=www.example.org; Path=/path/x"),
                         "v=1; Domain=www.example.org; Path=/path/x")

    def test_inherited_from_http(self):
        self.assertEqual(self.one("/plain/a", "v=1; Path=/inherited/x"),
                         "v=1; Path=/from-http/x")
        # the location's own rules replace the inherited ones
        self.assertEqual(self.one("/a", "v=1; Path=/inherited/x"), "v=1; Path=/inherited/x")


class ProxyCookieConfigTest(unittest.TestCase):
    def test_bad_parameter_is_refused_with_file_and_line(self):
        srv = Server("http { server { listen 127.0.0.1:{port};\n"
                     "location / { proxy_cookie_path on; } } }", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertRegex(out.stdout + out.stderr,
                             r'invalid parameter "on" in \S+:%d' % srv.line_of("proxy_cookie_path"))
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
