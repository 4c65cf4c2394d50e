"""Real upstream processes for the proxy / load-balancing / stream tests.

Run as a separate process:

    python3 upstreams.py MODE [--port N] [--bind ADDR ...] [--unix PATH] [--name NAME] [options]

It binds (port 0 = pick a free one; with several --bind addresses they share the port), prints
one line `READY <port>` (or `READY unix:<path>`) on stdout, then serves until it is killed.
While serving it prints one event line per connection / request on stdout:

    EV <conn> open <peer>          a connection was accepted
    EV <conn> req <n> <METHOD> <target>   request n (1-based) on that connection
    EV <conn> close                the connection is finished (either side closed)

so that a test can see what reached the upstream and when (see `Upstream.events`).

Modes (each small; HTTP modes keep connections alive as HTTP/1.1 allows):

  echo        200 + JSON of what arrived: method, target, path, query, version, headers
              (in order, as received), body length and sha256 (read and hashed streamingly),
              whether it was chunked, the request's number on its connection, local/peer
              addresses. Query options: sleep=S (delay before answering), status=N,
              hdr=Name:Value (extra response header, repeatable), body=0 (no JSON, empty),
              ignore_body=1 (answer without reading the request body, then close).
  sink        alias of echo (an upload sink: counts and hashes the body, never stores it)
  keepalive   echo answering only `name=NAME conn=C req=N` (N = request number on this TCP
              connection: upstream keepalive pooling shows as N > 1); ignores ?status=
  fixed       --status --reason --header 'K: V' (repeatable) --body TEXT
  slow        --header-delay S, then --chunks N of --chunk-size bytes with --chunk-delay S
              between them (Content-Length unless --chunked)
  chunked     like slow without delays, chunked; --trailer 'K: V' adds a trailer
  stream      GET -> 200 with --size bytes (or ?size=N) of gen_bytes(): generated on the fly;
              hdr=Name:Value adds a response header (repeatable)
  info        1xx interim responses (--codes 100,103) then 200 "final"
  close       response without Content-Length ended by closing (--version HTTP/1.0|HTTP/1.1)
  reset       accept, read the request head (or nothing with --when accept), then RST
              (SO_LINGER 0)
  hang        accept, read the request head (or nothing with --when accept), never answer;
              it keeps reading (and discarding) until EOF unless --no-read
  truncate    head with Content-Length --cl, only --send bytes of body, then --then
              close|reset|hang (failure after the response started); --chunked: a chunked
              response cut before its last chunk
  garbage     answer with raw bytes: --kind status|header|clte|dupcl|samecl|badcl|nul|http09
              or --raw 'escaped text' (Python escapes: \\r\\n), then close
  dieafter    echo for --count N requests, then the whole process exits
  ws          WebSocket echo (RFC 6455 handshake, echoes text/binary frames, answers ping;
              client text "close-me" -> server sends close 1000 and closes; client text
              "headers?" -> JSON of the handshake request; a request without Upgrade gets
              426 + that JSON)
  tcpecho     TCP echo; when the client half-closes, sends `[EOF NAME N]` (N = bytes
              received) and then closes (half-close support for stream tests); --banner
              sends NAME first

--tls-cert FILE --tls-key FILE: any mode behind TLS (python ssl, server side); each handshake
emits `EV - tls PEER sni=NAME reused=0|1 version=V` (NAME "-" without SNI), a failed one
`EV - tlsfail PEER`.

The same file is imported by the tests for the client side: `Upstream` (start, wait for
READY, collect events, stop by pid), `gen_bytes`/`gen_sha256` for the streamed bodies,
`FullBacklog` (a listener whose accept queue is full, so connects time out), and small
WebSocket client helpers.
"""

import argparse
import base64
import codecs
import hashlib
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

# ============================================================================================
# Generated bodies (no memory: block i is a 64 KiB block stamped with its index)
# ============================================================================================

BLOCK = 64 * 1024
_BASE = (hashlib.sha256(b"portico").digest() * (BLOCK // 32))


def gen_block(i):
    return struct.pack(">Q", i) + _BASE[8:]


def gen_bytes(size):
    """Yield the deterministic body of `size` bytes in blocks."""
    i, left = 0, size
    while left > 0:
        b = gen_block(i)
        if left < BLOCK:
            b = b[:left]
        yield b
        left -= len(b)
        i += 1


def gen_sha256(size):
    h = hashlib.sha256()
    for b in gen_bytes(size):
        h.update(b)
    return h.hexdigest()


# ============================================================================================
# Server side
# ============================================================================================

_out_lock = threading.Lock()
QUIET = False


def emit(line):
    if QUIET and not line.startswith("READY"):
        return
    with _out_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass


class Closed(Exception):
    pass


class Conn:
    """A served connection with a read buffer."""

    _ids = 0
    _ids_lock = threading.Lock()

    def __init__(self, sock, peer):
        with Conn._ids_lock:
            Conn._ids += 1
            self.id = Conn._ids
        self.sock = sock
        self.peer = peer
        self.buf = b""
        self.nreq = 0

    def recv_some(self):
        data = self.sock.recv(262144)
        if not data:
            raise Closed()
        return data

    def fill(self):
        self.buf += self.recv_some()

    def read_line(self, limit=65536):
        for _ in range(1_000_000):
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line.rstrip(b"\r\n")
            if len(self.buf) > limit:
                raise Closed()
            self.fill()
        raise Closed()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self):
        """(method, target, version, [(name, value)]) or None on a clean EOF before a request."""
        for _ in range(100):
            try:
                line = self.read_line()
            except Closed:
                if self.buf:
                    raise
                return None
            if line:
                break
        else:
            raise Closed()
        parts = line.decode("latin-1").split(" ")
        if len(parts) != 3:
            raise Closed()
        headers = []
        for _ in range(1000):
            h = self.read_line()
            if not h:
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        self.nreq += 1
        return parts[0], parts[1], parts[2], headers

    def read_body(self, headers, on_data):
        """Read the request body (Content-Length or chunked), passing pieces to on_data.
        Returns 'chunked', 'length' or 'none'."""
        te = hget(headers, "transfer-encoding")
        if te and "chunked" in te.lower():
            for _ in range(10_000_000):
                size = int(self.read_line().split(b";")[0].strip(), 16)
                if size == 0:
                    for _ in range(1000):
                        if not self.read_line():
                            return "chunked"
                    raise Closed()
                left = size
                while left:
                    if not self.buf:
                        self.fill()
                    piece = self.buf[:left]
                    self.buf = self.buf[len(piece):]
                    left -= len(piece)
                    on_data(piece)
                if self.read_line() != b"":
                    raise Closed()
            raise Closed()
        cl = hget(headers, "content-length")
        if cl is None:
            return "none"
        left = int(cl)
        while left:
            if not self.buf:
                self.fill()
            piece = self.buf[:left]
            self.buf = self.buf[len(piece):]
            left -= len(piece)
            on_data(piece)
        return "length"

    def send(self, data):
        self.sock.sendall(data)


def hget(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def wants_close(version, headers):
    conn = (hget(headers, "connection") or "").lower()
    if "close" in conn:
        return True
    if version == "HTTP/1.0":
        return "keep-alive" not in conn
    return False


def response_head(status, headers, reason=None):
    reasons = {100: "Continue", 101: "Switching Protocols", 103: "Early Hints", 200: "OK",
               201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
               304: "Not Modified", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
               426: "Upgrade Required", 429: "Too Many Requests", 500: "Internal Server Error",
               502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    lines = [f"HTTP/1.1 {status} {reason or reasons.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def linger_reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class App:
    """Base: one thread per connection; subclasses implement handle(conn)."""

    def __init__(self, args):
        self.args = args
        self.name = args.name

    def serve_conn(self, sock, peer):
        c = Conn(sock, peer)
        emit(f"EV {c.id} open {peer}")
        try:
            self.handle(c)
        except (Closed, OSError, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            emit(f"EV {c.id} close")

    def log_req(self, c, method, target):
        emit(f"EV {c.id} req {c.nreq} {method} {target}")

    def http_loop(self, c, respond):
        """Read requests on c until close; respond(c, method, target, version, headers)
        returns True to keep the connection."""
        for _ in range(1_000_000):
            req = c.read_head()
            if req is None:
                return
            method, target, version, headers = req
            self.log_req(c, method, target)
            if not respond(c, method, target, version, headers):
                return

    def handle(self, c):
        raise NotImplementedError


class EchoApp(App):
    def respond(self, c, method, target, version, headers):
        h = hashlib.sha256()
        size = [0]

        def on_data(piece):
            size[0] += len(piece)
            h.update(piece)

        path, _, query = target.partition("?")
        opts = urllib.parse.parse_qs(query, keep_blank_values=True)
        if opts.get("ignore_body") == ["1"]:
            framing = "ignored"  # answer without reading a body (then close)
        else:
            framing = c.read_body(headers, on_data)
        if "sleep" in opts:
            time.sleep(min(float(opts["sleep"][0]), 30))
        status = (int(opts["status"][0]) if "status" in opts and self.query_status
                  else self.args.status)
        close = wants_close(version, headers) or framing == "ignored"
        try:
            local = c.sock.getsockname()
        except OSError:
            local = ("?", 0)
        info = {"name": self.name, "method": method, "target": target, "path": path,
                "query": query, "version": version, "headers": headers,
                "body_len": size[0], "body_sha256": h.hexdigest(), "framing": framing,
                "conn": c.id, "conn_req": c.nreq,
                "local": f"{local[0]}:{local[1]}" if isinstance(local, tuple) else "unix",
                "peer": c.peer}
        body = self.body(info)
        if opts.get("body") == ["0"]:
            body = b""
        out = [("Content-Type", self.content_type), ("X-Upstream", self.name)]
        for hv in opts.get("hdr", []):
            k, _, v = hv.partition(":")
            out.append((k.strip(), v.strip()))
        for hv in self.args.header or []:
            k, _, v = hv.partition(":")
            out.append((k.strip(), v.strip()))
        if status not in (204, 304):
            out.append(("Content-Length", str(len(body))))
        if close:
            out.append(("Connection", "close"))
        data = response_head(status, out)
        if method != "HEAD" and status not in (204, 304):
            data += body
        c.send(data)
        return not close

    content_type = "application/json"
    query_status = True

    def body(self, info):
        return json.dumps(info).encode()

    def handle(self, c):
        self.http_loop(c, self.respond)


class KeepaliveApp(EchoApp):
    content_type = "text/plain"
    query_status = False  # always --status (200): a good peer next to an echo ?status=N

    def body(self, info):
        return f"name={self.name} conn={info['conn']} req={info['conn_req']}".encode()


class DieAfterApp(EchoApp):
    lock = threading.Lock()
    served = 0

    def respond(self, c, method, target, version, headers):
        keep = super().respond(c, method, target, version, headers)
        with DieAfterApp.lock:
            DieAfterApp.served += 1
            if DieAfterApp.served >= self.args.count:
                emit(f"EV {c.id} dying")
                os._exit(0)
        return keep


class FixedApp(App):
    def handle(self, c):
        def respond(c, method, target, version, headers):
            c.read_body(headers, lambda p: None)
            close = wants_close(version, headers)
            body = codecs.decode(self.args.body, "unicode_escape").encode("latin-1")
            out = [tuple(x.strip() for x in hv.split(":", 1)) for hv in self.args.header or []]
            if self.args.status not in (204, 304) and not any(
                    k.lower() in ("content-length", "transfer-encoding") for k, _ in out):
                out.append(("Content-Length", str(len(body))))
            if close:
                out.append(("Connection", "close"))
            data = response_head(self.args.status, out, self.args.reason)
            if method != "HEAD" and self.args.status not in (204, 304):
                data += body
            c.send(data)
            return not close
        self.http_loop(c, respond)


class SlowApp(App):
    """--header-delay, then --chunks of --chunk-size with --chunk-delay between them."""

    def handle(self, c):
        a = self.args

        def respond(c, method, target, version, headers):
            c.read_body(headers, lambda p: None)
            close = wants_close(version, headers)
            time.sleep(a.header_delay)
            out = [("Content-Type", "text/plain"), ("X-Upstream", self.name)]
            if a.chunked:
                out.append(("Transfer-Encoding", "chunked"))
                if a.trailer:
                    out.append(("Trailer", a.trailer[0].split(":")[0]))
            else:
                out.append(("Content-Length", str(a.chunks * a.chunk_size)))
            if close:
                out.append(("Connection", "close"))
            c.send(response_head(200, out))
            if method == "HEAD":
                return not close
            for i in range(a.chunks):
                if i and a.chunk_delay:
                    time.sleep(a.chunk_delay)
                piece = (b"%d" % (i % 10)) * a.chunk_size
                if a.chunked:
                    piece = b"%x\r\n%s\r\n" % (len(piece), piece)
                c.send(piece)
            if a.chunked:
                c.send(b"0\r\n" + b"".join(t.encode() + b"\r\n" for t in a.trailer or [])
                       + b"\r\n")
            return not close
        self.http_loop(c, respond)


class StreamApp(App):
    def handle(self, c):
        def respond(c, method, target, version, headers):
            c.read_body(headers, lambda p: None)
            close = wants_close(version, headers)
            q = urllib.parse.parse_qs(target.partition("?")[2])
            size = int(q["size"][0]) if "size" in q else self.args.size
            out = [("Content-Type", "application/octet-stream"),
                   ("Content-Length", str(size)), ("X-Upstream", self.name)]
            for hv in q.get("hdr", []):  # extra response headers, as echo's hdr=Name:Value
                k, _, v = hv.partition(":")
                out.append((k.strip(), v.strip()))
            if close:
                out.append(("Connection", "close"))
            c.send(response_head(200, out))
            if method != "HEAD":
                for b in gen_bytes(size):
                    c.send(b)
            return not close
        self.http_loop(c, respond)


class InfoApp(App):
    def handle(self, c):
        def respond(c, method, target, version, headers):
            codes = [int(x) for x in self.args.codes.split(",") if x]
            for code in codes:
                extra = [("Link", "</style.css>; rel=preload")] if code == 103 else []
                c.send(response_head(code, extra))
            c.read_body(headers, lambda p: None)
            close = wants_close(version, headers)
            out = [("Content-Length", "5")] + ([("Connection", "close")] if close else [])
            c.send(response_head(200, out) + b"final")
            return not close
        self.http_loop(c, respond)


class CloseApp(App):
    def handle(self, c):
        req = c.read_head()
        if req is None:
            return
        self.log_req(c, req[0], req[1])
        c.read_body(req[3], lambda p: None)
        body = codecs.decode(self.args.body, "unicode_escape").encode("latin-1")
        c.send(f"{self.args.version} 200 OK\r\nContent-Type: text/plain\r\n"
               f"X-Upstream: {self.name}\r\n\r\n".encode())
        if req[0] != "HEAD":
            for i in range(0, len(body), 1000):
                c.send(body[i:i + 1000])
        c.sock.shutdown(socket.SHUT_WR)


class ResetApp(App):
    def handle(self, c):
        if self.args.when == "request":
            req = c.read_head()
            if req is None:
                return
            self.log_req(c, req[0], req[1])
        linger_reset(c.sock)


class HangApp(App):
    def handle(self, c):
        if self.args.when == "request":
            req = c.read_head()
            if req is not None:
                self.log_req(c, req[0], req[1])
        if self.args.no_read:
            # read nothing more (a request body fills the socket buffers); hold the socket
            # until the process is killed
            threading.Event().wait(600)
            return
        # never answer; hold the socket until the peer closes (or the process is killed)
        for _ in range(1_000_000):
            try:
                c.recv_some()
            except (Closed, OSError):
                return


class TruncateApp(App):
    def handle(self, c):
        a = self.args
        req = c.read_head()
        if req is None:
            return
        self.log_req(c, req[0], req[1])
        c.read_body(req[3], lambda p: None)
        if a.chunked:
            c.send(response_head(200, [("Transfer-Encoding", "chunked")]))
            c.send(b"%x\r\n%s\r\n" % (a.send, b"x" * a.send))
        else:
            c.send(response_head(200, [("Content-Length", str(a.cl))]))
            c.send(b"x" * a.send)
        if a.then == "reset":
            time.sleep(0.2)  # let the bytes leave before the RST
            linger_reset(c.sock)
        elif a.then == "hang":
            for _ in range(1_000_000):
                c.recv_some()
        # close: fall through, serve_conn closes


GARBAGE = {
    "status": b"HTTP/1.1 twohundred OK\r\nContent-Length: 2\r\n\r\nok",
    "http09": b"this is not http at all\r\n\r\n",
    "header": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Header Line\r\n\r\nok",
    "clte": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nok\r\n0\r\n\r\n",
    "dupcl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nokokok",
    "samecl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "badcl": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok",
    "negcl": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
    "nul": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "badte": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
    "badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
}


class GarbageApp(App):
    def handle(self, c):
        req = c.read_head()
        if req is None:
            return
        self.log_req(c, req[0], req[1])
        c.read_body(req[3], lambda p: None)
        if self.args.raw is not None:
            data = codecs.decode(self.args.raw, "unicode_escape").encode("latin-1")
        else:
            data = GARBAGE[self.args.kind]
        c.send(data)
        # let the proxy read it before the FIN
        c.sock.shutdown(socket.SHUT_WR)
        for _ in range(1000):
            try:
                c.recv_some()
            except (Closed, OSError):
                return


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload=b"", mask=False, fin=True):
    """One WebSocket frame (clients must mask)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        payload = ws_mask(payload, key)
        head += key
    return head + payload


def ws_mask(data, key):
    if not data:
        return data
    k = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(len(data), "big")


def ws_read_frame(read_exact):
    """(fin, opcode, payload) using read_exact(n) -> bytes."""
    b0, b1 = read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(8))[0]
    key = read_exact(4) if b1 & 0x80 else None
    payload = read_exact(n) if n else b""
    if key:
        payload = ws_mask(payload, key)
    return bool(b0 & 0x80), b0 & 0x0F, payload


class WsApp(App):
    def handle(self, c):
        req = c.read_head()
        if req is None:
            return
        method, target, version, headers = req
        self.log_req(c, method, target)
        key = hget(headers, "sec-websocket-key")
        if "websocket" not in (hget(headers, "upgrade") or "").lower() or not key:
            c.read_body(headers, lambda p: None)
            body = json.dumps({"name": self.name, "target": target, "version": version,
                               "headers": headers}).encode()
            c.send(response_head(426, [("Content-Length", str(len(body))),
                                       ("Connection", "close")]) + body)
            return
        c.send(response_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Accept", ws_accept(key)),
                                   ("X-Upstream", self.name)]))
        emit(f"EV {c.id} upgraded")
        for _ in range(10_000_000):
            fin, op, payload = ws_read_frame(c.read_exact)
            if op == 0x8:  # close: echo it, then close
                c.send(ws_frame(0x8, payload[:2] or struct.pack("!H", 1000)))
                emit(f"EV {c.id} ws-close-from-client")
                return
            if op == 0x9:
                c.send(ws_frame(0xA, payload))
                continue
            if op == 0x1 and payload == b"headers?":
                c.send(ws_frame(0x1, json.dumps({"version": version, "target": target,
                                                 "headers": headers}).encode()))
                continue
            if op == 0x1 and payload == b"close-me":
                c.send(ws_frame(0x8, struct.pack("!H", 1000) + b"bye"))
                emit(f"EV {c.id} ws-close-from-server")
                c.sock.shutdown(socket.SHUT_WR)
                for _ in range(1000):  # wait for the client's close / EOF
                    try:
                        c.recv_some()
                    except (Closed, OSError):
                        return
                return
            c.send(ws_frame(op, payload, fin=fin))


class TcpEchoApp(App):
    def handle(self, c):
        if self.args.banner:
            c.send(f"{self.name}\n".encode())
        n = len(c.buf)
        if c.buf:
            c.send(c.buf)
        for _ in range(100_000_000):
            try:
                data = c.recv_some()
            except Closed:
                break
            n += len(data)
            c.send(data)
        emit(f"EV {c.id} eof {n}")
        c.send(f"[EOF {self.name} {n}]".encode())
        c.sock.shutdown(socket.SHUT_WR)


MODES = {"echo": EchoApp, "sink": EchoApp, "keepalive": KeepaliveApp, "fixed": FixedApp,
         "slow": SlowApp, "chunked": SlowApp, "stream": StreamApp, "info": InfoApp,
         "close": CloseApp, "reset": ResetApp, "hang": HangApp, "truncate": TruncateApp,
         "garbage": GarbageApp, "dieafter": DieAfterApp, "ws": WsApp, "tcpecho": TcpEchoApp}


def parse_args(argv):
    p = argparse.ArgumentParser(description="test upstream servers")
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bind", action="append", help="address (repeatable; default 127.0.0.1)")
    p.add_argument("--unix", help="listen on this unix socket path instead")
    p.add_argument("--name", default=None)
    p.add_argument("--backlog", type=int, default=128)
    p.add_argument("--quiet", action="store_true", help="no EV lines")
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--reason", default=None)
    p.add_argument("--header", action="append")
    p.add_argument("--body", default="ok")
    p.add_argument("--header-delay", type=float, default=0.0)
    p.add_argument("--chunks", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=10)
    p.add_argument("--chunk-delay", type=float, default=0.0)
    p.add_argument("--chunked", action="store_true")
    p.add_argument("--trailer", action="append")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--codes", default="100")
    p.add_argument("--version", default="HTTP/1.0")
    p.add_argument("--when", choices=["accept", "request"], default="request")
    p.add_argument("--cl", type=int, default=100000)
    p.add_argument("--send", type=int, default=1000)
    p.add_argument("--then", choices=["close", "reset", "hang"], default="close")
    p.add_argument("--kind", choices=sorted(GARBAGE), default="status")
    p.add_argument("--raw", default=None)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--banner", action="store_true")
    p.add_argument("--no-read", action="store_true")
    p.add_argument("--tls-cert", default=None)
    p.add_argument("--tls-key", default=None)
    a = p.parse_args(argv)
    if a.mode == "chunked":
        a.chunked = True
        if a.chunks == 1:
            a.chunks = 3
    return a


def listen_sockets(a):
    if a.unix:
        try:
            os.unlink(a.unix)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(a.unix)
        os.chmod(a.unix, 0o777)  # nginx workers run as nobody
        s.listen(a.backlog)
        return [s], "unix:" + a.unix
    addrs = a.bind or ["127.0.0.1"]
    for _ in range(50):
        socks, port = [], a.port
        try:
            for addr in addrs:
                fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
                s = socket.socket(fam, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, port))
                port = s.getsockname()[1]
            for s in socks:
                s.listen(a.backlog)
            return socks, str(port)
        except OSError:
            for s in socks:
                s.close()
            if a.port:
                raise
    raise OSError("could not bind")


def tls_server(a, serve_conn):
    """serve_conn behind a TLS handshake (the handshake runs on the connection's thread)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.tls_cert, a.tls_key)

    def on_sni(sock, name, _ctx):
        sock.sni_name = name  # the SSLSocket being handshaken

    ctx.sni_callback = on_sni

    def serve(sock, peer):
        sock.settimeout(10)
        try:
            t = ctx.wrap_socket(sock, server_side=True)
        except (OSError, ValueError):
            emit(f"EV - tlsfail {peer}")
            sock.close()
            return
        t.settimeout(None)
        name = getattr(t, "sni_name", None) or "-"
        emit(f"EV - tls {peer} sni={name} reused={int(t.session_reused)} version={t.version()}")
        serve_conn(t, peer)

    return serve


def main(argv):
    global QUIET
    a = parse_args(argv)
    QUIET = a.quiet
    socks, where = listen_sockets(a)
    a.name = a.name or f"{a.mode}:{where}"
    app = MODES[a.mode](a)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    serve = app.serve_conn
    if a.tls_cert:
        serve = tls_server(a, app.serve_conn)

    def accept_loop(ls):
        for _ in range(100_000_000):
            try:
                s, peer = ls.accept()
            except OSError:
                return
            if isinstance(peer, tuple):
                peer = f"{peer[0]}:{peer[1]}"
            else:
                peer = "unix"
            threading.Thread(target=serve, args=(s, peer), daemon=True).start()

    for ls in socks[1:]:
        threading.Thread(target=accept_loop, args=(ls,), daemon=True).start()
    emit(f"READY {where}")
    accept_loop(socks[0])


# ============================================================================================
# Client side (imported by the tests)
# ============================================================================================


class Upstream:
    """Start `python3 upstreams.py MODE ...` and wait for its READY line (10 s deadline).

    .port / .addr ("127.0.0.1:PORT") / .unix; .events (list of EV lines split into tuples,
    appended by a reader thread); stop() = SIGTERM, wait, SIGKILL by pid; kill() = SIGKILL.
    A context manager."""

    def __init__(self, mode, *args, port=0, bind=None, unix=None, name=None, quiet=False,
                 ready_timeout=10.0):
        self.mode = mode
        cmd = [sys.executable, os.path.join(HERE, "upstreams.py"), mode, "--port", str(port)]
        for b in bind or []:
            cmd += ["--bind", b]
        if unix:
            cmd += ["--unix", unix]
        if name:
            cmd += ["--name", name]
        if quiet:
            cmd.append("--quiet")
        cmd += [str(x) for x in args]
        self.cmd = cmd
        self.events = []
        self.unix = unix
        self.port = None
        self.name = name
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _live.add(self)
        ready = self._read_ready(ready_timeout)
        if ready is None:
            err = b""
            self.kill()
            try:
                err = self.proc.stderr.read()
            except (OSError, ValueError):
                pass
            raise RuntimeError(f"upstream {cmd} not ready: {err.decode(errors='replace')}")
        if not unix:
            self.port = int(ready)
        if self.name is None:
            self.name = f"{mode}:{ready}"
        self._reader = threading.Thread(target=self._read_events, daemon=True)
        self._reader.start()
        self._errs = threading.Thread(target=self._drain_stderr, daemon=True)
        self._errs.start()

    def _read_ready(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        for _ in range(10000):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 1)  # byte-wise: the rest stays in the pipe for the reader
            if not chunk:
                return None
            buf += chunk
            if chunk == b"\n":
                line = buf.decode().strip()
                buf = b""
                if line.startswith("READY "):
                    return line.split(" ", 1)[1]
        return None

    def _read_events(self):
        for line in self.proc.stdout:
            parts = line.decode("latin-1").rstrip("\n").split(" ")
            if parts and parts[0] == "EV":
                with self._cond:
                    self.events.append(tuple(parts[1:]))
                    self._cond.notify_all()

    def _drain_stderr(self):
        self.stderr = b""
        for line in self.proc.stderr:
            if len(self.stderr) < 100000:
                self.stderr += line

    @property
    def addr(self):
        return f"unix:{self.unix}" if self.unix else f"127.0.0.1:{self.port}"

    def requests(self):
        """[(conn id, n on conn, method, target)] received so far."""
        with self._cond:
            return [(int(e[0]), int(e[2]), e[3], e[4]) for e in self.events
                    if len(e) >= 5 and e[1] == "req"]

    def count(self, kind):
        with self._cond:
            return sum(1 for e in self.events if len(e) >= 2 and e[1] == kind)

    def active(self):
        """Connections opened and not yet closed."""
        with self._cond:
            opened = {e[0] for e in self.events if e[1:2] == ("open",)}
            closed = {e[0] for e in self.events if e[1:2] == ("close",)}
        return len(opened - closed)

    def wait_for(self, pred, timeout=10.0, message="upstream event"):
        """Wait until pred(self) is truthy (checked on every event; bounded)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            for _ in range(1_000_000):
                v = pred(self._unlocked())
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
        raise AssertionError(f"timed out after {timeout}s waiting for {message} on "
                             f"{self.name}; events: {self.events[-20:]}")

    def _unlocked(self):
        # pred is called with the condition held; give it a view whose helpers do not lock
        return _EventsView(self.events)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        _live.discard(self)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        return f"<Upstream {self.name} pid={self.proc.pid}>"


class _EventsView:
    def __init__(self, events):
        self.events = events

    def requests(self):
        return [(int(e[0]), int(e[2]), e[3], e[4]) for e in self.events
                if len(e) >= 5 and e[1] == "req"]

    def count(self, kind):
        return sum(1 for e in self.events if len(e) >= 2 and e[1] == kind)

    def active(self):
        opened = {e[0] for e in self.events if e[1:2] == ("open",)}
        closed = {e[0] for e in self.events if e[1:2] == ("close",)}
        return len(opened - closed)


_live = set()


def stop_all():
    for u in list(_live):
        try:
            u.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


import atexit  # noqa: E402

atexit.register(stop_all)


class ThreadedUpstream:
    """In-process upstream for tests that need to watch it closely: a listener on 127.0.0.1
    (port 0), an accept thread, one thread per connection running `self._serve(sock, cid)`
    (cid = accepted connection number from 1), and an event list (tuples) guarded by a
    condition. Subclasses define _serve and call _event(); stop() closes everything."""

    def __init__(self):
        self._cond = threading.Condition()
        self.conns = 0
        self.events = []
        self._socks = set()
        self._threads = []
        self._stopping = False
        self._ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind(("127.0.0.1", 0))
        self._ls.listen(128)
        self._ls.settimeout(0.1)
        self.port = self._ls.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _event(self, *ev):
        with self._cond:
            self.events.append(ev)
            self._cond.notify_all()

    def wait_until(self, pred, timeout):
        """True once pred() (called with the condition held) is true; False after timeout s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            for _ in range(1_000_000):
                if pred():
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return False

    def stop(self):
        self._stopping = True
        self._ls.close()
        with self._cond:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._acceptor.join(2)
        for t in self._threads:
            t.join(5)

    def _accept_loop(self):
        for _ in range(10_000_000):
            if self._stopping:
                return
            try:
                s, _ = self._ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                self.conns += 1
                cid = self.conns
                self._socks.add(s)
            self._event("open", cid)
            t = threading.Thread(target=self._run, args=(s, cid), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, s, cid):
        try:
            self._serve(s, cid)
        finally:
            try:
                s.close()
            except OSError:
                pass
            with self._cond:
                self._socks.discard(s)

    def _serve(self, s, cid):
        raise NotImplementedError


class FullBacklog:
    """A listening socket on 127.0.0.1 that never accepts and whose accept queue is full,
    so that a new connect() to it times out (SYNs dropped). .port; .ok is False if the queue
    could not be filled (the kernel completed every connect): the caller should skip."""

    def __init__(self, max_fill=16):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        self.ok = False
        for _ in range(max_fill):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.3)
            try:
                s.connect(("127.0.0.1", self.port))
                self.fillers.append(s)
            except (socket.timeout, OSError):
                s.close()
                self.ok = True
                break

    def close(self):
        for s in self.fillers:
            s.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class WsClient:
    """A WebSocket client over an already-upgraded RawConn-like object (sock + buf)."""

    def __init__(self, conn):
        self.conn = conn

    def _read_exact(self, n, deadline):
        c = self.conn
        for _ in range(10_000_000):
            if len(c.buf) >= n:
                break
            if not c._fill(deadline):
                raise EOFError(f"EOF after {len(c.buf)} of {n} bytes")
        data, c.buf = c.buf[:n], c.buf[n:]
        return data

    def send(self, opcode, payload, fin=True):
        self.conn.send(ws_frame(opcode, payload, mask=True, fin=fin))

    def recv(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        return ws_read_frame(lambda n: self._read_exact(n, deadline))


def fill(config, **values):
    """Replace @NAME@ tokens (upstream ports, addresses) in a config."""
    for k, v in values.items():
        config = config.replace(f"@{k}@", str(v))
    return config


def ka_fields(resp):
    """(name, connection, request on it) from a `keepalive` mode answer
    ("name=a conn=1 req=2")."""
    m = re.match(r"name=(\S+) conn=(\d+) req=(\d+)", resp.text)
    if not m:
        raise AssertionError(f"not an upstream answer: {resp!r}")
    return m.group(1), int(m.group(2)), int(m.group(3))


def name_of(resp):
    """The upstream name in a `keepalive` mode answer."""
    return ka_fields(resp)[0]


def info(resp):
    """The JSON an echo upstream answered (from a harness Response)."""
    return json.loads(resp.body)


def hvals(info, name):
    """All values of header `name` (case-insensitive) in an echo JSON's request headers."""
    name = name.lower()
    return [v for k, v in info["headers"] if k.lower() == name]


def ws_handshake_request(path="/ws", host="localhost", key=None, extra=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (extra or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


if __name__ == "__main__":
    main(sys.argv[1:])
