#!/usr/bin/env python3
"""Helpers for bench/run.sh: parse wrk output, record results, print the table.

Results live in one JSON-lines file per run. Record types:
  {"type": "meta", ...}                          run settings (date, rounds, ...; with
                                                 --baseline also "baseline" and "portico":
                                                 the two binaries' paths)
  {"type": "row", "row": 1, "kind": "wrk"|"mem"|"app", "title": ...}   (app: a wrk row
                                                 that also shows the stack's memory)
  {"type": "result", "row": 1, "server": "nginx", "round": 1, ...metrics}
  {"type": "fail", "row": 1, "server": "nginx", "round": 1, "error": "..."}
  {"type": "unavailable", "server": "portico", "reason": "..."}   (for the whole run)
  {"type": "unavailable", "server": "portico", "row": 7, "feature": "stream", "reason": "..."}

Subcommands:
  watch SIDE_JSON TIMEOUT_S SERVER_PID SERVER_CPU CLIENT_CPU [--aux PID] [--status URL]
        [--also PIDS] -- CMD...
                         run CMD (wrk), bounded in time, and write CPU accounting
                         (server, client, the --aux process family such as the
                         proxy rows' origin, everything else) to SIDE_JSON; with
                         --status (an nginx stub_status URL, the origin's) also the
                         connections it accepted and requests it served during CMD;
                         --also: more processes (comma-separated, with their
                         descendants) counted as the server (the app row's stacks)
  stack-count FRONT_PIDS APP_PIDS
                         print how many app processes the stack has (see stack-mem)
  stack-mem SIDE_JSON FRONT_PIDS APP_PIDS
                         add the stack's memory (PSS and RSS of its front end and of
                         its app processes) to SIDE_JSON. FRONT_PIDS, APP_PIDS: comma-
                         separated, each taken with its descendants; a descendant of
                         a front pid whose executable is node is an app process
  quiet MAX_WAIT_S [LIMIT_CPUS]
                         wait until the machine is idle (other load < LIMIT, default 0.10 CPU)
  add-wrk RESULTS ROW SERVER ROUND WRK_OUTPUT_FILE [SIDE_JSON]
  add-json RESULTS '{"type": ...}'
  table RESULTS          print the markdown report
Standard library only.
"""
import json
import os
import re
import signal
import statistics
import sys
import time

# "baseline" is the second portico build of a before/after run (run.sh --baseline): its
# column and its ratio come first among the peers when a run has one.
SERVERS = ["portico", "baseline", "nginx", "h2o", "haproxy", "passenger", "pm2"]

TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_wrk(text):
    """Return the metrics of one wrk --latency run (wrk's KB/MB are 1024-based), of one
    h2load run (see parse_h2load) or of one tls_handshakes run (wrk's lines plus its own)."""
    if re.search(r"^finished in [\d.]+s, ", text, re.M):
        return parse_h2load(text)
    out = {"rps": None, "mibps": None, "p99_ms": None, "requests": None,
           "non2xx": 0, "sock_connect": 0, "sock_read": 0, "sock_write": 0,
           "sock_timeout": 0}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^Transfer/sec:\s+([\d.]+)([KMGT]?B)", text, re.M)
    if m:
        out["mibps"] = float(m.group(1)) * SIZE_UNITS[m.group(2)] / 1024 ** 2
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    if m:
        out["p99_ms"] = float(m.group(1)) * TIME_UNITS[m.group(2)]
    m = re.search(r"^\s+(\d+) requests in", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for key, val in zip(("sock_connect", "sock_read", "sock_write", "sock_timeout"), m.groups()):
            out[key] = int(val)
    # tls_handshakes (bench/tls_handshakes.c): what each new connection was
    m = re.search(r"^Handshakes: full (\d+), resumed (\d+), TLS1.3 (\d+), other-protocol (\d+)", text, re.M)
    if m:
        out["hs_full"], out["hs_resumed"], _, out["not_tls13"] = (int(x) for x in m.groups())
    m = re.search(r"^Handshake mode mismatches: (\d+)", text, re.M)
    if m:
        out["hs_mismatch"] = int(m.group(1))
    return out


def parse_h2load(text):
    """The metrics of one h2load run: req/s and MiB/s (h2load's MB are 1024-based), failed,
    errored and timed-out requests as socket errors, and what was negotiated: a protocol other
    than h2 or TLS other than 1.3 counts as an error (proto_error, not_tls13)."""
    out = {"rps": None, "mibps": None, "p99_ms": None, "requests": None,
           "non2xx": 0, "sock_connect": 0, "sock_read": 0, "sock_write": 0,
           "sock_timeout": 0}
    m = re.search(r"^finished in [\d.]+s, ([\d.]+) req/s, ([\d.]+)([KMGT]?B)/s", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
        out["mibps"] = float(m.group(2)) * SIZE_UNITS[m.group(3)] / 1024 ** 2
    m = re.search(r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text, re.M)
    if m:
        out["requests"] = int(m.group(3))
        out["sock_read"], out["sock_write"], out["sock_timeout"] = (int(x) for x in m.groups()[3:])
    m = re.search(r"^status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        out["non2xx"] = sum(int(x) for x in m.groups())
    m = re.search(r"^Application protocol: (\S+)", text, re.M)
    if not m or m.group(1) != "h2":
        out["proto_error"] = f"protocol {m.group(1) if m else 'none'}, not h2"
    m = re.search(r"^TLS Protocol: (\S+)", text, re.M)
    out["not_tls13"] = 0 if m and m.group(1) == "TLSv1.3" else 1
    return out


# ---------------------------------------------------------------- CPU accounting

HZ = os.sysconf("SC_CLK_TCK")


def cpu_stat():
    """{"cpu": [fields], "cpu0": [...], ...} from /proc/stat, fields in ticks:
    user nice system idle iowait irq softirq steal."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                name, *fields = line.split()
                out[name] = [int(x) for x in fields[:8]]
    return out


def busy_ticks(stat=None):
    """Ticks all CPUs spent running tasks (user, nice, system, steal; not irq/softirq/idle)."""
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (stat or cpu_stat())["cpu"]
    return user + nice + system + steal


def not_idle(s0, s1, cpu):
    """Fraction of the time CPU `cpu` was not idle between two cpu_stat() samples."""
    d = [b - a for a, b in zip(s0[f"cpu{cpu}"], s1[f"cpu{cpu}"])]
    total = sum(d)
    return 1.0 - (d[3] + d[4]) / total if total else 0.0


def proc_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def children(pid):
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def family(pid):
    """pid and all its descendants (nginx: master and worker; the app row: the app
    processes a front end started, and theirs)."""
    pids, todo = [], [pid]
    while todo and len(pids) < 10000:
        p = todo.pop()
        if p not in pids:
            pids.append(p)
            todo += children(p)
    return pids


def pid_list(arg):
    """'1,2,,3' -> [1, 2, 3]"""
    return [int(x) for x in arg.split(",") if x.strip()]


# ---------------------------------------------------------------- stack memory

APP_EXES = ("node", "nodejs")


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def stack(front_pids, app_pids, app_exes=APP_EXES):
    """(front, apps): the pids of a stack's front end and of its app processes. front_pids
    and their descendants are the front end, except descendants whose executable is in
    app_exes (and theirs), which are app processes; app_pids and their descendants are app
    processes. A front pid is front even if it is node itself (PM2's daemon)."""
    front, apps = [], []
    for root in front_pids:
        todo = [(root, True)]
        while todo and len(front) + len(apps) < 10000:
            p, is_front = todo.pop()
            if p in front or p in apps:
                continue
            if is_front and p != root and exe_name(p) in app_exes:
                is_front = False
            (front if is_front else apps).append(p)
            todo += [(c, is_front) for c in children(p)]
    for root in app_pids:
        apps += [p for p in family(root) if p not in apps and p not in front]
    return front, apps


def proc_mem(pid):
    """(pss_kb, rss_kb) of pid from /proc/PID/smaps_rollup, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    pss = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    rss = re.search(r"^Rss:\s+(\d+) kB", text, re.M)
    if not pss or not rss:
        return None
    return int(pss.group(1)), int(rss.group(1))


def proc_name(pid):
    """A short name: the process title (argv[0]) without its paths and options:
    'nginx: worker process', 'Passenger core', 'PassengerAgent', 'PM2 v7.0.4: God Daemon'."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().split(b"\0")[0].decode("utf-8", "replace")
    except OSError:
        title = ""
    words = title.split()
    if not words:
        return exe_name(pid)
    keep = [os.path.basename(words[0])]
    for w in words[1:]:
        if w[0] in "/-(":
            break
        keep.append(w)
    return " ".join(keep)


def stack_mem(front_pids, app_pids, app_exes=APP_EXES):
    """Memory of a stack: PSS and RSS (KiB) of its front end and of its app processes,
    the total PSS (PSS adds up: shared pages are split among the processes sharing them),
    and the front end's process names."""
    front, apps = stack(front_pids, app_pids, app_exes)
    out = {"front_pss_kb": 0, "front_rss_kb": 0, "app_pss_kb": 0, "app_rss_kb": 0,
           "front_procs": 0, "app_procs": 0, "front_names": []}
    for kind, pids in (("front", front), ("app", apps)):
        for p in pids:
            m = proc_mem(p)
            if m is None:
                continue
            out[f"{kind}_pss_kb"] += m[0]
            out[f"{kind}_rss_kb"] += m[1]
            out[f"{kind}_procs"] += 1
            if kind == "front":
                out["front_names"].append(proc_name(p))
    out["total_pss_kb"] = out["front_pss_kb"] + out["app_pss_kb"]
    return out


def stub_status(url):
    """(accepts, requests) from an nginx stub_status page, or None."""
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            text = r.read().decode("ascii", "replace")
        m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)
        return (int(m.group(1)), int(m.group(3))) if m else None
    except (OSError, ValueError):
        return None


def watch(side_json, timeout_s, server_pid, server_cpu, client_cpu, cmd, aux_pid=None, status_url=None,
          also=()):
    """Run cmd (the load generator) and account CPU time during it, in CPUs (1.0 = one CPU):

    server_cpu   user+system time of the server's processes (not softirq network work)
    client_cpu   user+system time of cmd
    origin_cpu   user+system time of the aux_pid family (the proxy rows' origin), if given
    other_cpu    all CPUs' user+nice+system+steal minus the above: unrelated load
    server_core  how busy the server's CPU was (1 - idle; includes softirq): ~1.0 = saturated
    client_core  same for the load generator's CPU (with the origin on it in rows 5-7)
    origin_conns, origin_reqs   connections the origin accepted / requests it served
                 during cmd (from its stub_status, without the status request itself)
    """
    spids = family(server_pid)
    for p in also:
        spids += [q for q in family(p) if q not in spids]
    apids = family(aux_pid) if aux_pid else []
    st0 = stub_status(status_url) if status_url else None
    p0 = sum(proc_ticks(p) for p in spids)
    a0 = sum(proc_ticks(p) for p in apids)
    s0 = cpu_stat()
    t0 = time.monotonic()
    child = os.fork()
    if child == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    def forward(_sig, _frame):
        try:
            os.kill(child, signal.SIGTERM)
        except OSError:
            pass
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    deadline = t0 + timeout_s
    while True:
        pid, status, usage = os.wait4(child, os.WNOHANG)
        if pid == child:
            break
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    s1 = cpu_stat()
    p1 = sum(proc_ticks(p) for p in spids)
    a1 = sum(proc_ticks(p) for p in apids)
    st1 = stub_status(status_url) if status_url else None
    server_s = (p1 - p0) / HZ
    client_s = usage.ru_utime + usage.ru_stime
    aux_s = (a1 - a0) / HZ
    other_s = max(0.0, (busy_ticks(s1) - busy_ticks(s0)) / HZ - server_s - client_s - aux_s)
    side = {"server_cpu": round(server_s / elapsed, 3), "client_cpu": round(client_s / elapsed, 3),
            "other_cpu": round(other_s / elapsed, 3),
            "server_core": round(not_idle(s0, s1, server_cpu), 3),
            "client_core": round(not_idle(s0, s1, client_cpu), 3)}
    if aux_pid:
        side["origin_cpu"] = round(aux_s / elapsed, 3)
    if st0 and st1:
        side["origin_conns"] = st1[0] - st0[0] - 1
        side["origin_reqs"] = st1[1] - st0[1] - 1
    with open(side_json, "w") as f:
        json.dump(side, f)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


def wait_quiet(max_wait_s, limit):
    """Wait until unrelated processes use less than `limit` CPUs over a 1 s window."""
    t_end = time.monotonic() + max_wait_s
    while True:
        b0, t0 = busy_ticks(), time.monotonic()
        time.sleep(1.0)
        load = (busy_ticks() - b0) / HZ / (time.monotonic() - t0)
        if load < limit:
            return 0
        if time.monotonic() >= t_end:
            print(f"{load:.2f}")
            return 1


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- formatting

def fmt_num(v, kind):
    if v is None:
        return "n/a"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    if kind == "mib":
        return f"{v:,.1f}"
    if kind == "kib_as_mib":
        return f"{v / 1024:,.1f}"
    return f"{v:g}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x"


def errors_of(rec):
    """Human-readable error summary of one wrk/mem result, or '' when clean."""
    parts = []
    if rec.get("non2xx"):
        parts.append(f"{rec['non2xx']} non-2xx/3xx")
    sock = {k[5:]: rec.get(k, 0) for k in ("sock_connect", "sock_read", "sock_write", "sock_timeout")}
    if any(sock.values()):
        parts.append("socket errors " + ", ".join(f"{k} {v}" for k, v in sock.items() if v))
    if rec.get("failed"):
        parts.append(f"{rec['failed']} connections failed")
    if rec.get("closed_by_peer"):
        parts.append(f"{rec['closed_by_peer']} closed by server while idle")
    if rec.get("proto_error"):
        parts.append(rec["proto_error"])
    if rec.get("not_tls13"):
        parts.append(f"{rec['not_tls13']} connections not TLS 1.3")
    if rec.get("hs_mismatch"):
        parts.append(f"{rec['hs_mismatch']} handshakes not of the row's kind (full: resumed; "
                     "resume: offered a session, got a full handshake)")
    return "; ".join(parts)


OTHER_CPU_LIMIT = 0.10   # CPUs of unrelated load above which a run is flagged


def warnings_of(rec):
    """Conditions that make a result less trustworthy (not server errors)."""
    parts = []
    if rec.get("other_cpu", 0) > OTHER_CPU_LIMIT:
        parts.append(f"busy machine: other processes used {rec['other_cpu']:.2f} CPU during the run")
    if rec.get("client_core", 0) > 0.95 and rec.get("server_core", 1) < 0.90:
        who = "wrk+origin" if "origin_cpu" in rec else "wrk"
        parts.append(f"client-bound: {who}'s CPU {rec['client_core']:.0%} busy, server's CPU "
                     f"{rec['server_core']:.0%}")
    return "; ".join(parts)


# Metrics shown per row kind: (key, label, format, better)
WRK_METRICS = [("rps", "req/s", "int", "higher"),
               ("mibps", "MiB/s", "mib", "higher"),
               ("p99_ms", "p99 latency ms", "ms", "lower"),
               ("rps_per_cpu", "req per server CPU-second", "int", "higher")]
MEM_METRICS = [("bytes_per_conn", "bytes per idle conn", "int", "lower")]
# New TLS connections (tls_handshakes): one handshake and one request each.
HS_METRICS = [("rps", "handshakes/s", "int", "higher"),
              ("rps_per_cpu", "handshakes per server CPU-second", "int", "higher"),
              ("cpu_us_per_req", "server CPU µs per handshake", "int", "lower")]
# A row with a body size (body_kib): the server CPU per MiB of (uncompressed) body.
BODY_METRIC = ("cpu_ms_per_mib", "server CPU ms per MiB of body", "ms", "lower")
# The app row: wrk's metrics (req per CPU-second of the whole stack: front end and app
# processes) and the memory of the stack after the load.
APP_METRICS = [m for m in WRK_METRICS if m[0] != "mibps"] + [
    ("front_pss_kb", "memory of the front end, PSS MiB", "kib_as_mib", "lower"),
    ("total_pss_kb", "memory with the app processes, PSS MiB", "kib_as_mib", "lower")]


def header_lines(recs):
    meta = next((r for r in recs if r["type"] == "meta"), {})
    lines = [f"# portico bench — {meta.get('date', '?')}", "",
             f"{meta.get('rounds', '?')} round(s) of {meta.get('duration', '?')} s per server per row, "
             f"servers alternated each round, median shown. Server pinned to CPU "
             f"{meta.get('server_cpu', '?')}, load generator to CPU {meta.get('client_cpu', '?')}. "
             f"{meta.get('host', '')}", ""]
    if meta.get("baseline"):
        lines += [f"**Before/after:** `baseline` is {meta['baseline']}, `portico` is "
                  f"{meta.get('portico', '?')}: the same config, alternated in the same rounds "
                  "(portico and baseline swap places every other round). portico/baseline is "
                  "the change: > 1 in req/s means the new build is faster.", ""]
    lines += [f"- {r['server']}: {r['info']}" for r in recs if r["type"] == "server"]
    lines += [f"- {r['server']}: not available ({r.get('reason', '')})" for r in recs
              if r["type"] == "unavailable" and "row" not in r]
    lines += [f"- {r['server']}: not available ({r.get('feature', '')}) for row {r['row']}: {r.get('reason', '')}"
              for r in recs if r["type"] == "unavailable" and "row" in r]
    checks = [r for r in recs if r["type"] == "check"]
    if checks:
        lines += ["", "TLS as curl saw it when each server was probed for the row:"]
        lines += [f"- row {r['row']} {r['server']}: {r['info']}" for r in checks]
    lines += ["",
              "Ratios are portico ÷ peer. For req/s and MiB/s higher is better (ratio > 1 means "
              "portico is faster); for p99 latency, bytes per idle connection and memory **lower is better** "
              "(ratio < 1 means portico is better). `!` marks a server that had errors in that row "
              "(see Flags); `~` marks a value from a run on a busy machine or a client-bound run "
              "(see Warnings); `n/a` a server that could not run that row (see above); `—` a server "
              "the row does not apply to or that was not run. Req per server CPU-second is req/s "
              "divided by the CPU the server actually got: the number least disturbed by other load "
              "on the machine.", ""]
    if any(r["type"] == "row" and r.get("kind") == "app" for r in recs):
        lines += ["App row: each server is the whole stack, its front end and its 2 node processes, "
                  "all on the server's CPU; req per server CPU-second counts the CPU of all of them. "
                  "Memory is read from /proc/PID/smaps_rollup right after the load: the front end's "
                  "processes (portico; nginx's master and worker; Passenger's watchdog, core and "
                  "temp-dir toucher; PM2's daemon), then with the 2 app processes. PSS splits shared "
                  "pages among the processes sharing them, so the figures add up.", ""]
    return lines


def shown_servers(recs):
    """portico plus every peer this run involved (run, probed or unavailable), baseline first."""
    seen = {r.get("server") for r in recs if r["type"] in ("server", "unavailable", "result", "fail")}
    return ["portico"] + [s for s in SERVERS[1:] if s in seen]


def row_lines(row, results, fails, unavail, flags, warns, servers):
    """Table lines of one row; appends that row's error flags and quality warnings."""
    n = row["row"]
    metrics = {"mem": MEM_METRICS, "app": APP_METRICS, "hs": HS_METRICS}.get(row["kind"], WRK_METRICS)
    if row["kind"] == "wrk" and not row.get("show_mibps"):
        metrics = [m for m in metrics if m[0] != "mibps"]
    if row.get("body_kib"):
        metrics = metrics + [BODY_METRIC]
    per_server = {s: [r for r in results if r["row"] == n and r["server"] == s] for s in servers}
    row_fails = {s: [r for r in fails if r["row"] == n and r["server"] == s] for s in servers}
    row_unavail = {s: [r for r in unavail if r.get("row") == n and r["server"] == s] for s in servers}
    flagged, doubtful = set(), set()
    for s in servers:
        errs = [(r["round"], errors_of(r)) for r in per_server[s] if errors_of(r)]
        errs += [(r["round"], "FAILED: " + r["error"]) for r in row_fails[s]]
        for rnd, e in errs:
            flagged.add(s)
            flags.append(f"- row {n} {s} round {rnd}: {e}")
        for r in row_unavail[s]:
            flags.append(f"- row {n} {s}: not available ({r.get('feature', '')}): {r.get('reason', '')}")
        for r in per_server[s]:
            if warnings_of(r):
                doubtful.add(s)
                warns.append(f"- row {n} {s} round {r['round']}: {warnings_of(r)}")
    lines = []
    for i, (key, label, kind, better) in enumerate(metrics):
        med = {}
        cells = []
        for s in servers:
            vals = [r[key] for r in per_server[s] if r.get(key) is not None]
            med[s] = statistics.median(vals) if vals else None
            if not per_server[s] and not row_fails[s]:
                cells.append("n/a" if row_unavail[s] else "—")  # not available / not run
                continue
            cells.append(fmt_num(med[s], kind) + (" !" if s in flagged else "")
                         + (" ~" if s in doubtful and key != "rps_per_cpu" else ""))
        num, title = (str(n), row["title"]) if i == 0 else ("", "")
        ratios = " | ".join(fmt_ratio(med["portico"], med[p]) for p in servers[1:])
        lines.append(f"| {num} | {title} | {label} ({better} better) | {' | '.join(cells)} | {ratios} |")
    return lines


def median_of(vals, key):
    xs = [v[key] for v in vals if v.get(key) is not None]
    return statistics.median(xs) if xs else None


def bottleneck_lines(row, results, servers):
    """Which side was saturated, per server (medians over the rounds)."""
    n = row["row"]
    lines = []
    for s in servers:
        vals = [r for r in results if r["row"] == n and r["server"] == s and "server_core" in r]
        if not vals:
            continue
        sc, cc = median_of(vals, "server_core"), median_of(vals, "client_core")
        scpu, wcpu, ocpu = (median_of(vals, k) for k in ("server_cpu", "client_cpu", "origin_cpu"))
        client = "wrk+origin" if ocpu is not None else "wrk"
        if sc >= 0.90 and cc >= 0.95:
            verdict = "both CPUs saturated"
        elif sc >= 0.90:
            verdict = "server-bound (the server's CPU)"
        elif cc >= 0.95:
            verdict = f"client-bound ({client} CPU)"
        else:
            verdict = "neither CPU saturated (latency-bound or other)"
        detail = f"server's CPU {sc:.0%} busy (server {scpu:.2f} CPU), {client}'s CPU {cc:.0%} busy (wrk {wcpu:.2f}"
        detail += f", origin {ocpu:.2f} CPU)" if ocpu is not None else " CPU)"
        lines.append(f"- row {n} {s}: {verdict}: {detail}")
    return lines


def round_lines(row, results, servers):
    """Per-round detail lines of one row."""
    n = row["row"]
    key = "bytes_per_conn" if row["kind"] == "mem" else "rps"
    lines = []
    for s in servers:
        vals = sorted((r for r in results if r["row"] == n and r["server"] == s), key=lambda r: r["round"])
        if not vals:
            continue
        detail = ", ".join(fmt_num(r.get(key), "int") for r in vals)
        extra = ""
        if row["kind"] == "mem":
            extra = " (RSS KiB before→after: " + ", ".join(
                f"{r.get('rss_before_kb')}→{r.get('rss_after_kb')} with {r.get('ok')} conns" for r in vals) + ")"
        else:
            if row.get("show_mibps"):
                extra += " (MiB/s: " + ", ".join(fmt_num(r.get("mibps"), "mib") for r in vals) + ")"
            extra += " (p99 ms: " + ", ".join(fmt_num(r.get("p99_ms"), "ms") for r in vals) + ")"
            if all("server_core" in r for r in vals):
                if all("origin_cpu" in r for r in vals):
                    extra += " (CPU time server/wrk/origin/other: " + ", ".join(
                        f"{r['server_cpu']:.2f}/{r['client_cpu']:.2f}/{r['origin_cpu']:.2f}/{r['other_cpu']:.2f}"
                        for r in vals) + ")"
                    extra += " (server's/wrk+origin's CPU busy: " + ", ".join(
                        f"{r['server_core']:.0%}/{r['client_core']:.0%}" for r in vals) + ")"
                else:
                    extra += " (CPU time server/wrk/other: " + ", ".join(
                        f"{r['server_cpu']:.2f}/{r['client_cpu']:.2f}/{r['other_cpu']:.2f}" for r in vals) + ")"
                    extra += " (server's/wrk's CPU busy: " + ", ".join(
                        f"{r['server_core']:.0%}/{r['client_core']:.0%}" for r in vals) + ")"
            if all("total_pss_kb" in r for r in vals):
                extra += " (PSS MiB front end + app processes: " + ", ".join(
                    f"{fmt_num(r['front_pss_kb'], 'kib_as_mib')} + {fmt_num(r['app_pss_kb'], 'kib_as_mib')}"
                    f" in {r['front_procs']} + {r['app_procs']} processes" for r in vals) + ")"
                extra += " (RSS MiB front end + app processes: " + ", ".join(
                    f"{fmt_num(r['front_rss_kb'], 'kib_as_mib')} + {fmt_num(r['app_rss_kb'], 'kib_as_mib')}"
                    for r in vals) + ")"
                extra += f" (front end: {', '.join(vals[0].get('front_names', []))})"
            if all("origin_conns" in r for r in vals):
                extra += " (origin: new conns, requests per wrk request: " + ", ".join(
                    f"{r['origin_conns']}, {r['origin_reqs'] / r['requests']:.3f}" if r.get("requests")
                    else f"{r['origin_conns']}, ?" for r in vals) + ")"
        lines.append(f"- row {n} {s}: {key} {detail}{extra}")
    return lines


def derive(rows, results):
    """Per-result figures computed from others: server CPU per request (µs), per MiB of body."""
    body = {r["row"]: r.get("body_kib") for r in rows}
    for r in results:
        if r.get("rps_per_cpu"):
            r["cpu_us_per_req"] = 1e6 / r["rps_per_cpu"]
            if body.get(r["row"]):
                r["cpu_ms_per_mib"] = 1e3 / (r["rps_per_cpu"] * body[r["row"]] / 1024)


def table(path):
    recs = load(path)
    rows = [r for r in recs if r["type"] == "row"]
    results = [r for r in recs if r["type"] == "result"]
    derive(rows, results)
    fails = [r for r in recs if r["type"] == "fail"]
    unavail = [r for r in recs if r["type"] == "unavailable"]
    servers = shown_servers(recs)
    flags, warns = [], []
    lines = header_lines(recs)
    lines.append("| # | Test | Metric | " + " | ".join(servers) + " | "
                 + " | ".join(f"portico/{p}" for p in servers[1:]) + " |")
    lines.append("|---|------|--------|" + "".join("-" * (len(s) + 1) + ":|" for s in servers)
                 + "".join("-" * (len(p) + 9) + ":|" for p in servers[1:]))
    for row in rows:
        lines += row_lines(row, results, fails, unavail, flags, warns, servers)
    lines += ["", "## Flags", ""]
    lines += flags or ["- none: no non-2xx responses, socket errors or failed connections"]
    if warns:
        lines += ["", "## Warnings (measurement quality)", ""] + warns
    bottle = [ln for row in rows if row["kind"] in ("wrk", "app") for ln in bottleneck_lines(row, results, servers)]
    if bottle:
        lines += ["", "## Bottleneck (median over the rounds; server's CPU >= 90 % busy = server-bound, "
                  "load generator's CPU >= 95 % = client-bound)", ""] + bottle
    lines += ["", "## Per-round values", ""]
    for row in rows:
        lines += round_lines(row, results, servers)
    lines.append("")
    return "\n".join(lines)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, path = argv[1], argv[2]
    if cmd == "quiet":
        sys.exit(wait_quiet(float(argv[2]), float(argv[3]) if len(argv) > 3 else OTHER_CPU_LIMIT))
    elif cmd == "watch":
        if "--" not in argv or argv.index("--") < 7 or argv.index("--") == len(argv) - 1:
            sys.exit(__doc__)
        sep = argv.index("--")
        opts, aux, status, also = argv[7:sep], None, None, []
        while opts:
            if opts[0] == "--aux" and len(opts) > 1:
                aux = int(opts[1])
            elif opts[0] == "--status" and len(opts) > 1:
                status = opts[1]
            elif opts[0] == "--also" and len(opts) > 1:
                also = pid_list(opts[1])
            else:
                sys.exit(__doc__)
            opts = opts[2:]
        watch(path, float(argv[3]), int(argv[4]), int(argv[5]), int(argv[6]), argv[sep + 1:], aux, status,
              also)
    elif cmd == "stack-count":
        print(len(stack(pid_list(argv[2]), pid_list(argv[3] if len(argv) > 3 else ""))[1]))
    elif cmd == "stack-mem":
        if len(argv) < 4:
            sys.exit(__doc__)
        mem = stack_mem(pid_list(argv[3]), pid_list(argv[4] if len(argv) > 4 else ""))
        side = {}
        if os.path.exists(path):
            with open(path) as f:
                side = json.load(f)
        side.update(mem)
        with open(path, "w") as f:
            json.dump(side, f)
    elif cmd == "add-wrk":
        row, server, rnd, wrk_file = argv[3:7]
        with open(wrk_file, errors="replace") as f:
            metrics = parse_wrk(f.read())
        if len(argv) > 7 and os.path.exists(argv[7]):
            with open(argv[7]) as f:
                metrics.update(json.load(f))
            if metrics.get("server_cpu"):
                metrics["rps_per_cpu"] = metrics["rps"] / metrics["server_cpu"]
        if metrics["rps"] is None:
            append(path, {"type": "fail", "row": int(row), "server": server, "round": int(rnd),
                          "error": "could not parse wrk output"})
            sys.exit(1)
        append(path, {"type": "result", "row": int(row), "server": server, "round": int(rnd), **metrics})
        print(f"{fmt_num(metrics['rps'], 'int')} req/s, {fmt_num(metrics['mibps'], 'mib')} MiB/s, "
              f"p99 {fmt_num(metrics['p99_ms'], 'ms')} ms"
              + (f"; CPU time server {metrics['server_cpu']:.2f}, wrk {metrics['client_cpu']:.2f}, "
                 + (f"origin {metrics['origin_cpu']:.2f}, " if "origin_cpu" in metrics else "")
                 + f"other {metrics['other_cpu']:.2f}; CPU busy server {metrics['server_core']:.0%}, "
                 f"{'wrk+origin' if 'origin_cpu' in metrics else 'wrk'} {metrics['client_core']:.0%}"
                 if "server_core" in metrics else "")
              + (f"; origin: {metrics['origin_conns']} new conns, {metrics['origin_reqs']:,} requests"
                 if "origin_conns" in metrics else "")
              + (f"; PSS MiB front end {fmt_num(metrics['front_pss_kb'], 'kib_as_mib')} "
                 f"({metrics['front_procs']} processes), app {fmt_num(metrics['app_pss_kb'], 'kib_as_mib')} "
                 f"({metrics['app_procs']} processes)" if "total_pss_kb" in metrics else "")
              + (f"; WARNING: {warnings_of(metrics)}" if warnings_of(metrics) else "")
              + (f", ERRORS: {errors_of(metrics)}" if errors_of(metrics) else ""))
    elif cmd == "add-json":
        append(path, json.loads(argv[3]))
    elif cmd == "table":
        print(table(path))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
