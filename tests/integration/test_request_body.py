"""Request bodies kept by the request (client_body_buffer_size, client_body_in_file_only,
client_body_temp_path with levels, $request_body, $request_body_file), proxy_set_body, the
listen socket options (sndbuf, rcvbuf, so_keepalive, fastopen) and the response pace of
limit_rate / limit_rate_after / $limit_rate / X-Accel-Limit-Rate, for static and proxied
responses, with real clients and a real upstream (upstreams.py echo).

Every expectation was checked against nginx (PORTICO_TEST_TARGET=nginx). Timing checks bound
paced responses from below only (a limited response cannot come sooner), and the "worker is not
blocked" check waits for a condition, not for a fixed time."""

import hashlib
import json
import os
import re
import subprocess
import threading
import time
import unittest

from harness import (IS_NGINX, RawConn, Server, build_request, eventually, request,
                     requires_proxy)
from upstreams import Upstream, gen_bytes

BODY_CONFIG = r"""
http {
    server {
        listen 127.0.0.1:{port};
        client_body_temp_path tmp/body 1 2;
        client_body_buffer_size 2k;
        location /mem {
            add_header X-Body "$request_body";
            add_header X-Body-File "$request_body_file";
            proxy_pass http://{upstream}/echo;
        }
        location /only {
            client_body_in_file_only on;
            add_header X-Body-File "$request_body_file";
            proxy_pass http://{upstream}/echo;
        }
        location /clean {
            client_body_in_file_only clean;
            add_header X-Body-File "$request_body_file";
            proxy_pass http://{upstream}/echo;
        }
        location /set {
            proxy_set_body "set:$arg_v";
            proxy_pass http://{upstream}/echo;
        }
        location /stream {
            proxy_request_buffering off;
            add_header X-Body "$request_body";
            proxy_pass http://{upstream}/echo;
        }
    }
}
"""


def body_of(r):
    return json.loads(r.body)


@requires_proxy
class RequestBodyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream("echo")
        cls.srv = Server(BODY_CONFIG.replace("{upstream}", cls.up.addr))
        cls.srv.__enter__()
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        cls.up.stop()

    def post(self, path, body, chunked=False):
        headers = [("Transfer-Encoding", "chunked")] if chunked else None
        data = body
        if chunked:
            data = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        return request(self.port, path, method="POST", body=data, headers=headers)

    def test_small_body_is_in_memory(self):
        r = self.post("/mem", b"0123456789")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Body"), "0123456789")
        self.assertIsNone(r.header("X-Body-File"))
        self.assertEqual(body_of(r)["body_len"], 10)

    def test_body_over_the_buffer_goes_to_a_file(self):
        data = b"0123456789" * 512
        r = self.post("/mem", data)
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("X-Body"))  # not in memory: $request_body is empty
        name = r.header("X-Body-File")
        self.assertTrue(name, r.headers)
        # levels 1 2: DIR/<last digit>/<two before it>/<ten digits>
        m = re.search(r"/tmp/body/(\d)/(\d\d)/(\d{10})$", name)
        self.assertTrue(m, name)
        self.assertEqual(m.group(1), m.group(3)[-1])
        self.assertEqual(m.group(2), m.group(3)[-3:-1])
        self.assertFalse(os.path.exists(name), "file_only off: the file is not kept")
        self.assertEqual(body_of(r)["body_len"], len(data))
        self.assertEqual(body_of(r)["body_sha256"], hashlib.sha256(data).hexdigest())

    def test_chunked_body_over_the_buffer(self):
        data = b"abcdefgh" * 1000
        r = self.post("/mem", data, chunked=True)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("X-Body-File"))
        self.assertEqual(body_of(r)["body_len"], len(data))
        self.assertEqual(body_of(r)["framing"], "length")  # buffered: sent with its length

    def test_in_file_only_on_keeps_the_file(self):
        r = self.post("/only", b"short body")
        name = r.header("X-Body-File")
        self.assertTrue(name)
        with open(name, "rb") as f:
            self.assertEqual(f.read(), b"short body")
        os.unlink(name)
        self.assertEqual(body_of(r)["body_len"], 10)

    def test_in_file_only_clean_removes_the_file_after_the_request(self):
        r = self.post("/clean", b"x" * 5000, chunked=True)
        name = r.header("X-Body-File")
        self.assertTrue(name)
        eventually(lambda: not os.path.exists(name), timeout=5, message="file removed")
        self.assertEqual(body_of(r)["body_len"], 5000)

    def test_streamed_small_body_is_visible(self):
        r = self.post("/stream", b"streamed")
        self.assertEqual(r.header("X-Body"), "streamed")
        self.assertEqual(body_of(r)["body_len"], 8)

    def test_proxy_set_body_replaces_the_body(self):
        r = self.post("/set?v=1", b"client body dropped")
        info = body_of(r)
        self.assertEqual(info["body_len"], len(b"set:1"))
        self.assertEqual(info["body_sha256"], hashlib.sha256(b"set:1").hexdigest())
        r = request(self.port, "/set?v=22")  # a GET without a body gets one too
        self.assertEqual(body_of(r)["body_len"], len(b"set:22"))

    def test_pipelined_bodies_each_their_own(self):
        with RawConn(self.port) as c:
            reqs = b""
            for body in (b"a" * 3000, b"second"):
                reqs += build_request("POST", "/mem", body=body, close=False)
            c.send(reqs)
            first = c.read_response()
            second = c.read_response()
        self.assertEqual(body_of(first)["body_len"], 3000)
        self.assertEqual(second.header("X-Body"), "second")
        self.assertEqual(body_of(second)["body_len"], 6)


class RequestBodyConfigTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server("http { server { listen 127.0.0.1:{port}; } }", start=False)

    def tearDown(self):
        self.srv.stop()

    def check_t(self, server_text, ok, message=None):
        self.srv.set_config("http {\n server {\n" + server_text + "\n }\n}")
        r = self.srv.run_cli("-t")
        self.assertEqual(r.returncode, 0 if ok else 1, r.stderr)
        if message:
            self.assertRegex(r.stderr, message)

    def test_bad_values_are_refused_with_file_and_line(self):
        cases = [
            ("client_body_in_file_only maybe;", r'invalid value "maybe"'),
            ("client_body_temp_path tmp/x 0;", r'"client_body_temp_path" directive invalid '
                                               r'value'),
            ("client_body_buffer_size lots;", r'"client_body_buffer_size" directive invalid '
                                              r'value'),
            ("limit_rate fast;", r'"limit_rate" directive invalid value'),
            ("listen 127.0.0.1:{port} sndbuf=big;", r'invalid sndbuf "sndbuf=big"'),
            ("listen 127.0.0.1:{port} rcvbuf=-1;", r'invalid rcvbuf "rcvbuf=-1"'),
            ("listen 127.0.0.1:{port} so_keepalive=maybe;",
             r'invalid so_keepalive value: "maybe"'),
            ("listen 127.0.0.1:{port} fastopen=x;", r'invalid fastopen "fastopen=x"'),
        ]
        for text, msg in cases:
            with self.subTest(text=text):
                listen = "" if text.startswith("listen") else "listen 127.0.0.1:{port};"
                self.check_t(listen + "\n" + text, ok=False)
                line = self.srv.line_of(self.srv.substitute(text))
                self.assertRegex(self.srv.run_cli("-t").stderr, msg + r".*:" + str(line))

    def test_good_values_are_accepted(self):
        self.check_t("listen 127.0.0.1:{port} sndbuf=32k rcvbuf=64k so_keepalive=30m::10 "
                     "fastopen=16 backlog=100;\n"
                     "client_body_buffer_size 4k; client_body_in_file_only clean;\n"
                     "client_body_in_single_buffer on; client_body_temp_path tmp/b 1 2;\n"
                     "limit_rate 10k; limit_rate_after 1m;\n"
                     "location / { limit_rate $arg_r; set $limit_rate 5k; }", ok=True)


class ListenOptionsTest(unittest.TestCase):
    def test_socket_options_reach_the_connections(self):
        cfg = ("http { server { listen 127.0.0.1:{port} sndbuf=32k so_keepalive=1h:30s:4; "
               "location / { return 200 ok; } } }")
        with Server(cfg) as srv:
            with RawConn(srv.port()) as c:
                c.send(build_request(close=False))
                self.assertEqual(c.read_response().status, 200)
                # The server's end of this connection: keepalive timer armed (ss -o), send
                # buffer sized (ss -m: tb is the doubled SO_SNDBUF, 65536 for 32k).
                out = subprocess.run(
                    ["ss", "-tnmoH", "state", "established", "sport", "=", f":{srv.port()}"],
                    capture_output=True, text=True, timeout=10).stdout
                self.assertIn("keepalive", out)
                self.assertRegex(out, r"tb65536\b")


RATE_CONFIG = r"""
http {
    server {
        listen 127.0.0.1:{port};
        location /static/ {
            limit_rate 20k;
            limit_rate_after 8k;
        }
        location /var/ {
            alias {prefix}/html/static/;
            set $limit_rate $arg_r;
        }
        location /fast/ {
            alias {prefix}/html/static/;
        }
        location /proxy/ {
            limit_rate 1m;
            proxy_pass http://{upstream}/;
        }
        location /plimit/ {
            proxy_limit_rate 20k;
            proxy_pass http://{upstream}/;
        }
    }
}
"""


def timed_get(port, path):
    t0 = time.monotonic()
    r = request(port, path, timeout=30)
    return r, time.monotonic() - t0


class LimitRateTest(unittest.TestCase):
    # Twice the rate past limit_rate_after: one second's worth goes at once (nginx's
    # rate * (t + 1)), the rest a second later.
    SIZE = 48 * 1024

    @classmethod
    def setUpClass(cls):
        cls.up = Upstream("stream")
        cls.srv = Server(RATE_CONFIG.replace("{upstream}", cls.up.addr))
        cls.srv.write_file("html/static/data", b"x" * cls.SIZE)
        cls.srv.__enter__()
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        cls.up.stop()

    def test_static_response_is_paced(self):
        r, took = timed_get(self.port, "/static/data")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), self.SIZE)
        self.assertGreaterEqual(took, 0.9)

    def test_unlimited_location_is_fast_and_not_blocked_by_a_paced_one(self):
        result = {}
        t = threading.Thread(target=lambda: result.update(r=timed_get(self.port,
                                                                       "/static/data")))
        t.start()
        try:
            # While the paced response is under way, the same worker answers at once.
            r, took = timed_get(self.port, "/fast/data")
            self.assertEqual(len(r.body), self.SIZE)
            self.assertTrue(t.is_alive() or result, "paced request never started")
            self.assertLess(took, 0.5)
        finally:
            t.join(30)
        self.assertEqual(len(result["r"][0].body), self.SIZE)

    def test_set_limit_rate_from_a_variable(self):
        _, took = timed_get(self.port, "/var/data?r=24k")
        self.assertGreaterEqual(took, 0.9)
        _, took = timed_get(self.port, "/var/data?r=")  # not a size: unlimited
        self.assertLess(took, 0.5)

    def test_proxied_response_with_x_accel_limit_rate(self):
        # The upstream's X-Accel-Limit-Rate (bytes/s) overrides the location's limit_rate.
        size = 80000
        r, took = timed_get(self.port,
                            f"/proxy/?size={size}&hdr=X-Accel-Limit-Rate:40000")
        self.assertEqual(len(r.body), size)
        self.assertEqual(r.body, b"".join(gen_bytes(size)))
        self.assertIsNone(r.header("X-Accel-Limit-Rate"))  # hidden, as nginx
        self.assertGreaterEqual(took, 0.9)

    def test_proxy_limit_rate_paces_reading_the_upstream(self):
        size = 48 * 1024
        r, took = timed_get(self.port, f"/plimit/?size={size}")
        self.assertEqual(r.body, b"".join(gen_bytes(size)))
        self.assertGreaterEqual(took, 0.9)  # 20k at once, the rest a second later


if __name__ == "__main__":
    unittest.main()
