"""keepalive_timeout (with its header parameter) and keepalive_requests."""

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


if __name__ == "__main__":
    unittest.main()
