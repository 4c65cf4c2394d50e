"""Integration test harness: start portico (or the reference nginx) on a generated config.

Target selection (read once, at import):
  PORTICO_TEST_TARGET=nginx  run against /usr/sbin/nginx (or NGINX_BIN) as the reference.
  PORTICO_BIN=/path/portico  run against portico (ctest sets this).
Neither set: importing this module exits with a message saying how to set them.

Everything listens on 127.0.0.1 / ::1 only. Ports come from binding port 0. Every wait is a
poll with a deadline; no fixed sleeps for readiness.
"""

import atexit
import ctypes
import email.utils
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# --------------------------------------------------------------------------------------------
# Target selection
# --------------------------------------------------------------------------------------------


def _resolve_target():
    target = os.environ.get("PORTICO_TEST_TARGET", "").strip().lower()
    if target == "nginx":
        binary = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
        if not os.access(binary, os.X_OK):
            sys.exit(f"harness: PORTICO_TEST_TARGET=nginx but {binary} is not executable "
                     "(set NGINX_BIN to the nginx binary)")
        return "nginx", binary
    if target not in ("", "portico"):
        sys.exit(f"harness: unknown PORTICO_TEST_TARGET={target!r} (use 'nginx' or 'portico')")
    binary = os.environ.get("PORTICO_BIN", "").strip()
    if not binary:
        sys.exit("harness: no server to test.\n"
                 "  Set PORTICO_BIN=<build dir>/portico to test portico (ctest does this), or\n"
                 "  set PORTICO_TEST_TARGET=nginx to validate the expectations against "
                 "/usr/sbin/nginx.\n"
                 "  Example: cd tests/integration && PORTICO_BIN=../../build/portico "
                 "python3 -m unittest -v")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        sys.exit(f"harness: PORTICO_BIN={binary!r} is not an executable file (build it first)")
    return "portico", os.path.abspath(binary)


TARGET, BIN = _resolve_target()
IS_NGINX = TARGET == "nginx"
IS_PORTICO = TARGET == "portico"
# What the Server header and error pages call the product.
PRODUCT = "nginx" if IS_NGINX else "portico"


# Features portico gains milestone by milestone. A test that needs one that is not built yet is
# skipped for portico (and always runs against nginx); set the variable to 1 to run it anyway.
HAS_PROXY = True  # proxy_pass, upstream, map (issue 3)
HAS_ACTIVE_HEALTH = True  # health_check, match (issue 3)
HAS_QUEUE = True  # queue N timeout=T (issue 3)
HAS_REALIP = True  # set_real_ip_from, real_ip_header, real_ip_recursive


def requires_active_health(obj):
    """Decorator: health_check / match (portico's upstream extensions)."""
    return unittest.skipUnless(HAS_ACTIVE_HEALTH, "active health checks not built yet")(obj)


def requires_queue(obj):
    """Decorator: `queue N timeout=T` in an upstream (portico's extension)."""
    return unittest.skipUnless(HAS_QUEUE, "upstream queue not built yet")(obj)


def requires_realip(obj):
    """Decorator: the realip module (set_real_ip_from, real_ip_header)."""
    return unittest.skipUnless(HAS_REALIP, "realip module not built yet")(obj)


def requires_proxy(obj):
    """Decorator: the test needs proxy_pass."""
    return unittest.skipUnless(HAS_PROXY, "needs proxy_pass (reverse proxy not built yet)")(obj)


# L4 proxying (stream {}) comes with the same work; PORTICO_HAS_STREAM=1 runs those tests.
HAS_STREAM = True  # stream {} TCP proxy (issue 3)

# Debian builds the nginx stream module as a dynamic module (package libnginx-mod-stream);
# configs with stream {} start with this under nginx (portico has stream built in).
NGINX_STREAM_MODULE = os.environ.get("NGINX_STREAM_MODULE",
                                     "/usr/lib/nginx/modules/ngx_stream_module.so")


def stream_prelude():
    """Main-context text a config with stream {} needs first (load_module under nginx)."""
    return f"load_module {NGINX_STREAM_MODULE};\n" if IS_NGINX else ""


def requires_stream(obj):
    """Decorator: the test needs stream {} (L4 proxy); skipped until portico has it, and
    under nginx when the dynamic stream module is not installed."""
    if IS_NGINX:
        return unittest.skipUnless(os.path.isfile(NGINX_STREAM_MODULE),
                                   f"nginx stream module {NGINX_STREAM_MODULE} not installed "
                                   "(apt-get install libnginx-mod-stream)")(obj)
    return unittest.skipUnless(HAS_STREAM, "needs stream {} (L4 proxy not built yet)")(obj)


def portico_only(obj):
    """Decorator: portico-specific behaviour (Server header value, -V text); skipped on nginx."""
    return unittest.skipUnless(IS_PORTICO, "portico-specific behaviour")(obj)


def nginx_only(obj):
    """Decorator: records the reference nginx behaviour where portico deliberately differs."""
    reason = "records nginx's behaviour; portico deliberately differs"
    return unittest.skipUnless(IS_NGINX, reason)(obj)


def nginx_differs(reason):
    """Decorator: portico deliberately differs from nginx here; the test states portico's
    behaviour and is skipped under nginx (reason says what nginx does)."""
    return unittest.skipIf(IS_NGINX, f"nginx differs: {reason}")


def eventually(fn, timeout=10.0, interval=0.05, message="condition"):
    """Call fn() until it returns a truthy value; return that value. Raise AssertionError
    (with the last exception, if any) when timeout passes. Bounded in time and count."""
    deadline = time.monotonic() + timeout
    last_exc = None
    max_iter = int(timeout / interval) + 10
    for _ in range(max_iter):
        try:
            value = fn()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - reported below
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------


def _ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = _ipv6_loopback_available()
_allocated_ports = set()
_port_lock = threading.Lock()


def free_port():
    """A TCP port free on 127.0.0.1 (and on ::1 when IPv6 exists), not handed out before in
    this process."""
    with _port_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port in _allocated_ports:
                continue
            if HAVE_IPV6:
                try:
                    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                        s6.bind(("::1", port))
                except OSError:
                    continue
            _allocated_ports.add(port)
            return port
    raise RuntimeError("could not find a free port")


def port_accepts(addr, port, timeout=0.5):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect((addr, port))
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _descendants(pid):
    """pids of all live descendants of pid (read from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    for _ in range(10000):
        if not todo:
            break
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_dac_caps():
    """preexec_fn: make a root child subject to file permission bits, by removing
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set before exec."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def can_drop_dac_caps():
    """True when a child can be made subject to file permissions (non-root, or root that may
    drop capabilities)."""
    if os.geteuid() != 0:
        return True
    try:
        r = subprocess.run(["/bin/cat", "/proc/self/status"], capture_output=True, text=True,
                           preexec_fn=_drop_dac_caps, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    m = re.search(r"^CapEff:\s*([0-9a-f]+)", r.stdout, re.M)
    return bool(m) and not (int(m.group(1), 16) & 0b110)


_live_servers = set()


@atexit.register
def _stop_leftovers():
    for srv in list(_live_servers):
        try:
            srv.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


_PLACEHOLDER = re.compile(r"\{(port\w*|prefix)\}")
_LISTEN = re.compile(r"(?:^|[\s;{])listen\s+([^\s;]+)")


class ServerError(RuntimeError):
    pass


class Server:
    """One server process (portico or nginx) on a generated config under a temp prefix.

    config: nginx-syntax text for the main context, usually containing `http { ... }`.
      Placeholders {port}, {port2}, {port_anything} become free ports; {prefix} becomes the
      prefix directory (no trailing slash). Other braces are left alone.
    files: {relative path: str|bytes} created under the prefix before start.
    The harness adds to the main context: pid logs/portico.pid; error_log logs/error.log LEVEL;
    events {} (unless present); and, first in http {}, access_log logs/access.log (unless
    default_access_log=False). Under nginx it also points the *_temp_path directories into the
    prefix so nginx never touches /var/lib/nginx.
    drop_dac=True starts the server without CAP_DAC_OVERRIDE/READ_SEARCH so that permission
    bits apply even when the tests run as root.
    """

    def __init__(self, config, files=None, *, error_log_level="error", default_access_log=True,
                 drop_dac=False, start=True, ready_timeout=10.0):
        self.prefix = tempfile.mkdtemp(prefix="portico-it-")
        os.chmod(self.prefix, 0o755)  # nginx workers run as nobody when started as root
        for d in ("conf", "logs", "html", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.ports = {}
        self.error_log_level = error_log_level
        self.default_access_log = default_access_log
        self.drop_dac = drop_dac
        self.ready_timeout = ready_timeout
        self.proc = None
        self._stdout = None
        self._stderr = None
        self._copy_mime_types()
        for rel, content in (files or {}).items():
            self.write_file(rel, content)
        self.set_config(config)
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    # ---- files and config -------------------------------------------------------------

    def _copy_mime_types(self):
        candidates = []
        if os.environ.get("PORTICO_SOURCE_DIR"):
            candidates.append(os.path.join(os.environ["PORTICO_SOURCE_DIR"], "conf", "mime.types"))
        candidates += [os.path.join(REPO, "conf", "mime.types"), "/etc/nginx/mime.types"]
        for c in candidates:
            if os.path.isfile(c):
                shutil.copy(c, os.path.join(self.prefix, "conf", "mime.types"))
                return
        raise ServerError("no mime.types found (tried %s)" % ", ".join(candidates))

    def path(self, rel=""):
        return os.path.join(self.prefix, rel)

    def write_file(self, rel, content, mode=None):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def port(self, name="port"):
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def url(self, path="/", port="port"):
        return f"http://127.0.0.1:{self.port(port)}{path}"

    def substitute(self, text):
        def repl(m):
            name = m.group(1)
            return self.prefix if name == "prefix" else str(self.port(name))
        return _PLACEHOLDER.sub(repl, text)

    @property
    def conf_path(self):
        return self.path("conf/portico.conf")

    @property
    def pid_path(self):
        return self.path("logs/portico.pid")

    def render(self, config):
        body = self.substitute(config)
        head = ["# generated by tests/integration/harness.py",
                "pid logs/portico.pid;",
                f"error_log logs/error.log {self.error_log_level};"]
        if not re.search(r"^\s*events\s*\{", body, re.M):
            head.append("events {}")
        http_extra = []
        if self.default_access_log:
            http_extra.append("access_log logs/access.log;")
        if IS_NGINX:
            for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                http_extra.append(f"{t}_temp_path tmp/{t};")
        if http_extra:
            body = re.sub(r"^(\s*http\s*\{)", lambda m: m.group(1) + " " + " ".join(http_extra),
                          body, count=1, flags=re.M)
        return "\n".join(head) + "\n" + body.strip("\n") + "\n"

    def set_config(self, config):
        """Write a new config (used by start() and before reload())."""
        self.config_text = self.render(config)
        with open(self.conf_path, "w") as f:
            f.write(self.config_text)
        return self.config_text

    def write_raw_config(self, text):
        """Write text verbatim as the config file (for -t tests of broken files)."""
        self.config_text = text
        with open(self.conf_path, "w") as f:
            f.write(text)

    def line_of(self, needle):
        """1-based line number of the first line of the written config containing needle."""
        for i, line in enumerate(self.config_text.split("\n"), 1):
            if needle in line:
                return i
        raise KeyError(needle)

    def listen_addresses(self):
        out = []
        for spec in _LISTEN.findall(self.config_text):
            if spec.startswith("unix:"):
                continue
            m = re.match(r"^\[([^\]]+)\]:(\d+)$", spec) or re.match(r"^([^:]+):(\d+)$", spec)
            if m:
                out.append((m.group(1), int(m.group(2))))
            elif spec.isdigit():
                out.append(("127.0.0.1", int(spec)))
        return out

    # ---- process control --------------------------------------------------------------

    def command(self, *extra):
        cmd = [BIN, "-p", self.prefix + "/", "-c", "conf/portico.conf"]
        return cmd + list(extra)

    def start(self):
        extra = ["-g", "daemon off; master_process on;"] if IS_NGINX else []
        self._stdout = open(self.path("logs/stdout.log"), "ab")
        self._stderr = open(self.path("logs/stderr.log"), "ab")
        self.proc = subprocess.Popen(self.command(*extra), stdin=subprocess.DEVNULL,
                                     stdout=self._stdout, stderr=self._stderr, cwd=self.prefix,
                                     start_new_session=True,
                                     preexec_fn=_drop_dac_caps if self.drop_dac else None)
        _live_servers.add(self)
        self.wait_ready()

    def wait_ready(self, timeout=None):
        """Poll until every listen address accepts and the pid file holds our pid. The pid
        file matters: nginx binds its sockets before it installs its signal handlers and
        writes the pid file after, so a SIGHUP sent as soon as the port accepts could kill
        it (default action)."""
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pending = list(self.listen_addresses())
        pid_ok = False
        for _ in range(int(timeout / 0.02) + 10):
            if self.proc.poll() is not None:
                raise ServerError(f"{TARGET} exited with {self.proc.returncode} during startup\n"
                                  + self.diagnostics())
            pending = [a for a in pending if not port_accepts(*a)]
            pid_ok = pid_ok or self._read("logs/portico.pid").strip() == str(self.proc.pid)
            if not pending and pid_ok:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        what = f"accept on {pending}" if pending else f"write its pid to {self.pid_path}"
        raise ServerError(f"{TARGET} did not {what} within {timeout}s\n" + self.diagnostics())

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def reload(self, config=None):
        """Optionally write a new config, then SIGHUP. Returns at once: callers poll for the
        effect with eventually()."""
        if config is not None:
            self.set_config(config)
        self.signal(signal.SIGHUP)

    def wait_exit(self, timeout=10.0):
        """Wait for the main process to exit; True if it did."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout=10.0):
        """SIGQUIT (graceful), wait, then SIGKILL the process and its descendants by pid.
        Raises AssertionError if the server crashed or a sanitizer reported anything: a test
        run under ASan/UBSan must fail on the first report, not only when a request breaks."""
        problem = None
        killed = False
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    os.kill(self.proc.pid, signal.SIGQUIT)
                except ProcessLookupError:
                    pass
                if not self.wait_exit(timeout):
                    killed = True
                    for pid in _descendants(self.proc.pid) + [self.proc.pid]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self.wait_exit(5)
            if self.proc is not None and self.prefix:
                err = self._read("logs/stderr.log")
                for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                               "UndefinedBehaviorSanitizer"):
                    if marker in err:
                        problem = f"sanitizer report in server stderr:\n{err[-6000:]}"
                        break
                rc = self.proc.returncode
                if problem is None and rc is not None and rc < 0 and not killed \
                        and rc != -signal.SIGKILL:
                    problem = f"server died from signal {-rc}:\n{err[-4000:]}"
        finally:
            _live_servers.discard(self)
            for f in (self._stdout, self._stderr):
                if f:
                    f.close()
            self._stdout = self._stderr = None
            if os.environ.get("PORTICO_KEEP_PREFIX"):
                sys.stderr.write(f"[harness] kept prefix {self.prefix}\n")
            elif self.prefix and os.path.isdir(self.prefix):
                shutil.rmtree(self.prefix, ignore_errors=True)
        if problem:
            raise AssertionError(problem)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def run_cli(self, *args, timeout=20):
        """Run the binary with -p/-c and args; returns CompletedProcess (text)."""
        return subprocess.run(self.command(*args), capture_output=True, text=True,
                              timeout=timeout, cwd=self.prefix, stdin=subprocess.DEVNULL)

    # ---- logs -------------------------------------------------------------------------

    def _read(self, rel):
        try:
            with open(self.path(rel), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def error_log(self):
        return self._read("logs/error.log")

    def access_log(self, rel="logs/access.log"):
        return [l for l in self._read(rel).split("\n") if l]

    def wait_access_log(self, count, rel="logs/access.log", timeout=5.0):
        """Lines of the access log once it has at least count lines (logs are written after
        the response is sent, so poll)."""
        return eventually(lambda: (lambda ls: ls if len(ls) >= count else None)(
            self.access_log(rel)), timeout, message=f"{count} lines in {rel}")

    def wait_log_fields(self, first, rel, sep="|", timeout=5.0):
        """The fields of the first line of log `rel` whose first field is `first` (a log
        written as "$request_uri|..."), polling until it is there."""
        def find():
            for line in self.access_log(rel):
                f = line.split(sep)
                if f[0] == first:
                    return f
            return None
        return eventually(find, timeout, message=f"{rel} line for {first}")

    def wait_error_log(self, pattern, timeout=5.0):
        """The first match of regex pattern in the error log, polling until it appears."""
        return eventually(lambda: re.search(pattern, self.error_log(), re.M), timeout,
                          message=f"error log matching {pattern!r}")

    def diagnostics(self):
        return ("--- stderr ---\n" + self._read("logs/stderr.log")[-4000:]
                + "\n--- error.log ---\n" + self.error_log()[-4000:]
                + "\n--- config ---\n" + getattr(self, "config_text", ""))


# --------------------------------------------------------------------------------------------
# Raw HTTP client
# --------------------------------------------------------------------------------------------


def config_test(config, **server_kw):
    """Runs `-t` on config without starting a server; returns (returncode, stderr, line_of),
    line_of(needle) being the written file's line number of the first line containing needle."""
    srv = Server(config, start=False, **server_kw)
    try:
        r = srv.run_cli("-t")
        return r.returncode, r.stderr, srv.line_of
    finally:
        srv.stop()


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in order received
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={self.body[:200]!r}>"


class ConnectionClosed(Exception):
    """The peer closed the connection before a complete response arrived."""

    def __init__(self, partial=b""):
        super().__init__(f"connection closed; partial data {partial[:300]!r}")
        self.partial = partial


_NO_BODY_STATUS = {204, 304}


class RawConn:
    """One client connection with a read buffer; can read several (pipelined) responses."""

    def __init__(self, port, addr="127.0.0.1", timeout=10.0, rcvbuf=None):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((addr, port))
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read once more into buf. False on EOF. Raises TimeoutError past deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete response before deadline; have {self.buf[:300]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no complete response before deadline; have {self.buf[:300]!r}")
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_response(self, method="GET", timeout=None):
        """Parse the next response (a 1xx interim response counts as one). Raises
        ConnectionClosed if the peer closes first, TimeoutError past the deadline."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(1_000_000):
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if not self._fill(deadline):
                raise ConnectionClosed(self.buf)
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4:]
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise ValueError(f"bad status line {lines[0]!r}")
        version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line {line!r}")
            headers.append((name, value.strip()))
        resp = Response(version, status, reason, headers, b"", head)
        if method == "HEAD" or 100 <= status < 200 or status in _NO_BODY_STATUS:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te and "chunked" in te.lower():
            resp.body = self._read_chunked(deadline)
        elif cl is not None:
            n = int(cl)
            for _ in range(1_000_000):
                if len(self.buf) >= n:
                    break
                if not self._fill(deadline):
                    raise ConnectionClosed(self.buf)
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            for _ in range(10_000_000):
                if not self._fill(deadline):
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def _read_chunked(self, deadline):
        body = b""
        for _ in range(1_000_000):
            while b"\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise ConnectionClosed(self.buf)
            line, _, rest = self.buf.partition(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            self.buf = rest
            if size == 0:
                # trailers until an empty line
                for _ in range(1000):
                    while b"\r\n" not in self.buf:
                        if not self._fill(deadline):
                            raise ConnectionClosed(self.buf)
                    tline, _, self.buf = self.buf.partition(b"\r\n")
                    if not tline:
                        return body
                raise ValueError("too many trailer lines")
            while len(self.buf) < size + 2:
                if not self._fill(deadline):
                    raise ConnectionClosed(self.buf)
            body += self.buf[:size]
            if self.buf[size:size + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            self.buf = self.buf[size + 2:]
        raise ValueError("too many chunks")

    def read_final_response(self, method="GET", timeout=None):
        """Next non-1xx response (interim ones are skipped)."""
        for _ in range(10):
            r = self.read_response(method, timeout)
            if r.status >= 200:
                return r
        raise ValueError("too many interim responses")

    def read_until_close(self, timeout=None):
        """All remaining bytes until the peer closes (raises TimeoutError if it does not)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(10_000_000):
            if not self._fill(deadline):
                break
        data, self.buf = self.buf, b""
        return data

    def closed_within(self, timeout):
        """True if the peer closes within timeout (any data received first is kept in buf)."""
        try:
            self.read_until_close(timeout)
            self.eof = True
            return True
        except TimeoutError:
            return False

    def is_open(self, wait=0.2):
        """True if the connection shows no EOF/reset within `wait` seconds (and no data)."""
        if self.eof:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536, socket.MSG_PEEK)
            return bool(chunk)
        except socket.timeout:
            return True
        except OSError:
            return False


def build_request(method="GET", path="/", host="localhost", headers=None, body=None,
                  version="HTTP/1.1", close=True):
    """Bytes of one request. headers: list of (name, value) or dict. host=None: no Host."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    if close and "connection" not in names and version == "HTTP/1.1":
        hdrs.append(("Connection", "close"))
    lines += [f"{k}: {v}" for k, v in hdrs]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body.encode() if isinstance(body, str) else body
    return data


def request(port, path="/", method="GET", host="localhost", headers=None, body=None,
            addr="127.0.0.1", version="HTTP/1.1", timeout=10.0):
    """One request on a fresh connection (Connection: close); returns the final Response."""
    with RawConn(port, addr, timeout) as c:
        c.send(build_request(method, path, host, headers, body, version))
        return c.read_final_response(method)


def exchange(port, data, addr="127.0.0.1", timeout=5.0):
    """Send raw bytes, then read responses until the server closes the connection. Returns
    (responses, leftover bytes that did not parse as a response). Raises AssertionError if
    the server keeps the connection open for `timeout` seconds after its responses (after
    an error response both nginx and portico must close)."""
    with RawConn(port, addr, timeout) as c:
        c.send(data)
        responses = []
        for _ in range(100):
            try:
                responses.append(c.read_response())
            except ConnectionClosed as e:
                return responses, e.partial
            except TimeoutError:
                raise AssertionError(
                    f"server did not close the connection within {timeout}s; responses so "
                    f"far: {[r.status for r in responses]}, pending bytes {c.buf[:200]!r}")
        return responses, c.buf


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(s):
    return email.utils.parsedate_to_datetime(s).timestamp()


class TinyUpstream:
    """A scripted HTTP upstream on 127.0.0.1 (thread). Reads one request per connection
    (headers + Content-Length body) and answers 200 with 'upstream got N bytes'."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            while len(body) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            self.requests.append((head, body))
            conn.sendall(self.answer(head, body))
        except OSError:
            pass
        finally:
            conn.close()

    def answer(self, head, body):
        """The raw response to one request (a subclass answers otherwise)."""
        out = f"upstream got {len(body)} bytes".encode()
        return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(out), out))

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
