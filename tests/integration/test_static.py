"""Static files: index, errors, types, validators, conditionals, ranges, alias, try_files,
error_page, add_header, etag, server_tokens, path traversal."""

import hashlib
import os
import re
import subprocess
import unittest

from harness import (PRODUCT, RawConn, Server, build_request, can_drop_dac_caps,
                     http_date, request)

MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
INDEX = "<html><body>index page</body></html>\n"
TEN = "0123456789"
DIGITS = TEN * 10  # 100 bytes
BIG = os.urandom(5 * 1024 * 1024 + 123)

CONFIG = r"""
http {
    include mime.types;
    default_type application/octet-stream;

    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;

        location / {
            index index.html;
        }
        location /typed/ {
            default_type text/x-portico-default;
        }
        location /maxr1/ {
            max_ranges 1;
        }
        location /maxr0/ {
            max_ranges 0;
        }
        location /static/ {
            alias {prefix}/assets/;
        }
        location /try/ {
            try_files $uri $uri/ =404;
        }
        location /named/ {
            try_files $uri @fallback;
        }
        location @fallback {
            return 200 "fallback for $uri\n";
        }
        location /custom/ {
            error_page 404 /custom404.html;
        }
        location = /custom404.html {
            internal;
        }
        location /soft/ {
            error_page 404 =200 /soft404.html;
        }
        location /hdr/ {
            add_header X-Plain plain;
            add_header X-Always always-value always;
        }
        location /noetag/ {
            etag off;
        }
        location /notokens/ {
            server_tokens off;
        }
        location /lm/ {
            alias {prefix}/html/;
            add_header Last-Modified "Mon, 28 Sep 1970 06:00:00 GMT";
        }
        location /nolm/ {
            alias {prefix}/html/;
            add_header Last-Modified "";
        }
    }

    server {
        listen 127.0.0.1:{port_inherit};
        server_name localhost;
        root {prefix}/html;
        add_header X-Server-Level yes;
        location / {
        }
        location /own/ {
            add_header X-Location-Level yes;
        }
    }
}
"""

FILES = {
    "html/index.html": INDEX,
    "html/digits.txt": DIGITS,
    "html/style.css": "body{}\n",
    "html/image.png": b"\x89PNG\r\n\x1a\nfake",
    "html/data.unknownext": "?",
    "html/typed/x.unknownext": "?",
    "html/dir/index.html": "dir index\n",
    "html/noindex/file.txt": "x\n",
    "html/maxr1/digits.txt": DIGITS,
    "html/maxr0/digits.txt": DIGITS,
    "html/big.bin": BIG,
    "assets/a.txt": "from assets\n",
    "html/try/real.txt": "real\n",
    "html/try/sub/index.html": "try sub index\n",
    "html/named/exists.txt": "named exists\n",
    "html/custom404.html": "custom not found page\n",
    "html/soft404.html": "soft not found page\n",
    "html/hdr/h.txt": "h\n",
    "html/noetag/n.txt": "n\n",
    "html/notokens/t.txt": "t\n",
    "html/own/o.txt": "o\n",
}


def nginx_etag(path):
    st = os.stat(path)
    return '"%x-%x"' % (int(st.st_mtime), st.st_size)


class StaticTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, FILES)
        for rel in FILES:
            os.utime(cls.srv.path(rel), (MTIME, MTIME))
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, method="GET", headers=None, port=None):
        return request(port or self.port, path, method=method, headers=headers)

    # ---- index, 404, 403, directories -------------------------------------------------

    def test_index(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, INDEX)
        self.assertEqual(r.header("Content-Type"), "text/html")
        self.assertEqual(r.header("Content-Length"), str(len(INDEX)))

    def test_explicit_file(self):
        r = self.get("/digits.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, DIGITS)
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertEqual(r.header("Accept-Ranges"), "bytes")

    def test_missing_is_404(self):
        r = self.get("/no-such-file.html")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Content-Type"), "text/html")
        self.assertIn(b"404 Not Found", r.body)

    def test_directory_without_slash_redirects(self):
        r = self.get("/dir")
        self.assertEqual(r.status, 301)
        # absolute_redirect on (default): scheme://host:port/dir/ with the Host header's name
        # (not server_name: server_name_in_redirect is off) and the listen port.
        self.assertEqual(r.header("Location"), f"http://localhost:{self.port}/dir/")

    def test_directory_with_slash_serves_index(self):
        r = self.get("/dir/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "dir index\n")

    def test_directory_without_index_is_403(self):
        r = self.get("/noindex/")
        self.assertEqual(r.status, 403)
        self.assertIn(b"403 Forbidden", r.body)

    # ---- types --------------------------------------------------------------------------

    def test_content_type_from_mime_types(self):
        self.assertEqual(self.get("/style.css").header("Content-Type"), "text/css")
        self.assertEqual(self.get("/image.png").header("Content-Type"), "image/png")

    def test_default_type(self):
        self.assertEqual(self.get("/data.unknownext").header("Content-Type"),
                         "application/octet-stream")
        self.assertEqual(self.get("/typed/x.unknownext").header("Content-Type"),
                         "text/x-portico-default")

    # ---- validators and conditionals ----------------------------------------------------

    def test_last_modified_and_etag(self):
        r = self.get("/digits.txt")
        self.assertEqual(r.header("Last-Modified"), "Tue, 14 Nov 2023 22:13:20 GMT")
        # nginx's strong ETag: "<mtime hex>-<size hex>"
        self.assertEqual(r.header("ETag"), nginx_etag(self.srv.path("html/digits.txt")))
        self.assertEqual(r.header("ETag"), '"%x-%x"' % (MTIME, 100))

    def test_if_none_match_304(self):
        etag = self.get("/digits.txt").header("ETag")
        for value in (etag, f'"nope", {etag}', "*", "W/" + etag):
            with self.subTest(value=value):
                r = self.get("/digits.txt", headers={"If-None-Match": value})
                self.assertEqual(r.status, 304)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("ETag"), etag)
                self.assertIsNone(r.header("Content-Length"))
        r = self.get("/digits.txt", headers={"If-None-Match": '"other"'})
        self.assertEqual(r.status, 200)

    def test_if_modified_since(self):
        r = self.get("/digits.txt", headers={"If-Modified-Since": http_date(MTIME)})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("Last-Modified"), http_date(MTIME))
        r = self.get("/digits.txt", headers={"If-Modified-Since": http_date(MTIME - 3600)})
        self.assertEqual(r.status, 200)
        # SURPRISE: if_modified_since defaults to "exact": a date *later* than the file's
        # mtime is not a match, so the full 200 response is sent.
        r = self.get("/digits.txt", headers={"If-Modified-Since": http_date(MTIME + 3600)})
        self.assertEqual(r.status, 200)
        # Unparsable date: ignored.
        r = self.get("/digits.txt", headers={"If-Modified-Since": "yesterday"})
        self.assertEqual(r.status, 200)

    def test_if_none_match_wins_over_if_modified_since(self):
        r = self.get("/digits.txt", headers={"If-None-Match": '"other"',
                                             "If-Modified-Since": http_date(MTIME)})
        self.assertEqual(r.status, 200)

    def test_if_match(self):
        etag = self.get("/digits.txt").header("ETag")
        r = self.get("/digits.txt", headers={"If-Match": '"mismatch"'})
        self.assertEqual(r.status, 412)
        self.assertIn(b"412 Precondition Failed", r.body)
        self.assertEqual(self.get("/digits.txt", headers={"If-Match": etag}).status, 200)
        self.assertEqual(self.get("/digits.txt", headers={"If-Match": "*"}).status, 200)
        # If-Match uses the strong comparison: a weak tag never matches.
        self.assertEqual(self.get("/digits.txt", headers={"If-Match": "W/" + etag}).status, 412)

    def test_if_unmodified_since(self):
        r = self.get("/digits.txt", headers={"If-Unmodified-Since": http_date(MTIME - 60)})
        self.assertEqual(r.status, 412)
        r = self.get("/digits.txt", headers={"If-Unmodified-Since": http_date(MTIME)})
        self.assertEqual(r.status, 200)
        r = self.get("/digits.txt", headers={"If-Unmodified-Since": http_date(MTIME + 60)})
        self.assertEqual(r.status, 200)

    # ---- ranges -------------------------------------------------------------------------

    def test_single_range(self):
        cases = {"bytes=0-9": (0, 9), "bytes=10-19": (10, 19), "bytes=-5": (95, 99),
                 "bytes=95-": (95, 99), "bytes=90-500": (90, 99)}
        for rng, (a, b) in cases.items():
            with self.subTest(range=rng):
                r = self.get("/digits.txt", headers={"Range": rng})
                self.assertEqual(r.status, 206)
                self.assertEqual(r.header("Content-Range"), f"bytes {a}-{b}/100")
                self.assertEqual(r.header("Content-Length"), str(b - a + 1))
                self.assertEqual(r.text, DIGITS[a:b + 1])
                self.assertEqual(r.header("Content-Type"), "text/plain")

    def test_multi_range(self):
        r = self.get("/digits.txt", headers={"Range": "bytes=0-1,5-6,-3"})
        self.assertEqual(r.status, 206)
        ctype = r.header("Content-Type")
        m = re.match(r"^multipart/byteranges; boundary=(\S+)$", ctype)
        self.assertTrue(m, ctype)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        parts = parse_multipart(r.body, m.group(1))
        self.assertEqual(len(parts), 3)
        expect = [(0, 1), (5, 6), (97, 99)]
        for (headers, body), (a, b) in zip(parts, expect):
            self.assertEqual(headers.get("content-type"), "text/plain")
            self.assertEqual(headers.get("content-range"), f"bytes {a}-{b}/100")
            self.assertEqual(body.decode(), DIGITS[a:b + 1])

    def test_unsatisfiable_range(self):
        r = self.get("/digits.txt", headers={"Range": "bytes=1000-2000"})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.header("Content-Range"), "bytes */100")

    def test_odd_ranges(self):
        cases = {
            # SURPRISE: nginx answers 416 for a syntactically invalid bytes range (it does
            # not ignore it as RFC 9110 allows); a non-"bytes=" unit is ignored (200).
            "bytes=abc": 416,
            "bytes=0-1,abc": 416,
            "items=0-1": 200,
            "bytes=5-2": 416,
            "bytes=-0": 416,
            "bytes=100-": 416,
            # spaces around the range are tolerated
            "bytes= 0-1": 206,
            "bytes=0-1 ": 206,
            # SURPRISE: when the ranges together are larger than the file, nginx ignores
            # the Range header and sends the whole file with 200.
            "bytes=0-99,0-99,0-99": 200,
        }
        for rng, status in cases.items():
            with self.subTest(range=rng):
                r = self.get("/digits.txt", headers={"Range": rng})
                self.assertEqual(r.status, status)
                if status == 200:
                    self.assertEqual(r.text, DIGITS)
                    self.assertIsNone(r.header("Content-Range"))
                elif status == 416:
                    self.assertEqual(r.header("Content-Range"), "bytes */100")
                else:
                    self.assertEqual(r.text, "01")

    def test_if_range(self):
        first = self.get("/digits.txt")
        etag, lm = first.header("ETag"), first.header("Last-Modified")
        r = self.get("/digits.txt", headers={"Range": "bytes=0-4", "If-Range": etag})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.text, DIGITS[:5])
        r = self.get("/digits.txt", headers={"Range": "bytes=0-4", "If-Range": lm})
        self.assertEqual(r.status, 206)
        r = self.get("/digits.txt", headers={"Range": "bytes=0-4", "If-Range": '"stale"'})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, DIGITS)
        r = self.get("/digits.txt", headers={"Range": "bytes=0-4",
                                             "If-Range": http_date(MTIME - 10)})
        self.assertEqual(r.status, 200)

    def test_conditionals_compare_with_the_last_modified_add_header_sets(self):
        # nginx's range filter runs after its headers filter, its not-modified filter before:
        # If-Range compares with the added date, If-Modified-Since with the file's.
        lm = "Mon, 28 Sep 1970 06:00:00 GMT"
        r = self.get("/lm/digits.txt", headers={"Range": "bytes=0-4", "If-Range": lm})
        self.assertEqual((r.status, r.header("Last-Modified")), (206, lm))
        r = self.get("/lm/digits.txt", headers={"Range": "bytes=0-4",
                                                "If-Range": http_date(MTIME)})
        self.assertEqual(r.status, 200)
        r = self.get("/lm/digits.txt", headers={"If-Modified-Since": lm})
        self.assertEqual(r.status, 200)
        r = self.get("/lm/digits.txt", headers={"If-Modified-Since": http_date(MTIME)})
        self.assertEqual(r.status, 304)
        # No Last-Modified: no date matches If-Range.
        r = self.get("/nolm/digits.txt", headers={"Range": "bytes=0-4",
                                                  "If-Range": http_date(MTIME)})
        self.assertEqual((r.status, r.header("Last-Modified")), (200, None))

    def test_max_ranges(self):
        # max_ranges 1: a request with more ranges is served as if it had none.
        r = self.get("/maxr1/digits.txt", headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, DIGITS)
        r = self.get("/maxr1/digits.txt", headers={"Range": "bytes=5-6"})
        self.assertEqual(r.status, 206)
        # max_ranges 0: byte ranges disabled entirely, and Accept-Ranges is not advertised.
        r = self.get("/maxr0/digits.txt", headers={"Range": "bytes=5-6"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, DIGITS)
        self.assertIsNone(r.header("Accept-Ranges"))

    # ---- HEAD, big files ------------------------------------------------------------------

    def test_head(self):
        g = self.get("/digits.txt")
        h = self.get("/digits.txt", method="HEAD")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        for name in ("Content-Type", "Content-Length", "Last-Modified", "ETag",
                     "Accept-Ranges"):
            self.assertEqual(h.header(name), g.header(name), name)
        # HEAD on a keep-alive connection: no body bytes follow, the next response parses.
        with RawConn(self.port) as c:
            c.send(build_request("HEAD", "/digits.txt", close=False)
                   + build_request("GET", "/style.css"))
            self.assertEqual(c.read_response("HEAD").body, b"")
            self.assertEqual(c.read_response().text, "body{}\n")

    def test_large_file_integrity(self):
        r = self.get("/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.header("Content-Length")), len(BIG))
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(BIG).hexdigest())
        r = self.get("/big.bin", headers={"Range": "bytes=4000000-4999999"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, BIG[4000000:5000000])

    def test_large_file_with_curl(self):
        # a real client: curl's own framing, keep-alive and range handling
        out = self.srv.path("tmp/curl.out")
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", out, "-w",
                            "%{http_code} %{size_download}", self.srv.url("/big.bin")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, f"200 {len(BIG)}", r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             hashlib.sha256(BIG).hexdigest())
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-r", "100-199", "-o", out,
                            "-w", "%{http_code}", self.srv.url("/big.bin"),
                            "-o", out + "2", self.srv.url("/digits.txt")],  # one connection
                           capture_output=True, text=True, timeout=30)
        # the same range is applied to both URLs; digits.txt has only 100 bytes: 416
        self.assertEqual(r.stdout, "206416", r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), BIG[100:200])

    # ---- alias, try_files ---------------------------------------------------------------

    def test_alias(self):
        r = self.get("/static/a.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "from assets\n")
        self.assertEqual(self.get("/static/missing.txt").status, 404)

    def test_try_files(self):
        r = self.get("/try/real.txt")
        self.assertEqual((r.status, r.text), (200, "real\n"))
        # SURPRISE: $uri/ matches the directory, but the request continues with the URI unchanged
        # (/try/sub), so the static module answers the usual directory redirect.
        r = self.get("/try/sub")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), f"http://localhost:{self.port}/try/sub/")
        r = self.get("/try/sub/")
        self.assertEqual((r.status, r.text), (200, "try sub index\n"))
        r = self.get("/try/nothing")
        self.assertEqual(r.status, 404)

    def test_try_files_named_fallback(self):
        r = self.get("/named/exists.txt")
        self.assertEqual((r.status, r.text), (200, "named exists\n"))
        r = self.get("/named/missing?q=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "fallback for /named/missing\n")

    # ---- error_page -----------------------------------------------------------------------

    def test_error_page_custom(self):
        r = self.get("/custom/missing")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.text, "custom not found page\n")
        self.assertEqual(r.header("Content-Type"), "text/html")
        # the target is `internal`: a direct request is a 404 (the standard page)
        r = self.get("/custom404.html")
        self.assertEqual(r.status, 404)
        self.assertNotEqual(r.text, "custom not found page\n")

    def test_error_page_changes_status(self):
        r = self.get("/soft/missing")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "soft not found page\n")

    # ---- headers --------------------------------------------------------------------------

    def test_add_header(self):
        r = self.get("/hdr/h.txt")
        self.assertEqual(r.header("X-Plain"), "plain")
        self.assertEqual(r.header("X-Always"), "always-value")
        r = self.get("/hdr/missing")
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.header("X-Plain"))  # only on 200, 201, 204, 206, 301-304, 307, 308
        self.assertEqual(r.header("X-Always"), "always-value")
        r = self.get("/hdr/h.txt", headers={"If-None-Match": "*"})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("X-Plain"), "plain")

    def test_add_header_inheritance(self):
        port = self.srv.port("port_inherit")
        r = self.get("/index.html", port=port)
        self.assertEqual(r.header("X-Server-Level"), "yes")
        # SURPRISE (documented): add_header in a location replaces, not extends, the
        # server-level ones.
        r = self.get("/own/o.txt", port=port)
        self.assertEqual(r.header("X-Location-Level"), "yes")
        self.assertIsNone(r.header("X-Server-Level"))

    def test_etag_off(self):
        r = self.get("/noetag/n.txt")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("ETag"))
        self.assertIsNotNone(r.header("Last-Modified"))

    def test_server_tokens(self):
        on = self.get("/digits.txt").header("Server")
        self.assertTrue(re.match(rf"^{PRODUCT}/\d+\.\d+\.\d+$", on), on)
        r = self.get("/notokens/t.txt")
        self.assertEqual(r.header("Server"), PRODUCT)
        r = self.get("/notokens/missing")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Server"), PRODUCT)
        self.assertIn(f"<hr><center>{PRODUCT}</center>".encode(), r.body)
        r = self.get("/missing")
        self.assertIn(f"<hr><center>{on}</center>".encode(), r.body)

    def test_error_page_body_shape(self):
        r = self.get("/missing")
        self.assertEqual(r.body.decode(),
                         "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
                         "<center><h1>404 Not Found</h1></center>\r\n"
                         f"<hr><center>{r.header('Server')}</center>\r\n</body>\r\n</html>\r\n")

    # ---- traversal ------------------------------------------------------------------------

    def test_path_traversal(self):
        # nginx decodes %XX and normalises "." / ".." / "//" before anything else; a ".."
        # that would climb above "/" is a 400. Decoded %2F counts as a slash.
        cases = {
            "/../etc/passwd": 400,
            "/../../../../etc/passwd": 400,
            "/..": 400,
            "/%2e%2e": 400,
            "/%2e%2e/etc/passwd": 400,
            "/%2E%2E/%2e%2e/etc/passwd": 400,
            "/..%2fetc/passwd": 400,
            "/a/..%2f..%2fetc/passwd": 400,
            "/dir/../../etc/passwd": 400,
            "/.%2e/etc/passwd": 400,
            "/index.html%00": 400,  # an encoded NUL is rejected
            # stays inside the root: normalised, then served
            "/dir/../index.html": INDEX,
            "/dir/%2e%2e/index.html": INDEX,
            "/./index.html": INDEX,
            "/dir/..": INDEX,
            "//index.html": INDEX,
            "/index%2ehtml": INDEX,
            "/dir%2findex.html": "dir index\n",
            "/di%72/": "dir index\n",
            "/dir/.": "dir index\n",
            "/etc/passwd": 404,
            "/index.html/": 404,  # a file used as a directory
        }
        for target, expect in cases.items():
            with self.subTest(target=target):
                with RawConn(self.port) as c:
                    c.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    r = c.read_response()
                self.assertNotIn(b"root:", r.body)
                if isinstance(expect, int):
                    self.assertEqual(r.status, expect)
                else:
                    self.assertEqual((r.status, r.text), (200, expect))

    def test_traversal_in_alias(self):
        cases = {
            # /static/../index.html normalises to /index.html: location /, served from root.
            "/static/../index.html": 200,
            "/static/..%2f..%2fetc/passwd": 400,
            # normalises to /html/index.html (not under /static/ any more): root/html/html/..
            "/static/..%2fhtml/index.html": 404,
            "/static%2f..%2findex.html": 200,
        }
        for target, status in cases.items():
            with self.subTest(target=target):
                with RawConn(self.port) as c:
                    c.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    r = c.read_response()
                self.assertNotIn(b"root:", r.body)
                self.assertEqual(r.status, status)


class UnreadableFileTest(unittest.TestCase):
    """403 for a file the server cannot read. As root, permission bits do not apply, so the
    server is started without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH."""

    def test_unreadable_file_is_403(self):
        if not can_drop_dac_caps():
            self.skipTest("running as root and cannot drop CAP_DAC_OVERRIDE: chmod 000 "
                          "would not block reads")
        with Server(CONFIG, {"html/secret.txt": "secret\n", "html/ok.txt": "ok\n"},
                    drop_dac=True) as srv:
            os.chmod(srv.path("html/secret.txt"), 0)
            r = request(srv.port(), "/secret.txt")
            self.assertEqual(r.status, 403)
            self.assertNotIn(b"secret", r.body)
            self.assertEqual(request(srv.port(), "/ok.txt").status, 200)
            # logged at error level: open() "<path>" failed (13: Permission denied)
            srv.wait_error_log(r'\[error\] .*open\(\) ".*secret\.txt" failed \(13: Permission '
                               r'denied\)')


def parse_multipart(body, boundary):
    """[(headers dict lowercased, body bytes)] of a multipart/byteranges body."""
    delim = b"--" + boundary.encode()
    chunks = body.split(delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if data.endswith(b"\r\n"):
            data = data[:-2]
        parts.append((headers, data))
    return parts


if __name__ == "__main__":
    unittest.main()
