"""charset (Content-Type parameter, recoding through charset_map, proxied types) and autoindex
(html/json/xml/jsonp listings) against the real binary with raw HTTP clients."""

import json
import unittest
import xml.etree.ElementTree as ET

from harness import Server, request

CONFIG = r"""
http {
    default_type application/octet-stream;
    types { text/html html; text/plain txt; text/css css; }
    charset_map B A { 58 59; }
    charset_map koi8-r utf-8 { C1 D0B0; C2 D0B1; }

    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;

        location /u/ { charset utf-8; }
        location /u/css/ { charset utf-8; charset_types text/css; }
        location /any/ { charset utf-8; charset_types *; }
        location /rec/ { charset A; source_charset B; }
        location /koi/ { charset utf-8; source_charset koi8-r; }
        location /back/ { charset koi8-r; source_charset utf-8; }
        location /nomap/ { set $src windows-1251; charset A; source_charset $src; }
        location /var/ { set $cs utf-8; charset $cs; }
        location /redir/ { charset utf-8; return 302 /u/a.html; }
        location /ret/ { charset utf-8; default_type text/plain; return 200 "r"; }
        location /over/ {
            charset utf-8;
            override_charset on;
            proxy_pass http://127.0.0.1:{port}/given/;
        }
        location /keep/ { charset utf-8; proxy_pass http://127.0.0.1:{port}/given/; }
        location /given/ {
            default_type "text/plain; charset=windows-1251";
            return 200 "g";
        }

        location /list/ { autoindex on; }
        location /json/ { autoindex on; autoindex_format json; alias {prefix}/html/list/; }
        location /xml/ { autoindex on; autoindex_format xml; alias {prefix}/html/list/; }
        location /jsonp/ { autoindex on; autoindex_format jsonp; alias {prefix}/html/list/; }
        location /round/ {
            autoindex on; autoindex_exact_size off; alias {prefix}/html/list/;
        }
        location /ulist/ { autoindex on; charset utf-8; alias {prefix}/html/list/; }
    }
}
"""

RANGE_BODY = "".join("X%03dXXXXXX" % i for i in range(100))
LONG_UTF = "\u0444" * 55

FILES = {
    "html/u/a.html": "<p>a</p>", "html/u/a.txt": "t", "html/u/a.bin": "b",
    "html/u/css/s.css": "c", "html/any/a.bin": "b",
    "html/rec/t.html": RANGE_BODY,
    "html/koi/k.html": b"a\xc1\xc2\xff",
    "html/back/b.html": "x\u0430\u20ac\u0431".encode(),
    "html/nomap/n.html": "n", "html/var/v.html": "v",
    "html/list/f.txt": "12345", "html/list/big.bin": b"x" * 20000,
    "html/list/sub/.keep": "", "html/list/.hidden": "h",
    "html/list/a<b>&\"c.txt": "", "html/list/q?x:y": "",
    "html/list/" + LONG_UTF: "",
}


class CharsetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, FILES)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ct(self, path, **kw):
        r = request(self.port, path, **kw)
        return r, r.header("Content-Type")

    def test_charset_added_to_listed_types_only(self):
        self.assertEqual(self.ct("/u/a.html")[1], "text/html; charset=utf-8")
        self.assertEqual(self.ct("/u/a.txt")[1], "text/plain; charset=utf-8")
        self.assertEqual(self.ct("/u/a.bin")[1], "application/octet-stream")
        # charset_types replaces the defaults (text/html always stays).
        self.assertEqual(self.ct("/u/css/s.css")[1], "text/css; charset=utf-8")
        self.assertEqual(self.ct("/any/a.bin")[1], "application/octet-stream; charset=utf-8")
        self.assertEqual(self.ct("/var/v.html")[1], "text/html; charset=utf-8")
        self.assertEqual(self.ct("/ret/")[1], "text/plain; charset=utf-8")

    def test_redirect_has_no_charset(self):
        r, ct = self.ct("/redir/")
        self.assertEqual(r.status, 302)
        self.assertNotIn("charset", ct or "")

    def test_one_byte_recoding_keeps_length_and_ranges(self):
        r, ct = self.ct("/rec/t.html")
        self.assertEqual(ct, "text/html; charset=A")
        self.assertEqual(r.body, RANGE_BODY.replace("X", "Y").encode())
        self.assertEqual(r.header("Content-Length"), "1000")
        r = request(self.port, "/rec/t.html", headers={"Range": "bytes=990-1990"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 990-999/1000")
        self.assertEqual(r.body, b"Y099YYYYYY")

    def test_to_and_from_utf8(self):
        r, ct = self.ct("/koi/k.html")
        self.assertEqual(ct, "text/html; charset=utf-8")
        self.assertEqual(r.body, "a\u0430\u0431?".encode())
        self.assertIsNone(r.header("Content-Length"))  # the length changes: chunked
        r, ct = self.ct("/back/b.html")
        self.assertEqual(ct, "text/html; charset=koi8-r")
        self.assertEqual(r.body, b"x\xc1&#8364;\xc2")

    def test_no_map_is_logged_and_body_untouched(self):
        r, ct = self.ct("/nomap/n.html")
        self.assertEqual(ct, "text/html")
        self.assertEqual(r.body, b"n")
        self.srv.wait_error_log(r'no "charset_map" between the charsets "windows-1251" and "A"')

    def test_fixed_pair_without_map_is_refused(self):
        srv = Server(CONFIG.replace("location /u/ {", "location /u/ { source_charset cp1;", 1),
                     FILES, start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertIn('no "charset_map" between the charsets "cp1" and "utf-8"',
                          out.stdout + out.stderr)
        finally:
            srv.stop()

    def test_proxied_charset_kept_unless_override(self):
        self.assertEqual(self.ct("/keep/")[1], "text/plain; charset=windows-1251")
        # override: windows-1251 -> utf-8 has no map, so the type is left as it came.
        r, ct = self.ct("/over/")
        self.assertEqual(r.body, b"g")
        self.assertEqual(ct, "text/plain; charset=windows-1251")


class AutoindexTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, FILES)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_html_listing(self):
        r = request(self.port, "/list/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html")
        body = r.body.decode("utf-8", "replace")
        self.assertIn("<title>Index of /list/</title>", body)
        self.assertIn('<a href="../">../</a>', body)
        self.assertNotIn("hidden", body)
        # Directories first; names escaped in the link and in the text.
        self.assertLess(body.index('href="sub/"'), body.index('href="big.bin"'))
        self.assertIn('href="a%3Cb%3E%26%22c.txt">a&lt;b&gt;&amp;&quot;c.txt</a>', body)
        self.assertIn('href="q%3Fx%3Ay"', body)
        self.assertRegex(body, r'href="f.txt">f.txt</a> +\d\d-\w{3}-\d{4} \d\d:\d\d +5\r\n')

    def test_sizes_rounded(self):
        body = request(self.port, "/round/").body.decode("utf-8", "replace")
        self.assertRegex(body, r'big.bin</a> +\S+ \S+ +20K\r\n')

    def test_long_names_cut_by_characters_under_utf8(self):
        body = request(self.port, "/ulist/").body.decode("utf-8")
        self.assertIn("\u0444" * 47 + "..&gt;</a>", body)

    def test_json_xml_jsonp(self):
        r = request(self.port, "/json/")
        self.assertEqual(r.header("Content-Type"), "application/json")
        items = {e["name"]: e for e in json.loads(r.body)}
        self.assertEqual(items["sub"]["type"], "directory")
        self.assertEqual(items["f.txt"]["size"], 5)
        self.assertNotIn(".hidden", items)
        root = ET.fromstring(request(self.port, "/xml/").body)
        self.assertEqual(root.tag, "list")
        self.assertEqual(root.find("file[.='f.txt']").get("size"), "5")
        r = request(self.port, "/jsonp/?callback=cb_1")
        self.assertEqual(r.header("Content-Type"), "application/javascript")
        self.assertTrue(r.body.startswith(b"/* callback */\r\ncb_1([\r\n{ ")
                        and r.body.endswith(b" }\r\n]);"), r.body)
        self.assertEqual(request(self.port, "/jsonp/?callback=a(b)").status, 400)

    def test_no_slash_and_methods(self):
        self.assertEqual(request(self.port, "/list/sub").status, 301)
        self.assertEqual(request(self.port, "/list/", method="HEAD").status, 200)
        self.assertEqual(request(self.port, "/list/", method="POST").status, 403)


if __name__ == "__main__":
    unittest.main()
