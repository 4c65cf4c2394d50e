"""access_log / log_format / error_log: line shapes and variable values."""

import re
import signal
import time
import unittest

from harness import RawConn, Server, build_request, eventually, nginx_differs, request

COMBINED = re.compile(
    r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} '
    r'[+-]\d{4})\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)"$')

ERROR_LINE = re.compile(
    r"^(?P<date>\d{4}/\d{2}/\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) \[(?P<level>[a-z]+)\] "
    r"(?P<pid>\d+)#(?P<tid>\d+): \*(?P<conn>\d+) (?P<message>.*)$")

CONFIG = r"""
http {
    default_type text/plain;
    log_format custom '$remote_addr|$remote_port|$request_method|$uri|$args|$status|'
                      '$body_bytes_sent|$bytes_sent|$request_time|$msec|$connection|'
                      '$server_protocol|$http_x_trace|$host|$server_port|$request_uri|'
                      '$time_iso8601|$request|$scheme|$server_name|$request_filename|'
                      '$document_root|$server_addr';

    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;
        log_not_found on;

        location /custom/ {
            access_log logs/custom.log custom;
        }
        location /off/ {
            access_log off;
        }
        location /quiet/ {
            log_not_found off;
        }
        location /ret/ {
            return 200 "fixed body\n";
        }
        location /buffered/ {
            access_log logs/buffered.log custom buffer=64k;
            return 200 "b\n";
        }
        location /flushed/ {
            access_log logs/flushed.log custom buffer=64k flush=300ms;
            return 200 "f\n";
        }
    }
}
"""

FILES = {"html/index.html": "index\n", "html/custom/c.txt": "custom body\n",
         "html/off/o.txt": "off\n", "html/f.txt": "0123456789"}


class AccessLogTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(CONFIG, FILES)
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()

    def test_combined_default_format(self):
        r = request(self.port, "/f.txt?x=1", headers={"Referer": "http://ref.example/",
                                                       "User-Agent": "it-agent/2.0"})
        self.assertEqual(r.status, 200)
        request(self.port, "/missing")
        request(self.port, "/f.txt", method="HEAD")
        lines = self.srv.wait_access_log(3)
        self.assertEqual(len(lines), 3, lines)
        m = COMBINED.match(lines[0])
        self.assertTrue(m, lines[0])
        self.assertEqual(m["addr"], "127.0.0.1")
        self.assertEqual(m["user"], "-")
        self.assertEqual(m["request"], "GET /f.txt?x=1 HTTP/1.1")
        self.assertEqual(m["status"], "200")
        self.assertEqual(m["bytes"], "10")  # $body_bytes_sent: body only
        self.assertEqual(m["referer"], "http://ref.example/")
        self.assertEqual(m["ua"], "it-agent/2.0")
        t = time.strptime(m["time"].split()[0], "%d/%b/%Y:%H:%M:%S")
        self.assertLess(abs(time.mktime(t) - time.mktime(time.localtime())), 60 + 86400)
        m = COMBINED.match(lines[1])
        self.assertTrue(m, lines[1])
        self.assertEqual((m["status"], m["referer"], m["ua"]), ("404", "-", "-"))
        self.assertGreater(int(m["bytes"]), 0)
        m = COMBINED.match(lines[2])
        self.assertEqual((m["request"], m["status"], m["bytes"]), ("HEAD /f.txt HTTP/1.1", "200",
                                                                    "0"))

    def test_escaping(self):
        # bytes outside printable ASCII, '"' and '\' are written as \xHH
        request(self.port, "/f.txt", headers={"User-Agent": 'a"b\\c\x7fd'})
        with RawConn(self.port) as c:
            c.send(b"GET /f.txt HTTP/1.1\r\nHost: a\r\nUser-Agent: caf\xc3\xa9\r\n"
                   b"Connection: close\r\n\r\n")
            c.read_response()
        lines = self.srv.wait_access_log(2)
        self.assertTrue(lines[0].endswith('"a\\x22b\\x5Cc\\x7Fd"'), lines[0])
        self.assertTrue(lines[1].endswith('"caf\\xC3\\xA9"'), lines[1])

    def test_custom_format(self):
        with RawConn(self.port) as c:
            local_port = c.local_port()
            before = time.time()
            c.send(build_request("GET", "/custom/c.txt?k=v", headers={"X-Trace": "abc"},
                                 close=False))
            r1 = c.read_response()
            c.send(build_request("GET", "/custom/c.txt"))
            c.read_response()
            after = time.time()
        lines = self.srv.wait_access_log(2, "logs/custom.log")
        # the default access log is not written for this location (access_log replaced)
        self.assertEqual(self.srv.access_log(), [])
        f = lines[0].split("|")
        self.assertEqual(len(f), 23, lines[0])
        (addr, rport, method, uri, args, status, body_bytes, bytes_sent, req_time, msec, conn,
         proto, trace, host, sport, request_uri, iso, req, scheme, sname, fname, droot,
         saddr) = f
        self.assertEqual((addr, rport, method, uri, args, status),
                         ("127.0.0.1", str(local_port), "GET", "/custom/c.txt", "k=v", "200"))
        self.assertEqual(body_bytes, "12")
        self.assertEqual(int(bytes_sent), len(r1.raw_head) + 4 + 12)  # head + CRLFCRLF + body
        self.assertRegex(req_time, r"^\d+\.\d{3}$")
        self.assertLess(float(req_time), 5)
        self.assertRegex(msec, r"^\d+\.\d{3}$")
        self.assertTrue(before - 1 <= float(msec) <= after + 1)
        self.assertRegex(conn, r"^\d+$")
        self.assertEqual((proto, trace, host, sport, request_uri),
                         ("HTTP/1.1", "abc", "localhost", str(self.port), "/custom/c.txt?k=v"))
        self.assertRegex(iso, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
        self.assertEqual((req, scheme, sname), ("GET /custom/c.txt?k=v HTTP/1.1", "http",
                                                "localhost"))
        self.assertEqual(fname, self.srv.path("html/custom/c.txt"))
        self.assertEqual(droot, self.srv.path("html"))
        self.assertEqual(saddr, "127.0.0.1")
        g = lines[1].split("|")
        # same connection, same $connection; empty values are logged as "-"
        self.assertEqual(g[10], conn)
        self.assertEqual(g[4], "-")     # $args empty
        self.assertEqual(g[12], "-")    # $http_x_trace absent

    def test_access_log_off(self):
        self.assertEqual(request(self.port, "/off/o.txt").status, 200)
        self.assertEqual(request(self.port, "/f.txt").status, 200)
        lines = self.srv.wait_access_log(1)
        time.sleep(0.2)  # give a wrongly written line for /off/ a chance to show up
        lines = self.srv.access_log()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn('"GET /f.txt HTTP/1.1"', lines[0])

    def test_return_logged_with_status_and_bytes(self):
        request(self.port, "/ret/x")
        line = self.srv.wait_access_log(1)[0]
        m = COMBINED.match(line)
        self.assertEqual((m["status"], m["bytes"]), ("200", "11"))

    def test_bad_request_logged(self):
        with RawConn(self.port) as c:
            c.send(b"GARBAGE\r\n\r\n")
            c.read_response()
        line = self.srv.wait_access_log(1)[0]
        m = COMBINED.match(line)
        self.assertTrue(m, line)
        self.assertEqual((m["request"], m["status"]), ("GARBAGE", "400"))


class BadUriLogTest(unittest.TestCase):
    """A request whose URI does not normalize (".." above the root) is a 400 with an empty
    $uri, not what normalizing left behind (portico logged "/..\\x00\\x00..." here)."""

    @nginx_differs("nginx logs an empty $uri as nothing (found, empty) and $request_uri as '-';"
                   " portico's access log writes '-' for every empty value and keeps the target")
    def test_uri_of_a_bad_request_is_empty(self):
        srv = Server("""
http {
    log_format u '$uri|$request_uri|$status';
    server {
        listen 127.0.0.1:{port};
        access_log logs/u.log u;
        location / { return 200 OK; }
    }
}
""")
        try:
            for path in ("/../bad_uri", "/a/../../x?q=1", "/ok"):
                with RawConn(srv.port()) as c:
                    c.send(build_request("GET", path))
                    c.read_response()
            lines = srv.wait_access_log(3, "logs/u.log")
            self.assertEqual(lines, ["-|/../bad_uri|400", "-|/a/../../x?q=1|400", "/ok|/ok|200"])
        finally:
            srv.stop()


class BufferedAccessLogTest(unittest.TestCase):
    """access_log buffer=SIZE flush=TIME: a buffered line waits for a full buffer, the exit or
    the flush interval, whichever comes first (nginx)."""

    def test_flush_interval_writes_buffered_lines(self):
        with Server(CONFIG, FILES) as srv:
            self.assertEqual(request(srv.port(), "/flushed/x").status, 200)
            self.assertEqual(request(srv.port(), "/buffered/x").status, 200)
            # flush=300ms: the line is on disk well within the wait, while the server runs
            lines = eventually(lambda: srv.access_log("logs/flushed.log"), 5,
                               message="flushed.log gets its line while the server runs")
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("|/flushed/x|", lines[0])
            # buffer= without flush=: still in the worker's buffer (64 KiB is far from full) ...
            self.assertEqual(srv.access_log("logs/buffered.log"), [])
            # ... and written when the worker exits
            srv.signal(signal.SIGQUIT)
            self.assertTrue(srv.wait_exit(10))
            self.assertEqual(len(srv.access_log("logs/buffered.log")), 1)

    def test_flush_without_buffer_is_refused(self):
        srv = Server(CONFIG.replace("access_log logs/custom.log custom;",
                                    "access_log logs/custom.log custom flush=1s;"),
                     FILES, start=False)
        try:
            line = srv.line_of("flush=1s")
            r = srv.run_cli("-t")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(f'no buffer is defined for access_log "logs/custom.log" in '
                          f'{srv.conf_path}:{line}', r.stderr)
        finally:
            srv.stop()


class ErrorLogTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(CONFIG, FILES)
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()

    def test_not_found_logged_at_error(self):
        request(self.port, "/missing.html", host=f"localhost:{self.port}")
        self.srv.wait_error_log("missing.html")
        lines = [l for l in self.srv.error_log().split("\n") if "missing.html" in l]
        self.assertEqual(len(lines), 1, lines)
        m = ERROR_LINE.match(lines[0])
        self.assertTrue(m, lines[0])
        self.assertEqual(m["level"], "error")
        self.assertEqual(time.strftime("%Y/%m/%d", time.localtime())[:7], m["date"][:7])
        path = self.srv.path("html/missing.html")
        self.assertEqual(
            m["message"],
            f'open() "{path}" failed (2: No such file or directory), client: 127.0.0.1, '
            f'server: localhost, request: "GET /missing.html HTTP/1.1", '
            f'host: "localhost:{self.port}"')

    def test_log_not_found_off(self):
        self.assertEqual(request(self.port, "/quiet/nothing").status, 404)
        self.assertEqual(request(self.port, "/loud-missing").status, 404)
        self.srv.wait_error_log("loud-missing")
        self.assertNotIn("/quiet/nothing", self.srv.error_log())

    def test_error_log_level_filter(self):
        # a server whose error_log is at crit does not log the 404 at all
        with Server(CONFIG, FILES, error_log_level="crit") as srv:
            request(srv.port(), "/missing")
            self.assertEqual(request(srv.port(), "/index.html").status, 200)
            srv.wait_access_log(2)
            self.assertNotIn("No such file", srv.error_log())


if __name__ == "__main__":
    unittest.main()
