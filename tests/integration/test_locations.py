"""Location matching: nginx's documented precedence, nested and named locations, captures,
URI normalisation before matching."""

import unittest

from harness import RawConn, Server, request

# The example from https://nginx.org/en/docs/http/ngx_http_core_module.html#location
CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;

        location = / {
            return 200 "A\n";
        }
        location / {
            return 200 "B\n";
        }
        location /documents/ {
            return 200 "C\n";
        }
        location ^~ /images/ {
            return 200 "D\n";
        }
        location ~* \.(gif|jpg|jpeg)$ {
            return 200 "E\n";
        }

        # longest prefix wins regardless of order
        location /a/ {
            return 200 "prefix /a/\n";
        }
        location /a/b/c/ {
            return 200 "prefix /a/b/c/\n";
        }
        location /a/b/ {
            return 200 "prefix /a/b/\n";
        }

        # regexes: first match in config order wins
        location ~ ^/re/x {
            return 200 "regex first\n";
        }
        location ~ ^/re/xy {
            return 200 "regex second\n";
        }
        # case-sensitive vs insensitive
        location ~ \.PHP$ {
            return 200 "case-sensitive PHP\n";
        }

        # exact match vs prefix of the same string
        location = /exact {
            return 200 "exact\n";
        }
        location /exact {
            return 200 "prefix /exact\n";
        }

        # nested locations
        location /outer/ {
            location /outer/inner/ {
                return 200 "nested inner\n";
            }
            location ~ \.txt$ {
                return 200 "nested regex txt\n";
            }
            return 200 "outer\n";
        }
        # a regex nested in ^~ is still consulted; outer regexes are not
        location ^~ /stop/ {
            location ~ \.jpg$ {
                return 200 "stop nested jpg\n";
            }
            return 200 "stop\n";
        }

        # named location via try_files
        location /try/ {
            try_files /nonexistent @named;
        }
        location @named {
            return 200 "named uri=$uri args=$args\n";
        }

        # captures
        location ~ ^/user/(\d+)/(\w+)$ {
            return 200 "id=$1 action=$2\n";
        }
        location ~ ^/named-cap/(?<section>[a-z]+)/(?<page>\d+)$ {
            return 200 "section=$section page=$page\n";
        }
        location ~ ^/old/(?<rest>.*)$ {
            rewrite ^ /new/$rest last;
        }
        location /new/ {
            return 200 "new uri=$uri\n";
        }
        location ~ ^/rw/(.*)$ {
            rewrite ^/rw/(\w+)/(\w+)$ /new/$2/$1 last;
            return 200 "no rewrite for $1\n";
        }
    }
}
"""


class LocationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def body(self, target):
        # raw target, so that nothing is normalised on the client side
        with RawConn(self.port) as c:
            c.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, (target, r))
        return r.text

    def test_documented_example(self):
        cases = {
            "/": "A\n",
            "/index.html": "B\n",
            "/documents/document.html": "C\n",
            "/images/1.gif": "D\n",
            "/documents/1.jpg": "E\n",
        }
        for uri, expect in cases.items():
            with self.subTest(uri=uri):
                self.assertEqual(self.body(uri), expect)

    def test_documented_example_more(self):
        cases = {
            "/?x=1": "A\n",              # args do not take part in matching
            "/documents": "B\n",         # no trailing slash: not /documents/
            "/IMAGES/1.gif": "E\n",      # prefixes are case-sensitive; the ~* regex is not
            "/x/1.JPEG": "E\n",
            "/images/": "D\n",
        }
        for uri, expect in cases.items():
            with self.subTest(uri=uri):
                self.assertEqual(self.body(uri), expect)

    def test_longest_prefix(self):
        self.assertEqual(self.body("/a/x"), "prefix /a/\n")
        self.assertEqual(self.body("/a/b/x"), "prefix /a/b/\n")
        self.assertEqual(self.body("/a/b/c/x"), "prefix /a/b/c/\n")

    def test_regex_order(self):
        self.assertEqual(self.body("/re/xyz"), "regex first\n")
        self.assertEqual(self.body("/x.PHP"), "case-sensitive PHP\n")
        self.assertEqual(self.body("/x.php"), "B\n")

    def test_exact(self):
        self.assertEqual(self.body("/exact"), "exact\n")
        self.assertEqual(self.body("/exact?q"), "exact\n")
        self.assertEqual(self.body("/exact/"), "prefix /exact\n")
        self.assertEqual(self.body("/exactly"), "prefix /exact\n")

    def test_nested(self):
        self.assertEqual(self.body("/outer/x"), "outer\n")
        self.assertEqual(self.body("/outer/inner/x"), "nested inner\n")
        self.assertEqual(self.body("/outer/a.txt"), "nested regex txt\n")
        # the top-level ~* \.(gif|jpg)$ regex is also checked after the nested ones
        self.assertEqual(self.body("/outer/a.gif"), "E\n")

    def test_caret_tilde_stops_outer_regexes(self):
        self.assertEqual(self.body("/stop/a.gif"), "stop\n")
        self.assertEqual(self.body("/stop/a.jpg"), "stop nested jpg\n")

    def test_named_location(self):
        self.assertEqual(self.body("/try/thing?k=v"), "named uri=/try/thing args=k=v\n")

    def test_named_location_not_reachable_directly(self):
        # "@named" is not an origin-form target (no leading "/"): the request line is a 400.
        with RawConn(self.port) as c:
            c.send("GET @named HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response().status, 400)

    def test_regex_captures(self):
        self.assertEqual(self.body("/user/42/edit"), "id=42 action=edit\n")
        self.assertEqual(self.body("/named-cap/news/7"), "section=news page=7\n")

    def test_captures_in_rewrite(self):
        self.assertEqual(self.body("/old/some/path"), "new uri=/new/some/path\n")
        self.assertEqual(self.body("/rw/alpha/beta"), "new uri=/new/beta/alpha\n")
        # SURPRISE: a rewrite whose regex did not match still resets the captures, so the
        # location's $1 is empty afterwards (not "a/b/c").
        self.assertEqual(self.body("/rw/a/b/c"), "no rewrite for \n")

    def test_normalised_uri_is_matched(self):
        cases = {
            "/documents/../images/1.gif": "D\n",
            "//documents///x": "C\n",            # merge_slashes on
            "/docu%6Dents/x": "C\n",             # percent-decoded before matching
            "/./documents/./x": "C\n",
            "/%61/b/x": "prefix /a/b/\n",
        }
        for uri, expect in cases.items():
            with self.subTest(uri=uri):
                self.assertEqual(self.body(uri), expect)


if __name__ == "__main__":
    unittest.main()
