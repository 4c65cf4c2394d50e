"""Command line: -t, -T, -v, -V, -c, -p, -g, -s reload|quit, pid file, reload with a bad
config. Output lines are matched on their nginx-compatible suffix, since nginx says "nginx:"
where portico says "portico:" (and this Debian nginx, built with error log "stderr", prefixes
[emerg] lines with a timestamp)."""

import os
import re
import signal
import unittest

from harness import PRODUCT, Server, eventually, portico_only, request

GOOD = r"""
http {
    include mime.types;
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {
            return 200 "BODY\n";
        }
    }
}
"""


def good(body="v1"):
    return GOOD.replace("BODY", body)


class ConfigTestTest(unittest.TestCase):
    """-t / -T on files that are never served."""

    def setUp(self):
        self.srv = Server(good(), start=False)
        self.conf = self.srv.conf_path

    def tearDown(self):
        self.srv.stop()

    def test_t_good(self):
        r = self.srv.run_cli("-t")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, rf"(?m)^\w+: the configuration file {re.escape(self.conf)} "
                                   r"syntax is ok$")
        self.assertRegex(r.stderr, rf"(?m)^\w+: configuration file {re.escape(self.conf)} "
                                   r"test is successful$")

    def assert_emerg(self, config, message, needle):
        """-t fails with '[emerg] <message> in FILE:LINE' where LINE holds needle."""
        self.srv.set_config(config)
        line = self.srv.line_of(needle)
        r = self.srv.run_cli("-t")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"(?m)\[emerg\] (\d+#\d+: )?"
                         + re.escape(f"{message} in {self.conf}:{line}") + "$")
        self.assertRegex(r.stderr, rf"(?m)^\w+: configuration file {re.escape(self.conf)} "
                                   r"test failed$")

    def test_t_unknown_directive(self):
        self.assert_emerg(good().replace("default_type text/plain;",
                                         "default_type text/plain;\n    foo bar;"),
                          'unknown directive "foo"', "foo bar;")

    @portico_only
    def test_t_load_module(self):
        # Debian's nginx.conf loads modules-enabled/*.conf: the stream module is built in,
        # any other is refused at its line (nginx would load the .so).
        stream = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
        self.srv.set_config(stream + good())
        r = self.srv.run_cli("-t")
        self.assertEqual(r.returncode, 0, r.stderr)
        echo = "load_module modules/ngx_http_echo_module.so;\n"
        self.assert_emerg(echo + good(),
                          'module "modules/ngx_http_echo_module.so" is not available in portico '
                          "(only the stream module, which is built in)", "load_module")

    def test_t_other_errors(self):
        cases = [
            (good().replace("return 200", "root /a; root /b; return 200"),
             '"root" directive is duplicate', "root /b;"),
            # a missing ";" shows up as an unexpected "}" on the next line
            (good().replace('"v1\\n";', '"v1\\n"\n        }'), 'unexpected "}"', None),
            (good() + "server {}\n", '"server" directive is not allowed here', "server {}"),
            (good().replace("server_name localhost;", "server_name localhost;\n        listen;"),
             'invalid number of arguments in "listen" directive', "listen;"),
            (good().replace("return 200 \"v1\\n\";", "return 200 \"v1\\n\";\n        }"),
             'unexpected "}"', None),
            (good().rstrip().rstrip("}") + "\n", 'unexpected end of file, expecting "}"', None),
        ]
        for config, message, needle in cases:
            with self.subTest(message=message):
                if needle is None:
                    # the error is reported on the line where the file ends / the extra "}"
                    self.srv.set_config(config)
                    r = self.srv.run_cli("-t")
                    self.assertEqual(r.returncode, 1)
                    self.assertRegex(r.stderr, r"\[emerg\] (\d+#\d+: )?" + re.escape(message)
                                     + rf" in {re.escape(self.conf)}:\d+")
                else:
                    self.assert_emerg(config, message, needle)

    def test_t_missing_file(self):
        r = self.srv.run_cli("-t", "-c", "conf/nonexistent.conf")
        self.assertEqual(r.returncode, 1)
        path = self.srv.path("conf/nonexistent.conf")
        self.assertIn(f'open() "{path}" failed (2: No such file or directory)', r.stderr)

    def test_T_dumps_config(self):
        r = self.srv.run_cli("-T")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"# configuration file {self.conf}:\n"), r.stdout[:200])
        self.assertIn(self.srv.config_text, r.stdout)
        # included files are dumped too, each after its own header
        self.assertIn(f"\n# configuration file {self.srv.path('conf/mime.types')}:\n", r.stdout)
        self.assertIn("text/css", r.stdout)
        self.assertIn("syntax is ok", r.stderr)

    def test_g_global_directives(self):
        r = self.srv.run_cli("-t", "-g", "worker_processes 1;")
        self.assertEqual(r.returncode, 0, r.stderr)
        # a -g directive that duplicates one in the file is an error
        r = self.srv.run_cli("-t", "-g", "pid logs/other.pid;")
        self.assertEqual(r.returncode, 1)
        self.assertIn('"pid" directive is duplicate', r.stderr)


# How nginx's test suite reads -V (lib/Test/Nginx.pm has_module, tree 26f802b), for a few
# features, with a configuration using the module's directive: the module is built exactly
# when -t knows that directive where it stands (neither "unknown directive" nor "not allowed
# here"; other complaints, such as a missing certificate file, do not matter).
HAS_MODULE = [
    # (feature, has_module regex, directive, where: main / http / location / stream, text)
    ("http_ssl", r"http_ssl", "ssl_certificate", "server", "ssl_certificate x.crt;"),
    ("http_v2", r"http_v2", "http2_chunk_size", "http", "http2_chunk_size 8k;"),
    ("realip", r"--with-http_realip_module", "set_real_ip_from", "http",
     "set_real_ip_from 127.0.0.1;"),
    ("stream", r"--with-stream((?!\S)|=dynamic)", "stream", "main",
     "stream { server { listen 127.0.0.1:{port2}; proxy_pass 127.0.0.1:9; } }"),
    ("stream_ssl", r"--with-stream_ssl_module", "ssl_certificate", "stream",
     "ssl_certificate x.crt;"),
    ("mail", r"--with-mail((?!\S)|=dynamic)", "mail", "main", "mail { }"),
    ("proxy", r"(?s)^(?!.*--without-http_proxy_module)", "proxy_pass", "location",
     "proxy_pass http://127.0.0.1:9;"),
    ("rewrite", r"(?s)^(?!.*--without-http_rewrite_module)", "rewrite", "location",
     "rewrite ^ /x;"),
    ("access", r"(?s)^(?!.*--without-http_access_module)", "allow", "location",
     "allow 127.0.0.1;"),
    ("map", r"(?s)^(?!.*--without-http_map_module)", "map", "http",
     "map $uri $m { default 1; }"),
    ("gzip", r"(?s)^(?!.*--without-http_gzip_module)", "gzip", "http", "gzip on;"),
    ("charset", r"(?s)^(?!.*--without-http_charset_module)", "charset", "http",
     "charset utf-8;"),
    ("fastcgi", r"(?s)^(?!.*--without-http_fastcgi_module)", "fastcgi_pass", "location",
     "fastcgi_pass 127.0.0.1:9;"),
    ("limit_req", r"(?s)^(?!.*--without-http_limit_req_module)", "limit_req", "location",
     "limit_req zone=z;"),
    ("auth_basic", r"(?s)^(?!.*--without-http_auth_basic_module)", "auth_basic", "location",
     "auth_basic x;"),
    ("upstream_hash", r"(?s)^(?!.*--without-http_upstream_hash_module)", "hash", "http",
     "upstream u { hash $uri; server 127.0.0.1:9; }"),
    ("upstream_keepalive", r"(?s)^(?!.*--without-http_upstream_keepalive_modu)", "keepalive",
     "http", "upstream u { server 127.0.0.1:9; keepalive 4; }"),
    ("stream_access", r"(?s)^(?!.*--without-stream_access_module)", "allow", "stream",
     "allow 127.0.0.1;"),
    ("stream_return", r"(?s)^(?!.*--without-stream_return_module)", "return", "stream",
     "return x;"),
    ("stream_upstream_least_conn", r"(?s)^(?!.*--without-stream_upstream_least_conn_m)",
     "least_conn", "main",
     "stream { upstream su { least_conn; server 127.0.0.1:9; } "
     "server { listen 127.0.0.1:{port2}; proxy_pass su; } }"),
]

MODULE_CONFIG = r"""
MAIN
http {
    default_type text/plain;
    HTTP
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        SERVER
        location /m/ {
            LOCATION
        }
    }
}
"""


def module_config(where, text):
    parts = {"MAIN": "", "HTTP": "", "SERVER": "", "LOCATION": ""}
    if where == "stream":  # a directive of a stream server
        where, text = "main", ("stream { server { listen 127.0.0.1:{port2}; " + text
                               + " proxy_pass 127.0.0.1:9; } }")
    parts[where.upper()] = text
    config = MODULE_CONFIG
    for k, v in parts.items():
        config = config.replace(k, v)
    return config


class VersionTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(good(), start=False)

    def tearDown(self):
        self.srv.stop()

    def test_v(self):
        r = self.srv.run_cli("-v")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stderr, rf"^{PRODUCT} version: {PRODUCT}/\d+\.\d+\.\d+")

    def test_V(self):
        r = self.srv.run_cli("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stderr, rf"^{PRODUCT} version: {PRODUCT}/\d+\.\d+\.\d+")
        self.assertRegex(r.stderr, r"(?m)^configure arguments:")

    @portico_only
    def test_V_modules_are_what_is_built(self):
        # -V is derived from the build: read as nginx's test suite reads it, a feature is
        # there exactly when the configuration accepts its directive
        v = self.srv.run_cli("-V").stderr
        self.assertIn("configure arguments: ", v)
        self.assertNotIn("=dynamic", v)  # would make the suite load_module it
        for feature, regex, directive, where, text in HAS_MODULE:
            with self.subTest(feature=feature):
                self.srv.set_config(module_config(where, text))
                t = self.srv.run_cli("-t")
                built = (f'unknown directive "{directive}"' not in t.stderr
                         and f'"{directive}" directive is not allowed here' not in t.stderr)
                self.assertEqual(bool(re.search(regex, v)), built,
                                 f"-V: {v}\n-t: {t.stderr}")
        # what portico has today, so that a regression of the derivation shows up too
        for feature in ("proxy", "stream", "realip", "rewrite", "upstream_hash"):
            regex = next(r for f, r, *_ in HAS_MODULE if f == feature)
            self.assertRegex(v, regex)

    @portico_only
    def test_portico_names_itself(self):
        r = self.srv.run_cli("-v")
        self.assertTrue(r.stderr.startswith("portico version: portico/"), r.stderr)
        self.assertNotIn("nginx version", r.stderr)
        # -V also names the nginx release it follows, where tools (and nginx's test suite's
        # TODO guards) read nginx's version.
        r = self.srv.run_cli("-V")
        self.assertTrue(r.stderr.startswith("portico version: portico/"), r.stderr)
        self.assertRegex(r.stderr, r"(?m)^nginx version: nginx/1\.22\.1 ")


class SignalTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(good("v1"))
        self.port = self.srv.port()

    def tearDown(self):
        self.srv.stop()

    def body(self):
        return request(self.port, "/").text

    def test_pid_file(self):
        with open(self.srv.pid_path) as f:
            self.assertEqual(f.read(), f"{self.srv.pid}\n")

    def test_s_reload(self):
        self.assertEqual(self.body(), "v1\n")
        self.srv.set_config(good("v2"))
        r = self.srv.run_cli("-s", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        eventually(lambda: self.body() == "v2\n", 10, message="v2 after -s reload")
        self.assertTrue(self.srv.running())

    def test_sighup_reload(self):
        self.srv.reload(good("v3"))
        eventually(lambda: self.body() == "v3\n", 10, message="v3 after SIGHUP")

    def test_s_quit_removes_pid_file(self):
        self.assertTrue(os.path.exists(self.srv.pid_path))
        r = self.srv.run_cli("-s", "quit")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.srv.wait_exit(10), "server did not exit after -s quit")
        self.assertEqual(self.srv.proc.returncode, 0)
        self.assertFalse(os.path.exists(self.srv.pid_path))

    def test_sigquit_exit_code(self):
        self.srv.signal(signal.SIGQUIT)
        self.assertTrue(self.srv.wait_exit(10))
        self.assertEqual(self.srv.proc.returncode, 0)
        self.assertFalse(os.path.exists(self.srv.pid_path))

    def test_s_without_running_server(self):
        r = self.srv.run_cli("-s", "quit")  # stop the running one first
        self.assertEqual(r.returncode, 0)
        self.assertTrue(self.srv.wait_exit(10))
        r = self.srv.run_cli("-s", "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f'open() "{self.srv.pid_path}" failed (2: No such file or directory)',
                      r.stderr)

    def test_bad_config_on_reload_keeps_old(self):
        self.assertEqual(self.body(), "v1\n")
        self.srv.reload(good("v2").replace("default_type text/plain;",
                                           "default_type text/plain;\n    foo bar;"))
        line = self.srv.line_of("foo bar;")
        self.srv.wait_error_log(r'\[emerg\] \d+#\d+: unknown directive "foo" in '
                                + re.escape(f"{self.srv.conf_path}:{line}"))
        self.assertEqual(self.body(), "v1\n")
        self.assertTrue(self.srv.running())
        # -s reload with the bad file: nginx parses the file (it needs the pid path) and
        # fails with exit 1 before sending anything; the old config keeps serving
        r = self.srv.run_cli("-s", "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown directive "foo"', r.stderr)
        self.assertEqual(self.body(), "v1\n")
        # a fixed file then reloads fine
        self.srv.reload(good("v4"))
        eventually(lambda: self.body() == "v4\n", 10, message="v4 after fixing the config")

    def test_p_relative_paths(self):
        # relative root / log paths are relative to the -p prefix
        self.srv.write_file("html/rel.txt", "relative root\n")
        self.srv.reload(GOOD.replace('return 200 "BODY\\n";', "root html;"))
        eventually(lambda: request(self.port, "/rel.txt").text == "relative root\n", 10,
                   message="root html relative to prefix")


def open_files_limits(pid):
    """(soft, hard) "Max open files" of a process, from /proc."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    raise AssertionError("no Max open files line")


@portico_only
class RlimitTest(unittest.TestCase):
    """worker_rlimit_nofile sets the descriptor limit; without it the soft limit is raised to the
    hard one (portico uses epoll, so the 1024 soft default only caps worker_connections). portico
    is one process, so its own limits are the workers'."""

    def test_directive_sets_the_limit(self):
        with Server("worker_rlimit_nofile 4000;\n" + good()) as srv:
            self.assertEqual(open_files_limits(srv.pid)[0], "4000")
            self.assertEqual(request(srv.port(), "/").status, 200)

    def test_default_raises_soft_to_hard(self):
        with Server(good()) as srv:
            soft, hard = open_files_limits(srv.pid)
            self.assertEqual(soft, hard)

    def test_invalid_value_is_refused(self):
        srv = Server("worker_rlimit_nofile lots;\n" + good(), start=False)
        try:
            line = srv.line_of("worker_rlimit_nofile")
            r = srv.run_cli("-t")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(f'invalid number "lots" in {srv.conf_path}:{line}', r.stderr)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
