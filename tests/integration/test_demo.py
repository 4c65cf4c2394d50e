"""The README's demo configuration (conf/portico.conf), which is the reference setup of
../shared/DESIGN.md with both apps run by portico: site A proxies to a `java -jar` app, site B
serves files from root and sends everything else to a Node app under Passenger's directives.
The test runs the bundled files unchanged except for the listen port, with the jar built from
the bundled source by the JDK, and talks to both sites as a user would. portico only."""

import os
import re
import shutil
import subprocess
import unittest

from harness import Server, eventually, portico_only, request

SOURCE = os.environ.get("PORTICO_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
CONF = os.path.join(SOURCE, "conf")


def bundled(rel):
    with open(os.path.join(CONF, rel), "rb") as f:
        return f.read()


@portico_only
@unittest.skipUnless(shutil.which("javac") and shutil.which("jar") and shutil.which("node"),
                     "needs a JDK and Node (scripts/deps.sh test installs them)")
class DemoTest(unittest.TestCase):
    def test_reference_setup_serves_both_sites_and_their_apps(self):
        config = bundled("portico.conf").decode().replace("127.0.0.1:8080", "127.0.0.1:{port}")
        config = config.replace("worker_processes auto;", "worker_processes 2;")
        # The harness writes its own error log and pid lines.
        config = re.sub(r"(?m)^(error_log|pid) .*$", "", config)
        files = {rel: bundled(rel) for rel in (
            "apps/spring/App.java", "apps/app-b/app.js", "apps/app-b/public/index.html",
            "apps/app-b/public/style.css")}
        with Server(config, files, error_log_level="notice", start=False) as srv:
            spring = srv.path("apps/spring")
            for cmd in (["javac", "-d", spring + "/classes", spring + "/App.java"],
                        ["jar", "--create", "--file", spring + "/app.jar", "--main-class", "App",
                         "-C", spring + "/classes", "."]):
                done = subprocess.run(cmd, capture_output=True, timeout=180)
                self.assertEqual(done.returncode, 0, done.stderr)
            srv.start()
            port = srv.port()

            # Site A (the default server): every path reaches the Java app, with the client's
            # address in X-Real-IP; a request sent while the JVMs boot waits for one.
            r = request(port, "/hello?x=1", timeout=60)
            self.assertEqual(r.status, 200, r.text)
            self.assertRegex(r.text, r"^site A: Java app, pid \d+, GET /hello\?x=1, "
                                     r"X-Real-IP 127\.0\.0\.1")
            # Site B: a file under root is portico's; any other path is the Node app's.
            r = request(port, "/", host="b.localhost")
            self.assertEqual(r.status, 200)
            self.assertIn("<h1>Site B</h1>", r.text)
            r = request(port, "/style.css", host="b.localhost")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("content-type"), "text/css")
            r = request(port, "/hello", host="b.localhost", timeout=30)
            self.assertEqual(r.status, 200, r.text)
            self.assertRegex(r.text, r"^site B: Node app, pid \d+, GET /hello, NODE_ENV production")

            # Both apps run two processes each, all ready, as `portico status` shows.
            def status():
                out = srv.run_cli("status")
                return out.stdout if out.returncode == 0 else ""
            eventually(lambda: status().count(" ready ") == 4, 60,
                       message="four ready processes in portico status")
            text = status()
            self.assertIn("app spring: running", text)
            self.assertRegex(text, r"app passenger:\S+/apps/app-b: running")


if __name__ == "__main__":
    unittest.main()
