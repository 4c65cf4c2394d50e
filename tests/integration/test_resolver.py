"""Run-time DNS: `resolver`, `resolver_timeout`, proxy_pass with a name computed per request,
and upstream servers re-resolved while running (`server NAME resolve`, nginx 1.27's syntax).

The name server is dns_server.py's, on loopback, whose answers the tests change while the
server runs. The upstreams are upstreams.py's `fixed` mode on 127.0.0.1 and 127.0.0.2 (one
port, two addresses), each answering its own name, so a response says which address a name
resolved to. Everything waits on conditions (answers changing, questions arriving) with a
deadline."""

import time
import unittest

from dns_server import QTYPE_A, SERVFAIL, DnsServer
from harness import (Server, eventually, free_port, portico_only, request,
                     requires_proxy, requires_stream, stream_prelude)
from upstreams import Upstream

NAME = "backend.test"


def pair():
    """Two `fixed` upstreams on one port, 127.0.0.1 answers "A", 127.0.0.2 answers "B"."""
    for _ in range(20):
        port = free_port()
        a = Upstream("fixed", "--body", "A", port=port, bind=["127.0.0.1"], quiet=True)
        try:
            b = Upstream("fixed", "--body", "B", port=port, bind=["127.0.0.2"], quiet=True)
        except RuntimeError:
            a.stop()
            continue
        return port, a, b
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


def body(server, path):
    r = request(server.port(), path)
    return r.status, r.body.decode(errors="replace")


@requires_proxy
class ProxyPassVariables(unittest.TestCase):
    """proxy_pass http://$var...: a name that is not an upstream is resolved at run time."""

    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer()
        cls.port, cls.a, cls.b = pair()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        cls.dns.stop()

    def server(self, resolver_args="", timeout="5s"):
        return Server(f"""
http {{
    resolver {self.dns.addr} ipv6=off {resolver_args};
    resolver_timeout {timeout};
    server {{
        listen 127.0.0.1:{{port}};
        location / {{ proxy_pass http://$arg_h:{self.port}; }}
    }}
}}
""")

    def test_name_resolved_and_cached_for_its_ttl(self):
        name = "ttl." + NAME
        self.dns.set(name, ["127.0.0.1"], ttl=3)
        with self.server() as s:
            self.assertEqual(body(s, f"/?h={name}"), (200, "A"))
            asked = self.dns.queries(name, QTYPE_A)
            self.assertEqual(asked, 1)
            self.assertEqual(body(s, f"/?h={name}"), (200, "A"))
            # The answer is kept for its TTL: the second request asked nothing (it ran well
            # within 3 s of the first; if this machine were that slow, the next check still holds).
            self.dns.set(name, ["127.0.0.2"], ttl=3)
            # Once the TTL has run out the new address is used.
            eventually(lambda: body(s, f"/?h={name}") == (200, "B"), timeout=10,
                       message="the new address after the TTL")
            self.assertGreaterEqual(self.dns.queries(name, QTYPE_A), 2)

    def test_valid_overrides_ttl(self):
        name = "valid." + NAME
        self.dns.set(name, ["127.0.0.1"], ttl=3600)
        with self.server("valid=1s") as s:
            self.assertEqual(body(s, f"/?h={name}"), (200, "A"))
            self.dns.set(name, ["127.0.0.2"], ttl=3600)
            eventually(lambda: body(s, f"/?h={name}") == (200, "B"), timeout=10,
                       message="re-resolved after valid=1s despite TTL 3600")

    def test_unknown_name_is_502(self):
        with self.server() as s:
            self.assertEqual(request(s.port(), "/?h=nowhere.test").status, 502)
            s.wait_error_log(r"nowhere\.test could not be resolved \(3: Host not found\)")

    def test_timeout_is_502_within_resolver_timeout(self):
        name = "slow." + NAME
        self.dns.drop(name)
        with self.server(timeout="1s") as s:
            t0 = time.monotonic()
            self.assertEqual(request(s.port(), f"/?h={name}", timeout=20).status, 502)
            self.assertLess(time.monotonic() - t0, 8)
            s.wait_error_log(r"slow\.backend\.test could not be resolved "
                             r"\(110: Operation timed out\)")

    def test_server_failure_is_502(self):
        name = "servfail." + NAME
        self.dns.fail(name, SERVFAIL)
        with self.server() as s:
            self.assertEqual(request(s.port(), f"/?h={name}").status, 502)
            s.wait_error_log(r"servfail\.backend\.test could not be resolved")

    def test_localhost_is_asked_too(self):
        # nginx's resolver sends every name to its servers, "localhost" included (c-ares
        # would answer it locally, RFC 6761).
        self.dns.set("localhost", ["127.0.0.2"], ttl=60)
        with self.server() as s:
            self.assertEqual(body(s, "/?h=localhost"), (200, "B"))

    def test_no_resolver_is_502(self):
        with Server(f"""
http {{
    server {{
        listen 127.0.0.1:{{port}};
        location / {{ proxy_pass http://$arg_h:{self.port}; }}
        location /v/ {{ proxy_pass http://$arg_h; }}
        location /implicit {{ proxy_pass http://localhost:{self.port}; }}
    }}
}}
""") as s:
            self.assertEqual(request(s.port(), "/?h=" + NAME).status, 502)
            s.wait_error_log(r"no resolver defined to resolve backend\.test")
            # An address needs no resolver.
            self.assertEqual(body(s, "/?h=127.0.0.2"), (200, "B"))
            # Nor does the implicit upstream of another location's proxy_pass.
            self.assertEqual(body(s, f"/v/?h=localhost:{self.port}"), (200, "A"))


@requires_proxy
@portico_only  # nginx 1.22 has no `server ... resolve` (1.27.3)
class UpstreamResolve(unittest.TestCase):
    """`server NAME resolve` in an upstream: the group follows the name while running."""

    def setUp(self):
        self.dns = DnsServer()
        self.port, self.a, self.b = pair()

    def tearDown(self):
        self.a.stop()
        self.b.stop()
        self.dns.stop()

    def config(self, valid=""):
        return f"""
http {{
    resolver {self.dns.addr} ipv6=off {valid};
    resolver_timeout 1s;
    upstream u {{
        zone u 64k;
        server {NAME}:{self.port} resolve;
    }}
    server {{
        listen 127.0.0.1:{{port}};
        location / {{ proxy_pass http://u; proxy_next_upstream off; }}
    }}
}}
"""

    def test_follows_the_name_and_keeps_peers_when_dns_fails(self):
        # valid=1s: asked again every second, failures too (without it a failure is retried
        # after 5 s; the TTL's own part is test_ttl_and_valid_decide_when_to_ask_again).
        self.dns.set(NAME, ["127.0.0.1"], ttl=3600)
        with Server(self.config("valid=1s"), error_log_level="notice") as s:
            eventually(lambda: body(s, "/") == (200, "A"), message="resolved at start")
            self.dns.set(NAME, ["127.0.0.2"], ttl=3600)
            eventually(lambda: body(s, "/") == (200, "B"), message="re-resolved")
            s.wait_error_log(r'upstream "u": "backend\.test" resolved to 127\.0\.0\.2')
            # Both addresses: both take requests.
            self.dns.set(NAME, ["127.0.0.1", "127.0.0.2"], ttl=3600)
            seen = set()
            eventually(lambda: seen.add(body(s, "/")[1]) or seen >= {"A", "B"},
                       message="both addresses in the group")
            # The name server fails: the last addresses stay, and the failure is logged.
            self.dns.fail(NAME, SERVFAIL)
            asked = self.dns.queries(NAME)
            eventually(lambda: self.dns.queries(NAME) >= asked + 2, timeout=15,
                       message="asked again after the failure")
            s.wait_error_log(r"backend\.test could not be resolved .*keeping the last addresses")
            for _ in range(4):
                self.assertEqual(body(s, "/")[0], 200)
            # It times out: still the same.
            self.dns.drop(NAME)
            asked = self.dns.queries(NAME)
            eventually(lambda: self.dns.queries(NAME) > asked, timeout=15,
                       message="asked again")
            s.wait_error_log(r"could not be resolved \(110: Operation timed out\)", timeout=10)
            self.assertEqual(body(s, "/")[0], 200)
            # It answers again: the group follows.
            self.dns.set(NAME, ["127.0.0.1"], ttl=3600)
            eventually(lambda: all(body(s, "/") == (200, "A") for _ in range(4)), timeout=15,
                       message="back to 127.0.0.1 alone")

    def test_ttl_and_valid_decide_when_to_ask_again(self):
        self.dns.set(NAME, ["127.0.0.1"], ttl=3600)
        with Server(self.config("valid=1s")) as s:
            eventually(lambda: body(s, "/") == (200, "A"), message="resolved at start")
            eventually(lambda: self.dns.queries(NAME, QTYPE_A) >= 3, timeout=10,
                       message="asked again every second (valid=1s)")
        self.dns.set(NAME, ["127.0.0.1"], ttl=3600)
        with Server(self.config()) as s:
            eventually(lambda: body(s, "/") == (200, "A"), message="resolved at start")
            asked = self.dns.queries(NAME, QTYPE_A)
            t0 = time.monotonic()
            # Served from the answer for 2 s without asking again (TTL 3600).
            while time.monotonic() - t0 < 2:
                self.assertEqual(body(s, "/"), (200, "A"))
                time.sleep(0.1)
            self.assertEqual(self.dns.queries(NAME, QTYPE_A), asked)

    def test_unresolvable_at_start_is_502_then_serves(self):
        self.dns.drop(NAME)
        with Server(self.config()) as s:
            self.assertEqual(request(s.port(), "/").status, 502)
            self.dns.set(NAME, ["127.0.0.2"], ttl=1)
            eventually(lambda: body(s, "/") == (200, "B"), timeout=15,
                       message="serves once the name resolves")

    def test_reload_keeps_the_resolved_peers(self):
        self.dns.set(NAME, ["127.0.0.2"], ttl=1)
        with Server(self.config()) as s:
            eventually(lambda: body(s, "/") == (200, "B"), message="resolved")
            self.dns.drop(NAME)  # the new configuration's lookups time out
            s.reload(self.config().replace("proxy_next_upstream off;",
                                           "proxy_next_upstream error;"))
            s.wait_error_log(r"reconfigured|could not be resolved", timeout=10)
            for _ in range(5):
                self.assertEqual(body(s, "/"), (200, "B"))

    def test_config_errors(self):
        s = Server(f"""
http {{
    upstream u {{
        server {NAME}:80 resolve;
    }}
    server {{ listen 127.0.0.1:{{port}}; location / {{ proxy_pass http://u; }} }}
}}
""", start=False)
        try:
            r = s.run_cli("-t")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('resolving names at run time requires upstream "u"', r.stderr)
            s.set_config(f"""
http {{
    upstream u {{
        zone u 64k;
        server {NAME}:80 resolve;
    }}
    server {{ listen 127.0.0.1:{{port}}; location / {{ proxy_pass http://u; }} }}
}}
""")
            r = s.run_cli("-t")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('no resolver defined to resolve names at run time in upstream "u"',
                          r.stderr)
            s.set_config("""
http {
    resolver 127.0.0.1 valid=x;
    server { listen 127.0.0.1:{port}; }
}
""")
            r = s.run_cli("-t")
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr, r"invalid parameter: valid=x in .*portico\.conf:\d+")
        finally:
            s.stop()


@requires_stream
@portico_only  # nginx 1.22 has no `server ... resolve`
class StreamUpstreamResolve(unittest.TestCase):
    def test_stream_group_follows_the_name(self):
        with DnsServer() as dns:
            port, a, b = pair()
            try:
                dns.set(NAME, ["127.0.0.1"], ttl=1)
                with Server(stream_prelude() + f"""
stream {{
    resolver {dns.addr} ipv6=off;
    upstream s {{
        zone s 64k;
        server {NAME}:{port} resolve;
    }}
    server {{
        listen 127.0.0.1:{{port}};
        proxy_pass s;
    }}
}}
""") as s:
                    eventually(lambda: body(s, "/") == (200, "A"), message="resolved")
                    dns.set(NAME, ["127.0.0.2"], ttl=1)
                    eventually(lambda: body(s, "/") == (200, "B"), message="re-resolved")
            finally:
                a.stop()
                b.stop()


if __name__ == "__main__":
    unittest.main()
