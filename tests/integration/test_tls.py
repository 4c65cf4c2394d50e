"""HTTPS termination: listen ... ssl, SNI with RSA and ECDSA certificates and chains, protocol
limits, session resumption (tickets and cache), client certificates, plain HTTP on a TLS port,
large static files over TLS, proxying from a TLS listener, reload with a new certificate, and
configuration errors. Real clients: python ssl, openssl s_client, curl. Certificates are made
at test time (tls_certs.py)."""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import Server, eventually, exchange, nginx_differs, portico_only, request
import tls_certs

PKI = None


def setUpModule():
    global PKI
    PKI = tls_certs.make_pki(tempfile.mkdtemp(prefix="portico-pki-"))


def tearDownModule():
    if PKI:
        shutil.rmtree(PKI, ignore_errors=True)


def pki(name):
    return os.path.join(PKI, name)


def client_ctx(cafile="root.crt", minv=None, maxv=None, cert=None, alpn=None, verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(pki(cafile))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if cert:
        ctx.load_cert_chain(pki(cert + ".crt"), pki(cert + ".key"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TlsResult:
    def __init__(self, status, headers, body, version, cipher, reused, session, cert, alpn):
        self.status, self.headers, self.body = status, headers, body
        self.version, self.cipher, self.reused, self.session = version, cipher, reused, session
        self.cert, self.alpn = cert, alpn

    @property
    def text(self):
        return self.body.decode("latin-1")


def tls_get(port, path="/", sni="a.test", ctx=None, session=None, host=None, timeout=10):
    """One HTTPS/1.1 request (Connection: close) with python's ssl; returns a TlsResult."""
    ctx = ctx or client_ctx()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise
    with s:
        host = host or sni or "localhost"
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return TlsResult(status, headers, body, s.version(), s.cipher()[0], s.session_reused,
                         s.session, s.getpeercert(), s.selected_alpn_protocol())


def s_client(port, *args, data=b"", timeout=10):
    """openssl s_client; returns its combined output."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input=data, capture_output=True, timeout=timeout)
    return p.stdout.decode("latin-1") + p.stderr.decode("latin-1")


def subject_cn(cert):
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


VARS = ("scheme=$scheme https=$https proto=$ssl_protocol sni=$ssl_server_name "
        "reused=$ssl_session_reused server=$server_name verify=$ssl_client_verify "
        "s_dn=$ssl_client_s_dn i_dn=$ssl_client_i_dn serial=$ssl_client_serial\\n")

CONFIG = r"""
http {
    default_type text/plain;
    ssl_session_cache shared:SSL:1m;

    # SNI: a.test (RSA and ECDSA, each with its chain) is the default; b.test has its own.
    server {
        listen 127.0.0.1:{port} ssl;
        server_name a.test;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        ssl_certificate PKI/a-ec.crt;
        ssl_certificate_key PKI/a-ec.key;
        location / { return 200 "VARS"; }
        location /files/ { root {prefix}/html; sendfile on; }
        location /nosendfile/ { alias {prefix}/html/files/; sendfile off; }
        location /proxy/ {
            proxy_pass http://127.0.0.1:{port_plain}/;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Host $host;
        }
        # TLS to the upstream: b.test's server on this same port, verified by name.
        location /tls-upstream/ {
            proxy_pass https://127.0.0.1:{port}/;
            proxy_ssl_server_name on;
            proxy_ssl_name b.test;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate PKI/root.crt;
            proxy_set_header Host b.test;
        }
        location /tls-upstream-wrong-name/ {
            proxy_pass https://127.0.0.1:{port}/;
            proxy_ssl_server_name on;
            proxy_ssl_name c.test;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate PKI/root.crt;
        }
        location /tls-upstream-pooled/ {
            proxy_pass https://tlspool/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_server_name on;
            proxy_ssl_name b.test;
            proxy_set_header Host b.test;
        }
    }
    upstream tlspool {
        server 127.0.0.1:{port};
        keepalive 4;
    }
    server {
        listen 127.0.0.1:{port} ssl;
        server_name b.test;
        ssl_certificate PKI/b.crt;
        ssl_certificate_key PKI/b.key;
        location / { return 200 "VARS"; }
        location /conn { return 200 "conn=$connection reqs=$connection_requests reused=$ssl_session_reused sni=$ssl_server_name\n"; }
    }
    server {
        listen 127.0.0.1:{port_plain};
        location / { return 200 "upstream proto=$http_x_forwarded_proto host=$host uri=$uri\n"; }
    }

    # Only TLS 1.3.
    server {
        listen 127.0.0.1:{port_v13} ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        location / { return 200 "VARS"; }
    }

    # Client certificates: required, and optional.
    server {
        listen 127.0.0.1:{port_mtls} ssl;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        ssl_verify_client on;
        ssl_client_certificate PKI/client-ca.crt;
        location / { return 200 "VARS"; }
    }
    server {
        listen 127.0.0.1:{port_mtls_opt} ssl;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        ssl_verify_client optional;
        ssl_client_certificate PKI/client-ca.crt;
        location / { return 200 "VARS"; }
    }

    # Session cache only (no tickets).
    server {
        listen 127.0.0.1:{port_cache} ssl;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        ssl_session_tickets off;
        location / { return 200 "VARS"; }
    }

    # Unknown names are refused; a.test is served.
    server {
        listen 127.0.0.1:{port_reject} ssl default_server;
        ssl_reject_handshake on;
    }
    server {
        listen 127.0.0.1:{port_reject} ssl;
        server_name a.test;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        location / { return 200 "VARS"; }
    }

    # A plain request on the TLS port, caught by error_page 497.
    server {
        listen 127.0.0.1:{port_redirect} ssl;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/a.key;
        error_page 497 =301 https://$host:$server_port$request_uri;
        location / { return 200 "VARS"; }
    }
}
"""


def render(config):
    return config.replace("PKI/", PKI + "/").replace("VARS", VARS)


BIG = os.urandom(3 * 1024 * 1024 + 4321)


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(render(CONFIG), files={"html/files/big.bin": BIG},
                         error_log_level="info")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def port(self, name="port"):
        return self.srv.port(name)

    # ---- SNI and certificates ----

    def test_sni_picks_the_servers_certificate_and_host_still_routes(self):
        a = tls_get(self.port(), sni="a.test")
        self.assertEqual(subject_cn(a.cert), "a.test")
        self.assertIn("server=a.test", a.text)
        self.assertIn("sni=a.test", a.text)
        b = tls_get(self.port(), sni="b.test")
        self.assertEqual(subject_cn(b.cert), "b.test")
        self.assertIn("server=b.test", b.text)
        # SNI a.test, Host b.test: certificate of a.test, server chosen by Host.
        ab = tls_get(self.port(), sni="a.test", host="b.test")
        self.assertEqual(subject_cn(ab.cert), "a.test")
        self.assertIn("server=b.test", ab.text)

    def test_no_sni_gets_the_default_servers_certificate(self):
        r = tls_get(self.port(), sni=None, ctx=client_ctx(verify=False), host="x")
        self.assertEqual(r.status, 200)
        self.assertIn("sni= ", r.text)
        out = s_client(self.port(), "-noservername", data=b"")
        self.assertIn("CN = a.test", out)

    def test_chain_is_sent_and_verifies_against_the_root(self):
        out = s_client(self.port(), "-servername", "a.test", "-CAfile", pki("root.crt"),
                       "-showcerts", data=b"")
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("Test Intermediate CA", out)

    def test_rsa_and_ecdsa_certificates_side_by_side(self):
        ec = s_client(self.port(), "-servername", "a.test", "-tls1_2", "-sigalgs",
                      "ECDSA+SHA256", "-CAfile", pki("root.crt"), data=b"")
        self.assertIn("Server public key is 256 bit", ec)
        self.assertIn("Verify return code: 0 (ok)", ec)
        rsa = s_client(self.port(), "-servername", "a.test", "-tls1_2", "-sigalgs",
                       "RSA-PSS+SHA256:RSA+SHA256", "-CAfile", pki("root.crt"), data=b"")
        self.assertIn("Server public key is 2048 bit", rsa)

    def test_alpn_offers_http11_only(self):
        r = tls_get(self.port(), ctx=client_ctx(alpn=["h2", "http/1.1"]))
        self.assertEqual(r.alpn, "http/1.1")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            tls_get(self.port(), ctx=client_ctx(alpn=["h2"]))

    # ---- protocols ----

    @nginx_differs("nginx 1.22's default ssl_protocols is TLSv1 TLSv1.1 TLSv1.2; TLSv1.3 joined "
                   "the default in 1.23.4 and TLSv1/1.1 left it in 1.23.4 too")
    def test_default_protocols_are_tls12_and_tls13(self):
        r12 = tls_get(self.port(), ctx=client_ctx(maxv=ssl.TLSVersion.TLSv1_2))
        self.assertEqual(r12.version, "TLSv1.2")
        self.assertIn("proto=TLSv1.2", r12.text)
        r13 = tls_get(self.port())
        self.assertEqual(r13.version, "TLSv1.3")
        out = s_client(self.port(), "-servername", "a.test", "-tls1_1", "-cipher",
                       "DEFAULT@SECLEVEL=0", data=b"")
        self.assertIn("Cipher is (NONE)", out)
        self.assertIn("alert protocol version", out)

    def test_ssl_protocols_limits_what_the_server_accepts(self):
        r = tls_get(self.port("port_v13"))
        self.assertEqual(r.version, "TLSv1.3")
        with self.assertRaises(ssl.SSLError):
            tls_get(self.port("port_v13"), ctx=client_ctx(maxv=ssl.TLSVersion.TLSv1_2))

    # ---- sessions ----

    def resumes(self, port, maxv):
        ctx = client_ctx(maxv=maxv)
        first = tls_get(port, ctx=ctx)
        self.assertFalse(first.reused)
        self.assertIn("reused=.", first.text)
        self.assertIsNotNone(first.session)
        second = tls_get(port, ctx=ctx, session=first.session)
        self.assertTrue(second.reused)
        self.assertIn("reused=r", second.text)

    def test_session_resumption_with_tickets(self):
        self.resumes(self.port(), ssl.TLSVersion.TLSv1_3)
        self.resumes(self.port(), ssl.TLSVersion.TLSv1_2)

    def test_session_resumption_with_the_cache_only(self):
        self.resumes(self.port("port_cache"), ssl.TLSVersion.TLSv1_2)
        self.resumes(self.port("port_cache"), ssl.TLSVersion.TLSv1_3)

    @nginx_differs("nginx resolves SNI after the session lookup: a TLS 1.2 session of the "
                   "default server resumes under another server's name")
    def test_a_session_does_not_resume_on_another_servers_context(self):
        ctx = client_ctx(maxv=ssl.TLSVersion.TLSv1_2)
        first = tls_get(self.port(), ctx=ctx, sni="a.test")
        other = tls_get(self.port(), ctx=ctx, sni="b.test", session=first.session)
        self.assertFalse(other.reused)
        self.assertEqual(subject_cn(other.cert), "b.test")

    # ---- client certificates ----

    def test_required_client_certificate(self):
        p = self.port("port_mtls")
        r = tls_get(p)
        self.assertEqual(r.status, 400)
        self.assertIn("No required SSL certificate was sent", r.text)
        ok = tls_get(p, ctx=client_ctx(cert="client"))
        self.assertEqual(ok.status, 200)
        self.assertIn("verify=SUCCESS", ok.text)
        self.assertIn("s_dn=CN=client1", ok.text)
        self.assertIn("i_dn=CN=Test Client CA", ok.text)
        self.assertIn("serial=1234", ok.text)
        bad = tls_get(p, ctx=client_ctx(cert="other-client"))
        self.assertEqual(bad.status, 400)
        self.assertIn("The SSL certificate error", bad.text)

    def test_optional_client_certificate(self):
        p = self.port("port_mtls_opt")
        r = tls_get(p)
        self.assertEqual(r.status, 200)
        self.assertIn("verify=NONE", r.text)
        ok = tls_get(p, ctx=client_ctx(cert="client"))
        self.assertIn("verify=SUCCESS", ok.text)

    # ---- refusing and plain HTTP ----

    def test_reject_handshake_for_unknown_names(self):
        p = self.port("port_reject")
        with self.assertRaises(ssl.SSLError) as cm:
            tls_get(p, sni="unknown.test", ctx=client_ctx(verify=False))
        self.assertIn("UNRECOGNIZED_NAME", str(cm.exception).upper())
        with self.assertRaises(ssl.SSLError):
            tls_get(p, sni=None, ctx=client_ctx(verify=False))
        self.assertEqual(tls_get(p, sni="a.test").status, 200)

    def test_plain_http_on_the_tls_port_gets_400(self):
        with socket.create_connection(("127.0.0.1", self.port()), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data[:100])
        self.assertIn(b"The plain HTTP request was sent to HTTPS port", data)

    def test_error_page_497_redirects_to_https(self):
        p = self.port("port_redirect")
        with socket.create_connection(("127.0.0.1", p), timeout=5) as s:
            s.sendall(b"GET /x?y=1 HTTP/1.1\r\nHost: a.test\r\n\r\n")
            data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 301"), data[:100])
        self.assertIn(f"Location: https://a.test:{p}/x?y=1".encode(), data)

    def test_handshake_garbage_is_closed_and_logged(self):
        with socket.create_connection(("127.0.0.1", self.port()), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello")
            self.assertEqual(s.recv(100)[:1], b"\x15")  # an alert, then the close
        # the server still serves
        self.assertEqual(tls_get(self.port()).status, 200)

    # ---- bodies ----

    def curl(self, url, *extra):
        p = subprocess.run(["curl", "-sS", "--cacert", pki("root.crt"), "--resolve",
                            f"a.test:{self.port()}:127.0.0.1", *extra, url],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_large_static_file_over_tls_is_intact(self):
        want = hashlib.sha256(BIG).hexdigest()
        for path in ("/files/big.bin", "/nosendfile/big.bin"):
            body = self.curl(f"https://a.test:{self.port()}{path}")
            self.assertEqual(len(body), len(BIG), path)
            self.assertEqual(hashlib.sha256(body).hexdigest(), want, path)
        part = self.curl(f"https://a.test:{self.port()}/files/big.bin", "-r", "1000-200999")
        self.assertEqual(part, BIG[1000:201000])

    def test_keepalive_requests_on_one_tls_connection(self):
        out = self.curl(f"https://a.test:{self.port()}/one", "-o", "/dev/null", "-o",
                        "/dev/null", f"https://a.test:{self.port()}/two", "-w",
                        "%{num_connects}\n")
        self.assertEqual(out.decode().split(), ["1", "0"])

    def test_proxy_from_a_tls_listener(self):
        body = self.curl(f"https://a.test:{self.port()}/proxy/path")
        self.assertEqual(body, b"upstream proto=https host=a.test uri=/path\n")
        # a request body travels through the TLS read path
        data = os.urandom(300000)
        p = subprocess.run(["curl", "-sS", "--cacert", pki("root.crt"), "--resolve",
                            f"a.test:{self.port()}:127.0.0.1", "--data-binary", "@-",
                            f"https://a.test:{self.port()}/proxy/post"],
                           input=data, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"uri=/post", p.stdout)


    def test_proxy_to_a_tls_upstream_verified_by_name(self):
        for i in range(3):
            body = self.curl(f"https://a.test:{self.port()}/tls-upstream/").decode()
            self.assertIn("server=b.test", body)
            self.assertIn("sni=b.test", body)
            self.assertIn("scheme=https", body)
            if i > 0:  # proxy_ssl_session_reuse (on by default)
                self.assertIn("reused=r", body)
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            pki("root.crt"), "--resolve", f"a.test:{self.port()}:127.0.0.1",
                            f"https://a.test:{self.port()}/tls-upstream-wrong-name/"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.stdout, b"502")

    def test_pooled_tls_upstream_connections_are_reused(self):
        seen = set()
        for _ in range(4):
            body = self.curl(f"https://a.test:{self.port()}/tls-upstream-pooled/conn").decode()
            m = re.search(r"conn=(\d+) reqs=(\d+)", body)
            self.assertIsNotNone(m, body)
            seen.add(m.group(1))
            last_reqs = int(m.group(2))
        self.assertEqual(len(seen), 1, "one pooled upstream connection carried every request")
        self.assertEqual(last_reqs, 4)


class TlsReloadTest(unittest.TestCase):
    def test_reload_with_a_new_certificate(self):
        d = tempfile.mkdtemp(prefix="portico-pki2-")
        try:
            shutil.copy(pki("root.crt"), d)
            shutil.copy(pki("root.key"), d)
            tls_certs.make_leaf(d, "site", "a.test", "root", serial=1111)
            conf = render(CONFIG_RELOAD).replace("DIR", d)
            srv = Server(conf)
            try:
                first = tls_get(srv.port())
                self.assertEqual(first.cert["serialNumber"], "0457")
                tls_certs.make_leaf(d, "site", "a.test", "root", serial=2222)
                srv.reload()
                eventually(lambda: tls_get(srv.port()).cert["serialNumber"] == "08AE",
                           message="the new certificate is served")
            finally:
                srv.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)


CONFIG_RELOAD = r"""
http {
    server {
        listen 127.0.0.1:{port} ssl;
        server_name a.test;
        ssl_certificate DIR/site.crt;
        ssl_certificate_key DIR/site.key;
        location / { return 200 "ok\n"; }
    }
}
"""


CONFIG_ON_DISK = r"""
http {
    server {
        listen 127.0.0.1:{port} ssl;
        server_name a.test;
        ssl_certificate DIR/site.crt;
        ssl_certificate_key DIR/site.key;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:{port_v13} ssl;
        server_name v13.test;
        ssl_protocols TLSv1.3;
        ssl_certificate DIR/site.crt;
        ssl_certificate_key DIR/site.key;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:{port_status};
        location = /status { portico_status; }
        location = /metrics { portico_metrics; }
    }
}
stream {
    server {
        listen 127.0.0.1:{port_stream} ssl;
        ssl_certificate DIR/site.crt;
        ssl_certificate_key DIR/site.key;
        return "stream\n";
    }
}
"""


@portico_only
class TlsCertificateOnDiskTest(unittest.TestCase):
    """Beyond nginx: a certificate renewed on disk is served without a reload; a broken one is
    refused and the running one kept; handshakes, failures and expiry are on the status pages."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="portico-pki3-")
        shutil.copy(pki("root.crt"), self.dir)
        shutil.copy(pki("root.key"), self.dir)
        tls_certs.make_leaf(self.dir, "site", "a.test", "root", serial=1111)
        self.srv = Server(CONFIG_ON_DISK.replace("DIR", self.dir), error_log_level="info")

    def tearDown(self):
        self.srv.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def serial(self, port="port"):
        return tls_get(self.srv.port(port)).cert["serialNumber"]

    def stream_serial(self):
        with socket.create_connection(("127.0.0.1", self.srv.port("port_stream"))) as raw:
            with client_ctx().wrap_socket(raw, server_hostname="a.test") as s:
                return s.getpeercert()["serialNumber"]

    def status(self):
        body = request(self.srv.port("port_status"), "/status").body
        return json.loads(body)["tls"]

    def test_a_renewed_certificate_is_served_without_a_reload(self):
        self.assertEqual(self.serial(), "0457")
        # A keep-alive connection opened before the renewal stays usable.
        ctx = client_ctx()
        old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.srv.port())),
                              server_hostname="a.test")
        try:
            tls_certs.make_leaf(self.dir, "site", "a.test", "root", serial=2222)
            eventually(lambda: self.serial() == "08AE", timeout=15,
                       message="the renewed certificate is served")
            self.srv.wait_error_log(
                r"site\.(crt|key).* changed on disk: new handshakes use the new files")
            self.assertEqual(self.serial("port_v13"), "08AE", "every server using the files")
            eventually(lambda: self.stream_serial() == "08AE",
                       message="the stream server's renewed certificate")
            old.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := old.recv(4096):
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        finally:
            old.close()
        self.assertNotIn("reconfigur", self.srv.error_log())
        certs = self.status()["certificates"]
        self.assertEqual({c["reloaded_from_disk"] for c in certs}, {1})

    def test_a_key_that_does_not_match_keeps_the_running_certificate(self):
        self.assertEqual(self.serial(), "0457")
        # A new key without its certificate: the pair does not load.
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", os.path.join(self.dir, "site.key")],
                       check=True, capture_output=True)
        self.srv.wait_error_log(r"site\.key\" changed on disk and did not load: new handshakes "
                                r"keep the files loaded before", timeout=15)
        self.assertRegex(self.srv.error_log(), r"SSL_CTX_use_PrivateKey.*failed.* in .*:\d+")
        self.assertEqual(self.serial(), "0457", "the running certificate is still served")
        # Its certificate follows: the pair loads.
        d = self.dir
        subprocess.run(["openssl", "req", "-new", "-key", "site.key", "-subj", "/CN=a.test",
                        "-out", "site.csr"], cwd=d, check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", "site.csr", "-CA", "root.crt", "-CAkey",
                        "root.key", "-days", "2", "-extfile", "site.ext", "-set_serial", "3333",
                        "-out", "site.crt"], cwd=d, check=True, capture_output=True)
        eventually(lambda: self.serial() == "0D05", timeout=15,
                   message="the completed pair is served")

    def test_handshakes_failures_and_expiry_on_the_status_pages(self):
        ctx = client_ctx()
        first = tls_get(self.srv.port(), ctx=ctx)
        self.assertFalse(first.reused)
        again = tls_get(self.srv.port(), ctx=ctx, session=first.session)
        self.assertTrue(again.reused)
        # No version in common: the server only speaks TLS 1.3.
        with self.assertRaises(ssl.SSLError):
            tls_get(self.srv.port("port_v13"), ctx=client_ctx(maxv=ssl.TLSVersion.TLSv1_2))
        # Plain HTTP on the TLS port.
        responses, _ = exchange(self.srv.port(), b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual([r.status for r in responses], [400])
        # Half a ClientHello, then gone.
        with socket.create_connection(("127.0.0.1", self.srv.port())) as sk:
            sk.sendall(b"\x16\x03\x01\x02\x00\x01")

        def counted():
            t = self.status()
            f = t["failures"]
            return t if (f["protocol"] >= 1 and f["plain_http"] >= 1 and f["incomplete"] >= 1
                         and t["handshakes"]["resumed"] >= 1) else None
        t = eventually(counted, message="the handshakes and failures counted")
        self.assertGreaterEqual(t["handshakes"]["full"], 1)
        self.assertEqual(t["handshakes"]["tls1.3"],
                         t["handshakes"]["full"] + t["handshakes"]["resumed"])
        self.assertGreater(t["resumption_rate"], 0)
        self.assertEqual(t["failures"]["rejected"], 0)
        certs = {c["server"]: c for c in t["certificates"]}
        self.assertEqual(len(certs), 3, certs)
        self.assertTrue({"a.test", "v13.test"} < set(certs), certs)
        listen = self.srv.line_of(f"127.0.0.1:{self.srv.port('port_stream')} ssl")
        self.assertEqual([n for n in certs if n.startswith("stream ")],
                         [f"stream {self.srv.conf_path}:{listen - 1}"])
        c = certs["a.test"]
        self.assertEqual((c["subject"], c["key"]), ("a.test", "RSA 2048"))
        self.assertTrue(c["file"].endswith("/site.crt"))
        self.assertIn(c["days_left"], (1, 2))  # made with -days 2
        m = request(self.srv.port("port_status"), "/metrics").text
        self.assertRegex(m, r'portico_tls_handshakes_total\{resumed="true"\} [1-9]')
        self.assertRegex(m, r'portico_tls_handshake_failures_total\{reason="protocol"\} [1-9]')
        self.assertRegex(m, r'portico_tls_certificate_not_after_seconds\{server="a.test",'
                            r'file="[^"]+/site.crt",subject="a.test"\} %d\b' % c["not_after"])
        self.assertLess(abs(c["not_after"] - time.time() - 2 * 86400), 3600)


class TlsConfigErrorTest(unittest.TestCase):
    def check(self, config, *needles):
        srv = Server(render(config), start=False)
        try:
            r = srv.run_cli("-t")
            self.assertNotEqual(r.returncode, 0, r.stderr)
            for n in needles:
                self.assertRegex(r.stderr, n)
        finally:
            srv.stop()

    def test_listen_ssl_without_certificate(self):
        self.check("""
http {
    server {
        listen 127.0.0.1:{port} ssl;
    }
}""", r'no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive in '
      r'\S+portico\.conf:\d+')

    def test_missing_key_file_and_certificate_file(self):
        self.check("""
http {
    server {
        listen 127.0.0.1:{port} ssl;
        ssl_certificate PKI/nope.crt;
        ssl_certificate_key PKI/a.key;
    }
}""", r'cannot load certificate "\S+nope\.crt"')
        self.check("""
http {
    server {
        listen 127.0.0.1:{port} ssl;
        ssl_certificate PKI/a.crt;
        ssl_certificate_key PKI/nope.key;
    }
}""", r'cannot load certificate key "\S+nope\.key"')

    def test_bad_values(self):
        self.check("""
http {
    ssl_protocols TLSv1.2 TLSv9;
    server { listen 127.0.0.1:{port}; }
}""", r'invalid value "TLSv9" in \S+portico\.conf:\d+')
        self.check("""
http {
    ssl_session_cache shared:x;
    server { listen 127.0.0.1:{port}; }
}""", r'invalid session cache "shared:x" in \S+portico\.conf:\d+')


if __name__ == "__main__":
    unittest.main()
