"""worker_connections: the limit holds, idle keep-alive connections make room for new ones
(nginx's "reusing connections"), the worker does not spin while the limit is reached, and it
accepts again as soon as a connection closes."""

import os
import socket
import time
import unittest

from harness import IS_NGINX, Server, eventually, portico_only

CONFIG = r"""
worker_processes 1;
events { worker_connections 8; }
http {
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "ok\n"; }
    }
}
"""


def cpu_ticks(pid):
    """utime+stime of a process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def serving_pid(srv):
    """The process that accepts: portico itself, or nginx's single worker."""
    if not IS_NGINX:
        return srv.proc.pid
    with open(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children") as f:
        return int(f.read().split()[0])


def answered(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(4096).startswith(b"HTTP/1.1 200")  # the whole small response
    except (socket.timeout, ConnectionError):
        return False


class WorkerConnectionsTest(unittest.TestCase):
    # nginx resets some half-received connections in this situation rather than making them
    # wait; portico keeps them waiting in the backlog, so this is checked on portico only.
    @portico_only
    def test_busy_connections_hold_the_limit_without_spinning(self):
        with Server(CONFIG) as srv:
            port = srv.port()
            socks = []
            try:
                # Half a request each: busy, not reusable. More than the limit.
                for _ in range(12):
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(b"GET / HTTP/1.1\r\n")
                    socks.append(s)
                time.sleep(0.3)
                for s in socks:
                    s.sendall(b"Host: a\r\n\r\n")
                first = [s for s in socks if answered(s, 0.5)]
                waiting = [s for s in socks if s not in first]
                self.assertTrue(first, "nothing was served")
                self.assertTrue(waiting, "the limit was not enforced")
                # While full, the server sleeps instead of spinning on the ready listener.
                pid = serving_pid(srv)
                before = cpu_ticks(pid)
                time.sleep(1.0)
                self.assertLess(cpu_ticks(pid) - before, os.sysconf("SC_CLK_TCK") // 5,
                                "worker spins while at the limit")
                # Closing served connections lets the waiting ones in.
                for s in first:
                    s.close()
                pending = list(waiting)

                def progress():
                    for s in list(pending):
                        if answered(s, 0.2):
                            pending.remove(s)
                    return not pending

                eventually(progress, 10, message="waiting connections served")
            finally:
                for s in socks:
                    s.close()
            self.assertIn("worker_connections are not enough", srv.error_log())

    def test_idle_keepalive_connections_are_reused(self):
        with Server(CONFIG, error_log_level="warn") as srv:
            port = srv.port()
            socks = []
            try:
                # Each connection completes a request and then idles in keep-alive: new
                # connections beyond the limit are still served, idle ones get closed.
                for _ in range(16):
                    s = socket.create_connection(("127.0.0.1", port), timeout=5)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    self.assertTrue(answered(s, 5))
                    socks.append(s)
                closed = 0
                for s in socks:
                    s.settimeout(0.2)
                    try:
                        if s.recv(1) == b"":
                            closed += 1
                    except socket.timeout:
                        pass
                self.assertGreater(closed, 0)
            finally:
                for s in socks:
                    s.close()
            self.assertIn("worker_connections are not enough, reusing connections",
                          srv.error_log())


if __name__ == "__main__":
    unittest.main()
