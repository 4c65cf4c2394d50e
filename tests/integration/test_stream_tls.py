"""TLS in stream {}: `listen ... ssl` in front of a TCP upstream (RSA and ECDSA certificates with
chains, ALPN, the $ssl_* variables in `return` and the stream log), client certificates
(required, optional, untrusted), session resumption (cache and tickets), `proxy_ssl` to a TLS
upstream with SNI, name verification and session reuse, TLS on both sides with a large transfer,
the handshake timeout, and configuration errors with file:line.

Clients are python's ssl and openssl s_client; the upstreams are upstreams.py's `tcpecho`
processes, plain or behind TLS (--tls-cert: they report the SNI name and resumption of each
handshake). Certificates are made at test time (tls_certs.py)."""

import hashlib
import os
import select
import socket
import ssl
import subprocess
import time
import unittest

from harness import (IS_PORTICO, RawConn, Server, config_test, eventually, requires_stream,
                     stream_prelude)
from upstreams import Upstream
import tls_certs

PKI = tls_certs.TempPki("portico-stream-pki-")
setUpModule = PKI.make
tearDownModule = PKI.remove
pki = PKI.path


VARS = "$ssl_protocol|$ssl_server_name|$ssl_session_reused|$ssl_alpn_protocol|" \
       "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_serial"

CONFIG = r"""
stream {
    log_format tls '$server_port|$status|$ssl_protocol|$ssl_cipher|$ssl_server_name|'
                   '$bytes_sent|$bytes_received|$upstream_bytes_received|'
                   '$upstream_connect_time';
    access_log logs/stream.log tls;

    # stream{} level, inherited by every server below that does not set its own.
    ssl_certificate PKI/a.crt;
    ssl_certificate_key PKI/a.key;
    ssl_certificate PKI/a-ec.crt;
    ssl_certificate_key PKI/a-ec.key;
    ssl_session_cache shared:S:1m;
    ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22's stream default has no TLSv1.3

    # TLS in front of a plain TCP echo.
    server {
        listen 127.0.0.1:{port} ssl;
        proxy_pass 127.0.0.1:@ECHO@;
    }
    # The variables, with ALPN; b.test's own certificate replaces the inherited pair.
    server {
        listen 127.0.0.1:{port_vars} ssl;
        ssl_certificate PKI/b.crt;
        ssl_certificate_key PKI/b.key;
        ssl_alpn foo bar;
        return "VARS";
    }
    # Client certificates.
    server {
        listen 127.0.0.1:{port_mtls} ssl;
        ssl_verify_client on;
        ssl_client_certificate PKI/client-ca.crt;
        return "VARS";
    }
    server {
        listen 127.0.0.1:{port_mtls_opt} ssl;
        ssl_verify_client optional;
        ssl_client_certificate PKI/client-ca.crt;
        return "VARS";
    }
    # Resumption from the session cache only.
    server {
        listen 127.0.0.1:{port_cache} ssl;
        ssl_session_tickets off;
        return "VARS";
    }
    # No resumption at all.
    server {
        listen 127.0.0.1:{port_nocache} ssl;
        ssl_session_cache off;
        ssl_session_tickets off;
        return "VARS";
    }
    # A short handshake timeout.
    server {
        listen 127.0.0.1:{port_hs} ssl;
        ssl_handshake_timeout 300ms;
        proxy_pass 127.0.0.1:@ECHO@;
    }

    # proxy_ssl to a TLS upstream whose certificate names b.test (signed by the root).
    proxy_ssl_trusted_certificate PKI/root.crt;
    server {
        listen 127.0.0.1:{port_up};
        proxy_pass 127.0.0.1:@TLSECHO@;
        proxy_ssl on;
        proxy_ssl_server_name on;
        proxy_ssl_name b.test;
        proxy_ssl_verify on;
    }
    server {
        listen 127.0.0.1:{port_up_noreuse};
        proxy_pass 127.0.0.1:@TLSECHO@;
        proxy_ssl on;
        proxy_ssl_session_reuse off;
    }
    # (Its own upstream: nginx keeps one session per peer whatever the name, and would offer
    # this server's session, with its SNI, to port_up.)
    server {
        listen 127.0.0.1:{port_up_wrong};
        proxy_pass 127.0.0.1:@TLSECHO2@;
        proxy_ssl on;
        proxy_ssl_server_name on;
        proxy_ssl_name c.test;
        proxy_ssl_verify on;
        proxy_connect_timeout 5s;
    }
    # TLS on both sides.
    server {
        listen 127.0.0.1:{port_both} ssl;
        proxy_pass 127.0.0.1:@TLSECHO@;
        proxy_ssl on;
        proxy_buffer_size 4k;
    }
}
"""


def render(config):
    return config.replace("PKI/", PKI.dir + "/").replace("VARS", VARS)


def client_ctx(cert=None, alpn=None, maxv=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki("root.crt"))
    if cert:
        ctx.load_cert_chain(pki(cert + ".crt"), pki(cert + ".key"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def read_all(s):
    """What the peer sends until it closes (close_notify, EOF or a reset)."""
    data = b""
    for _ in range(1_000_000):
        try:
            chunk = s.recv(65536)
        except (ssl.SSLError, ConnectionResetError):  # close_notify, EOF, an alert
            break
        if not chunk:
            break
        data += chunk
    return data


def echo_line(s, line):
    """Sends one line and returns what comes back up to its end (or the peer's close)."""
    s.sendall(line)
    got = b""
    for _ in range(1000):
        if got.endswith(b"\n"):
            break
        chunk = s.recv(100)
        if not chunk:
            break
        got += chunk
    return got


def tls_connect(port, sni="a.test", ctx=None, session=None, timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return (ctx or client_ctx()).wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


def tls_return(port, **kw):
    """Connects, reads `return`'s answer; returns (text, the client socket's session, reused)."""
    with tls_connect(port, **kw) as s:
        text = read_all(s).decode()
        return text, s.session, s.session_reused


def s_client(port, *args, timeout=10):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input=b"", capture_output=True, timeout=timeout)
    return p.stdout.decode("latin-1") + p.stderr.decode("latin-1")


def pump(s, payload, timeout):
    """Sends payload on TLS socket s while reading what comes back (one thread: an SSL socket
    is not for two); returns what was read once as much came back, or at the deadline."""
    s.setblocking(False)
    sent, got = 0, bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < len(payload) and time.monotonic() < deadline:
        want_w = [s] if sent < len(payload) else []
        if not s.pending():
            select.select([s], want_w, [], 0.5)
        if sent < len(payload):
            try:
                sent += s.send(payload[sent:sent + 65536])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        try:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
    s.setblocking(True)
    return bytes(got)


@requires_stream
class StreamTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("tcpecho", name="echo")
        tls = ("--tls-cert", pki("b.crt"), "--tls-key", pki("b.key"))
        cls.tlsecho = Upstream("tcpecho", *tls, name="tlsecho")
        cls.tlsecho2 = Upstream("tcpecho", *tls, name="tlsecho2")
        cfg = render(CONFIG).replace("@ECHO@", str(cls.echo.port))
        cfg = cfg.replace("@TLSECHO@", str(cls.tlsecho.port))
        cfg = cfg.replace("@TLSECHO2@", str(cls.tlsecho2.port))
        try:
            cls.srv = Server(stream_prelude() + "events {}\n" + cfg, default_access_log=False,
                             error_log_level="info")
        except BaseException:
            cls.echo.stop()
            cls.tlsecho.stop()
            cls.tlsecho2.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()
        cls.tlsecho.stop()
        cls.tlsecho2.stop()

    def log_lines(self, port_name):
        port = str(self.srv.port(port_name))
        return [ln.split("|") for ln in self.srv.access_log("logs/stream.log")
                if ln.split("|")[0] == port]

    def tls_events(self, after, sni):
        """The TLS upstream's handshakes since event `after` with SNI `sni` ("-": none); other
        servers' connections (and the start-up readiness probes') may come in between."""
        return [e for e in self.tlsecho.events[after:]
                if e[1:2] == ("tls",) and e[3] == f"sni={sni}"]

    # ---- termination ------------------------------------------------------------------

    def test_echo_through_tls_with_verified_chain(self):
        with tls_connect(self.srv.port()) as s:
            self.assertIn(("commonName", "a.test"), s.getpeercert()["subject"][0])
            self.assertEqual(echo_line(s, b"hello over tls\n"), b"hello over tls\n")
        # (The start-up readiness probe left a line with no bytes: its handshake failed, 500.)
        fields = eventually(lambda: [f for f in self.log_lines("port") if f[6] != "0"],
                            message="stream log line")[-1]
        self.assertEqual(fields[1], "200")
        self.assertIn(fields[2], ("TLSv1.3", "TLSv1.2"))
        self.assertTrue(fields[3])  # the cipher
        self.assertEqual(fields[4], "a.test")

    def test_rsa_and_ecdsa_certificates(self):
        out = s_client(self.srv.port(), "-servername", "a.test", "-sigalgs", "ECDSA+SHA256",
                       "-CAfile", pki("root.crt"))
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"Peer signature type: ECDSA")
        out = s_client(self.srv.port(), "-servername", "a.test", "-sigalgs", "RSA-PSS+SHA256",
                       "-CAfile", pki("root.crt"))
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"Peer signature type: RSA-PSS")

    def test_variables_sni_alpn_and_own_certificate(self):
        with tls_connect(self.srv.port("port_vars"), sni="b.test",
                         ctx=client_ctx(alpn=["bar", "zzz"])) as s:
            self.assertIn(("commonName", "b.test"), s.getpeercert()["subject"][0])
            self.assertEqual(s.selected_alpn_protocol(), "bar")
            text = read_all(s).decode()
        proto, sni, reused, alpn, verify, s_dn, serial = text.split("|")
        self.assertEqual((sni, reused, alpn, verify, s_dn, serial),
                         ("b.test", ".", "bar", "NONE", "", ""))
        self.assertEqual(proto, "TLSv1.3")

    def test_plain_bytes_on_a_tls_port_end_the_session(self):
        with RawConn(self.srv.port("port_vars")) as c:
            c.send(b"GET / HTTP/1.0\r\n\r\n")
            self.assertTrue(c.closed_within(5))
        eventually(lambda: any(f[1] == "500" for f in self.log_lines("port_vars")),
                   message="status 500 for a failed handshake")

    # ---- client certificates --------------------------------------------------------------

    def test_client_certificate_required(self):
        text, _, _ = tls_return(self.srv.port("port_mtls"), ctx=client_ctx(cert="client"))
        fields = text.split("|")
        self.assertEqual(fields[4:], ["SUCCESS", "CN=client1", "1234"])
        # No certificate, or one the CA did not sign: closed without an answer (status 500).
        before = len(self.log_lines("port_mtls"))
        self.assertEqual(tls_return(self.srv.port("port_mtls"))[0], "")
        self.assertEqual(tls_return(self.srv.port("port_mtls"),
                                    ctx=client_ctx(cert="other-client"))[0], "")
        lines = eventually(lambda: self.log_lines("port_mtls")[before:before + 2]
                           if len(self.log_lines("port_mtls")) >= before + 2 else None,
                           message="two more log lines")
        self.assertEqual([f[1] for f in lines], ["500", "500"])
        self.srv.wait_error_log(r"client sent no required SSL certificate")

    def test_client_certificate_optional(self):
        self.assertEqual(tls_return(self.srv.port("port_mtls_opt"))[0].split("|")[4], "NONE")
        text, _, _ = tls_return(self.srv.port("port_mtls_opt"), ctx=client_ctx(cert="client"))
        self.assertEqual(text.split("|")[4], "SUCCESS")
        # optional still refuses a certificate that does not verify.
        self.assertEqual(tls_return(self.srv.port("port_mtls_opt"),
                                    ctx=client_ctx(cert="other-client"))[0], "")

    # ---- resumption -----------------------------------------------------------------------

    def check_resumption(self, port_name, expect, maxv=None, sni="a.test"):
        ctx = client_ctx(maxv=maxv)
        text, sess, reused = tls_return(self.srv.port(port_name), ctx=ctx, sni=sni)
        self.assertEqual(text.split("|")[2], ".")
        self.assertIsNotNone(sess)
        text, _, reused = tls_return(self.srv.port(port_name), ctx=ctx, session=sess, sni=sni)
        self.assertEqual(reused, expect)
        self.assertEqual(text.split("|")[2], "r" if expect else ".")

    def test_session_resumed_by_ticket(self):
        self.check_resumption("port_vars", True, sni="b.test")

    def test_session_resumed_from_cache_without_tickets(self):
        self.check_resumption("port_cache", True)
        self.check_resumption("port_cache", True, maxv=ssl.TLSVersion.TLSv1_2)

    def test_no_resumption_with_cache_and_tickets_off(self):
        self.check_resumption("port_nocache", False)

    # ---- the handshake timeout ------------------------------------------------------------

    def test_handshake_timeout_closes_a_silent_client(self):
        before = len(self.log_lines("port_hs"))
        start = time.monotonic()
        with RawConn(self.srv.port("port_hs")) as c:
            self.assertTrue(c.closed_within(5))
        self.assertGreaterEqual(time.monotonic() - start, 0.25)  # ssl_handshake_timeout 300ms
        fields = eventually(lambda: self.log_lines("port_hs")[before:], message="log line")
        self.assertEqual(fields[0][1], "500")
        if IS_PORTICO:  # nginx closes without a word
            self.srv.wait_error_log(r"client timed out \(110: Connection timed out\) while SSL "
                                    r"handshaking")

    # ---- proxy_ssl --------------------------------------------------------------------------

    def test_proxy_ssl_verifies_name_sends_sni_and_reuses_sessions(self):
        # The first connection may already resume (the start-up readiness probe's session);
        # the second one must.
        for i in range(2):
            n = len(self.tlsecho.events)
            with socket.create_connection(("127.0.0.1", self.srv.port("port_up")), 10) as s:
                self.assertEqual(echo_line(s, b"through tls\n"), b"through tls\n")
            ev = eventually(lambda: self.tls_events(n, "b.test"),
                            message="upstream handshake with SNI b.test")[0]
            if i == 1:
                self.assertEqual(ev[4], "reused=1")
        # The client side is plain: its $ssl_* are not found, "-" in the log as nginx.
        fields = eventually(lambda: [f for f in self.log_lines("port_up") if f[6] != "0"],
                            message="stream log line")[-1]
        self.assertEqual(fields[1:5], ["200", "-", "-", "-"])

    def test_proxy_ssl_session_reuse_off_and_no_sni_by_default(self):
        for _ in range(2):
            n = len(self.tlsecho.events)
            with socket.create_connection(("127.0.0.1", self.srv.port("port_up_noreuse")),
                                          10) as s:
                s.sendall(b"x\n")
                self.assertEqual(s.recv(10), b"x\n")
            ev = eventually(lambda: self.tls_events(n, "-"), message="upstream handshake")[0]
            self.assertEqual(ev[4], "reused=0")

    def test_proxy_ssl_wrong_name_fails_verification(self):
        with socket.create_connection(("127.0.0.1", self.srv.port("port_up_wrong")), 10) as s:
            s.sendall(b"x\n")
            self.assertEqual(read_all(s), b"")
        self.srv.wait_error_log(r"SSL_do_handshake\(\) failed .*certificate verify failed|"
                                r"upstream SSL certificate does not match")
        fields = eventually(lambda: [f for f in self.log_lines("port_up_wrong") if f[1] == "502"],
                            message="status 502")[-1]
        # The attempt did not connect: the TLS handshake is part of connecting.
        self.assertEqual(fields[7:], ["0", "-"])

    def test_tls_on_both_sides_large_transfer(self):
        payload = os.urandom(2 * 1024 * 1024 + 777)
        with tls_connect(self.srv.port("port_both")) as s:
            got = pump(s, payload, timeout=20)
        self.assertEqual(len(got), len(payload))
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(payload).hexdigest())
        # (The start-up readiness probe left a line with no bytes.)
        fields = eventually(lambda: [f for f in self.log_lines("port_both") if f[5] != "0"],
                            message="stream log line")[-1]
        self.assertEqual((fields[5], fields[6]), (str(len(payload)), str(len(payload))))


@requires_stream
class StreamTlsConfigErrorTest(unittest.TestCase):
    def check(self, config, needle, at):
        """`-t` fails with regex `needle` at the file:line of the config line containing `at`
        (None: no place checked)."""
        rc, err, line_of = config_test(stream_prelude() + "events {}\n" + render(config),
                                       default_access_log=False)
        self.assertNotEqual(rc, 0, err)
        self.assertRegex(err, needle + (rf" in \S+\.conf:{line_of(at)}\b" if at else ""))

    def test_listen_ssl_without_certificate(self):
        self.check(tls_server(), r'no "ssl_certificate" is defined for the "listen \.\.\. ssl" '
                   r'directive', at=" ssl;")

    def test_bad_values_with_file_and_line(self):
        self.check("""
stream {
    ssl_protocols TLSv1.2 TLSv9;
    server { listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:1; }
}""", r'invalid value "TLSv9"', at="TLSv9")
        self.check(tls_server("ssl_certificate PKI/a.crt;", "ssl_certificate_key PKI/a.key;",
                              "ssl_verify_client sometimes;"),
                   r'invalid value "sometimes"', at="sometimes")

    def test_certificate_without_key(self):
        self.check(tls_server("ssl_certificate PKI/a.crt;"),
                   r'no "ssl_certificate_key" is defined for the "listen \.\.\. ssl" directive',
                   at=" ssl;")
        self.check(tls_server("ssl_certificate PKI/a.crt;", "ssl_certificate_key PKI/a.key;",
                              "ssl_certificate PKI/b.crt;"),
                   r'no "ssl_certificate_key" is defined for certificate "\S+b\.crt" and the '
                   r'"listen \.\.\. ssl" directive', at=" ssl;")

    def test_proxy_ssl_verify_without_trusted_certificate(self):
        self.check("""
stream {
    server {
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:1;
        proxy_ssl on;
        proxy_ssl_verify on;
    }
}""", r'no proxy_ssl_trusted_certificate for proxy_ssl_verify',
                   at="server {" if IS_PORTICO else None)  # nginx names no place


def tls_server(*lines):
    """A stream{} with one `listen ... ssl` server holding `lines`."""
    body = "".join(f"        {ln}\n" for ln in lines)
    return ("stream {\n    server {\n        listen 127.0.0.1:{port} ssl;\n" + body +
            "        proxy_pass 127.0.0.1:1;\n    }\n}\n")


if __name__ == "__main__":
    unittest.main()
