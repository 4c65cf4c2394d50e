"""PROXY protocol (v1 and v2): `listen ... proxy_protocol` in http and stream, the
$proxy_protocol_* variables, `real_ip_header proxy_protocol` and stream's set_real_ip_from,
PROXY before TLS, malformed and slow headers, and stream's `proxy_protocol on` towards an
upstream (checked end to end: a stream server sends the header to an http server of the same
instance, which takes the client's address from it).

Headers are written by hand on raw sockets, as an L4 balancer (HAProxy, a cloud NLB) sends
them. Every expectation was checked against nginx (PORTICO_TEST_TARGET=nginx).
"""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (HAVE_IPV6, IS_NGINX, RawConn, Server, build_request, eventually, nginx_differs,
                     requires_stream,
                     stream_prelude)
from upstreams import Upstream

SIG = b"\r\n\r\n\x00\r\nQUIT\n"

SHOW = ('"$remote_addr|$remote_port|$proxy_protocol_addr|$proxy_protocol_port|'
        '$proxy_protocol_server_addr|$proxy_protocol_server_port|$realip_remote_addr"')

HTTP_CONFIG = r"""
http {
    log_format pp '$remote_addr:$remote_port $proxy_protocol_addr';
    server {
        listen 127.0.0.1:{port} proxy_protocol;
        IPV6_LISTEN
        server_name localhost;
        access_log logs/pp.log pp;
        set_real_ip_from 127.0.0.1;
        set_real_ip_from ::1;
        location = /show { return 200 SHOW; }
        # realip in a location runs after the rewrite phase (`return`): static files here
        location /realip/ {
            real_ip_header proxy_protocol;
            add_header X-Show SHOW;
            location /realip/deny/ { deny 192.0.2.1; }
        }
        TLV_LOCATION
    }
    server {
        listen 127.0.0.1:{port_untrusted} proxy_protocol;
        server_name localhost;
        set_real_ip_from 10.0.0.0/8;
        real_ip_header proxy_protocol;
        location = /show { return 200 SHOW; }
    }
    server {
        listen 127.0.0.1:{port_tls} ssl proxy_protocol;
        server_name localhost;
        ssl_certificate {prefix}/conf/cert.pem;
        ssl_certificate_key {prefix}/conf/key.pem;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        location = /show { return 200 SCHEME_SHOW; }
    }
    server {
        listen 127.0.0.1:{port_timeout} proxy_protocol;
        server_name localhost;
        client_header_timeout 1s;
        location / { return 200 "late"; }
    }
}
"""


TLV_LOCATION = """
        location = /tlv {
            return 200 "$proxy_protocol_tlv_alpn|$proxy_protocol_tlv_authority|$proxy_protocol_tlv_0xe0|$proxy_protocol_tlv_ssl_cn|$proxy_protocol_tlv_ssl_verify";
        }
"""


def v1(src="192.0.2.1", dst="192.0.2.2", sport=123, dport=5678, proto=None):
    proto = proto or ("TCP6" if ":" in src else "TCP4")
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src="192.0.2.1", dst="192.0.2.2", sport=123, dport=5678, tlvs=b"", cmd=0x21):
    if ":" in src:
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        fam = 0x21
    else:
        body = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
        fam = 0x11
    body += struct.pack(">HH", sport, dport) + tlvs
    return SIG + bytes([cmd, fam]) + struct.pack(">H", len(body)) + body


def tlv(t, value):
    return bytes([t]) + struct.pack(">H", len(value)) + value


def get(port, header, path="/show", addr="127.0.0.1"):
    """One request after `header` on a fresh connection; (status, body)."""
    r = get_response(port, header, path, addr)
    return r.status, r.text


def get_response(port, header, path="/show", addr="127.0.0.1"):
    with RawConn(port, addr, timeout=10) as c:
        c.send(header + build_request("GET", path))
        return c.read_final_response()


def fields(body):
    keys = ["addr", "port", "pp_addr", "pp_port", "pp_server_addr", "pp_server_port", "realip"]
    return dict(zip(keys, body.split("|")))


def make_cert(directory):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", os.path.join(directory, "key.pem"),
                    "-out", os.path.join(directory, "cert.pem")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class HttpProxyProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="portico-pp-")
        make_cert(cls.certs)
        files = {"html/realip/show": "SEE-THIS", "html/realip/deny/ok": "allowed"}
        for name in ("cert.pem", "key.pem"):
            with open(os.path.join(cls.certs, name), "rb") as f:
                files[f"conf/{name}"] = f.read()
        # $proxy_protocol_tlv_* came with nginx 1.23.2: not in the reference 1.22.
        tlv_location = "" if IS_NGINX else TLV_LOCATION
        cfg = HTTP_CONFIG.replace("TLV_LOCATION", tlv_location)
        cfg = cfg.replace("SCHEME_SHOW", '"$scheme|' + SHOW[1:]).replace("SHOW", SHOW).replace(
            "IPV6_LISTEN", "listen [::1]:{port} proxy_protocol;" if HAVE_IPV6 else "")
        cls.srv = Server(cfg, files=files, error_log_level="info")
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.certs, ignore_errors=True)

    # ---- variables without realip ----

    def test_v1_tcp4(self):
        status, body = get(self.port, v1())
        self.assertEqual(status, 200)
        f = fields(body)
        self.assertEqual(f["addr"], "127.0.0.1")
        self.assertNotEqual(f["port"], "123")
        self.assertEqual((f["pp_addr"], f["pp_port"]), ("192.0.2.1", "123"))
        self.assertEqual((f["pp_server_addr"], f["pp_server_port"]), ("192.0.2.2", "5678"))

    def test_v1_tcp6_keeps_the_text_as_sent(self):
        status, body = get(self.port, v1("2001:Db8::1", "2001:Db8::2"))
        self.assertEqual(status, 200)
        f = fields(body)
        self.assertEqual(f["pp_addr"], "2001:Db8::1")
        self.assertEqual(f["pp_server_addr"], "2001:Db8::2")

    def test_v1_unknown(self):
        for header in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN 1 2 3 4 5 6\r\n"):
            status, body = get(self.port, header)
            self.assertEqual(status, 200)
            f = fields(body)
            self.assertEqual(f["addr"], "127.0.0.1")
            self.assertEqual(f["pp_addr"] + f["pp_port"] + f["pp_server_addr"], "")

    def test_v2_tcp4_and_tcp6(self):
        _, body = get(self.port, v2())
        self.assertEqual(fields(body)["pp_addr"], "192.0.2.1")
        _, body = get(self.port, v2("2001:Db8::1", "2001:db8::2", 123, 5678))
        f = fields(body)
        self.assertEqual((f["pp_addr"], f["pp_port"]), ("2001:db8::1", "123"))
        self.assertEqual(f["pp_server_port"], "5678")

    def test_v2_local_and_unknown_family(self):
        for header in (SIG + b"\x20\x00\x00\x00", SIG + b"\x21\x00\x00\x00",
                       SIG + b"\x21\x41\x00\x04\x01\x02\x03\x04"):
            status, body = get(self.port, header)
            self.assertEqual(status, 200)
            self.assertEqual(fields(body)["pp_addr"], "")

    @nginx_differs("$proxy_protocol_tlv_* is nginx 1.23.2+; the reference is 1.22")
    def test_v2_tlvs(self):
        ssl_tlv = b"\x01" + struct.pack(">I", 7) + tlv(0x22, b"client.example")
        tlvs = (tlv(0x01, b"h2") + tlv(0x02, b"host.example") + tlv(0xe0, b"custom") +
                tlv(0x20, ssl_tlv))
        status, body = get(self.port, v2(tlvs=tlvs), "/tlv")
        self.assertEqual(status, 200)
        self.assertEqual(body, "h2|host.example|custom|client.example|7")

    @nginx_differs("nginx 1.22 wants the whole header in its first read and closes otherwise")
    def test_header_and_request_in_separate_writes(self):
        # A slow balancer: the header arrives in pieces, then the request.
        with RawConn(self.port, timeout=10) as c:
            header = v1()
            for piece in (header[:3], header[3:20], header[20:]):
                c.send(piece)
                time.sleep(0.05)
            c.send(build_request("GET", "/show"))
            r = c.read_final_response()
        self.assertEqual(fields(r.text)["pp_addr"], "192.0.2.1")

    def test_keepalive_keeps_the_header(self):
        with RawConn(self.port, timeout=10) as c:
            c.send(v1() + build_request("GET", "/show", close=False))
            first = c.read_final_response()
            c.send(build_request("GET", "/realip/show"))
            second = c.read_final_response()
        self.assertEqual(fields(first.text)["addr"], "127.0.0.1")
        self.assertEqual(fields(second.header("X-Show"))["addr"], "192.0.2.1")
        self.assertEqual(fields(second.header("X-Show"))["pp_addr"], "192.0.2.1")

    # ---- realip ----

    def realip_show(self, header, addr="127.0.0.1"):
        r = get_response(self.port, header, "/realip/show", addr)
        self.assertEqual((r.status, r.text), (200, "SEE-THIS"))
        return fields(r.header("X-Show"))

    def test_realip_takes_address_and_port(self):
        f = self.realip_show(v1("192.0.2.1", "2001:db8::2"))
        self.assertEqual((f["addr"], f["port"]), ("192.0.2.1", "123"))
        self.assertEqual(f["realip"], "127.0.0.1")
        f = self.realip_show(v1("2001:DB8::1", "2001:db8::2"))
        self.assertEqual((f["addr"], f["port"]), ("2001:db8::1", "123"))  # printed anew
        self.assertEqual(f["pp_addr"], "2001:DB8::1")  # as sent
        f = self.realip_show(v2("2001:Db8::1", "2001:db8::2"))
        self.assertEqual((f["addr"], f["port"]), ("2001:db8::1", "123"))

    def test_realip_feeds_access_and_log(self):
        status, _ = get(self.port, v1(), "/realip/deny/ok")
        self.assertEqual(status, 403)
        status, body = get(self.port, v1("192.0.2.9"), "/realip/deny/ok")
        self.assertEqual((status, body), (200, "allowed"))
        eventually(lambda: "192.0.2.9:123 192.0.2.9" in self.srv.access_log("logs/pp.log"),
                   message="the access log shows the PROXY protocol address")

    def test_untrusted_peer_keeps_its_address(self):
        _, body = get(self.srv.port("port_untrusted"), v1())
        f = fields(body)
        self.assertEqual(f["addr"], "127.0.0.1")
        self.assertEqual(f["pp_addr"], "192.0.2.1")

    @unittest.skipUnless(HAVE_IPV6, "no IPv6 loopback")
    def test_ipv6_listener(self):
        self.assertEqual(self.realip_show(v1(), addr="::1")["addr"], "192.0.2.1")

    # ---- broken, missing, slow ----

    def closes_without_response(self, data, port=None):
        with RawConn(port or self.port, timeout=5) as c:
            c.send(data)
            self.assertEqual(c.read_until_close(5), b"")

    def test_request_without_header_is_closed(self):
        self.closes_without_response(build_request("GET", "/show"))

    def test_malformed_headers_are_closed(self):
        for bad in (b"PROXY TCP4 192.0.2.1 192.0.2.2 123\r\n",
                    b"PROXY TCP4 192.0.2.1 192.0.2.2 123 99999\r\n",
                    b"PROXY TCP4 not-an-ip 192.0.2.2 1 2\r\n",
                    b"PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",
                    SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12,  # version 1 in a v2 header
                    SIG + b"\x21\x11\x00\x02\x00\x00"):  # too short for two addresses
            self.closes_without_response(bad + build_request("GET", "/show"))
        self.srv.wait_error_log(r"broken header")

    @nginx_differs("nginx reads an UNKNOWN line to its CRLF, within client_header_buffer_size")
    def test_v1_longer_than_107_bytes_is_closed(self):
        # The spec's bound on a v1 header, which HAProxy keeps too.
        self.closes_without_response(b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n" +
                                     build_request("GET", "/show"))

    def test_huge_v2_length_is_closed(self):
        self.closes_without_response(SIG + b"\x21\x11\xff\xff" + b"\x00" * 100)

    def test_silent_client_times_out(self):
        port = self.srv.port("port_timeout")
        with RawConn(port, timeout=10) as c:
            c.send(b"PROXY TCP4 192.0.2.1")
            start = time.monotonic()
            self.assertEqual(c.read_until_close(8), b"")
            self.assertLess(time.monotonic() - start, 8)

    def test_client_closing_mid_header(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"PROXY TCP4 19")
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")
        # still serving
        self.assertEqual(get(self.port, v1())[0], 200)

    # ---- TLS after PROXY ----

    def tls_get(self, header):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.srv.port("port_tls")), timeout=10)
        raw.sendall(header)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(build_request("GET", "/show"))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head.split(b" ")[1].decode(), body.decode()

    def test_tls_after_v1_and_v2(self):
        for header in (v1(), v2()):
            status, body = self.tls_get(header)
            self.assertEqual(status, "200")
            scheme, rest = body.split("|", 1)
            self.assertEqual(scheme, "https")
            self.assertEqual(fields(rest)["addr"], "192.0.2.1")

    def test_tls_without_header_is_closed(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.srv.port("port_tls")), timeout=10)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(build_request("GET", "/show"))
                if not s.recv(100):
                    raise ConnectionError("closed")


STREAM_CONFIG = r"""
events {}
stream {
    log_format pp '$remote_addr|$proxy_protocol_addr|$proxy_protocol_port|$realip_remote_addr';
    proxy_protocol on;
    server {
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:@ECHO@;
    }
    server {
        listen 127.0.0.1:{port_off};
        proxy_pass 127.0.0.1:@ECHO@;
        proxy_protocol off;
    }
    server {
        # receives PROXY, trusts loopback, and passes the client's address on
        listen 127.0.0.1:{port_relay} proxy_protocol;
        set_real_ip_from 127.0.0.1;
        proxy_pass 127.0.0.1:@ECHO@;
        access_log logs/stream.log pp;
    }
    server {
        # receives PROXY from an untrusted peer: the address stays
        listen 127.0.0.1:{port_untrusted} proxy_protocol;
        set_real_ip_from 10.0.0.0/8;
        proxy_protocol_timeout 1s;
        proxy_pass 127.0.0.1:@ECHO@;
        access_log logs/stream.log pp;
    }
    server {
        # the front of the chain: the client's address goes to the http server below
        listen 127.0.0.1:{port_front};
        proxy_pass 127.0.0.1:{port_http};
    }
}
http {
    server {
        listen 127.0.0.1:{port_http} proxy_protocol;
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        location / { return 200 "$remote_addr|$remote_port|$proxy_protocol_server_port"; }
    }
}
"""


def recv_all(s, timeout=10):
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no EOF; have {data[-200:]!r}")
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def recv_until(s, tail, timeout=10):
    """Bytes until they end with `tail`, or EOF. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(tail):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"have {data[-200:]!r}")
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


@requires_stream
class StreamProxyProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = Upstream("tcpecho", name="echo")
        try:
            cls.srv = Server(stream_prelude() + STREAM_CONFIG.replace("@ECHO@",
                                                                      str(cls.echo.port)),
                             default_access_log=False, error_log_level="info")
        except BaseException:
            cls.echo.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.echo.stop()

    def echo_through(self, port, first=b"", payload=b"close"):
        """Sends `first` + payload and reads the echo until the payload is back (or EOF)."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(first + payload)
            return recv_until(s, payload), s.getsockname()[1]

    def test_sends_v1_header(self):
        port = self.srv.port()
        data, sport = self.echo_through(port)
        self.assertTrue(data.startswith(
            f"PROXY TCP4 127.0.0.1 127.0.0.1 {sport} {port}\r\nclose".encode()), data)

    def test_off_sends_nothing(self):
        data, _ = self.echo_through(self.srv.port("port_off"))
        self.assertTrue(data.startswith(b"close"), data)

    def test_relay_passes_the_client_address_on(self):
        port = self.srv.port("port_relay")
        data, _ = self.echo_through(port, v1("192.0.2.7", "192.0.2.8", 4444, 80))
        # Only the new header reaches the upstream: the received one is consumed.
        self.assertTrue(data.startswith(f"PROXY TCP4 192.0.2.7 127.0.0.1 4444 {port}\r\nclose"
                                        .encode()), data)
        eventually(lambda: "192.0.2.7|192.0.2.7|4444|127.0.0.1" in
                   self.srv.access_log("logs/stream.log"), message="stream log line")

    def test_relay_v2(self):
        port = self.srv.port("port_relay")
        data, _ = self.echo_through(port, v2("2001:db8::5", "2001:db8::6", 4000, 443))
        self.assertTrue(data.startswith(f"PROXY TCP6 2001:db8::5 127.0.0.1 4000 {port}\r\n"
                                        .encode()), data)

    def test_untrusted_keeps_the_address(self):
        port = self.srv.port("port_untrusted")
        data, sport = self.echo_through(port, v1("192.0.2.7", "192.0.2.8", 4444, 80))
        self.assertTrue(data.startswith(f"PROXY TCP4 127.0.0.1 127.0.0.1 {sport} {port}\r\n"
                                        .encode()), data)
        eventually(lambda: "127.0.0.1|192.0.2.7|4444|127.0.0.1" in
                   self.srv.access_log("logs/stream.log"), message="stream log line")

    def test_broken_header_closes(self):
        data, _ = self.echo_through(self.srv.port("port_relay"), b"HELLO\r\n")
        self.assertEqual(data, b"")
        self.srv.wait_error_log(r"broken header")

    def test_silent_client_times_out(self):
        with socket.create_connection(("127.0.0.1", self.srv.port("port_untrusted")),
                                      timeout=10) as s:
            s.sendall(b"PROXY TCP4 ")
            start = time.monotonic()
            self.assertEqual(recv_all(s, 8), b"")
            self.assertLess(time.monotonic() - start, 8)

    def test_chain_stream_to_http(self):
        with RawConn(self.srv.port("port_front"), timeout=10) as c:
            c.send(build_request("GET", "/"))
            r = c.read_final_response()
            local = c.local_port()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text,
                         f"127.0.0.1|{local}|{self.srv.port('port_front')}")


if __name__ == "__main__":
    unittest.main()
