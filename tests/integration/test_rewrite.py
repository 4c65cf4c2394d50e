"""rewrite module: return, rewrite flags, set, if, and the core variables."""

import re
import time
import unittest

from harness import RawConn, Server, build_request, request

VARS = ["remote_addr", "remote_port", "host", "http_x_custom", "http_user_agent", "request",
        "request_uri", "uri", "args", "arg_b", "arg_missing", "scheme", "server_name",
        "server_port", "server_addr", "time_local", "time_iso8601", "msec", "connection",
        "request_method", "server_protocol", "document_root", "request_filename",
        "is_args", "query_string", "content_length", "content_type", "http_host"]

VARS_RETURN = "\\n".join(f"{v}=${v}" for v in VARS)

CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost alias.test;
        root {prefix}/html;

        location /ret/text { return 200 "plain text\n"; }
        location /ret/301 { return 301 http://example.com/moved; }
        location /ret/302 { return 302 /relative/target; }
        location /ret/url { return http://example.com/bare-url; }
        location /ret/307 { return 307 https://example.com/; }
        location /ret/404 { return 404; }
        location /ret/404text { return 404 "custom not found\n"; }
        location /ret/204 { return 204; }
        location /ret/444 { return 444; }
        location /ret/500 { return 500 "boom\n"; }
        location /ret/301text { return 301 "not-a-url"; }

        location /rw/ {
            rewrite ^/rw/chain/(.*)$ /rw/last/chained-$1;
            rewrite ^/rw/last/(.*)$ /target/$1 last;
            rewrite ^/rw/redirect/(.*)$ /target/$1 redirect;
            rewrite ^/rw/permanent/(.*)$ /target/$1 permanent;
            rewrite ^/rw/abs/(.*)$ http://example.com/$1;
            rewrite ^/rw/args/(.*)$ /target/$1?added=1 last;
            rewrite ^/rw/noargs/(.*)$ /target/$1? last;
            rewrite ^/rw/esc/(.*)$ /target/$1?c=$1&v=$arg_v last;
            return 200 "rw fallthrough $uri\n";
        }
        location /brk/ {
            rewrite ^/brk/(.*)$ /files/$1 break;
            return 200 "not reached\n";
        }
        location /target/ {
            return 200 "target uri=$uri args=$args\n";
        }
        location /srv-rewrite/ {
            return 200 "srv-rewrite uri=$uri\n";
        }
        rewrite ^/server-level/(.*)$ /srv-rewrite/$1 last;

        location /set/ {
            set $greeting "hello";
            set $combined "$greeting-$arg_name";
            return 200 "$combined uri=$uri\n";
        }

        location /if/method {
            if ($request_method = POST) {
                return 200 "post\n";
            }
            return 200 "not post\n";
        }
        location /if/header {
            if ($http_x_test ~* ^foo(\d+)$) {
                return 200 "matched $1\n";
            }
            if ($http_x_test !~ ^bar) {
                return 200 "no bar\n";
            }
            return 200 "bar\n";
        }
        location /if/files/ {
            if (-f $request_filename) {
                return 200 "is file\n";
            }
            if (-d $request_filename) {
                return 200 "is dir\n";
            }
            if (!-e $request_filename) {
                return 200 "does not exist\n";
            }
            return 200 "other\n";
        }
        location /if/arg {
            if ($arg_x) {
                return 200 "x is set to $arg_x\n";
            }
            return 200 "x is empty\n";
        }
        location /if/eq {
            if ($arg_v != "yes") {
                return 200 "not yes\n";
            }
            return 200 "yes\n";
        }

        location /vars/ {
            return 200 "VARS_RETURN\n";
        }
        location /status-var {
            return 200 "status=$status\n";
        }
    }
}
""".replace("VARS_RETURN", VARS_RETURN)

FILES = {"html/files/f.txt": "file under files\n", "html/if/files/real.txt": "r\n",
         "html/if/files/sub/.keep": ""}


class _ServerCase(unittest.TestCase):
    """One server per test class on CONFIG."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, FILES)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, **kw):
        return request(self.port, path, **kw)


class ReturnTest(_ServerCase):
    def test_return_text(self):
        r = self.get("/ret/text")
        self.assertEqual((r.status, r.text), (200, "plain text\n"))
        self.assertEqual(r.header("Content-Type"), "text/plain")

    def test_return_redirects(self):
        r = self.get("/ret/301")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "http://example.com/moved")
        self.assertIn(b"301 Moved Permanently", r.body)
        r = self.get("/ret/302")
        self.assertEqual(r.status, 302)
        # relative URLs are made absolute (absolute_redirect on) from Host and listen port
        self.assertEqual(r.header("Location"), f"http://localhost:{self.port}/relative/target")
        r = self.get("/ret/url")
        self.assertEqual((r.status, r.header("Location")), (302, "http://example.com/bare-url"))
        r = self.get("/ret/307")
        self.assertEqual((r.status, r.header("Location")), (307, "https://example.com/"))
        # for 301 the text is always the Location; only a value starting with "/" is made
        # absolute, anything else is sent as it is
        r = self.get("/ret/301text")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "not-a-url")

    def test_return_error_codes(self):
        r = self.get("/ret/404")
        self.assertEqual(r.status, 404)
        self.assertIn(b"<title>404 Not Found</title>", r.body)
        r = self.get("/ret/404text")
        self.assertEqual((r.status, r.text), (404, "custom not found\n"))
        r = self.get("/ret/500")
        self.assertEqual((r.status, r.text), (500, "boom\n"))
        r = self.get("/ret/204")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertIsNone(r.header("Content-Length"))

    def test_return_444_closes_without_response(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/ret/444", close=False))
            self.assertTrue(c.closed_within(5))
            self.assertEqual(c.buf, b"")


class RewriteTest(_ServerCase):
    def test_rewrite_last(self):
        r = self.get("/rw/last/foo?orig=1")
        self.assertEqual(r.text, "target uri=/target/foo args=orig=1\n")

    def test_rewrite_redirect_and_permanent(self):
        r = self.get("/rw/redirect/foo?q=1")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("Location"), f"http://localhost:{self.port}/target/foo?q=1")
        r = self.get("/rw/permanent/foo")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), f"http://localhost:{self.port}/target/foo")
        r = self.get("/rw/abs/x/y")
        self.assertEqual((r.status, r.header("Location")), (302, "http://example.com/x/y"))

    def test_rewrite_args(self):
        r = self.get("/rw/args/a?orig=2")
        self.assertEqual(r.text, "target uri=/target/a args=added=1&orig=2\n")
        r = self.get("/rw/noargs/a?orig=2")
        self.assertEqual(r.text, "target uri=/target/a args=\n")

    def test_rewrite_capture_in_added_args_is_escaped(self):
        # As nginx: a request URI that was escaped (or had '+') gets its captures escaped
        # for the arguments after the replacement's '?' (not the part before, nor variables).
        r = self.get("/rw/esc/a%25b%20c+d;e?v=%25")
        self.assertEqual(r.text, "target uri=/target/a%b c+d;e "
                                 "args=c=a%25b%20c%2Bd%3Be&v=%25&v=%25\n")
        # an unescaped URI: the capture goes in as it is
        r = self.get("/rw/esc/ab?v=1")
        self.assertEqual(r.text, "target uri=/target/ab args=c=ab&v=1&v=1\n")

    def test_rewrite_chain_without_flag(self):
        # no flag: processing continues with the next rewrite in the same block (but never
        # goes back to earlier ones)
        r = self.get("/rw/chain/z")
        self.assertEqual(r.text, "target uri=/target/chained-z args=\n")

    def test_rewrite_no_match_falls_through(self):
        self.assertEqual(self.get("/rw/other").text, "rw fallthrough /rw/other\n")

    def test_rewrite_break_serves_file(self):
        r = self.get("/brk/f.txt")
        self.assertEqual((r.status, r.text), (200, "file under files\n"))
        self.assertEqual(self.get("/brk/missing.txt").status, 404)

    def test_server_level_rewrite(self):
        self.assertEqual(self.get("/server-level/abc").text, "srv-rewrite uri=/srv-rewrite/abc\n")

    def test_set(self):
        self.assertEqual(self.get("/set/x?name=bob").text, "hello-bob uri=/set/x\n")
        self.assertEqual(self.get("/set/x").text, "hello- uri=/set/x\n")


class IfTest(_ServerCase):
    def test_if_method(self):
        self.assertEqual(self.get("/if/method", method="POST", body="x").text, "post\n")
        self.assertEqual(self.get("/if/method").text, "not post\n")

    def test_if_header_regex(self):
        self.assertEqual(self.get("/if/header", headers={"X-Test": "FOO42"}).text,
                         "matched 42\n")
        self.assertEqual(self.get("/if/header", headers={"X-Test": "barbaz"}).text, "bar\n")
        self.assertEqual(self.get("/if/header", headers={"X-Test": "zzz"}).text, "no bar\n")
        self.assertEqual(self.get("/if/header").text, "no bar\n")

    def test_if_file_tests(self):
        self.assertEqual(self.get("/if/files/real.txt").text, "is file\n")
        self.assertEqual(self.get("/if/files/sub").text, "is dir\n")
        self.assertEqual(self.get("/if/files/nothing").text, "does not exist\n")

    def test_if_arg(self):
        self.assertEqual(self.get("/if/arg?x=abc").text, "x is set to abc\n")
        self.assertEqual(self.get("/if/arg?x=").text, "x is empty\n")
        # a variable is false when empty or "0"
        self.assertEqual(self.get("/if/arg?x=0").text, "x is empty\n")
        self.assertEqual(self.get("/if/arg?y=1").text, "x is empty\n")

    def test_if_not_equal(self):
        self.assertEqual(self.get("/if/eq?v=yes").text, "yes\n")
        self.assertEqual(self.get("/if/eq?v=no").text, "not yes\n")


class VariablesTest(_ServerCase):
    def vars(self, target, headers="", version="HTTP/1.1", host="Host: Alias.Test:8080\r\n"):
        with RawConn(self.port) as c:
            conn = "Connection: close\r\n" if version == "HTTP/1.1" else ""
            c.send(f"GET {target} {version}\r\n{host}{headers}{conn}\r\n")
            r = c.read_response()
            local_port = c.local_port()
        self.assertEqual(r.status, 200)
        out = dict(line.split("=", 1) for line in r.text.rstrip("\n").split("\n"))
        return out, local_port

    def test_variables(self):
        before = time.time()
        v, local_port = self.vars("/vars/p%61th?a=1&b=two%20x",
                                  "X-Custom: hello world\r\nUser-Agent: it/1.0\r\n")
        after = time.time()
        prefix = self.srv.prefix
        expect = {
            "remote_addr": "127.0.0.1",
            "remote_port": str(local_port),
            "host": "alias.test",                   # lowercased, port stripped
            "http_host": "Alias.Test:8080",         # the raw header
            "http_x_custom": "hello world",
            "http_user_agent": "it/1.0",
            "request": "GET /vars/p%61th?a=1&b=two%20x HTTP/1.1",
            "request_uri": "/vars/p%61th?a=1&b=two%20x",
            "uri": "/vars/path",                    # decoded, normalised
            "args": "a=1&b=two%20x",                # not decoded
            "query_string": "a=1&b=two%20x",
            "is_args": "?",
            "arg_b": "two%20x",                     # not decoded either
            "arg_missing": "",
            "scheme": "http",
            "server_name": "localhost",             # the first server_name
            "server_port": str(self.port),
            "server_addr": "127.0.0.1",
            "request_method": "GET",
            "server_protocol": "HTTP/1.1",
            "document_root": f"{prefix}/html",
            "request_filename": f"{prefix}/html/vars/path",
            "content_length": "",
            "content_type": "",
        }
        for k, e in expect.items():
            self.assertEqual(v[k], e, k)
        self.assertRegex(v["time_local"],
                         r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$")
        self.assertRegex(v["time_iso8601"],
                         r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
        self.assertRegex(v["msec"], r"^\d+\.\d{3}$")
        self.assertGreaterEqual(float(v["msec"]), before - 1)
        self.assertLessEqual(float(v["msec"]), after + 1)
        self.assertRegex(v["connection"], r"^\d+$")

    def test_variables_without_args_and_http10(self):
        v, _ = self.vars("/vars/x", version="HTTP/1.0", host="")
        self.assertEqual(v["args"], "")
        self.assertEqual(v["is_args"], "")
        self.assertEqual(v["request_uri"], "/vars/x")
        self.assertEqual(v["server_protocol"], "HTTP/1.0")
        self.assertEqual(v["request"], "GET /vars/x HTTP/1.0")
        # no Host: $host falls back to the server's name
        self.assertEqual(v["host"], "localhost")
        self.assertEqual(v["http_host"], "")

    def test_request_with_body_variables(self):
        with RawConn(self.port) as c:
            c.send(build_request("POST", "/vars/y", headers={"Content-Type": "text/x-it"},
                                 body="12345"))
            r = c.read_response()
        v = dict(line.split("=", 1) for line in r.text.rstrip("\n").split("\n"))
        self.assertEqual(v["request_method"], "POST")
        self.assertEqual(v["content_length"], "5")
        self.assertEqual(v["content_type"], "text/x-it")

    def test_connection_serial_same_on_keepalive(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/vars/1", close=False))
            v1 = c.read_response().text
            c.send(build_request("GET", "/vars/2", close=False))
            v2 = c.read_response().text
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/vars/3"))
            v3 = c.read_response().text
        conn = [re.search(r"^connection=(\d+)$", t, re.M).group(1) for t in (v1, v2, v3)]
        self.assertEqual(conn[0], conn[1])
        self.assertNotEqual(conn[0], conn[2])

    def test_status_in_return(self):
        # return sets the status before it evaluates its text
        self.assertEqual(self.get("/status-var").text, "status=200\n")


if __name__ == "__main__":
    unittest.main()
