"""A small DNS server for the tests, on 127.0.0.1 (UDP), written with the standard library.

It answers A and AAAA questions from a table the test changes while the server under test
runs: set() (addresses and TTL), fail() (an RCODE such as SERVFAIL), drop() (no answer at all:
the client times out), remove() (NXDOMAIN). Every question is counted, so a test can wait for
a re-resolution instead of sleeping. Runs in a thread of the test process; stop() ends it.
"""

import ipaddress
import socket
import struct
import threading

QTYPE_A = 1
QTYPE_AAAA = 28
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def parse_question(data):
    """(id, rd flag, qname lower case, qtype, end offset of the question) or None."""
    if len(data) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while True:
        if i >= len(data):
            return None
        n = data[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(data):
            return None
        labels.append(data[i:i + n].decode("ascii", "replace"))
        i += n
    if i + 4 > len(data):
        return None
    qtype, _qclass = struct.unpack("!HH", data[i:i + 4])
    return qid, flags & 0x0100, ".".join(labels).lower(), qtype, i + 4


def build_answer(data, qid, rd, qtype, end, rcode, addrs, ttl):
    records = b""
    count = 0
    for a in addrs:
        ip = ipaddress.ip_address(a)
        if (ip.version == 4) != (qtype == QTYPE_A):
            continue
        rdata = ip.packed
        records += struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata
        count += 1
    flags = 0x8000 | rd | 0x0080 | rcode  # QR, RD copied, RA, RCODE
    head = struct.pack("!HHHHHH", qid, flags, 1, count, 0, 0)
    return head + data[12:end] + records


class DnsServer:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._table = {}  # name -> ("ok", [addrs], ttl) | ("rcode", n) | ("drop",)
        self._queries = []  # (name, qtype)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # ---- the table ---------------------------------------------------------------------

    def set(self, name, addrs, ttl=1):
        with self._lock:
            self._table[name.lower()] = ("ok", list(addrs), ttl)

    def fail(self, name, rcode=SERVFAIL):
        with self._lock:
            self._table[name.lower()] = ("rcode", rcode)

    def drop(self, name):
        with self._lock:
            self._table[name.lower()] = ("drop",)

    def remove(self, name):
        with self._lock:
            self._table.pop(name.lower(), None)

    def queries(self, name=None, qtype=None):
        """How many questions arrived (for `name`, of `qtype`)."""
        with self._lock:
            return sum(1 for n, t in self._queries
                       if (name is None or n == name.lower()) and (qtype is None or t == qtype))

    # ---- the server --------------------------------------------------------------------

    def _run(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            q = parse_question(data)
            if q is None:
                continue
            qid, rd, name, qtype, end = q
            with self._lock:
                self._queries.append((name, qtype))
                entry = self._table.get(name)
            if entry is not None and entry[0] == "drop":
                continue
            if entry is None:
                reply = build_answer(data, qid, rd, qtype, end, NXDOMAIN, [], 0)
            elif entry[0] == "rcode":
                reply = build_answer(data, qid, rd, qtype, end, entry[1], [], 0)
            else:
                reply = build_answer(data, qid, rd, qtype, end, NOERROR, entry[1], entry[2])
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def stop(self):
        self._stop = True
        self._thread.join(5)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
