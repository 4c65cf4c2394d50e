"""access module: allow / deny by address, CIDR, all; first match wins; inheritance."""

import unittest

from harness import HAVE_IPV6, Server, request

CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        listen [::1]:{port};
        server_name localhost;
        # static files, not "return": return runs in the rewrite phase, before access
        root {prefix}/html;

        location /only-v4-host {
            allow 127.0.0.1;
            deny all;
        }
        location /only-v6-host {
            allow ::1;
            deny all;
        }
        location /deny-v4-host {
            deny 127.0.0.1;
            allow all;
        }
        location /cidr8 {
            allow 127.0.0.0/8;
            deny all;
        }
        location /deny-cidr24 {
            deny 127.0.0.0/24;
            allow all;
        }
        location /other-net {
            allow 10.0.0.0/8;
            allow 192.168.0.0/16;
            allow fd00::/8;
            deny all;
        }
        location /v6-cidr {
            allow ::/0;
            deny all;
        }
        location /v6-deny-128 {
            deny ::1/128;
            allow all;
        }
        location /allow-then-deny {
            allow 127.0.0.1;
            deny 127.0.0.1;
        }
        location /deny-then-allow {
            deny 127.0.0.1;
            allow 127.0.0.1;
        }
        location /deny-all {
            deny all;
            return 200 "return runs before access\n";
        }
        location /deny-all-static {
            deny all;
        }
        location /nothing-matches {
            allow 10.1.2.3;
        }
    }

    server {
        listen 127.0.0.1:{port2};
        server_name localhost;
        deny all;
        location / {
            try_files /nonexistent =204;
        }
        location /open/ {
            allow all;
            try_files /nonexistent =204;
        }
    }
}
"""


NAMES = ["only-v4-host", "only-v6-host", "deny-v4-host", "cidr8", "deny-cidr24", "other-net",
         "v6-cidr", "v6-deny-128", "allow-then-deny", "deny-then-allow", "deny-all-static"]
FILES = {f"html/{n}": "ok\n" for n in NAMES}


class AccessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        config = CONFIG if HAVE_IPV6 else CONFIG.replace("listen [::1]:{port};", "")
        cls.srv = Server(config, FILES)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def status(self, path, addr="127.0.0.1", port=None):
        return request(port or self.port, path, addr=addr).status

    def test_allow_single_v4(self):
        self.assertEqual(self.status("/only-v4-host"), 200)
        self.assertEqual(self.status("/deny-v4-host"), 403)

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6(self):
        self.assertEqual(self.status("/only-v4-host", addr="::1"), 403)
        self.assertEqual(self.status("/only-v6-host", addr="::1"), 200)
        self.assertEqual(self.status("/only-v6-host"), 403)
        self.assertEqual(self.status("/deny-v4-host", addr="::1"), 200)
        self.assertEqual(self.status("/v6-cidr", addr="::1"), 200)
        self.assertEqual(self.status("/v6-cidr"), 403)
        self.assertEqual(self.status("/v6-deny-128", addr="::1"), 403)
        self.assertEqual(self.status("/v6-deny-128"), 200)
        self.assertEqual(self.status("/cidr8", addr="::1"), 403)

    def test_cidr(self):
        self.assertEqual(self.status("/cidr8"), 200)
        self.assertEqual(self.status("/deny-cidr24"), 403)
        self.assertEqual(self.status("/other-net"), 403)

    def test_first_match_wins(self):
        self.assertEqual(self.status("/allow-then-deny"), 200)
        self.assertEqual(self.status("/deny-then-allow"), 403)

    def test_no_rule_matches_means_allowed(self):
        # only "allow 10.1.2.3": the client matches no rule, so access is granted
        r = request(self.port, "/nothing-matches")
        self.assertEqual(r.status, 404)  # no file there, but not 403
        self.assertEqual(request(self.port, "/only-v4-host").text, "ok\n")

    def test_403_page(self):
        r = request(self.port, "/deny-all-static")
        self.assertEqual(r.status, 403)
        self.assertIn(b"<title>403 Forbidden</title>", r.body)
        self.assertEqual(r.header("Content-Type"), "text/html")
        self.srv.wait_error_log(r'\[error\] \d+#\d+: \*\d+ access forbidden by rule, client: '
                                r'127\.0\.0\.1, server: localhost, request: "GET '
                                r'/deny-all-static HTTP/1\.1", host: "localhost"')

    def test_return_runs_before_access(self):
        # SURPRISE (documented phase order): return belongs to the rewrite phase, which runs
        # before the access phase, so "deny all" does not stop a "return".
        r = request(self.port, "/deny-all")
        self.assertEqual((r.status, r.text), (200, "return runs before access\n"))

    def test_server_level_rules_inherited_and_overridden(self):
        port2 = self.srv.port("port2")
        self.assertEqual(self.status("/", port=port2), 403)
        self.assertEqual(self.status("/anything", port=port2), 403)
        # rules in a location replace the inherited ones
        self.assertEqual(self.status("/open/x", port=port2), 204)


if __name__ == "__main__":
    unittest.main()
