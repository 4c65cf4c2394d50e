"""keepalive_timeout (with its header parameter), keepalive_requests, lingering_close."""

import socket
import unittest

from harness import RawConn, Server, build_request

CONFIG = r"""
http {
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "ok\n"; }
        location /hdr { keepalive_timeout 30s 7; return 200 "ok\n"; }
        location /off { keepalive_timeout 0; return 200 "ok\n"; }
        location /two { keepalive_requests 2; return 200 "ok\n"; }
        location /linger {
            keepalive_timeout 0;
            lingering_close always;
            lingering_timeout 5s;
            return 200 "ok\n";
        }
    }
}
"""


class KeepaliveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG)
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_keepalive_header_parameter(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/hdr", close=False))
            r = c.read_response()
            self.assertEqual(r.header("Keep-Alive"), "timeout=7")
            self.assertEqual(r.header("Connection"), "keep-alive")
            c.send(build_request("GET", "/", close=False))
            self.assertIsNone(c.read_response().header("Keep-Alive"))

    def test_keepalive_timeout_zero_closes(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/off", close=False))
            r = c.read_response()
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_within(5))

    def test_keepalive_requests_limit(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/two", close=False))
            self.assertEqual(c.read_response().header("Connection"), "keep-alive")
            c.send(build_request("GET", "/two", close=False))
            self.assertEqual(c.read_response().header("Connection"), "close")
            self.assertTrue(c.closed_within(5))

    def test_lingering_close_always_reads_after_the_response(self):
        # The response ends the connection (keepalive_timeout 0); with `always` the server
        # still reads and drops what the client sends for lingering_timeout, so the client's
        # late bytes meet a reading socket (EOF), not a closed one (RST).
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/linger", close=False))
            r = c.read_response()
            self.assertEqual(r.header("Connection"), "close")
            c.sock.sendall(b"late bytes the server must read and drop")
            c.sock.settimeout(10)
            try:
                data = c.sock.recv(100)
            except ConnectionResetError:
                self.fail("the connection was reset: no lingering close")
            self.assertEqual(data, b"")

    def test_lingering_close_bad_value(self):
        srv = Server("""
http { server { listen 127.0.0.1:{port}; lingering_close sometimes; } }""", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertRegex(out.stderr, r'invalid value "sometimes" in \S+portico\.conf:\d+')
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
