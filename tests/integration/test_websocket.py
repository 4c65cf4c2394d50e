"""WebSocket through the proxy: the usual `map $http_upgrade $connection_upgrade` setup,
echo frames both ways, proxy_read_timeout as the idle timeout, close from either side,
and reload during WebSocket traffic. The upstream is upstreams.py's `ws` mode."""

import json
import os
import socket
import struct
import time
import unittest

from harness import RawConn, Server, eventually, request, requires_proxy
from upstreams import Upstream, WsClient, ws_accept, ws_handshake_request


def ws_config(gen=1):
    return r"""
http {
    default_type text/plain;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        add_header X-Gen GEN;
        location = /gen { return 200 "gen\n"; }
        location /ws/ {
            proxy_pass http://127.0.0.1:@WS@;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
        location /idle/ {
            proxy_pass http://127.0.0.1:@WS@;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1s;
        }
        location /plain/ {
            # no Upgrade / Connection forwarding: no tunnel
            proxy_pass http://127.0.0.1:@WS@;
            proxy_http_version 1.1;
        }
    }
}
""".replace("GEN", str(gen))


@requires_proxy
class WebSocketTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ws = Upstream("ws", name="ws")
        cls.srv = Server(cls.cfg())
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.ws.stop()

    @classmethod
    def cfg(cls, gen=1):
        return ws_config(gen).replace("@WS@", str(cls.ws.port))

    def connect(self, path="/ws/chat", timeout=10):
        c = RawConn(self.port, timeout=timeout)
        data, key = ws_handshake_request(path)
        c.send(data)
        r = c.read_response()
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.header("Upgrade"), "websocket")
        self.assertEqual(r.header("Connection").lower(), "upgrade")
        self.assertEqual(r.header("Sec-WebSocket-Accept"), ws_accept(key))
        return c, WsClient(c)

    def echo(self, ws, opcode, payload):
        ws.send(opcode, payload)
        fin, op, got = ws.recv()
        self.assertEqual((fin, op), (True, opcode))
        self.assertEqual(got, payload)

    def test_handshake_and_echo(self):
        c, ws = self.connect()
        with c:
            self.echo(ws, 0x1, b"hello")
            self.echo(ws, 0x2, bytes(range(256)))
            for n in (0, 125, 126, 65535, 65536, 300_000):
                with self.subTest(size=n):
                    self.echo(ws, 0x2, os.urandom(n))
            ws.send(0x9, b"ping!")
            self.assertEqual(ws.recv(), (True, 0xA, b"ping!"))

    def test_fragmented_message(self):
        c, ws = self.connect()
        with c:
            ws.send(0x1, b"frag-", fin=False)
            ws.send(0x0, b"ment", fin=True)
            self.assertEqual(ws.recv(), (False, 0x1, b"frag-"))
            self.assertEqual(ws.recv(), (True, 0x0, b"ment"))

    def test_upstream_sees_upgrade_request(self):
        c, ws = self.connect("/ws/room?id=7")
        with c:
            ws.send(0x1, b"headers?")
            _, _, payload = ws.recv()
        got = json.loads(payload)
        h = {k.lower(): v for k, v in got["headers"]}
        self.assertEqual(got["version"], "HTTP/1.1")
        self.assertEqual(got["target"], "/ws/room?id=7")
        self.assertEqual(h["upgrade"], "websocket")
        self.assertEqual(h["connection"], "upgrade")
        self.assertEqual(h["sec-websocket-version"], "13")
        self.assertIn("sec-websocket-key", h)

    def test_plain_request_through_the_same_location(self):
        # no Upgrade: the map gives Connection: close, no Upgrade is sent
        r = request(self.port, "/ws/plain")
        self.assertEqual(r.status, 426)
        h = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
        self.assertEqual(h["connection"], "close")
        self.assertNotIn("upgrade", h)

    def test_no_tunnel_without_upgrade_forwarding(self):
        # without proxy_set_header Upgrade/Connection the upstream never sees the upgrade
        c = RawConn(self.port)
        with c:
            c.send(ws_handshake_request("/plain/x")[0])
            r = c.read_response()
        self.assertEqual(r.status, 426)

    def test_both_directions_interleaved(self):
        c, ws = self.connect()
        with c:
            msgs = [os.urandom(1000 + i) for i in range(20)]
            for m in msgs:
                ws.send(0x2, m)
            for m in msgs:
                self.assertEqual(ws.recv(), (True, 0x2, m))

    def test_idle_timeout_closes_tunnel(self):
        c, ws = self.connect("/idle/x")
        with c:
            # traffic keeps it open past the 1 s proxy_read_timeout
            t0 = time.monotonic()
            for i in range(6):
                self.echo(ws, 0x1, b"keep %d" % i)
                if i < 5:
                    self.assertFalse(c.closed_within(0.4))
            self.assertGreater(time.monotonic() - t0, 2.0)
            # then idle: closed after about proxy_read_timeout
            t1 = time.monotonic()
            self.assertTrue(c.closed_within(5))
            self.assertGreater(time.monotonic() - t1, 0.7)
        self.ws.wait_for(lambda u: u.count("close") >= 1, 5)

    def test_close_from_client(self):
        c, ws = self.connect()
        with c:
            before = self.ws.count("ws-close-from-client")
            ws.send(0x8, struct.pack("!H", 1000) + b"done")
            fin, op, payload = ws.recv()
            self.assertEqual(op, 0x8)
            self.assertEqual(struct.unpack("!H", payload[:2])[0], 1000)
            self.assertTrue(c.closed_within(5))
        self.ws.wait_for(lambda u: u.count("ws-close-from-client") > before, 5)

    def test_close_from_upstream(self):
        c, ws = self.connect()
        with c:
            ws.send(0x1, b"close-me")
            fin, op, payload = ws.recv()
            self.assertEqual(op, 0x8)
            self.assertEqual(payload, struct.pack("!H", 1000) + b"bye")
            ws.send(0x8, struct.pack("!H", 1000))
            self.assertTrue(c.closed_within(5))

    def test_client_disconnect_reaches_upstream(self):
        c, ws = self.connect()
        self.echo(ws, 0x1, b"x")
        opened = self.ws.count("upgraded")
        closes = self.ws.count("close")
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        self.ws.wait_for(lambda u: u.count("close") > closes, 5, "upstream sees EOF")
        self.assertGreaterEqual(opened, 1)

    def test_reload_keeps_websocket_open(self):
        # nginx: the old worker keeps serving the tunnel after a reload until it closes;
        # issue 3 asks the same of portico (unchanged routes are never cut)
        c, ws = self.connect()
        with c:
            self.echo(ws, 0x1, b"before reload")
            self.srv.reload(self.cfg(2))
            eventually(lambda: request(self.port, "/gen").header("X-Gen") == "2", 10,
                       message="reloaded")
            for i in range(5):
                self.echo(ws, 0x2, os.urandom(5000))
            self.assertTrue(c.is_open(0.2))
            # a new WebSocket on the new configuration works as well
            c2, ws2 = self.connect()
            with c2:
                self.echo(ws2, 0x1, b"new")
            self.echo(ws, 0x1, b"still here")
        self.srv.reload(self.cfg(1))
        eventually(lambda: request(self.port, "/gen").header("X-Gen") == "1", 10)


if __name__ == "__main__":
    unittest.main()
