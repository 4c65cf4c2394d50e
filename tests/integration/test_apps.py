"""The application server (issue 9): portico starts the apps' processes, waits until each is
ready, balances requests over them, replaces the ones that die (with a crash backoff), keeps
or replaces them on reload, and leaves none behind when it stops or is killed.

Real processes only: Python apps (http.server, and a WSGI app through portico's loader) and
Node apps (through portico's listen shim). Every wait is a poll with a deadline; load comes
from client threads that run until the test has seen what it waits for (bounded by time).
portico only: nginx has no app server."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest

from harness import RawConn, Server, build_request, eventually, portico_only, request

PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"

# A generic app: answers its pid; /slow?ms=N sleeps first. Prints a line at start.
PY_APP = r"""
import http.server, os, sys, time
GROWN = []
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(int(self.path.split("=")[1]) / 1000)
        if self.path.startswith("/grow"):  # keeps N MB of touched memory
            GROWN.append(bytearray(b"x" * (int(self.path.split("=")[1]) << 20)))
        b = ("pid=%d tag=%s\n" % (os.getpid(), os.environ.get("TAG", ""))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
print("listening on", os.environ["PORT"], flush=True)
print("to stderr", file=sys.stderr, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""

# Site B's app as written for Passenger: a hard-coded port.
NODE_APP = r"""
const http = require('http');
const server = http.createServer((req, res) => {
  res.end(`node pid=${process.pid} env=${process.env.NODE_ENV} greeting=${process.env.GREETING}\n`);
});
server.listen(3000, () => console.log('listening on 3000'));
"""

WSGI_APP = r"""
import os
def application(environ, start_response):
    body = ("wsgi pid=%d path=%s\n" % (os.getpid(), environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def app_config(instances=2, tag="v1", extra=""):
    return """
http {
    app pyapp {
        command PYTHON app/app.py;
        root {prefix};
        instances INSTANCES;
        env TAG TAGV;
        log logs/pyapp.log;
        backoff initial=100ms max=2s;
        stop_timeout 5s;
        EXTRA
    }
    upstream backend { server app:pyapp; }
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://backend; }
    }
}
""".replace("PYTHON", PYTHON).replace("INSTANCES", str(instances)).replace("TAGV", tag) \
        .replace("EXTRA", extra)


def ready_pids(srv):
    """pids the error log says became ready, minus those it says ended."""
    log = srv.error_log()
    ready = [int(p) for p in re.findall(r"process (\d+) ready on ", log)]
    ended = {int(p) for p in re.findall(r"process (\d+) (?:exited|killed|lost)", log)}
    return [p for p in ready if p not in ended]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class Load(threading.Thread):
    """GET `path` on new connections in a loop until stop() (or `backstop` seconds)."""

    def __init__(self, port, path="/", backstop=60):
        super().__init__(daemon=True)
        self.port, self.path, self.backstop = port, path, backstop
        self.ok = 0
        self.failures = []
        self.bodies = []
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()

    def run(self):
        end = time.monotonic() + self.backstop
        while not self._halt.is_set() and time.monotonic() < end:
            try:
                r = request(self.port, self.path, timeout=10)
                if r.status == 200:
                    self.ok += 1
                    self.bodies.append(r.text)
                else:
                    self.failures.append(r.status)
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))


class KeepAliveLoad(Load):
    """Like Load, but every request of the thread on one keep-alive connection (a new one only
    after a response that says Connection: close, counted in `closes`)."""

    closes = 0

    def run(self):
        end = time.monotonic() + self.backstop
        conn = None
        while not self._halt.is_set() and time.monotonic() < end:
            try:
                if conn is None:
                    conn = RawConn(self.port, timeout=10)
                conn.send(build_request("GET", self.path, close=False))
                r = conn.read_response()
                if r.status == 200:
                    self.ok += 1
                    self.bodies.append(r.text)
                else:
                    self.failures.append(r.status)
                if (r.header("connection") or "").lower() == "close":
                    self.closes += 1
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()


def app_status(srv, name="pyapp"):
    """The app's entry of `portico status --json` (asked of the running server)."""
    out = srv.run_cli("status", "--json")
    assert out.returncode == 0, out.stderr
    return next(a for a in json.loads(out.stdout)["apps"] if a["name"] == name)


def wait_samples(srv, n, name="pyapp"):
    """Waits until the pool has sampled (memory, CPU, the restart file) n more times: the
    state a "nothing changed" check must wait for, instead of a fixed sleep."""
    start = app_status(srv, name)["samples"]
    eventually(lambda: app_status(srv, name)["samples"] >= start + n, 10 + 2 * n,
               message=f"{n} more samples of app {name}")


def run_load(port, n=2, path="/"):
    loads = [Load(port, path) for _ in range(n)]
    for t in loads:
        t.start()
    return loads


def stop_load(testcase, loads):
    for t in loads:
        t.stop()
    for t in loads:
        t.join(15)
    testcase.assertFalse(any(t.is_alive() for t in loads), "a load thread did not stop")
    return sum(t.ok for t in loads), [f for t in loads for f in t.failures]


def under_load(tc, srv, action, path="/slow?ms=5", clients=2, more=10):
    """Runs action() while `clients` threads send GET `path` on new connections, waits for
    `more` further answers after it, stops the clients and asserts that none failed. Returns
    what action() returned."""
    loads = run_load(srv.port(), clients, path)
    try:
        eventually(lambda: all(t.ok > 5 for t in loads), 10, message="load running")
        result = action(loads)
        if more:
            before = sum(t.ok for t in loads)
            eventually(lambda: sum(t.ok for t in loads) > before + more, 10,
                       message="load going on afterwards")
    finally:
        total, failures = stop_load(tc, loads)
    tc.assertEqual(failures, [], f"{len(failures)} failed of {total + len(failures)}")
    return result


@portico_only
class AppServesTest(unittest.TestCase):
    def test_app_starts_serves_and_logs(self):
        with Server(app_config(), {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            r = request(srv.port(), "/")
            self.assertEqual(r.status, 200)
            m = re.match(r"pid=(\d+) tag=v1", r.text)
            self.assertTrue(m, r.text)
            self.assertIn(int(m.group(1)), pids)
            # Both processes serve when requests overlap (least busy first).
            seen = set()

            def both():
                out = []
                ts = [threading.Thread(target=lambda: out.append(request(srv.port(), "/slow?ms=300")))
                      for _ in range(2)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(10)
                for x in out:
                    seen.add(int(re.match(r"pid=(\d+)", x.text).group(1)))
                return len(seen) == 2
            eventually(both, 10, message="requests spread over both processes")
            # stdout and stderr reach the app's log, a line each, with pid and stream.
            log = lambda: open(srv.path("logs/pyapp.log")).read()  # noqa: E731
            for pid in pids:
                eventually(lambda: f"[pid {pid} stdout] listening on" in log()
                           and f"[pid {pid} stderr] to stderr" in log(), 5,
                           message=f"log lines of {pid}")
            # Each process got its own PORT; none of them is portico's listener.
            ports = re.findall(r"ready on port (\d+)", srv.error_log())
            self.assertEqual(len(set(ports)), 2)
            self.assertNotIn(str(srv.port()), ports)

    def test_log_reopened_on_usr1(self):
        with Server(app_config(instances=1), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            eventually(lambda: ready_pids(srv), 10, message="a ready process")
            log = srv.path("logs/pyapp.log")
            eventually(lambda: "listening on" in open(log).read(), 5)
            os.rename(log, log + ".1")
            srv.signal(signal.SIGUSR1)
            eventually(lambda: os.path.exists(log), 5, message="log reopened")
            pid = ready_pids(srv)[0]
            os.kill(pid, signal.SIGKILL)  # the replacement writes to the new file
            eventually(lambda: "listening on" in open(log).read(), 10,
                       message="the new process's line in the reopened log")


@portico_only
class AppFailureTest(unittest.TestCase):
    def test_kill_one_of_two_under_load(self):
        with Server(app_config(), {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            victim = pids[0]

            def kill(_):
                killed_at = time.monotonic()
                os.kill(victim, signal.SIGKILL)
                replacement = eventually(
                    lambda: [p for p in ready_pids(srv) if p not in pids], 5,
                    interval=0.01, message="a ready replacement")
                return replacement, time.monotonic() - killed_at
            replacement, took = under_load(self, srv, kill, "/slow?ms=20", more=20)
            # The bound, for the normal build; ASan+UBSan slow portico and the app's
            # start alike.
            bound = 3.0 if os.environ.get("PORTICO_SANITIZED") == "1" else 1.0
            self.assertLess(took, bound, f"replacement ready after {took:.3f}s")
            self.assertEqual(len(replacement), 1)
            self.assertTrue(alive(pids[1]))
            self.assertFalse(alive(victim))

    def test_liveness_check_replaces_a_hung_process(self):
        # SIGSTOP: the kernel still accepts connections for it, nothing answers.
        extra = "liveness_check http / interval=200ms timeout=300ms fails=2; stop_timeout 1s;"
        with Server(app_config(extra=extra), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            hung = pids[0]

            def hang(_):
                os.kill(hung, signal.SIGSTOP)
                eventually(lambda: not alive(hung), 10, message="the hung process killed")
                eventually(lambda: len([p for p in ready_pids(srv) if p != hung]) == 2, 10,
                           message="a ready replacement")
            # No failure: requests caught on the hung process were retried elsewhere once it
            # was killed.
            under_load(self, srv, hang)
            self.assertIn(f"process {hung} failed 2 liveness check(s) in a row, replaced",
                          srv.error_log())
            self.assertTrue(alive(pids[1]), "the healthy process was left alone")

    def test_max_request_time_answers_504_and_replaces_the_process(self):
        # passenger_max_request_time: the request gets a 504 when the time is up (not after
        # the app's 30 s), the process it was on is shut down and replaced, and the other
        # process serves meanwhile.
        extra = "max_request_time 400ms;"
        with Server(app_config(extra=extra), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            t0 = time.monotonic()
            r = request(srv.port(), "/slow?ms=30000", timeout=20)
            self.assertEqual(r.status, 504)
            self.assertLess(time.monotonic() - t0, 10)
            line = eventually(lambda: re.search(
                r"process (\d+) took longer than max_request_time \(400 ms\)", srv.error_log()),
                10, message="the process shut down")
            stuck = int(line.group(1))
            self.assertIn(stuck, pids)
            eventually(lambda: not alive(stuck), 10, message="the stuck process gone")
            eventually(lambda: len([p for p in ready_pids(srv) if p != stuck]) == 2, 10,
                       message="a ready replacement")
            for _ in range(4):  # quick requests are not cut
                self.assertEqual(request(srv.port(), "/slow?ms=50").status, 200)
            self.assertTrue(alive(next(p for p in pids if p != stuck)), "the other one lives")

    def test_crash_loop_backs_off_and_answers_503(self):
        config = """
http {
    app crashy {
        command PYTHON -c "import sys; print('boom', flush=True); sys.exit(3)";
        backoff initial=100ms max=1600ms;
    }
    upstream backend { server app:crashy; }
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://backend; }
    }
}
""".replace("PYTHON", PYTHON)
        with Server(config, error_log_level="notice") as srv:
            eventually(lambda: len(re.findall(r"exited with code 3", srv.error_log())) >= 3, 10,
                       message="three failed starts")
            t0 = time.monotonic()
            r = request(srv.port(), "/")
            self.assertLess(time.monotonic() - t0, 0.5)
            self.assertEqual(r.status, 503)
            self.assertTrue(r.header("Retry-After", "").isdigit(), r.headers)
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            # The waits grow: 100, 200, 400, 800, 1600 ms, then stay at the cap (never give up).
            eventually(lambda: "next start in 1600 ms" in srv.error_log(), 10,
                       message="backoff reaching its cap")
            delays = [int(x) for x in re.findall(r"next start in (\d+) ms", srv.error_log())]
            self.assertEqual(delays[:4], [200, 400, 800, 1600])
            self.assertIn("[app crashy pid", srv.error_log())  # its stdout, in the error log

    def test_start_timeout_kills_a_process_that_never_gets_ready(self):
        config = """
http {
    app sleepy {
        command sleep 30;
        start_timeout 300ms;
        backoff initial=5s;
    }
    upstream backend { server app:sleepy; }
    server { listen 127.0.0.1:{port}; location / { proxy_pass http://backend; } }
}
"""
        with Server(config, error_log_level="notice") as srv:
            m = eventually(lambda: re.search(r"process (\d+) not ready after 300 ms, killed",
                                             srv.error_log()), 5, message="start timeout")
            eventually(lambda: not alive(int(m.group(1))), 5, message="the process gone")
            r = request(srv.port(), "/")
            self.assertEqual(r.status, 503)


@portico_only
class AppStopTest(unittest.TestCase):
    def test_no_app_process_survives_quit(self):
        srv = Server(app_config(), {"app/app.py": PY_APP}, error_log_level="notice")
        try:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            r = srv.run_cli("-s", "quit")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(srv.wait_exit(10), "portico did not exit")
            for pid in pids:
                self.assertFalse(alive(pid), f"app process {pid} outlived portico")
            self.assertIn("killed by signal 15", srv.error_log())
        finally:
            srv.stop()

    def test_no_app_process_survives_kill_9(self):
        srv = Server(app_config(), {"app/app.py": PY_APP}, error_log_level="notice")
        try:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            srv.signal(signal.SIGKILL)
            self.assertTrue(srv.wait_exit(10))
            eventually(lambda: not any(alive(p) for p in pids), 5,
                       message="app processes gone after kill -9 of portico")
        finally:
            srv.stop()


@portico_only
class AppReloadTest(unittest.TestCase):
    def test_reload_keeps_an_unchanged_app(self):
        with Server(app_config(), {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            under_load(self, srv, lambda _: (srv.reload(app_config()),
                                             srv.wait_error_log(r"reconfigured", 10)),
                       "/", more=20)
            self.assertEqual(sorted(ready_pids(srv)), sorted(pids))
            self.assertEqual(len(re.findall(r"started process", srv.error_log())), 2)

    def test_changed_app_is_replaced_one_at_a_time_without_failures(self):
        with Server(app_config(tag="v1"), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            old = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                             message="two ready processes")
            def redeploy(loads):
                srv.reload(app_config(tag="v2"))
                eventually(lambda: all(not alive(p) for p in old), 15,
                           message="old processes stopped")
                eventually(lambda: all(t.bodies[-1:] and "tag=v2" in t.bodies[-1] for t in loads),
                           10, message="clients seeing v2")
            under_load(self, srv, redeploy, "/slow?ms=10", more=0)
            new = ready_pids(srv)
            self.assertEqual(len(new), 2)
            self.assertFalse(set(new) & set(old))
            # One at a time: a new process became ready before the first old one was told to
            # stop, so the app never served with fewer than two processes.
            log = srv.error_log()
            first_new_ready = min(log.find(f"process {p} ready") for p in new)
            first_old_stop = min(log.find(f"process {p} killed by signal 15") for p in old)
            self.assertLess(first_new_ready, first_old_stop)

    def test_broken_deploy_leaves_the_old_version_serving(self):
        # The new version cannot start (a missing module): the old processes keep serving with no
        # failed request, status says the deploy failed and why (the new version's stderr);
        # once the app is fixed, the retries (crash backoff) complete the deploy.
        with Server(app_config(tag="v1"), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            old = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                             message="two ready processes")

            def broken_deploy(_):
                srv.write_file("app/app.py", "import no_such_module_in_v2\n")
                srv.reload(app_config(tag="v2"))
                return eventually(lambda: (lambda a: a["state"] == "deploy_failed" and a)(
                    app_status(srv)), 15, message="status: deploy failed")
            status = under_load(self, srv, broken_deploy, "/slow?ms=5", more=20)
            self.assertTrue(any("ModuleNotFoundError" in l for l in status["stderr_tail"]), status)
            self.assertIn("before it was ready", status["last_error"])
            self.assertEqual(sorted(ready_pids(srv)), sorted(old))
            self.assertIn("tag=v1", request(srv.port(), "/").text)
            srv.write_file("app/app.py", PY_APP)
            eventually(lambda: app_status(srv)["state"] == "running" and
                       all(not alive(p) for p in old), 20, message="the fixed deploy done")
            self.assertIn("tag=v2", request(srv.port(), "/").text)

    def test_repeated_restarts_and_kills_under_keepalive_and_new_connections(self):
        """Several generations replaced in a row while clients keep connections open and open
        new ones, with a kill -9 in each: spawning children while workers open and close
        sockets must never let an event reach a closed connection (it once crashed a worker)."""
        with Server(app_config(tag="g0"), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            eventually(lambda: len(ready_pids(srv)) == 2, 10, message="two ready processes")
            loads = run_load(srv.port(), 2, "/slow?ms=5")
            loads += [KeepAliveLoad(srv.port(), "/slow?ms=5") for _ in range(2)]
            for t in loads[2:]:
                t.start()
            generations = 0
            try:
                eventually(lambda: all(t.ok > 5 for t in loads), 10, message="load running")
                end = time.monotonic() + 25
                while generations < 5 and time.monotonic() < end:
                    generations += 1
                    tag = f"g{generations}"
                    old = ready_pids(srv)
                    srv.reload(app_config(tag=tag))
                    eventually(lambda: all(not alive(p) for p in old), 15,
                               message=f"generation {generations - 1} stopped")
                    current = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv),
                                         10, message="two ready processes")
                    os.kill(current[0], signal.SIGKILL)
                    eventually(lambda: len(ready_pids(srv)) == 2
                               and current[0] not in ready_pids(srv), 15,
                               message="a replacement for the killed process")
                    eventually(lambda: all(t.bodies[-1:] and f"tag={tag}" in t.bodies[-1]
                                           for t in loads), 15, message=f"clients on {tag}")
                self.assertTrue(srv.running())
            finally:
                total, failures = stop_load(self, loads)
            self.assertGreaterEqual(generations, 2)
            self.assertEqual(failures, [], f"{len(failures)} failed of {total}")
            # Only keepalive_requests (1000) closes a client's connection; a retried request
            # does not.
            self.assertEqual([t.closes for t in loads[2:]], [t.ok // 1000 for t in loads[2:]])


@portico_only
class AppRecycleTest(unittest.TestCase):
    """Restarts and recycling replace processes the way a changed app is replaced: the new
    process first, then the old one drained, with no failed request."""

    def replaced_under_load(self, srv, trigger, path="/slow?ms=5"):
        old = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                         message="two ready processes")
        def replace(_):
            trigger(old)
            eventually(lambda: all(not alive(p) for p in old), 15,
                       message="the old processes replaced")
            return eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes again")
        new = under_load(self, srv, replace, path)
        self.assertFalse(set(new) & set(old))
        return old, new

    def test_touching_restart_txt_restarts_the_app(self):
        with Server(app_config(), {"app/app.py": PY_APP, "tmp/keep": ""},
                    error_log_level="notice") as srv:
            def touch(_):
                with open(srv.path("tmp/restart.txt"), "w") as f:
                    f.write("")
            self.replaced_under_load(srv, touch)
            self.assertIn("restarting (" + srv.path("tmp/restart.txt"), srv.error_log())
            # The same mtime does not restart it again.
            gen = ready_pids(srv)
            wait_samples(srv, 2)  # two looks at the file that must change nothing
            self.assertEqual(ready_pids(srv), gen)

    def test_restart_txt_present_at_start_does_not_restart(self):
        with Server(app_config(), {"app/app.py": PY_APP, "tmp/restart.txt": ""},
                    error_log_level="notice") as srv:
            first = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                               message="two ready processes")
            wait_samples(srv, 2)  # two looks at the file
            self.assertEqual(ready_pids(srv), first)
            self.assertNotIn("restarting", srv.error_log())

    def test_max_requests_recycles_without_failures(self):
        with Server(app_config(extra="max_requests 40;"), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            self.replaced_under_load(srv, lambda old: None)
            self.assertRegex(srv.error_log(), r"is replaced \(max_requests: \d+ requests")

    def test_memory_limit_recycles_the_process_that_grew(self):
        with Server(app_config(extra="memory_limit 100m;"), {"app/app.py": PY_APP},
                    error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            # Sampled below the limit: no process is replaced for that.
            eventually(lambda: all(p["pss_kb"] > 0 for p in app_status(srv)["processes"]), 10,
                       message="memory sampled")
            wait_samples(srv, 1)
            self.assertEqual(sorted(ready_pids(srv)), sorted(pids))
            r = request(srv.port(), "/grow?mb=150")
            self.assertEqual(r.status, 200)
            grown = int(re.search(r"pid=(\d+)", r.text).group(1))
            eventually(lambda: not alive(grown), 10, message="the grown process replaced")
            eventually(lambda: len(ready_pids(srv)) == 2, 10, message="two ready processes")
            other = [p for p in pids if p != grown]
            self.assertTrue(alive(other[0]), "the other process was left alone")
            self.assertRegex(srv.error_log(),
                             rf"process {grown} is replaced \(memory_limit: \d+ requests, "
                             r"\d+ kB PSS")


@portico_only
class AppScalingTest(unittest.TestCase):
    def test_scales_up_when_requests_wait_and_down_when_idle(self):
        config = """
http {
    app pyapp {
        command PYTHON app/app.py;
        root {prefix};
        instances 1 3;
        concurrency 1;
        idle_time 1s;
    }
    upstream backend { server app:pyapp; queue 100 timeout=30s; }
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://backend; }
    }
}
""".replace("PYTHON", PYTHON)
        with Server(config, {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            eventually(lambda: len(ready_pids(srv)) == 1, 10, message="one ready process")
            loads = run_load(srv.port(), 3, "/slow?ms=100")
            try:
                eventually(lambda: len(ready_pids(srv)) == 3, 20, message="scaled up to 3")
                before = sum(t.ok for t in loads)
                eventually(lambda: sum(t.ok for t in loads) > before + 10, 10,
                           message="load served by three")
            finally:
                total, failures = stop_load(self, loads)
            self.assertEqual(failures, [], f"{len(failures)} failed of {total}")
            self.assertIn("waiting, scaling up to 2 process(es)", srv.error_log())
            # Idle: back to the minimum, one process at a time, none below it.
            eventually(lambda: len(ready_pids(srv)) == 1, 15, message="scaled down to 1")
            self.assertEqual(request(srv.port(), "/").status, 200)
            wait_samples(srv, 3)  # over 2 s, more than idle_time (1 s): the last process stays
            self.assertEqual(len(ready_pids(srv)), 1)


@portico_only
class AppControlTest(unittest.TestCase):
    """`portico status`, `portico app restart`, `portico app scale` against the running server
    (its control socket)."""

    def test_status_restart_and_scale(self):
        with Server(app_config(), {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            old = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                             message="two ready processes")
            for _ in range(5):
                self.assertEqual(request(srv.port(), "/").status, 200)
            st = eventually(lambda: (lambda r: r.returncode == 0 and json.loads(r.stdout))(
                srv.run_cli("status", "--json")), 5, message="status --json")
            app = st["apps"][0]
            self.assertEqual(app["name"], "pyapp")
            self.assertEqual(sorted(p["pid"] for p in app["processes"]), sorted(old))
            self.assertEqual(sum(p["requests"] for p in app["processes"]), 5)
            self.assertTrue(all(p["state"] == "ready" for p in app["processes"]))
            eventually(lambda: all(p["pss_kb"] > 0 for p in json.loads(
                srv.run_cli("status", "--json").stdout)["apps"][0]["processes"]), 5,
                message="memory sampled")
            text = srv.run_cli("status")
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("app pyapp: running", text.stdout)
            for pid in old:
                self.assertIn(str(pid), text.stdout)

            # Restart under load: every process replaced, nothing fails.
            def restart(_):
                r = srv.run_cli("app", "restart", "pyapp")
                self.assertEqual(r.returncode, 0, r.stderr)
                eventually(lambda: all(not alive(p) for p in old), 15,
                           message="old processes replaced")
                eventually(lambda: len(ready_pids(srv)) == 2, 10, message="two ready again")
            under_load(self, srv, restart, more=0)

            r = srv.run_cli("app", "scale", "pyapp", "3")
            self.assertEqual(r.returncode, 0, r.stderr)
            eventually(lambda: len(ready_pids(srv)) == 3, 10, message="scaled to 3")
            r = srv.run_cli("app", "scale", "pyapp", "1")
            self.assertEqual(r.returncode, 0, r.stderr)
            eventually(lambda: len(ready_pids(srv)) == 1, 10, message="scaled to 1")
            self.assertEqual(request(srv.port(), "/").status, 200)

            bad = srv.run_cli("app", "restart", "nosuch")
            self.assertEqual(bad.returncode, 1)
            self.assertIn('no app "nosuch"', bad.stderr)
            bad = srv.run_cli("app", "frobnicate")
            self.assertEqual(bad.returncode, 1)
            self.assertIn("unknown command", bad.stderr)

    def test_status_and_metrics_pages(self):
        pages = """
        location = /status { portico_status; allow 127.0.0.1; deny all; }
        location = /metrics { portico_metrics; allow 127.0.0.1; deny all; }
        location /"""
        config = app_config().replace("\n        location /", pages, 1)
        with Server(config, {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 10,
                              message="two ready processes")
            for _ in range(3):
                self.assertEqual(request(srv.port(), "/").status, 200)
            self.assertEqual(request(srv.port(), "/nope/../../x").status, 400)

            def page():
                r = request(srv.port(), "/status")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("content-type"), "application/json")
                return json.loads(r.text)
            # The apps' figures are published once a second.
            st = eventually(lambda: (lambda j: j["apps"] and j)(page()), 5,
                            message="apps in the status page")
            self.assertGreaterEqual(st["requests"]["total"], 4)
            self.assertGreaterEqual(st["requests"]["responses"]["2xx"], 3)
            self.assertEqual(st["requests"]["responses"]["4xx"], 1)
            self.assertGreaterEqual(st["connections"]["accepted"], 5)
            self.assertEqual(st["connections"]["active"], 1)  # this request's
            peers = st["upstreams"]["backend"]
            self.assertEqual(len(peers), 2)
            self.assertEqual(sum(p["requests"] for p in peers), 3)
            self.assertTrue(all(p["server"] == "app:pyapp" and p["state"] == "member"
                                for p in peers))
            self.assertEqual(sorted(p["pid"] for p in st["apps"][0]["processes"]), sorted(pids))

            # PSS is sampled once a second.
            r = eventually(lambda: (lambda r: "pss_bytes" in r.text and not re.search(
                r"(?m)^portico_app_process_pss_bytes\{[^}]*\} 0$", r.text) and r)(
                request(srv.port(), "/metrics")), 5, message="sampled memory in the metrics")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.header("content-type").startswith("text/plain; version=0.0.4"))
            m = r.text
            self.assertRegex(m, r"(?m)^portico_http_responses_total\{code=\"4xx\"\} 1$")
            self.assertRegex(m, r"(?m)^# TYPE portico_upstream_peer_requests_total counter$")
            self.assertEqual(sum(int(v) for v in re.findall(
                r'(?m)^portico_upstream_peer_requests_total\{upstream="backend",peer="[^"]+"\} '
                r'(\d+)$', m)), 3)
            for pid in pids:
                self.assertRegex(m, rf'(?m)^portico_app_process_pss_bytes\{{app="pyapp",'
                                    rf'pid="{pid}",state="ready"\}} \d')
            # Every sample line is NAME{labels} VALUE or NAME VALUE (the text format).
            for line in m.splitlines():
                if line and not line.startswith("#"):
                    self.assertRegex(line, r'^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$')

    def test_status_when_no_server_runs(self):
        with Server(app_config(), {"app/app.py": PY_APP}, start=False) as srv:
            r = srv.run_cli("status")
            self.assertEqual(r.returncode, 1)
            self.assertIn("is portico running?", r.stderr)


@portico_only
class AppAddedByReloadTest(unittest.TestCase):
    def test_requests_wait_for_a_new_app_then_reach_it(self):
        """A reload adds an app: its group is empty until the first process is ready, so
        requests wait in its queue and are answered once the process is added."""
        added = app_config(instances=1).replace("location / {", """location /new {
            proxy_pass http://newb;
        }
        location / {""").replace("upstream backend", """app newapp {
        command PYTHON app/slow_start.py;
        root {prefix};
    }
    upstream newb { server app:newapp; }
    upstream backend""").replace("PYTHON", PYTHON)
        files = {"app/app.py": PY_APP,
                 "app/slow_start.py": "import time; time.sleep(0.5)\n"
                                      "exec(open('app/app.py').read())\n"}
        with Server(app_config(instances=1), files, error_log_level="notice") as srv:
            first = eventually(lambda: ready_pids(srv), 10, message="a ready process")[0]
            loads = run_load(srv.port(), 2, "/new")
            try:
                eventually(lambda: all(t.ok > 5 for t in loads), 10, message="load running")
                srv.reload(added)
                srv.wait_error_log(r"reconfigured", 10)
                eventually(lambda: all(t.bodies[-1:] and f"pid={first} " not in t.bodies[-1]
                                       for t in loads), 15,
                           message="requests answered by the new app")
            finally:
                total, failures = stop_load(self, loads)
            self.assertEqual(failures, [], f"{len(failures)} failed of {total}")


# DESIGN.md's site B as written (passenger at server level), plus two processes and a log.
SITE_B = """
http {
    server {
        listen 127.0.0.1:{port};
        server_name app-b.example;
        root {prefix}/app-b/public;
        passenger_enabled on;
        passenger_app_type node;
        passenger_startup_file {prefix}/app-b/app.js;
        passenger_min_instances 2;
        passenger_env_var GREETING hello;
        passenger_app_log_file logs/app-b.log;
        location /api/ {
            if ($arg_x) {
                add_header X-Seen-X $arg_x;
            }
        }
    }
}
"""


@portico_only
class PassengerTest(unittest.TestCase):
    def test_site_b_node_app_with_hard_coded_port_runs_twice(self):
        holder = socket.socket()
        try:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", 3000))
            holder.listen(1)  # even with port 3000 taken, the app runs
        except OSError:
            holder.close()
            holder = None
        try:
            with Server(SITE_B, {"app-b/app.js": NODE_APP, "app-b/public/style.css": "body{}\n"},
                        error_log_level="notice") as srv:
                pids = eventually(lambda: len(ready_pids(srv)) == 2 and ready_pids(srv), 15,
                                  message="two ready node processes")
                r = request(srv.port(), "/", host="app-b.example")
                self.assertEqual(r.status, 200, r.text)
                m = re.match(r"node pid=(\d+) env=production greeting=hello", r.text)
                self.assertTrue(m, r.text)
                self.assertIn(int(m.group(1)), pids)
                # Static files under root are portico's; the rest is the app's, also in a
                # nested location and inside an `if` there.
                r = request(srv.port(), "/style.css", host="app-b.example")
                self.assertEqual((r.status, r.text), (200, "body{}\n"))
                self.assertRegex(request(srv.port(), "/missing.css").text, r"^node pid=")
                r = request(srv.port(), "/api/x?x=1", host="app-b.example")
                self.assertRegex(r.text, r"^node pid=")
                self.assertEqual(r.header("X-Seen-X"), "1")
                log = srv.path("logs/app-b.log")
                eventually(lambda: open(log).read().count("stdout] listening on 3000") == 2, 5,
                           message="both processes' output in the app log")
        finally:
            if holder:
                holder.close()

    def test_python_wsgi_app(self):
        config = """
http {
    server {
        listen 127.0.0.1:{port};
        root {prefix}/pyapp/public;
        location / {
            passenger_enabled on;
            passenger_app_type python;
        }
    }
}
"""
        with Server(config, {"pyapp/passenger_wsgi.py": WSGI_APP, "pyapp/public/.keep": ""},
                    error_log_level="notice") as srv:
            eventually(lambda: ready_pids(srv), 15, message="a ready WSGI process")
            # The loader serves on the unix socket portico gave it.
            p = app_status(srv, "passenger:" + srv.path("pyapp"))["processes"][0]
            self.assertTrue(stat.S_ISSOCK(os.stat(p["socket"]).st_mode))
            r = request(srv.port(), "/hello")
            self.assertEqual(r.status, 200, r.text)
            self.assertRegex(r.text, r"^wsgi pid=%d path=/hello" % p["pid"])

    def test_apps_listen_on_private_unix_sockets_unless_told_tcp(self):
        # node and python apps get a unix socket each (as under Passenger), in a directory of
        # their own that nobody else can enter; `app_socket tcp` gives a loopback port; both
        # serve, and the sockets go away with their processes.
        config = """
http {
    server {
        listen 127.0.0.1:{port};
        server_name node.example;
        root {prefix}/app-b/public;
        passenger_enabled on;
        passenger_startup_file {prefix}/app-b/app.js;
        passenger_min_instances 2;
    }
    server {
        listen 127.0.0.1:{port};
        server_name py.example;
        root {prefix}/pyapp/public;
        passenger_enabled on;
        passenger_app_type python;
        app_socket tcp;
    }
}
"""
        files = {"app-b/app.js": NODE_APP, "app-b/public/.keep": "",
                 "pyapp/passenger_wsgi.py": WSGI_APP, "pyapp/public/.keep": ""}
        with Server(config, files, error_log_level="notice") as srv:
            eventually(lambda: len(ready_pids(srv)) == 3, 15, message="three ready processes")
            node = app_status(srv, "passenger:" + srv.path("app-b"))["processes"]
            py = app_status(srv, "passenger:" + srv.path("pyapp"))["processes"]
            socks = [p["socket"] for p in node]
            self.assertEqual(len(set(socks)), 2, node)
            for p in node:
                self.assertNotIn("port", p)
                st = os.stat(p["socket"])
                self.assertTrue(stat.S_ISSOCK(st.st_mode), p["socket"])
                self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(p["socket"])).st_mode), 0o700)
            self.assertIn(f"ready on unix:{socks[0]}", srv.error_log())
            self.assertGreater(py[0]["port"], 0)
            self.assertNotIn("socket", py[0])
            r = request(srv.port(), "/", host="node.example")
            self.assertEqual(r.status, 200, r.text)
            self.assertIn(int(re.match(r"node pid=(\d+)", r.text).group(1)),
                          {p["pid"] for p in node})
            r = request(srv.port(), "/x", host="py.example")
            self.assertRegex(r.text, r"^wsgi pid=\d+ path=/x")
            # A process replaced: its socket and directory are gone, the new one has its own.
            os.kill(node[0]["pid"], signal.SIGKILL)
            eventually(lambda: not os.path.exists(os.path.dirname(socks[0])), 10,
                       message="the killed process's socket directory removed")
            eventually(lambda: len(ready_pids(srv)) == 3, 15, message="the replacement ready")
            again = app_status(srv, "passenger:" + srv.path("app-b"))["processes"]
            self.assertNotIn(socks[0], [p.get("socket") for p in again])
            # The text status says where each process listens.
            text = srv.run_cli("status")
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertEqual(text.stdout.count(" unix "), 2, text.stdout)
            self.assertIn(f" {py[0]['port']} ", text.stdout)
        for s in socks:
            self.assertFalse(os.path.exists(os.path.dirname(s)), s)

    def test_start_command_generic_app(self):
        config = """
http {
    server {
        listen 127.0.0.1:{port};
        location / {
            passenger_enabled on;
            passenger_app_root {prefix}/app;
            passenger_app_start_command "PYTHON app.py --port=$PORT";
            app_ready_check http /;
        }
    }
}
""".replace("PYTHON", PYTHON)
        with Server(config, {"app/app.py": PY_APP}, error_log_level="notice") as srv:
            eventually(lambda: ready_pids(srv), 10, message="a ready process")
            self.assertRegex(request(srv.port(), "/").text, r"^pid=\d+")

    @unittest.skipUnless(os.geteuid() == 0, "user switching needs root")
    def test_user_switching_as_root(self):
        # Passenger's rules when portico runs as root: the startup file's owner; never root
        # (a root-owned app runs as passenger_default_user, nobody); passenger_user wins;
        # passenger_user_switching off means the default user (and group).
        ids_app = WSGI_APP.replace('"wsgi pid=%d path=%s\\n" % (os.getpid(), environ["PATH_INFO"])',
                                   '"uid=%d gid=%d" % (os.getuid(), os.getgid())')
        self.assertNotEqual(ids_app, WSGI_APP)
        cases = [("owned", ""), ("rootowned", ""), ("explicit", "passenger_user www-data;"),
                 ("off", "passenger_user_switching off; passenger_default_group daemon;")]
        locations = "".join(f"""
        location /{name}/ {{
            passenger_enabled on;
            passenger_app_type python;
            passenger_app_root {{prefix}}/{name};
            {extra}
        }}""" for name, extra in cases)
        config = "http { server { listen 127.0.0.1:{port};" + locations + "} }"
        files = {f"{n}/passenger_wsgi.py": ids_app for n, _ in cases}
        with Server(config, files, error_log_level="notice", start=False) as srv:
            for n in ("owned", "explicit", "off"):
                os.chown(srv.path(f"{n}/passenger_wsgi.py"), 1, 1)  # daemon:daemon
            srv.start()
            eventually(lambda: len(ready_pids(srv)) == 4, 15, message="four ready apps")
            got = {n: request(srv.port(), f"/{n}/").text for n, _ in cases}
            self.assertEqual(got, {"owned": "uid=1 gid=1", "rootowned": "uid=65534 gid=65534",
                                   "explicit": "uid=33 gid=33", "off": "uid=65534 gid=1"})


JAVA_APP = r"""
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;

public class App {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0].replace("--server.port=", ""));
        Thread.sleep(500);  // a slow boot, as Spring's
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        s.createContext("/", ex -> {
            byte[] b = ("java pid=" + ProcessHandle.current().pid() + "\n").getBytes();
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        s.createContext("/health", ex -> {
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        s.start();
        System.out.println("started on " + port);
    }
}
"""

@portico_only
@unittest.skipUnless(shutil.which("javac") and shutil.which("java"), "no JDK")
class JavaAppTest(unittest.TestCase):
    def test_site_a_java_app_as_a_managed_upstream(self):
        """Site A's `java -jar` app managed by portico: `server app:spring` in the upstream
        the location already proxies to, readiness by an HTTP check."""
        config = """
http {
    app spring {
        command "java -cp classes App --server.port=$PORT";
        root {prefix}/spring;
        instances 2;
        ready_check http /health;
        start_timeout 30s;
        log logs/spring.log;
    }
    upstream spring { server app:spring; }
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass http://spring;
            proxy_set_header X-Real-IP $remote_addr;
        }
    }
}
"""
        with Server(config, {"spring/App.java": JAVA_APP}, error_log_level="notice",
                    start=False) as srv:
            build = subprocess.run(["javac", "-d", srv.path("spring/classes"),
                                    srv.path("spring/App.java")], capture_output=True, timeout=120)
            self.assertEqual(build.returncode, 0, build.stderr)
            srv.start()
            # A request sent before any process is ready waits for one (the app's queue).
            r = request(srv.port(), "/", timeout=30)
            self.assertEqual(r.status, 200, r.text)
            self.assertRegex(r.text, r"^java pid=\d+")
            eventually(lambda: len(ready_pids(srv)) == 2, 30, message="two ready JVMs")
            self.assertIn("stdout] started on", open(srv.path("logs/spring.log")).read())


if __name__ == "__main__":
    unittest.main()
