"""bench/report.py's table, with and without a --baseline server, and run.sh's handling
of --baseline: its argument checks (done before it touches anything: no server is
started, nothing is installed), where baseline goes in the server list and the round
order (run.sh's own functions, sourced from the file, on made-up input)."""
import json
import os
import subprocess
import sys
import tempfile
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


if __name__ == "__main__":
    unittest.main()
