"""realip module: set_real_ip_from, real_ip_header, real_ip_recursive, $realip_remote_addr.

nginx applies realip twice: in the post-read phase with the server's settings, and in the
preaccess phase with the location's. The second only helps if the first changed nothing, and
both come after the rewrite phase's `return` only for the server's settings: a location-level
realip is not seen by `return` (SURPRISE, kept: it is nginx's phase order). Most locations
below therefore serve static files and show the addresses in an add_header.
"""

import re
import socket
import unittest

from harness import HAVE_IPV6, RawConn, Server, build_request, eventually, request, requires_proxy
from upstreams import Upstream, hvals, info

SHOW = '"$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port"'

CONFIG = r"""
http {
    default_type text/plain;
    log_format realip '$remote_addr $realip_remote_addr $status $request_uri';

    # A: the server trusts 127.0.0.1 (not ::1); realip from X-Real-IP runs at post-read.
    server {
        listen 127.0.0.1:{port};
        IPV6_LISTEN
        server_name localhost;
        root {prefix}/html;
        access_log logs/realip.log realip;
        set_real_ip_from 127.0.0.1;
        add_header X-Addr SHOW always;

        location = /show { return 200 SHOW; }
        location = /binary { return 200 $binary_remote_addr; }
        location /xff/ { real_ip_header X-Forwarded-For; }
        location /xffr/ {
            real_ip_header X-Forwarded-For;
            real_ip_recursive on;
            set_real_ip_from 127.0.0.1;
            set_real_ip_from 10.0.0.0/8;
            set_real_ip_from 2001:db8::/32;
        }
        location /xrir/ {
            real_ip_recursive on;
            set_real_ip_from 127.0.0.1;
            set_real_ip_from 10.0.0.0/8;
        }
        location /custom/ { real_ip_header X-Client; }
        location /custom-xff/ { real_ip_header x-forwarded-for; }
        location /replaced/ { set_real_ip_from 10.0.0.0/8; real_ip_header X-Client; }
        location /pp/ { real_ip_header proxy_protocol; }
        location /deny/ { deny 192.0.2.0/24; }
        location /allow/ { allow 198.51.100.7; deny all; }
    }

    # B: no server-level realip; locations bring their own (preaccess only).
    server {
        listen 127.0.0.1:{port2};
        server_name localhost;
        root {prefix}/html;
        add_header X-Addr SHOW always;

        location = /loc-return { set_real_ip_from 127.0.0.1; return 200 SHOW; }
        location /loc/ { set_real_ip_from 127.0.0.1; }
        location /other-net/ { set_real_ip_from 10.0.0.0/8; }
        location /byname/ { set_real_ip_from localhost; }
        location /early/ {
            set_real_ip_from 127.0.0.1;
            set $before $remote_addr;
            add_header X-Early "$before|$remote_addr|$remote_port|$realip_remote_addr" always;
            deny 192.0.2.0/24;
        }
        location /inherit/ {
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Client;
            location /inherit/child/ { }
        }
        location /nested/ {
            set_real_ip_from 10.0.0.0/8;
            location /nested/in/ { set_real_ip_from 127.0.0.1; }
        }
        location /if/ {
            set_real_ip_from 127.0.0.1;
            if ($arg_x) { add_header X-In-If SHOW always; }
        }
        location /missing/ { error_page 404 /page/err.txt; }
        location /page/ { set_real_ip_from 127.0.0.1; }
    }
}
""".replace("SHOW", SHOW)

FILES = {f"html/{d}/f.txt": d + "\n" for d in
         ["xff", "xffr", "xrir", "custom", "custom-xff", "replaced", "pp", "deny", "allow", "loc",
          "other-net", "byname", "early", "inherit", "inherit/child", "nested", "nested/in", "if",
          "page"]}
FILES["html/page/err.txt"] = "error page\n"


def addr(resp, name="X-Addr"):
    """(remote_addr, remote_port, realip_remote_addr, realip_remote_port) from a header."""
    return tuple(resp.header(name).split("|"))


class RealIpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cfg = CONFIG.replace("IPV6_LISTEN", "listen [::1]:{port};" if HAVE_IPV6 else "")
        cls.srv = Server(cfg, FILES)
        cls.port, cls.port2 = cls.srv.port(), cls.srv.port("port2")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, headers, port=None, status=200, addr_="127.0.0.1"):
        """GET on a fresh connection; returns (response, the client's own port)."""
        with RawConn(port or self.port, addr_) as c:
            c.send(build_request("GET", path, headers=headers))
            r = c.read_final_response()
            local = str(c.local_port())
        self.assertEqual(r.status, status, r)
        return r, local

    def show(self, headers, path="/show", port=None):
        r, local = self.get(path, headers, port)
        return (r.text if path in ("/show", "/loc-return") else r.header("X-Addr")), local

    # ---- X-Real-IP (the default), server level ------------------------------------------

    def test_x_real_ip(self):
        text, local = self.show([("X-Real-IP", "192.0.2.5")])
        self.assertEqual(text, f"192.0.2.5||127.0.0.1|{local}")  # no port: $remote_port empty
        text, local = self.show([("X-Real-IP", "192.0.2.5:8080")])
        self.assertEqual(text, f"192.0.2.5|8080|127.0.0.1|{local}")
        text, local = self.show([("X-Real-IP", "[2001:db8::1]:443")])
        self.assertEqual(text, f"2001:db8::1|443|127.0.0.1|{local}")
        text, local = self.show([("X-Real-IP", "2001:DB8:0::1")])
        self.assertEqual(text, f"2001:db8::1||127.0.0.1|{local}")

    def test_no_header_keeps_the_peer(self):
        text, local = self.show([])
        self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")

    def test_unusable_values_are_ignored(self):
        for value in ["bogus", "", "255.255.255.255", "1.2.3.4:0", "1.2.3.4:65536",
                      "1.2.3.4:", "[2001:db8::1]", "1.2.3", "host.example", ",10.0.0.1",
                      "1:2:3:4:5:6:7::"]:
            with self.subTest(value=value):
                text, local = self.show([("X-Real-IP", value)])
                self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")

    def test_nginx_address_syntax(self):
        # nginx's own parser and printer (ngx_inet.c), quirks included.
        cases = {"010.001.1.1": "10.1.1.1", "1..2.3": "1.0.2.3", ":1::2": "1::2",
                 "::1234": "::0.0.18.52", "::1:80": "::0.1.0.128",
                 "::ffff:10.1.2.3": "::ffff:10.1.2.3", "1:0:0:2:0:0:0:3": "1:0:0:2::3",
                 "d::4:": "d::4:0", "0:0:0:0:0:ffff:102:304": "::ffff:1.2.3.4"}
        for value, want in cases.items():
            with self.subTest(value=value):
                text, _ = self.show([("X-Real-IP", value)])
                self.assertEqual(text.split("|")[0], want)

    def test_x_real_ip_is_a_list_too_and_the_first_header_counts(self):
        text, _ = self.show([("X-Real-IP", "192.0.2.1, 192.0.2.2")])
        self.assertEqual(text.split("|")[0], "192.0.2.2")
        text, _ = self.show([("X-Real-IP", "192.0.2.1"), ("X-Real-IP", "192.0.2.2")])
        self.assertEqual(text.split("|")[0], "192.0.2.1")

    def test_binary_remote_addr(self):
        r, _ = self.get("/binary", [("X-Real-IP", "192.0.2.5")])
        self.assertEqual(r.body, bytes([192, 0, 2, 5]))
        r, _ = self.get("/binary", [("X-Real-IP", "2001:db8::1")])
        self.assertEqual(r.body, socket.inet_pton(socket.AF_INET6, "2001:db8::1"))
        r, _ = self.get("/binary", [])
        self.assertEqual(r.body, bytes([127, 0, 0, 1]))

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_untrusted_peer(self):
        r, local = self.get("/show", [("X-Real-IP", "192.0.2.5")], addr_="::1")
        self.assertEqual(r.text, f"::1|{local}|::1|{local}")

    def test_keepalive_next_request_starts_from_the_peer(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/show", headers=[("X-Real-IP", "192.0.2.7")],
                                 close=False))
            first = c.read_response().text
            c.send(build_request("GET", "/show", close=False))
            second = c.read_response().text
            local = str(c.local_port())
        self.assertEqual(first, f"192.0.2.7||127.0.0.1|{local}")
        self.assertEqual(second, f"127.0.0.1|{local}|127.0.0.1|{local}")

    # ---- X-Forwarded-For ---------------------------------------------------------------

    def test_x_forwarded_for_takes_the_last_address(self):
        cases = [
            ([("X-Forwarded-For", "1.1.1.1, 2.2.2.2")], "2.2.2.2|"),
            ([("X-Forwarded-For", "1.1.1.1, 2.2.2.2:99")], "2.2.2.2|99"),
            ([("X-Forwarded-For", "1.1.1.1 2.2.2.2 ,, ")], "2.2.2.2|"),
            ([("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 127.0.0.1")], "127.0.0.1|"),
            ([("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")], "2.2.2.2|"),
        ]
        for headers, want in cases:
            with self.subTest(headers=headers):
                text, local = self.show(headers, "/xff/f.txt")
                self.assertEqual(text, f"{want}|127.0.0.1|{local}")

    def test_x_forwarded_for_recursive(self):
        cases = [
            ("1.1.1.1, 2.2.2.2, 127.0.0.1", "2.2.2.2"),
            ("9.9.9.9, 10.0.0.1, 10.9.9.9:80, 127.0.0.1", "9.9.9.9"),
            ("127.0.0.1, 10.0.0.1", "127.0.0.1"),  # all trusted: the first one
            ("1.1.1.1, bogus, 127.0.0.1", "127.0.0.1"),  # stops at what does not parse
            ("9.9.9.9, 2001:db8::5, 10.2.3.4:80", "9.9.9.9"),
            ("9.9.9.9, [2001:db8::5]:443, 127.0.0.1", "9.9.9.9"),
            ("9.9.9.9, ::ffff:10.1.1.1, 127.0.0.1", "9.9.9.9"),  # mapped: IPv4 rules
            ("9.9.9.9, 2001:db9::1, 127.0.0.1", "2001:db9::1"),
            ("5.5.5.5,127.0.0.1", "5.5.5.5"),
        ]
        for value, want in cases:
            with self.subTest(value=value):
                text, _ = self.show([("X-Forwarded-For", value)], "/xffr/f.txt")
                self.assertEqual(text.split("|")[0], want)

    def test_x_forwarded_for_recursive_over_several_headers(self):
        cases = [
            (["1.1.1.1", "127.0.0.1"], "1.1.1.1|"),
            (["1.1.1.1", "2.2.2.2, 10.0.0.1"], "2.2.2.2|"),
            (["bogus", "10.0.0.3"], "10.0.0.3|"),
        ]
        for values, want in cases:
            with self.subTest(values=values):
                text, _ = self.show([("X-Forwarded-For", v) for v in values], "/xffr/f.txt")
                self.assertTrue(text.startswith(want), text)
        # an unusable last header stops everything
        for values in (["1.1.1.1", ""], ["1.1.1.1", "bogus"], [",127.0.0.1"]):
            with self.subTest(values=values):
                text, local = self.show([("X-Forwarded-For", v) for v in values], "/xffr/f.txt")
                self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")

    # ---- other fields, phases, inheritance ---------------------------------------------

    def test_custom_field_first_header(self):
        text, _ = self.show([("X-Client", "3.3.3.3"), ("x-client", "4.4.4.4")], "/custom/f.txt")
        self.assertEqual(text.split("|")[0], "3.3.3.3")
        # "x-forwarded-for" is not the X-Forwarded-For keyword: a plain field, first header
        text, _ = self.show([("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")],
                            "/custom-xff/f.txt")
        self.assertEqual(text.split("|")[0], "1.1.1.1")

    def test_server_settings_win_at_post_read(self):
        # /xrir/ trusts more and recurses, but the server's realip already ran at post-read.
        text, _ = self.show([("X-Real-IP", "9.9.9.9, 10.1.1.1")], "/xrir/f.txt")
        self.assertEqual(text.split("|")[0], "10.1.1.1")

    def test_location_list_replaces_the_inherited_one(self):
        text, local = self.show([("X-Client", "3.3.3.3")], "/replaced/f.txt")
        self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")

    def test_proxy_protocol_source_changes_nothing(self):
        # accepted by nginx without a proxy_protocol listener; the address stays
        text, local = self.show([("X-Real-IP", "192.0.2.1")], "/pp/f.txt")
        self.assertEqual(text.split("|")[0], "192.0.2.1")  # the server's X-Real-IP, post-read
        text, local = self.show([("X-Forwarded-For", "192.0.2.1")], "/pp/f.txt")
        self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")

    def test_location_realip_comes_after_return(self):
        text, local = self.show([("X-Real-IP", "192.0.2.5")], "/loc-return", self.port2)
        self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")
        text, local = self.show([("X-Real-IP", "192.0.2.5")], "/loc/f.txt", self.port2)
        self.assertEqual(text, f"192.0.2.5||127.0.0.1|{local}")

    def test_location_trust(self):
        text, local = self.show([("X-Real-IP", "192.0.2.5")], "/other-net/f.txt", self.port2)
        self.assertEqual(text, f"127.0.0.1|{local}|127.0.0.1|{local}")
        text, _ = self.show([("X-Real-IP", "192.0.2.5")], "/byname/f.txt", self.port2)
        self.assertEqual(text.split("|")[0], "192.0.2.5")  # "localhost" resolved at load
        text, _ = self.show([("X-Client", "192.0.2.6")], "/inherit/child/f.txt", self.port2)
        self.assertEqual(text.split("|")[0], "192.0.2.6")
        text, local = self.show([("X-Real-IP", "192.0.2.5")], "/nested/f.txt", self.port2)
        self.assertEqual(text.split("|")[0], "127.0.0.1")
        text, _ = self.show([("X-Real-IP", "192.0.2.5")], "/nested/in/f.txt", self.port2)
        self.assertEqual(text.split("|")[0], "192.0.2.5")
        r, _ = self.get("/if/f.txt?x=1", [("X-Real-IP", "192.0.2.8")], self.port2)
        self.assertEqual(addr(r, "X-In-If")[0], "192.0.2.8")

    def test_variable_read_before_location_realip_keeps_the_peer(self):
        # SURPRISE (nginx): $remote_addr is cached on first use; `set` reads it in the rewrite
        # phase, before the location's realip, so it keeps showing the peer while allow/deny
        # already use the new address. $remote_port was not read early: it changed.
        r, local = self.get("/early/f.txt", [("X-Real-IP", "192.0.2.9")], self.port2, 403)
        self.assertEqual(r.header("X-Early"), "127.0.0.1|127.0.0.1||127.0.0.1")
        r, local = self.get("/early/f.txt", [("X-Real-IP", "198.51.100.9")], self.port2)
        self.assertEqual(r.header("X-Early"), "127.0.0.1|127.0.0.1||127.0.0.1")

    def test_error_page_redirect_runs_preaccess_again(self):
        r, local = self.get("/missing/x", [("X-Real-IP", "192.0.2.10")], self.port2, 404)
        self.assertEqual(r.text, "error page\n")
        self.assertEqual(addr(r), ("192.0.2.10", "", "127.0.0.1", local))

    # ---- access, logs ------------------------------------------------------------------

    def test_allow_deny_see_the_new_address(self):
        self.get("/deny/f.txt", [("X-Real-IP", "192.0.2.44")], status=403)
        self.get("/deny/f.txt", [("X-Real-IP", "198.51.100.1")])
        self.get("/deny/f.txt", [])
        self.get("/allow/f.txt", [("X-Real-IP", "198.51.100.7")])
        self.get("/allow/f.txt", [("X-Real-IP", "198.51.100.8")], status=403)
        self.get("/allow/f.txt", [], status=403)
        self.srv.wait_error_log(r"access forbidden by rule, client: 192\.0\.2\.44, ")

    def test_access_log(self):
        self.get("/show?log=1", [("X-Real-IP", "192.0.2.77")])
        line = eventually(lambda: next((l for l in self.srv.access_log("logs/realip.log")
                                        if l.endswith("/show?log=1")), None),
                          message="the access log line")
        self.assertEqual(line, "192.0.2.77 127.0.0.1 200 /show?log=1")


class RealIpUnixTest(unittest.TestCase):
    """set_real_ip_from unix: trusts every unix-domain peer; $realip_remote_addr is "unix:"."""

    CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen unix:{prefix}/realip.sock;
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {
            set_real_ip_from unix:;
            root {prefix}/html;
            add_header X-Addr "$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port";
        }
        location /tcp-only/ {
            set_real_ip_from 127.0.0.1;
            root {prefix}/html;
            add_header X-Addr "$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port";
        }
    }
}
"""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(cls.CONFIG, {"html/f.txt": "f\n", "html/tcp-only/f.txt": "t\n"})
        cls.sock = cls.srv.path("realip.sock")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def unix_get(self, path, headers):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(self.sock)
            s.sendall(build_request("GET", path, headers=headers))
            data = b""
            for _ in range(1000):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        hdrs = dict(line.split(": ", 1) for line in head[1:])
        return status, hdrs.get("X-Addr")

    def test_unix_peer_trusted(self):
        status, x = self.unix_get("/f.txt", [("X-Real-IP", "192.0.2.3:4444")])
        self.assertEqual((status, x), (200, "192.0.2.3|4444|unix:|"))
        status, x = self.unix_get("/f.txt", [])
        self.assertEqual((status, x), (200, "unix:||unix:|"))

    def test_unix_peer_untrusted_by_address_rules(self):
        status, x = self.unix_get("/tcp-only/f.txt", [("X-Real-IP", "192.0.2.3")])
        self.assertEqual((status, x), (200, "unix:||unix:|"))

    def test_tcp_peer_not_trusted_by_unix_rule(self):
        r = request(self.srv.port(), "/f.txt", headers=[("X-Real-IP", "192.0.2.3")])
        self.assertEqual(r.header("X-Addr").split("|")[0], "127.0.0.1")


@requires_proxy
class RealIpProxyTest(unittest.TestCase):
    """The upstream sees the new address in $remote_addr and $proxy_add_x_forwarded_for."""

    CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        location / {
            proxy_pass http://127.0.0.1:ECHO;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
"""

    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("echo", name="echo", quiet=True)
        try:
            cls.srv = Server(cls.CONFIG.replace("ECHO", str(cls.echo.port)))
        except BaseException:
            cls.echo.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()

    def test_forwarded_headers(self):
        r = request(self.srv.port(), "/x", headers=[("X-Forwarded-For", "203.0.113.1, 192.0.2.4")])
        self.assertEqual(r.status, 200, r)
        i = info(r)
        self.assertEqual(hvals(i, "X-Real-IP"), ["192.0.2.4"])
        self.assertEqual(hvals(i, "X-Forwarded-For"), ["203.0.113.1, 192.0.2.4, 192.0.2.4"])
        r = request(self.srv.port(), "/x")
        i = info(r)
        self.assertEqual(hvals(i, "X-Real-IP"), ["127.0.0.1"])
        self.assertEqual(hvals(i, "X-Forwarded-For"), ["127.0.0.1"])


class RealIpConfigTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server("http { server { listen 127.0.0.1:{port}; } }", start=False)

    def tearDown(self):
        self.srv.stop()

    def check(self, directives, level, needle):
        """`nginx -t` on directives at http level; returns (returncode, stderr, needle line)."""
        self.srv.set_config("http {\n    " + directives + "\n    server {\n"
                            "        listen 127.0.0.1:{port};\n        location / {\n"
                            "            " + level + "\n        }\n    }\n}\n")
        r = self.srv.run_cli("-t")
        return r.returncode, r.stderr, self.srv.line_of(needle)

    def assert_emerg(self, directives, level, message, needle):
        rc, err, line = self.check(directives, level, needle)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"\[emerg\] (\d+#\d+: )?" + re.escape(message)
                         + re.escape(f" in {self.srv.conf_path}:{line}"))

    def test_bad_addresses(self):
        for value in ("10.0.0.0/33", "10.0.0.0/", "2001:db8::/129", "10.0.0.0/8x",
                      "nonexistent.invalid"):
            with self.subTest(value=value):
                self.assert_emerg(f"set_real_ip_from {value};", "",
                                  f'host not found in set_real_ip_from "{value}"',
                                  "set_real_ip_from")

    def test_low_bits_warn(self):
        rc, err, line = self.check("set_real_ip_from 10.0.0.1/8;", "", "set_real_ip_from")
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"\[warn\] (\d+#\d+: )?" + re.escape(
            f"low address bits of 10.0.0.1/8 are meaningless in {self.srv.conf_path}:{line}"))

    def test_accepted(self):
        rc, err, _ = self.check("set_real_ip_from unix:; set_real_ip_from localhost; "
                                "set_real_ip_from ::/0; real_ip_header proxy_protocol;",
                                "real_ip_header X-Forwarded-For; real_ip_recursive on;",
                                "set_real_ip_from")
        self.assertEqual(rc, 0, err)

    def test_directive_errors(self):
        self.assert_emerg("real_ip_header X-Real-IP;\n    real_ip_header X-Forwarded-For;", "",
                          '"real_ip_header" directive is duplicate', "X-Forwarded-For")
        self.assert_emerg("real_ip_recursive maybe;", "",
                          'invalid value "maybe" in "real_ip_recursive" directive, it must be '
                          '"on" or "off"', "maybe")
        self.assert_emerg("", "if ($arg_a) { set_real_ip_from 10.0.0.1; }",
                          '"set_real_ip_from" directive is not allowed here', "if (")
        self.assert_emerg("set_real_ip_from 1.1.1.1 2.2.2.2;", "",
                          'invalid number of arguments in "set_real_ip_from" directive',
                          "set_real_ip_from")


if __name__ == "__main__":
    unittest.main()
