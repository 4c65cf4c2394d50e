"""bench/report.py's table, with and without a --baseline server, and run.sh's handling
of --baseline: its argument checks (done before it touches anything: no server is
started, nothing is installed), where baseline goes in the server list and the round
order (run.sh's own functions, sourced from the file, on made-up input)."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BENCH = os.path.join(os.environ.get("PORTICO_SOURCE_DIR",
                                    os.path.join(os.path.dirname(__file__), "..", "..")), "bench")
sys.path.insert(0, BENCH)
import report  # noqa: E402


def wrk(row, server, rnd, rps, p99, cpu):
    return {"type": "result", "row": row, "server": server, "round": rnd, "rps": rps,
            "mibps": rps / 1024, "p99_ms": p99, "requests": int(rps * 2),
            "non2xx": 0, "sock_connect": 0, "sock_read": 0, "sock_write": 0, "sock_timeout": 0,
            "server_cpu": cpu, "client_cpu": 0.5, "other_cpu": 0.0, "server_core": 1.0,
            "client_core": 0.6, "rps_per_cpu": rps / cpu}


def mem(row, server, rnd, bpc):
    return {"type": "result", "row": row, "server": server, "round": rnd, "bytes_per_conn": bpc,
            "rss_before_kb": 1000, "rss_after_kb": 2000, "ok": 10000, "failed": 0,
            "closed_by_peer": 0}


def run_records(baseline):
    """A two-round run of rows 1 and 4 with portico, nginx and optionally baseline."""
    meta = {"type": "meta", "date": "2026-12-07 11:00:00 UTC", "rounds": 2, "duration": 2,
            "server_cpu": "0", "client_cpu": "1", "host": "Host: test"}
    if baseline:
        meta.update(baseline="/old/portico", portico="/new/portico")
    recs = [meta, {"type": "server", "server": "portico", "info": "/new/portico (built today)"}]
    if baseline:
        recs.append({"type": "server", "server": "baseline", "info": "/old/portico (built yesterday)"})
    recs.append({"type": "server", "server": "nginx", "info": "nginx/1.22.1"})
    recs.append({"type": "row", "row": 1, "title": "1 KiB file", "kind": "wrk", "show_mibps": False})
    for rnd in (1, 2):
        recs.append(wrk(1, "portico", rnd, 12000 + rnd * 100, 2.0, 1.0))
        if baseline:
            recs.append(wrk(1, "baseline", rnd, 10000 + rnd * 100, 2.5, 1.0))
        recs.append(wrk(1, "nginx", rnd, 6000 + rnd * 100, 4.0, 1.0))
    recs.append({"type": "row", "row": 4, "title": "idle conns", "kind": "mem", "show_mibps": False})
    recs.append(mem(4, "portico", 1, 400))
    if baseline:
        recs.append(mem(4, "baseline", 1, 500))
    recs.append(mem(4, "nginx", 1, 800))
    return recs


def table_of(recs):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    try:
        return report.table(f.name).splitlines()
    finally:
        os.unlink(f.name)


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_rows(lines):
    head = next(i for i, ln in enumerate(lines) if ln.startswith("| # |"))
    return [cells(ln) for ln in lines[head:] if ln.startswith("|")]


class ReportTable(unittest.TestCase):
    def test_without_baseline_the_table_is_portico_and_its_peers(self):
        lines = table_of(run_records(baseline=False))
        rows = table_rows(lines)
        self.assertEqual(rows[0], ["#", "Test", "Metric", "portico", "nginx", "portico/nginx"])
        self.assertEqual(rows[2][:6], ["1", "1 KiB file", "req/s (higher better)", "12,150", "6,150", "1.98x"])
        self.assertEqual(rows[-1][3:], ["400", "800", "0.50x"])
        self.assertFalse(any("baseline" in ln for ln in lines), "no baseline anywhere without one")

    def test_baseline_gets_a_column_and_the_first_ratio(self):
        lines = table_of(run_records(baseline=True))
        rows = table_rows(lines)
        self.assertEqual(rows[0], ["#", "Test", "Metric", "portico", "baseline", "nginx",
                                   "portico/baseline", "portico/nginx"])
        self.assertEqual(len(rows[1]), len(rows[0]), "separator line has one cell per column")
        # medians: portico 12,150, baseline 10,150, nginx 6,150 req/s
        self.assertEqual(rows[2][3:], ["12,150", "10,150", "6,150", "1.20x", "1.98x"])
        self.assertEqual(rows[3][3:], ["2.00", "2.50", "4.00", "0.80x", "0.50x"])  # p99
        self.assertEqual(rows[-1][3:], ["400", "500", "800", "0.80x", "0.50x"])  # bytes/conn
        self.assertIn("- baseline: /old/portico (built yesterday)", lines)
        before_after = [ln for ln in lines if ln.startswith("**Before/after:**")]
        self.assertEqual(len(before_after), 1)
        self.assertIn("`baseline` is /old/portico, `portico` is /new/portico", before_after[0])
        self.assertTrue(any(ln.startswith("- row 1 baseline: rps 10,100, 10,200 (p99 ms: 2.50, 2.50)")
                            for ln in lines), "per-round values list the baseline")

    def test_a_failed_baseline_is_flagged_like_any_server(self):
        recs = [r for r in run_records(baseline=True) if not (r.get("server") == "baseline" and r.get("row") == 1)]
        recs.append({"type": "fail", "row": 1, "server": "baseline", "round": 1, "error": "server died"})
        lines = table_of(recs)
        self.assertIn("- row 1 baseline round 1: FAILED: server died", lines)
        rows = table_rows(lines)
        self.assertEqual(rows[2][3:], ["12,150", "n/a !", "6,150", "—", "1.98x"])


def app_records():
    """A two-round run of row 9 (the app servers) with portico and the three peers."""
    recs = [{"type": "meta", "date": "2026-12-07 15:00:00 UTC", "rounds": 2, "duration": 5,
             "server_cpu": "0", "client_cpu": "1", "host": "Host: test"},
            {"type": "server", "server": "portico", "info": "/new/portico"},
            {"type": "server", "server": "nginx", "info": "nginx/1.22.1"},
            {"type": "server", "server": "passenger", "info": "Phusion Passenger(R) 6.0.17"},
            {"type": "unavailable", "server": "pm2", "row": 9, "feature": "node app",
             "reason": "pm2 is not installed"},
            {"type": "row", "row": 9, "title": "app: 2 Node processes", "kind": "app", "show_mibps": False}]
    # front PSS (KiB): portico 6 MiB, nginx 12 MiB, passenger 16 MiB; each with 2 x 30 MiB of node
    for s, rps, front_kb in (("portico", 8000, 6144), ("nginx", 6000, 12288), ("passenger", 4000, 16384)):
        for rnd in (1, 2):
            r = wrk(9, s, rnd, rps + rnd * 100, 5.0, 1.0)
            r.update(front_pss_kb=front_kb, front_rss_kb=front_kb * 2, app_pss_kb=61440, app_rss_kb=102400,
                     front_procs=2, app_procs=2, front_names=[f"{s} main", f"{s} helper"],
                     total_pss_kb=front_kb + 61440)
            recs.append(r)
    return recs


class AppRow(unittest.TestCase):
    def test_app_row_shows_req_s_and_memory_with_ratios(self):
        lines = table_of(app_records())
        rows = table_rows(lines)
        self.assertEqual(rows[0], ["#", "Test", "Metric", "portico", "nginx", "passenger", "pm2",
                                   "portico/nginx", "portico/passenger", "portico/pm2"])
        self.assertEqual(rows[2][:3], ["9", "app: 2 Node processes", "req/s (higher better)"])
        self.assertEqual(rows[2][3:], ["8,150", "6,150", "4,150", "n/a", "1.33x", "1.96x", "—"])
        metrics = [r[2] for r in rows[2:]]
        self.assertEqual(metrics, ["req/s (higher better)", "p99 latency ms (lower better)",
                                   "req per server CPU-second (higher better)",
                                   "memory of the front end, PSS MiB (lower better)",
                                   "memory with the app processes, PSS MiB (lower better)"],
                         "no MiB/s, memory after the wrk metrics")
        self.assertEqual(rows[5][3:], ["6.0", "12.0", "16.0", "n/a", "0.50x", "0.38x", "—"])
        self.assertEqual(rows[6][3:], ["66.0", "72.0", "76.0", "n/a", "0.92x", "0.87x", "—"])
        self.assertIn("- row 9 pm2: not available (node app): pm2 is not installed", lines)
        self.assertTrue(any(ln.startswith("- row 9 passenger: rps 4,100, 4,200 (p99 ms: 5.00, 5.00)")
                            and "(PSS MiB front end + app processes: 16.0 + 60.0 in 2 + 2 processes, "
                                "16.0 + 60.0 in 2 + 2 processes)" in ln
                            and "(front end: passenger main, passenger helper)" in ln for ln in lines), lines)
        self.assertTrue(any(ln.startswith("- row 9 portico: both CPUs saturated") or
                            ln.startswith("- row 9 portico: server-bound") for ln in lines),
                        "the app row has a bottleneck line")


H2LOAD_OUT = """starting benchmark...
TLS Protocol: TLSv1.3
Cipher: TLS_AES_256_GCM_SHA384
Server Temp Key: X25519 253 bits
Application protocol: %s

finished in 3.00s, 61234.50 req/s, 64.25MB/s
requests: 183703 total, 184215 started, 183703 done, 183700 succeeded, 3 failed, 0 errored, 0 timeout
status codes: 183700 2xx, 0 3xx, 2 4xx, 0 5xx
"""

HS_OUT = """  1234 requests in 3.01s, 0 read
Requests/sec:    410.00
Handshakes: full 1230, resumed 4, TLS1.3 1234, other-protocol 0, bad-response 0
Socket errors: connect 0, read 0, write 0, timeout 0
Handshake mode mismatches: 4
"""


class TlsRows(unittest.TestCase):
    """The HTTPS rows' load generators: h2load's output and tls_handshakes' (bench/tls_handshakes.c)."""

    def test_h2load_output(self):
        m = report.parse_wrk(H2LOAD_OUT % "h2")
        self.assertEqual((m["rps"], round(m["mibps"], 2), m["requests"]), (61234.5, 64.25, 183700))
        self.assertEqual((m["sock_read"], m["non2xx"], m["not_tls13"]), (3, 2, 0))
        self.assertNotIn("proto_error", m)
        self.assertIn("protocol http/1.1, not h2", report.errors_of(report.parse_wrk(H2LOAD_OUT % "http/1.1")))

    def test_handshake_client_output_and_rows(self):
        m = report.parse_wrk(HS_OUT)
        self.assertEqual((m["rps"], m["hs_full"], m["hs_resumed"], m["hs_mismatch"]), (410.0, 1230, 4, 4))
        self.assertIn("4 handshakes not of the row's kind", report.errors_of(m))
        recs = [{"type": "meta", "date": "d", "rounds": 1, "duration": 3, "server_cpu": "0",
                 "client_cpu": "1", "host": "h"},
                {"type": "row", "row": 12, "title": "full handshakes", "kind": "hs", "show_mibps": False},
                {"type": "row", "row": 15, "title": "gzip", "kind": "wrk", "show_mibps": False, "body_kib": 100}]
        recs += [wrk(12, "portico", 1, 500, 0, 0.25), wrk(12, "nginx", 1, 500, 0, 0.5)]
        recs += [wrk(15, "portico", 1, 1024, 1.0, 1.0), wrk(15, "nginx", 1, 512, 1.0, 1.0)]
        rows = table_rows(table_of(recs))
        self.assertEqual([r[2] for r in rows[2:5]], ["handshakes/s (higher better)",
                                                      "handshakes per server CPU-second (higher better)",
                                                      "server CPU µs per handshake (lower better)"])
        self.assertEqual(rows[4][3:], ["500", "1,000", "0.50x"])
        self.assertEqual(rows[-1][2:], ["server CPU ms per MiB of body (lower better)", "10.00", "20.00",
                                        "0.50x"])


class StackMemory(unittest.TestCase):
    """report.stack / stack_mem on real processes: a shell (the front end) with a sleep child
    (an app process, by its executable), and a sleep of its own (an app given by pid)."""

    def setUp(self):
        self.procs = []

    def tearDown(self):
        # the shells' sleep children too: an orphaned sleep would outlive the test
        for p in self.procs:
            for pid in reversed(report.family(p.pid)):
                if pid != p.pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            p.kill()
            p.wait(timeout=10)

    def start(self, *args):
        p = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def wait_children(self, pid, n):
        """pid's children once there are n and each has exec'd sleep (a forked sh is not yet)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kids = report.children(pid)
            if len(kids) >= n and all(report.exe_name(k) == "sleep" for k in kids):
                break
            time.sleep(0.02)
        return report.children(pid)

    def test_front_end_app_processes_and_totals(self):
        front = self.start("sh", "-c", "sleep 60 & sleep 60 & wait")
        kids = self.wait_children(front.pid, 2)
        self.assertEqual(len(kids), 2)
        app = self.start("sleep", "60")
        f, a = report.stack([front.pid], [app.pid], app_exes=("sleep",))
        self.assertEqual(f, [front.pid])
        self.assertEqual(sorted(a), sorted(kids + [app.pid]))
        m = report.stack_mem([front.pid], [app.pid], app_exes=("sleep",))
        self.assertEqual((m["front_procs"], m["app_procs"]), (1, 3))
        self.assertGreater(m["front_pss_kb"], 0)
        self.assertGreater(m["app_pss_kb"], 0)
        self.assertGreaterEqual(m["front_rss_kb"], m["front_pss_kb"])
        self.assertEqual(m["total_pss_kb"], m["front_pss_kb"] + m["app_pss_kb"])
        self.assertEqual(m["front_names"], ["sh"])

    def test_a_front_root_stays_front_even_if_it_is_an_app_executable(self):
        # PM2's daemon is node itself; its node children are the app processes.
        root = self.start("sh", "-c", "sleep 60 & wait")
        kids = self.wait_children(root.pid, 1)
        f, a = report.stack([root.pid], [], app_exes=("sh", "sleep"))
        self.assertEqual((f, a), ([root.pid], kids))
        f, a = report.stack([root.pid], [], app_exes=("nothing",))
        self.assertEqual((sorted(f), a), (sorted([root.pid] + kids), []))

    def test_stack_mem_merges_into_the_side_file_and_counts(self):
        root = self.start("sh", "-c", "sleep 60 & wait")
        self.wait_children(root.pid, 1)
        with tempfile.TemporaryDirectory() as d:
            side = os.path.join(d, "side.json")
            with open(side, "w") as fh:
                json.dump({"server_cpu": 0.5}, fh)
            r = subprocess.run([sys.executable, os.path.join(BENCH, "report.py"), "stack-mem", side,
                                f"{root.pid},", ""], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(side) as fh:
                got = json.load(fh)
            self.assertEqual(got["server_cpu"], 0.5)
            self.assertEqual(got["front_procs"], 2, "sh and sleep are front: neither is node")
            self.assertEqual(got["app_procs"], 0)
            r = subprocess.run([sys.executable, os.path.join(BENCH, "report.py"), "stack-count",
                                str(root.pid), ""], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.stdout.strip(), "0")
        self.assertEqual(report.pid_list("1,,2, 3"), [1, 2, 3])


class RunArguments(unittest.TestCase):
    def run_sh(self, *args):
        return subprocess.run(["bash", os.path.join(BENCH, "run.sh"), *args], capture_output=True,
                              text=True, timeout=30)

    def test_servers_baseline_needs_a_baseline_binary(self):
        r = self.run_sh("--servers", "portico,baseline", "--rows", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--servers names baseline but no --baseline BINARY is given", r.stderr)

    def test_baseline_must_be_an_executable(self):
        with tempfile.NamedTemporaryFile() as f:
            r = self.run_sh("--baseline", f.name, "--rows", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"--baseline {f.name}: not an executable file", r.stderr)

    def shell(self, script, *funcs):
        """Runs script after defining run.sh's functions funcs (taken from the file)."""
        with open(os.path.join(BENCH, "run.sh")) as f:
            src = f.read().splitlines()
        defs = []
        for name in funcs:
            start = next(i for i, ln in enumerate(src) if ln.startswith(name + "() {"))
            end = next(i for i in range(start, len(src)) if src[i] == "}" or src[i].endswith("; }"))
            defs += src[start:end + 1]
        r = subprocess.run(["bash", "-c", "\n".join(defs) + "\n" + script], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_baseline_is_added_right_after_portico(self):
        exe = sys.executable
        script = ('PORTICO_BIN=x; PORT_BASE=28400; ROUNDS=1; DURATION=1; IDLE_CONNS=1; WAIT_QUIET=0; '
                  'ROWS=1; SERVERS_WANTED=portico,nginx,h2o,haproxy; '
                  f'parse_args "$@"; echo "$SERVERS_WANTED $BASELINE_BIN"')
        funcs = ("log", "die", "usage", "parse_args")
        cases = [([], "portico,baseline,nginx,h2o,haproxy"),
                 (["--servers", "nginx,portico"], "nginx,portico,baseline"),
                 (["--servers", "nginx"], "baseline,nginx"),
                 (["--servers", "baseline,portico"], "baseline,portico")]
        for args, want in cases:
            out = self.shell(f'set -- --baseline {exe} {" ".join(args)}; ' + script, *funcs)
            self.assertEqual(out.split(), [want, exe], args)
        out = self.shell('set -- --servers portico,nginx; BASELINE_BIN=""; ' + script, *funcs)
        self.assertEqual(out.split(), ["portico,nginx"], "no baseline, list unchanged")

    def test_portico_and_baseline_swap_places_every_other_round(self):
        orders = self.shell('ROW_RUN=(portico baseline nginx h2o); for r in 1 2 3 4; do round_order $r; done; '
                            'ROW_RUN=(portico nginx); round_order 2', "round_order")
        self.assertEqual(orders.splitlines(), ["portico baseline nginx h2o", "baseline portico nginx h2o",
                                               "portico baseline nginx h2o", "baseline portico nginx h2o",
                                               "portico nginx"])

    def test_help_documents_baseline(self):
        r = self.run_sh("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--baseline BINARY", r.stdout)

    def test_rows_apps_is_row_9(self):
        script = ('PORTICO_BIN=x; PORT_BASE=28400; ROUNDS=1; DURATION=1; IDLE_CONNS=1; WAIT_QUIET=0; '
                  'ROWS=1; SERVERS_WANTED=portico; BASELINE_BIN=""; parse_args "$@"; echo "$ROWS"')
        funcs = ("log", "die", "usage", "parse_args")
        for rows, want in (("apps", "9"), ("1,apps", "1,9"), ("5,9", "5,9"), ("tls", "10,11,12,13,14,15"),
                           ("1,tls", "1,10,11,12,13,14,15")):
            self.assertEqual(self.shell(f"set -- --rows {rows}; " + script, *funcs).strip(), want)

    def test_stack_arg_joins_pids(self):
        out = self.shell('stack_arg "12 13" "" 14; stack_arg ""; stack_arg "$(printf "\\n15\\n16")" 17', "stack_arg")
        self.assertEqual(out.splitlines(), ["12,13,14", "", "15,16,17"])


if __name__ == "__main__":
    unittest.main()
