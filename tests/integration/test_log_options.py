"""access_log if=, gzip, paths with variables, open_log_file_cache, json escaping, $pipe;
error_log at server/location level (levels, several targets, reopen on USR1)."""

import gzip
import os
import signal
import unittest

from harness import IS_NGINX, RawConn, Server, eventually, request

CONFIG = r"""
http {
    default_type text/plain;
    log_format t '$uri:$status';
    log_format p '$uri $pipe';
    log_format j escape=json '$uri|$arg_a|$arg_b';
    root {prefix}/html;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;

    server {
        listen 127.0.0.1:{port};
        server_name localhost;

        location /if/ {
            access_log logs/if.log t if=$arg_log;
            return 200 "i";
        }
        location /gz/ {
            access_log logs/gz.log t gzip=9 buffer=4k flush=200ms;
            return 200 "g";
        }
        location /var/ {
            access_log {prefix}/vlogs/var_${arg_n}.log t;
            return 200 "v";
        }
        location /cached/ {
            open_log_file_cache max=2 min_uses=1 valid=1m;
            access_log {prefix}/vlogs/c_${arg_n}.log t;
            return 200 "c";
        }
        location /json/ {
            access_log logs/json.log j;
            return 200 "j";
        }
        location /pipe/ {
            access_log logs/pipe.log p;
            return 200 "p";
        }
        location /limited/ {
            limit_req zone=one;
            limit_req_log_level warn;
            error_log logs/loc_warn.log warn;
            error_log logs/loc_error.log error;
            error_log logs/loc_error.log error;
        }
        location /rel/ {
            access_log vlogs/rel_${arg_n}.log t;
            return 200 "r";
        }
        location /if-in-location/ {
            if ($arg_x) {
                access_log logs/inif.log t;
            }
            return 200 "f";
        }
    }
}
"""


class AccessLogOptionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, start=False)
        # Logs with variables are opened by the worker (nginx's runs as nobody when started as
        # root): their directories must be writable by it.
        for d in ("vlogs", "html"):
            os.makedirs(cls.srv.path(d), exist_ok=True)
            os.chmod(cls.srv.path(d), 0o777)
        cls.srv.start()
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def log(self, rel):
        return self.srv.access_log(rel)

    def test_if_condition(self):
        for q in ("", "?log=", "?log=0", "?log=1", "?log=yes"):
            self.assertEqual(request(self.port, "/if/" + q).status, 200)
        lines = self.srv.wait_access_log(2, "logs/if.log")
        self.assertEqual(lines, ["/if/:200", "/if/:200"])

    def test_gzip_members_flushed(self):
        request(self.port, "/gz/a")
        path = self.srv.path("logs/gz.log")
        eventually(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 5,
                   message="gz.log flushed by flush=")
        with open(path, "rb") as f:
            raw = f.read()
        self.assertEqual(raw[:2], b"\x1f\x8b")
        self.assertEqual(gzip.decompress(raw), b"/gz/a:200\n")

    def test_variable_paths(self):
        request(self.port, "/var/?n=one")
        request(self.port, "/var/?n=two")
        self.assertEqual(self.srv.wait_access_log(1, "vlogs/var_one.log"), ["/var/:200"])
        self.assertEqual(self.srv.wait_access_log(1, "vlogs/var_two.log"), ["/var/:200"])
        if not IS_NGINX:  # nginx tries to open it
            # A value that climbs out of the directory is refused and logged.
            request(self.port, "/var/?n=/../../x")
            self.srv.wait_error_log(r"invalid log file path")

    def test_relative_variable_path_is_under_prefix(self):
        request(self.port, "/rel/?n=x")
        self.assertEqual(self.srv.wait_access_log(1, "vlogs/rel_x.log"), ["/rel/:200"])

    def test_cached_descriptor_keeps_writing_to_renamed_file(self):
        request(self.port, "/cached/?n=r")
        self.srv.wait_access_log(1, "vlogs/c_r.log")
        os.rename(self.srv.path("vlogs/c_r.log"), self.srv.path("vlogs/c_r.old"))
        request(self.port, "/cached/?n=r")
        # The cached descriptor (valid=1m) still points at the renamed file.
        self.assertEqual(self.srv.wait_access_log(2, "vlogs/c_r.old"),
                         ["/cached/:200", "/cached/:200"])
        self.assertFalse(os.path.exists(self.srv.path("vlogs/c_r.log")))

    def test_json_escaping(self):
        # $uri is decoded; $arg_a is not, $arg_b is empty (json: nothing, not "-")
        request(self.port, '/json/%22q%5C%09%1B?a=%22')
        line = self.srv.wait_access_log(1, "logs/json.log")[0]
        self.assertEqual(line, '/json/\\"q\\\\\\t\\u001B|%22|')

    def test_pipe(self):
        with RawConn(self.port) as c:
            c.send(b"GET /pipe/ HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"GET /pipe/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            c.read_response()
            c.read_response()
        self.assertEqual(self.srv.wait_access_log(2, "logs/pipe.log"), ["/pipe/ .", "/pipe/ p"])

    def test_access_log_in_if(self):
        request(self.port, "/if-in-location/")
        request(self.port, "/if-in-location/?x=1")
        self.assertEqual(self.srv.wait_access_log(1, "logs/inif.log"), ["/if-in-location/:200"])


class LocationErrorLogTest(unittest.TestCase):
    def test_levels_targets_and_reopen(self):
        with Server(CONFIG, {"html/limited/index.html": "l"}) as srv:
            port = srv.port()
            self.assertEqual(request(port, "/limited/").status, 200)
            self.assertEqual(request(port, "/limited/").status, 503)  # [warn] limiting requests

            def count(rel):
                try:
                    with open(srv.path(rel)) as f:
                        return sum("limiting requests" in line for line in f)
                except FileNotFoundError:
                    return 0
            eventually(lambda: count("logs/loc_warn.log") == 1, 5, message="warn line")
            self.assertEqual(count("logs/loc_error.log"), 0)  # warn < error: not written
            self.assertNotIn("limiting requests", srv.error_log())  # not the server's log
            # USR1: the location's file is reopened like the others.
            os.rename(srv.path("logs/loc_warn.log"), srv.path("logs/loc_warn.old"))
            srv.signal(signal.SIGUSR1)
            eventually(lambda: os.path.exists(srv.path("logs/loc_warn.log")), 5,
                       message="loc_warn.log reopened")
            self.assertEqual(request(port, "/limited/").status, 503)
            eventually(lambda: count("logs/loc_warn.log") == 1, 5, message="warn line after USR1")

    def test_bad_error_log_refused(self):
        cases = [("error_log logs/x.log loud;", 'invalid log level "loud"')]
        if not IS_NGINX:  # Debian's nginx is built --with-debug; portico's -V says it is not
            cases.append(("error_log memory:1m debug;", "nginx was built without debug support"))
        for bad, msg in cases:
            srv = Server(CONFIG.replace("return 200 \"i\";", "return 200 \"i\"; " + bad, 1),
                         start=False)
            try:
                r = srv.run_cli("-t")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(msg, r.stderr)
            finally:
                srv.stop()


if __name__ == "__main__":
    unittest.main()
