"""Response compression (ngx_http_gzip_module, gzip_static, gunzip; brotli and zstd with
ngx_brotli's and zstd-nginx-module's directive names): decoded bodies equal the files byte for
byte, small and multi-MB, static and proxied (Content-Length and chunked upstreams); the head
as nginx writes it (Content-Encoding, Vary, weak ETag, no Content-Length, no Accept-Ranges);
what is never compressed (q=0, HEAD bodies, Range, small, other types, already encoded,
HTTP/1.0 by default, Via with gzip_proxied off, gzip_disable); precompressed files; gunzip for
clients without gzip; the coding chosen by the client's weights with br > zstd > gzip at equal
weight; $gzip_ratio; configuration errors.

The gzip/gunzip expectations are validated against nginx 1.22 (PORTICO_TEST_TARGET=nginx);
Debian's nginx-light has no brotli/zstd modules, so those tests are portico's."""

import gzip
import hashlib
import os
import random
import shutil
import socket
import subprocess
import time
import unittest
import zlib

from harness import IS_NGINX, ConnectionClosed, RawConn, Server, build_request, portico_only, request, \
    requires_proxy
from upstreams import Upstream, gen_bytes

CONFIG = r"""
http {
    default_type text/plain;
    types { text/html html; text/plain txt; application/javascript js; image/png png; }
    log_format ratio "$uri $gzip_ratio";
    access_log logs/ratio.log ratio;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;
        gzip on;
        gzip_types text/plain application/javascript;
        gzip_vary on;
        gzip_comp_level 6;
        gzip_buffers 16 8k;
        location /off/ { gzip off; }
        location /h10/ { gzip_http_version 1.0; }
        location /min/ { gzip_min_length 1000; }
        location /any/ { gzip_proxied any; }
        location /msie/ { gzip_disable msie6 "Bot[0-9]"; }
        location /static/ { gzip_static on; }
        location /always/ { gzip_static always; gunzip on; }
        location /p/ { proxy_pass http://127.0.0.1:{port_back}/; }
        location /pc/ { proxy_pass http://127.0.0.1:@CHUNKED@/; }
        location /enc/ { proxy_pass http://127.0.0.1:@ENCODED@/; }
        location /ps/ { proxy_pass http://127.0.0.1:@SLOW@/; proxy_buffering off; }
        location /bad/ { gunzip on; proxy_pass http://127.0.0.1:@BAD@/; }
        location /gunzip/ {
            gunzip on;
            proxy_pass http://127.0.0.1:{port_back}/gz/;
            proxy_set_header Accept-Encoding gzip;
        }
    }
    server {
        listen 127.0.0.1:{port_back};
        server_name back;
        root html;
        location /gz/ { gzip_static always; }
    }
}
"""

BRZ_CONFIG = r"""
http {
    default_type text/plain;
    types { text/html html; text/plain txt; application/javascript js; image/png png; }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;
        gzip on;
        brotli on;
        zstd on;
        gzip_types text/plain;
        brotli_types text/plain;
        zstd_types text/plain;
        brotli_comp_level 5;
        zstd_comp_level 3;
        gzip_vary on;
        location /nobr/ { brotli off; }
        location /bs/ { brotli_static on; zstd_static on; gzip_static on; }
        location /p/ { proxy_pass http://127.0.0.1:{port_back}/; }
    }
    server {
        listen 127.0.0.1:{port_back};
        root html;
    }
}
"""


def text_bytes(size, seed=1):
    """Compressible text: words from a small vocabulary, reproducible."""
    rnd = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"portico", b"nginx", b"compress", b"\n"]
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) + b" "
    return bytes(out[:size])


SMALL = text_bytes(3000)
BIG = text_bytes(3 * 1024 * 1024 + 123, seed=2)
PRE = text_bytes(5000, seed=3)


def files():
    f = {
        "html/small.txt": SMALL,
        "html/big.txt": BIG,
        "html/tiny.txt": b"tiny\n",
        "html/img.png": SMALL,
        "html/app.js": SMALL,
        "html/index.html": SMALL,
        "html/empty.txt": b"",
        "html/off/small.txt": SMALL,
        "html/h10/small.txt": SMALL,
        "html/min/500.txt": SMALL[:500],
        "html/min/2000.txt": SMALL[:2000],
        "html/any/small.txt": SMALL,
        "html/msie/small.txt": SMALL,
        "html/static/pre.txt": PRE,
        "html/static/pre.txt.gz": gzip.compress(b"from the .gz file"),
        "html/static/plain.txt": PRE,
        "html/always/only.txt.gz": gzip.compress(PRE),
        "html/always/two.txt.gz": gzip.compress(PRE) + gzip.compress(SMALL),
        "html/gz/up.txt.gz": gzip.compress(BIG),
        "html/gz/plain.txt": b"not compressed",
    }
    return f


def dechunk(data):
    """The data of the complete chunks in `data` (a chunked body that may be cut short)."""
    out = b""
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return out
        size = int(line.split(b";")[0], 16)
        if size == 0 or len(rest) < size + 2:
            return out
        out += rest[:size]
        data = rest[size + 2:]


def gunzip_body(resp):
    return gzip.decompress(resp.body)


def ae(value):
    return {"Accept-Encoding": value}


class GzipTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.chunked = Upstream("slow", "--chunked", "--chunks", "40", "--chunk-size", "5000",
                               name="chunked")
        cls.encoded = Upstream("fixed", "--header", "Content-Type: text/plain", "--header",
                               "Content-Encoding: br", "--body", "x" * 500, name="enc")
        cls.slow = Upstream("slow", "--chunked", "--chunks", "2", "--chunk-size", "3000",
                            "--chunk-delay", "6", name="slow")
        # A gzip header, then bytes that are no deflate stream.
        cls.bad = Upstream("fixed", "--header", "Content-Type: text/plain", "--header",
                           "Content-Encoding: gzip", "--body",
                           "\\x1f\\x8b\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x03" + "\\xff" * 64,
                           name="bad")
        try:
            cfg = CONFIG.replace("@CHUNKED@", str(cls.chunked.port)).replace(
                "@ENCODED@", str(cls.encoded.port)).replace("@SLOW@", str(cls.slow.port)).replace(
                "@BAD@", str(cls.bad.port))
            cls.srv = Server(cfg, files=files())
        except BaseException:
            for u in (cls.chunked, cls.encoded, cls.slow, cls.bad):
                u.stop()
            raise
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        for u in (cls.chunked, cls.encoded, cls.slow, cls.bad):
            u.stop()

    def get(self, path, headers=None, method="GET", version="HTTP/1.1"):
        return request(self.port, path, method=method, headers=headers, version=version)

    def assert_gzipped(self, r, expected):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Encoding"), "gzip", r)
        self.assertIsNone(r.header("Content-Length"), r)
        self.assertEqual(gunzip_body(r), expected)

    def assert_plain(self, r, expected):
        self.assertIsNone(r.header("Content-Encoding"), r)
        self.assertEqual(r.body, expected)

    # ---- static files

    def test_small_file(self):
        r = self.get("/small.txt", ae("gzip, deflate"))
        self.assert_gzipped(r, SMALL)
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        self.assertIsNone(r.header("Accept-Ranges"))
        self.assertTrue(r.header("ETag").startswith('W/"'), r)
        self.assertLess(len(r.body), len(SMALL) // 2)

    def test_multi_megabyte_file(self):
        r = self.get("/big.txt", ae("gzip"))
        self.assert_gzipped(r, BIG)

    def test_text_html_always(self):
        self.assert_gzipped(self.get("/", ae("gzip")), SMALL)

    def test_listed_type(self):
        self.assert_gzipped(self.get("/app.js", ae("gzip")), SMALL)

    def test_no_accept_encoding(self):
        r = self.get("/small.txt")
        self.assert_plain(r, SMALL)
        self.assertEqual(r.header("Content-Length"), str(len(SMALL)))
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        self.assertTrue(r.header("ETag").startswith('"'), r)

    def test_q_zero_refuses(self):
        for value in ("gzip;q=0", "gzip; q=0.000", "br, gzip;q=0", "identity", "*"):
            with self.subTest(value=value):
                self.assert_plain(self.get("/small.txt", ae(value)), SMALL)

    def test_q_nonzero_accepts(self):
        for value in ("gzip;q=0.5", "GZIP", "deflate, gzip;q=1.0", "br;q=1, gzip;q=0.001"):
            with self.subTest(value=value):
                self.assert_gzipped(self.get("/small.txt", ae(value)), SMALL)

    def test_head(self):
        r = self.get("/small.txt", ae("gzip"), method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertIsNone(r.header("Content-Length"))
        r = self.get("/small.txt", method="HEAD")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.header("Content-Length"), str(len(SMALL)))

    def test_head_then_keepalive(self):
        # No body follows a HEAD: the next request on the connection is answered whole.
        with RawConn(self.port) as c:
            c.send(build_request("HEAD", "/small.txt", headers=ae("gzip"), close=False))
            r1 = c.read_response("HEAD")
            c.send(build_request("GET", "/small.txt", headers=ae("gzip")))
            r2 = c.read_response()
        self.assertEqual(r1.header("Content-Encoding"), "gzip")
        self.assert_gzipped(r2, SMALL)

    def test_range_not_compressed(self):
        r = self.get("/small.txt", {"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
        if IS_NGINX:
            # nginx's range filter runs after gzip's: the whole body, compressed.
            self.assert_gzipped(r, SMALL)
            return
        self.assertEqual(r.status, 206, r)
        self.assert_plain(r, SMALL[:100])

    def test_not_listed_type(self):
        self.assert_plain(self.get("/img.png", ae("gzip")), SMALL)

    def test_below_min_length(self):
        self.assert_plain(self.get("/tiny.txt", ae("gzip")), b"tiny\n")
        self.assert_plain(self.get("/empty.txt", ae("gzip")), b"")
        self.assert_plain(self.get("/min/500.txt", ae("gzip")), SMALL[:500])
        self.assert_gzipped(self.get("/min/2000.txt", ae("gzip")), SMALL[:2000])

    def test_off(self):
        r = self.get("/off/small.txt", ae("gzip"))
        self.assert_plain(r, SMALL)
        self.assertIsNone(r.header("Vary"))

    def test_http10(self):
        self.assert_plain(self.get("/small.txt", ae("gzip"), version="HTTP/1.0"), SMALL)
        r = self.get("/h10/small.txt", ae("gzip"), version="HTTP/1.0")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertIsNone(r.header("Transfer-Encoding"))
        self.assertEqual(gunzip_body(r), SMALL)  # ended by the close

    def test_keepalive_many(self):
        # Pooled filters are reused: many responses on one connection, alternating files.
        with RawConn(self.port) as c:
            for i in range(6):
                path, want = ("/big.txt", BIG) if i % 3 == 0 else ("/small.txt", SMALL)
                c.send(build_request("GET", path, headers=ae("gzip"), close=False))
                self.assert_gzipped(c.read_response(), want)

    def test_via_proxied(self):
        hdrs = {"Accept-Encoding": "gzip", "Via": "1.1 cache"}
        self.assert_plain(self.get("/small.txt", hdrs), SMALL)
        self.assert_gzipped(self.get("/any/small.txt", hdrs), SMALL)

    def test_gzip_disable(self):
        for ua, compressed in (("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)", False),
                               ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", True),
                               ("SomeBot7/1.0", False), ("Mozilla/5.0", True)):
            with self.subTest(ua=ua):
                r = self.get("/msie/small.txt", {"Accept-Encoding": "gzip", "User-Agent": ua})
                if compressed:
                    self.assert_gzipped(r, SMALL)
                else:
                    self.assert_plain(r, SMALL)

    def test_gzip_ratio_logged(self):
        self.get("/big.txt", ae("gzip"))
        self.get("/off/small.txt", ae("gzip"))

        def logged():
            lines = self.srv._read("logs/ratio.log").splitlines()
            got = {}
            for ln in lines:
                uri, _, ratio = ln.partition(" ")
                got[uri] = ratio
            return got if "/big.txt" in got and "/off/small.txt" in got else None

        import harness
        got = harness.eventually(logged, message="ratio log lines")
        whole, frac = got["/big.txt"].split(".")
        self.assertEqual(len(frac), 2)
        self.assertGreater(int(whole), 2)
        self.assertEqual(got["/off/small.txt"], "-")

    # ---- proxied responses

    @requires_proxy
    def test_proxied_content_length(self):
        r = self.get("/p/big.txt", ae("gzip"))
        self.assert_gzipped(r, BIG)
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        self.assertTrue(r.header("ETag").startswith('W/"'), r)
        self.assertIsNone(r.header("Accept-Ranges"))

    @requires_proxy
    def test_proxied_chunked(self):
        want = b"".join((b"%d" % (i % 10)) * 5000 for i in range(40))
        r = self.get("/pc/x", ae("gzip"))
        self.assert_gzipped(r, want)

    @requires_proxy
    def test_proxied_stream_flushed(self):
        # The upstream sends 3000 bytes, then waits 6 s: the client decodes them long before.
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            sock.sendall(build_request("GET", "/ps/x", headers=ae("gzip")))
            start = time.monotonic()
            data, decoded = b"", b""
            while len(decoded) < 3000 and time.monotonic() - start < 5:
                sock.settimeout(max(0.05, 5 - (time.monotonic() - start)))
                try:
                    got = sock.recv(65536)
                except socket.timeout:
                    break
                if not got:
                    break
                data += got
                head, sep, body = data.partition(b"\r\n\r\n")
                if not sep:
                    continue
                self.assertIn(b"Content-Encoding: gzip", head)
                decoded = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(dechunk(body))
            self.assertEqual(decoded, b"0" * 3000)
            self.assertLess(time.monotonic() - start, 5)
        finally:
            sock.close()

    @requires_proxy
    def test_gunzip_corrupt_body(self):
        # The head is out before the body proves corrupt: the response is cut short (no last
        # chunk), logged, and the server keeps serving.
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/bad/x"))
            with self.assertRaises(ConnectionClosed):
                c.read_response()
        self.srv.wait_error_log(r"inflate\(\) failed")
        self.assert_gzipped(self.get("/small.txt", ae("gzip")), SMALL)

    @requires_proxy
    def test_proxied_already_encoded(self):
        r = self.get("/enc/x", ae("gzip"))
        self.assertEqual(r.header("Content-Encoding"), "br")
        self.assertEqual(r.body, b"x" * 500)

    @requires_proxy
    def test_proxied_head(self):
        r = self.get("/p/small.txt", ae("gzip"), method="HEAD")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertIsNone(r.header("Content-Length"))

    # ---- gzip_static

    def test_gzip_static(self):
        r = self.get("/static/pre.txt", ae("gzip"))
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gunzip_body(r), b"from the .gz file")
        # The file's own length: a precompressed file is sent as it is.
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        r = self.get("/static/pre.txt")
        self.assert_plain(r, PRE)
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        # No .gz beside it: compressed on the fly.
        self.assert_gzipped(self.get("/static/plain.txt", ae("gzip")), PRE)

    def test_gzip_static_always_with_gunzip(self):
        r = self.get("/always/only.txt", ae("gzip"))
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gunzip_body(r), PRE)
        r = self.get("/always/only.txt")
        self.assert_plain(r, PRE)
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        r = self.get("/always/two.txt")
        self.assert_plain(r, PRE + SMALL)
        r = self.get("/always/only.txt", method="HEAD")
        self.assertIsNone(r.header("Content-Encoding"))

    # ---- gunzip of a proxied gzip body

    @requires_proxy
    def test_gunzip_proxied(self):
        r = self.get("/gunzip/up.txt")
        self.assert_plain(r, BIG)
        self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        r = self.get("/gunzip/up.txt", ae("gzip"))
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gunzip_body(r), BIG)
        r = self.get("/gunzip/plain.txt")
        self.assert_plain(r, b"not compressed")
        self.assertIsNone(r.header("Vary"))


def decode(coding, data):
    if coding == "gzip":
        return gzip.decompress(data)
    tool = {"br": ["brotli", "-d", "-c"], "zstd": ["zstd", "-d", "-c", "-q"]}[coding]
    return subprocess.run(tool, input=data, capture_output=True, check=True).stdout


@portico_only
@unittest.skipUnless(shutil.which("brotli") and shutil.which("zstd"),
                     "needs the brotli and zstd command-line tools (Debian: brotli, zstd)")
class BrotliZstdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        f = files()
        f["html/bs/pre.txt"] = PRE
        f["html/bs/pre.txt.br"] = b"br file"
        f["html/bs/pre.txt.zst"] = b"zst file"
        f["html/bs/pre.txt.gz"] = b"gz file"
        f["html/nobr/small.txt"] = SMALL
        cls.srv = Server(BRZ_CONFIG, files=f)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, value):
        return request(self.port, path, headers=ae(value) if value is not None else None)

    def test_choice(self):
        cases = [("gzip, deflate, br, zstd", "br"), ("gzip, zstd", "zstd"), ("gzip", "gzip"),
                 ("br;q=0.5, gzip", "gzip"), ("zstd;q=0.9, br;q=0.8", "zstd"),
                 ("br;q=0, zstd;q=0, gzip", "gzip"), ("br", "br")]
        for path, body in (("/small.txt", SMALL), ("/big.txt", BIG)):
            for value, want in cases:
                with self.subTest(path=path, value=value):
                    r = self.get(path, value)
                    self.assertEqual(r.header("Content-Encoding"), want, r)
                    self.assertIsNone(r.header("Content-Length"))
                    self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
                    self.assertEqual(decode(want, r.body), body)

    @requires_proxy
    def test_proxied(self):
        for value in ("br", "zstd"):
            with self.subTest(value=value):
                r = self.get("/p/big.txt", value)
                self.assertEqual(r.header("Content-Encoding"), value, r)
                self.assertEqual(decode(value, r.body), BIG)

    def test_none_accepted(self):
        r = self.get("/small.txt", "br;q=0")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, SMALL)

    def test_disabled_coding_skipped(self):
        r = self.get("/nobr/small.txt", "br, zstd")
        self.assertEqual(r.header("Content-Encoding"), "zstd")
        self.assertEqual(decode("zstd", r.body), SMALL)

    def test_curl_compressed(self):
        url = f"http://127.0.0.1:{self.port}/big.txt"
        out = subprocess.run(["curl", "-s", "--compressed", "-D", "-", "-o", "-", url],
                             capture_output=True, check=True, timeout=60).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertIn(b"content-encoding: br", head.lower())
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(BIG).digest())

    def test_static_variants(self):
        for value, want in (("br, gzip, zstd", b"br file"), ("gzip, zstd", b"zst file"),
                            ("gzip", b"gz file"), ("zstd;q=0.5, gzip", b"gz file")):
            with self.subTest(value=value):
                r = self.get("/bs/pre.txt", value)
                self.assertEqual(r.body, want)
                self.assertEqual(r.headers_all("Vary"), ["Accept-Encoding"])
        r = self.get("/bs/pre.txt", None)
        self.assertEqual(r.body, PRE)


@portico_only
class ConfigErrorTest(unittest.TestCase):
    def check_refused(self, directive, message):
        cfg = ("http {\n server {\n  listen 127.0.0.1:{port};\n  " + directive +
               "\n }\n}\n")
        srv = Server(cfg, start=False)
        try:
            res = srv.run_cli("-t")
            self.assertNotEqual(res.returncode, 0)
            self.assertIn(message, res.stderr)
            self.assertIn(f"{srv.conf_path}:{srv.line_of(directive)}", res.stderr)
        finally:
            srv.stop()

    def test_debian_nginx_conf_lines(self):
        # Debian's /etc/nginx/nginx.conf: `gzip on;` and the lines users uncomment.
        cfg = """http {
    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 6;
    gzip_buffers 16 8k;
    gzip_http_version 1.1;
    gzip_types text/plain text/css application/json application/javascript text/xml application/xml application/xml+rss text/javascript;
    gzip_disable "msie6";
    server { listen 127.0.0.1:{port}; }
}
"""
        srv = Server(cfg, start=False)
        try:
            res = srv.run_cli("-t")
            self.assertEqual(res.returncode, 0, res.stderr)
        finally:
            srv.stop()

    def test_errors(self):
        self.check_refused("gzip_comp_level 10;", "value must be between 1 and 9")
        self.check_refused("gzip_proxied sometimes;", 'invalid value "sometimes"')
        self.check_refused("gzip_static maybe;", 'invalid value "maybe"')
        self.check_refused("gzip_http_version 2.0;", 'invalid value "2.0"')
        self.check_refused("gzip_disable \"(\";", "pcre2_compile() failed")
        self.check_refused("brotli_window 3000;", 'invalid value "3000"')


if __name__ == "__main__":
    unittest.main()
