"""Virtual hosts: server_name matching order (exact, leading wildcard, trailing wildcard,
regex), "" for requests without Host, default_server, absolute-form targets."""

import unittest

from harness import RawConn, Server, exchange, request

CONFIG = r"""
http {
    default_type text/plain;

    # port: no default_server flag, so the first server is the default.
    server {
        listen 127.0.0.1:{port};
        server_name first.test;
        return 200 "first host=$host server_name=$server_name\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name exact.example.com alias.example.com;
        return 200 "exact host=$host server_name=$server_name\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name *.example.com;
        return 200 "leading-wildcard\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name *.deep.example.com;
        return 200 "longer-leading-wildcard\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name www.example.*;
        return 200 "trailing-wildcard\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name .dot.test;
        return 200 "dot-form\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^(?<user>[a-z0-9]+)\.users\.test$;
        return 200 "user=$user\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^(\w+)\.sites\.test$;
        root {prefix}/sites/$1;
        location / { }
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^www\.;
        return 200 "regex-www\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^www\.example\.org$;
        return 200 "second-regex\n";
    }
    server {
        listen 127.0.0.1:{port};
        server_name "" nohost.test;
        return 200 "empty-name\n";
    }

    # port2: the default is marked explicitly and is not the first server.
    server {
        listen 127.0.0.1:{port2};
        server_name a.test;
        return 200 "p2-a\n";
    }
    server {
        listen 127.0.0.1:{port2} default_server;
        server_name b.test;
        return 200 "p2-default\n";
    }
}
"""

FILES = {
    "sites/alpha/index.html": "alpha site\n",
    "sites/beta/index.html": "beta site\n",
}


class VhostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, FILES)
        cls.port = cls.srv.port()
        cls.port2 = cls.srv.port("port2")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def body(self, host, path="/", port=None):
        r = request(port or self.port, path, host=host)
        self.assertEqual(r.status, 200, (host, r))
        return r.text

    def test_exact_name(self):
        self.assertEqual(self.body("exact.example.com"),
                         "exact host=exact.example.com server_name=exact.example.com\n")
        # $server_name is the first name of the server, whatever name matched
        self.assertEqual(self.body("alias.example.com"),
                         "exact host=alias.example.com server_name=exact.example.com\n")

    def test_leading_wildcard(self):
        self.assertEqual(self.body("foo.example.com"), "leading-wildcard\n")
        self.assertEqual(self.body("a.b.example.com"), "leading-wildcard\n")
        # the longest matching leading wildcard wins
        self.assertEqual(self.body("x.deep.example.com"), "longer-leading-wildcard\n")
        # "*.example.com" does not match "example.com" itself -> default server
        self.assertTrue(self.body("example.com").startswith("first "))

    def test_leading_wildcard_beats_trailing(self):
        self.assertEqual(self.body("www.example.com"), "leading-wildcard\n")

    def test_trailing_wildcard(self):
        self.assertEqual(self.body("www.example.net"), "trailing-wildcard\n")
        self.assertEqual(self.body("www.example.co.uk"), "trailing-wildcard\n")

    def test_trailing_wildcard_beats_regex(self):
        # ~^www\. and ~^www\.example\.org$ also match; wildcards are tried first
        self.assertEqual(self.body("www.example.org"), "trailing-wildcard\n")

    def test_regex_first_match_in_order(self):
        self.assertEqual(self.body("www.other.test"), "regex-www\n")

    def test_dot_form(self):
        # ".dot.test" = "dot.test" + "*.dot.test"
        self.assertEqual(self.body("dot.test"), "dot-form\n")
        self.assertEqual(self.body("a.dot.test"), "dot-form\n")

    def test_regex_named_capture_in_return(self):
        self.assertEqual(self.body("alice.users.test"), "user=alice\n")
        self.assertEqual(self.body("bob42.users.test"), "user=bob42\n")

    def test_regex_capture_in_root(self):
        self.assertEqual(self.body("alpha.sites.test"), "alpha site\n")
        self.assertEqual(self.body("beta.sites.test"), "beta site\n")
        r = request(self.port, "/", host="gamma.sites.test")
        self.assertEqual(r.status, 404)

    def test_no_match_goes_to_first_server(self):
        self.assertTrue(self.body("unknown.test").startswith("first host=unknown.test "))
        self.assertTrue(self.body("127.0.0.1").startswith("first host=127.0.0.1 "))

    def test_explicit_default_server(self):
        self.assertEqual(self.body("a.test", port=self.port2), "p2-a\n")
        self.assertEqual(self.body("b.test", port=self.port2), "p2-default\n")
        self.assertEqual(self.body("nope.test", port=self.port2), "p2-default\n")

    def test_no_host_http10_uses_empty_name(self):
        r = request(self.port, "/", host=None, version="HTTP/1.0")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "empty-name\n")
        # SURPRISE: an empty Host header is not "no Host": nginx answers 400.
        r = request(self.port, "/", host="", version="HTTP/1.0")
        self.assertEqual(r.status, 400)

    def test_no_host_http10_without_empty_name_uses_default(self):
        r = request(self.port2, "/", host=None, version="HTTP/1.0")
        self.assertEqual(r.text, "p2-default\n")

    def test_case_port_and_trailing_dot(self):
        self.assertEqual(self.body("EXACT.Example.COM"),
                         "exact host=exact.example.com server_name=exact.example.com\n")
        self.assertEqual(self.body("exact.example.com:8080"),
                         "exact host=exact.example.com server_name=exact.example.com\n")
        self.assertEqual(self.body("exact.example.com."),
                         "exact host=exact.example.com server_name=exact.example.com\n")
        self.assertEqual(self.body("exact.example.com.:8080"),
                         "exact host=exact.example.com server_name=exact.example.com\n")

    def test_absolute_form_selects_by_target_host(self):
        with RawConn(self.port) as c:
            c.send("GET http://exact.example.com/path?x=1 HTTP/1.1\r\nHost: unknown.test\r\n"
                   "Connection: close\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "exact host=exact.example.com server_name=exact.example.com\n")
        with RawConn(self.port) as c:
            c.send("GET http://alice.users.test:1234/ HTTP/1.1\r\nHost: x\r\n"
                   "Connection: close\r\n\r\n")
            self.assertEqual(c.read_response().text, "user=alice\n")
        # SURPRISE: absolute-form does not satisfy HTTP/1.1's Host requirement in nginx:
        # without a Host header it is a 400 (RFC 9112 would accept it).
        with RawConn(self.port) as c:
            c.send("GET http://exact.example.com/ HTTP/1.1\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.read_response().status, 400)
        # ...but HTTP/1.0 absolute-form without Host is fine and selects by the target host
        with RawConn(self.port) as c:
            c.send("GET http://exact.example.com/ HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.text[:6]), (200, "exact "))

    def test_invalid_host_is_400(self):
        for host in ("bad/host", "a..b", "..", "exa mple.com", "a\x01b", "a\tb",
                     "exact.example.com..", ":80"):
            with self.subTest(host=host):
                r = request(self.port, "/", host=host)
                self.assertEqual(r.status, 400)

    def test_lenient_host_forms(self):
        # nginx accepts these (recorded so portico matches): anything after the first ":"
        # is taken as the port and not checked; an empty port is fine; a leading dot and
        # an unbalanced "[" are kept as they are. (nginx also keeps a backslash; portico
        # refuses it with 400, RFC 9112 3.2: test_rfc_conformance.py checks that.)
        cases = {"host:abc": "host", "x:y:z": "x", "exact.example.com:": None,
                 ".lead": ".lead", "[::1": "[::1", "a_b.test": "a_b.test"}
        for host, seen in cases.items():
            with self.subTest(host=host):
                r = request(self.port, "/", host=host)
                self.assertEqual(r.status, 200)
                if seen:
                    self.assertEqual(r.text, f"first host={seen} server_name=first.test\n")
                else:
                    self.assertTrue(r.text.startswith("exact host=exact.example.com "))

    def test_ip_literal_hosts(self):
        self.assertTrue(self.body("[::1]").startswith("first host=[::1] "))
        self.assertTrue(self.body("[::1]:80").startswith("first host=[::1] "))

    def test_duplicate_host_is_400(self):
        responses, _ = exchange(
            self.port, b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")
        self.assertEqual([r.status for r in responses], [400])


if __name__ == "__main__":
    unittest.main()
