"""Real HTTPS clients against portico on the configuration a Debian user writes: Debian 12's
stock nginx.conf and default site (fixtures/debian12-nginx/, verbatim) with a Mozilla
"intermediate" server block (ssl-config.mozilla.org, nginx 1.22, OpenSSL 3) in sites-enabled.
Clients: gnutls-cli, openssl s_client, curl (HTTP/1.1 and --http2), testssl.sh (protocols and
cipher categories) and headless Chromium loading a page with CSS, JS and images over HTTP/2.
scripts/deps.sh test installs every client; a missing one fails its test."""

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

from harness import Server, _ipv6_loopback_available, eventually, portico_only
import tls_certs

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "debian12-nginx")

# ssl-config.mozilla.org, "intermediate", nginx 1.22.1, OpenSSL 3.0 (guideline 5.7), with the
# paths and ports of this test.
MOZILLA_INTERMEDIATE = """
server {
    listen 127.0.0.1:{port_http};
    server_name a.test;
    location / {
        return 301 https://$host:{port}$request_uri;
    }
}

server {
    listen 127.0.0.1:{port} ssl http2;
    server_name a.test;
    root {prefix}/www/site;

    ssl_certificate PKI/a-ec.crt;
    ssl_certificate_key PKI/a-ec.key;
    ssl_certificate PKI/a.crt;
    ssl_certificate_key PKI/a.key;
    ssl_session_timeout 1d;
    ssl_session_cache shared:MozSSL:10m;  # about 40000 sessions
    ssl_session_tickets off;

    # curl https://ssl-config.mozilla.org/ffdhe2048.txt > /path/to/dhparam
    ssl_dhparam PKI/dhparam;

    # intermediate configuration
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;

    # HSTS (ngx_http_headers_module is required) (63072000 seconds)
    add_header Strict-Transport-Security "max-age=63072000" always;

    # OCSP stapling
    ssl_stapling on;
    ssl_stapling_verify on;

    # verify chain of trust of OCSP response using Root CA and Intermediate certs
    ssl_trusted_certificate PKI/root-inter.crt;

    # replace with the IP address of your resolver
    resolver 127.0.0.1;

    location / {
        try_files $uri $uri/ =404;
    }
}
"""


def png(width, height, rgb):
    """A valid PNG of one colour (the page's images)."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PAGE = """<!doctype html>
<html><head><title>portico</title>
<link rel="stylesheet" href="/css/style.css">
<script src="/js/app.js"></script>
</head><body>
<h1 id="title">served by portico</h1>
<img id="i1" src="/img/one.png"><img id="i2" src="/img/two.png"><img id="i3" src="/img/big.png">
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.map.call(document.images, function (i) { return i.naturalWidth; });
  var out = {css: getComputedStyle(document.getElementById("title")).color,
             js: window.appLoaded === true, imgs: imgs,
             proto: performance.getEntriesByType("navigation")[0].nextHopProtocol};
  document.getElementById("result").textContent = JSON.stringify(out);
});
</script>
<pre id="result">pending</pre>
</body></html>
"""


def which(*names):
    """The first of names on PATH; a client that is missing fails the test (scripts/deps.sh
    test installs every one)."""
    for n in names:
        if shutil.which(n):
            return shutil.which(n)
    raise AssertionError(f"{names[0]} is not installed: scripts/deps.sh test installs it")


@portico_only
class DebianStockConfigHttpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tls_certs.make_pki(tempfile.mkdtemp(prefix="portico-pki-clients-"))
        with open(os.path.join(cls.pki, "root-inter.crt"), "wb") as out:
            for name in ("root.crt", "inter.crt"):
                with open(os.path.join(cls.pki, name), "rb") as f:
                    out.write(f.read())
        subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                        "group:ffdhe2048", "-out", os.path.join(cls.pki, "dhparam")],
                       check=True, capture_output=True)
        srv = Server("", start=False)
        cls.srv = srv
        try:
            cls.install_config(srv)
            srv.write_file("www/html/index.nginx-debian.html", "<h1>Welcome to nginx!</h1>\n")
            srv.write_file("www/site/index.html", PAGE)
            srv.write_file("www/site/css/style.css", "h1 { color: rgb(1, 2, 3); }\n")
            srv.write_file("www/site/js/app.js", "window.appLoaded = true;\n")
            srv.write_file("www/site/img/one.png", png(7, 5, (200, 0, 0)))
            srv.write_file("www/site/img/two.png", png(11, 3, (0, 200, 0)))
            srv.write_file("www/site/img/big.png", png(640, 480, (0, 0, 200)))
            srv.start()
        except BaseException:
            srv.stop()
            shutil.rmtree(cls.pki, ignore_errors=True)
            raise

    @classmethod
    def install_config(cls, srv):
        """Debian's files with their absolute paths moved into the test's prefix."""
        def moved(text):
            text = text.replace("/etc/nginx/", srv.path("conf") + "/")
            text = text.replace("/var/log/nginx/", srv.path("logs") + "/")
            text = text.replace("/run/nginx.pid", srv.pid_path)
            text = text.replace("/var/www/html", srv.path("www/html"))
            return text
        with open(os.path.join(FIXTURE, "nginx.conf")) as f:
            main = moved(f.read())
        main = main.replace("worker_processes auto;", "worker_processes 1;")
        with open(os.path.join(FIXTURE, "sites-enabled", "default")) as f:
            default = moved(f.read())
        default = default.replace("listen 80 default_server;",
                                  f"listen 127.0.0.1:{srv.port('port_http')} default_server;")
        v6 = (f"listen [::1]:{srv.port('port_http')} default_server;"
              if _ipv6_loopback_available() else "")
        default = default.replace("listen [::]:80 default_server;", v6)
        site = srv.substitute(MOZILLA_INTERMEDIATE).replace("PKI/", cls.pki + "/")
        srv.write_raw_config(main)  # conf/portico.conf: what the server starts with
        srv.write_file("conf/nginx.conf", main)
        srv.write_file("conf/sites-enabled/default", default)
        srv.write_file("conf/sites-enabled/example", site)
        with open(os.path.join(FIXTURE, "modules-enabled", "50-mod-stream.conf")) as f:
            srv.write_file("conf/modules-enabled/50-mod-stream.conf", f.read())
        os.makedirs(srv.path("conf/conf.d"), exist_ok=True)
        # The harness waits for the listen addresses of config_text: the sites' (not the
        # commented-out mail block's).
        srv.config_text = "\n".join(
            [ln for ln in main.splitlines() if not ln.lstrip().startswith("#")]
            + [f"# sites-enabled: listen 127.0.0.1:{srv.port(p)};" for p in ("port", "port_http")])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.pki, ignore_errors=True)

    def ca(self):
        return os.path.join(self.pki, "root.crt")

    def curl(self, *args, url=None):
        url = url or f"https://a.test:{self.srv.port()}/"
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", self.ca(),
                            "--resolve", f"a.test:{self.srv.port()}:127.0.0.1", *args, url],
                           capture_output=True, timeout=30)
        return p

    def test_t_accepts_the_stock_config_with_the_mozilla_block(self):
        r = self.srv.run_cli("-t")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("test is successful", r.stderr)

    def test_default_site_and_the_redirect_to_https(self):
        p = self.curl("-i", url=f"http://127.0.0.1:{self.srv.port('port_http')}/")
        self.assertIn(b"Welcome to nginx!", p.stdout)
        p = self.curl("-i", "-H", "Host: a.test",
                      url=f"http://127.0.0.1:{self.srv.port('port_http')}/x?y=1")
        self.assertRegex(p.stdout.decode(), r"(?i)^HTTP/1.1 301 .*\r\n(.*\r\n)*location: "
                         rf"https://a.test:{self.srv.port()}/x\?y=1\r\n")

    def test_curl_http2_and_http11_with_hsts(self):
        for flag, proto in (("--http2", "HTTP/2 200"), ("--http1.1", "HTTP/1.1 200")):
            p = self.curl("-i", flag)
            out = p.stdout.decode("latin-1")
            self.assertTrue(out.startswith(proto), (flag, out[:200], p.stderr))
            self.assertRegex(out, r"(?i)strict-transport-security: max-age=63072000")
            self.assertIn("served by portico", out)

    def test_openssl_s_client_both_protocols_and_chain(self):
        for flag, want in (("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")):
            p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.srv.port()}",
                                "-servername", "a.test", "-CAfile", self.ca(), flag,
                                "-verify_return_error", "-brief"],
                               input=b"", capture_output=True, timeout=20)
            out = p.stdout.decode() + p.stderr.decode()
            self.assertIn(f"Protocol version: {want}", out)
            self.assertIn("Verification: OK", out)
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.srv.port()}",
                            "-servername", "a.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                           input=b"", capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0, "TLS 1.1 is refused")

    def test_gnutls_cli(self):
        which("gnutls-cli")
        req = b"GET /css/style.css HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        for prio, want in (("NORMAL:-VERS-ALL:+VERS-TLS1.3", "TLS1.3"),
                           ("NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLS1.2")):
            p = subprocess.run(["gnutls-cli", "--x509cafile", self.ca(), "--sni-hostname",
                                "a.test", "--verify-hostname", "a.test", "--priority", prio,
                                "-p", str(self.srv.port()), "127.0.0.1"],
                               input=req, capture_output=True, timeout=20)
            out = p.stdout.decode("latin-1") + p.stderr.decode("latin-1")
            self.assertIn(f"({want}-X.509)", out)
            self.assertIn("HTTP/1.1 200 OK", out)
            self.assertIn("color: rgb(1, 2, 3)", out)
        p = subprocess.run(["gnutls-cli", "--insecure", "--priority",
                            "NORMAL:-VERS-ALL:+VERS-TLS1.1", "-p", str(self.srv.port()),
                            "127.0.0.1"], input=b"", capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0, "TLS 1.1 is refused")

    def test_testssl_reports_tls12_and_tls13_only_and_no_weak_cipher(self):
        testssl = which("testssl", "testssl.sh")
        out = os.path.join(self.srv.path("tmp"), "testssl.json")
        subprocess.run([testssl, "--quiet", "--color", "0", "--warnings", "off",
                        "--nodns", "none", "--sneaky", "--protocols", "--std",
                        "--jsonfile", out, f"127.0.0.1:{self.srv.port()}"],
                       capture_output=True, timeout=300)
        with open(out) as f:
            found = {e["id"]: e for e in json.load(f)}
        for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertIn("not offered", found[proto]["finding"], found[proto])
        for proto in ("TLS1_2", "TLS1_3"):
            self.assertRegex(found[proto]["finding"], r"^offered", found[proto])
        weak = [i for i in found if i.startswith("cipherlist_") and i != "cipherlist_STRONG"]
        self.assertTrue(weak, sorted(found))
        for i in weak:
            self.assertIn("not offered", found[i]["finding"], found[i])
        self.assertRegex(found["cipherlist_STRONG"]["finding"], r"^offered")

    def test_chromium_loads_a_page_with_css_js_and_images_over_http2(self):
        chromium = which("chromium", "chromium-browser")
        before = len(self.srv.access_log())
        profile = tempfile.mkdtemp(prefix="portico-chromium-")
        try:
            p = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                                "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
                                f"--user-data-dir={profile}", "--ignore-certificate-errors",
                                f"--host-resolver-rules=MAP a.test 127.0.0.1",
                                "--virtual-time-budget=10000", "--dump-dom",
                                f"https://a.test:{self.srv.port()}/"],
                               capture_output=True, timeout=120)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        dom = p.stdout.decode("utf-8", "replace")
        m = re.search(r'<pre id="result">(\{.*?\})</pre>', dom)
        self.assertIsNotNone(m, dom[-2000:] + p.stderr.decode("utf-8", "replace")[-2000:])
        got = json.loads(m.group(1).replace("&quot;", '"'))
        self.assertEqual(got, {"css": "rgb(1, 2, 3)", "js": True, "imgs": [7, 11, 640],
                               "proto": "h2"})
        # Every resource came over HTTP/2 (the access log is Debian's, in combined format).
        want = {"/", "/css/style.css", "/js/app.js", "/img/one.png", "/img/two.png",
                "/img/big.png"}

        def logged():
            lines = self.srv.access_log()[before:]
            seen = {}
            for ln in lines:
                m = re.search(r'"GET (\S+) (HTTP/[0-9.]+)" (\d+)', ln)
                if m:
                    seen[m.group(1)] = (m.group(2), m.group(3))
            return seen if want <= set(seen) else None
        seen = eventually(logged, message="the page's requests in the access log")
        for path in want:
            self.assertEqual(seen[path], ("HTTP/2.0", "200"), path)


if __name__ == "__main__":
    unittest.main()
