"""auth_basic and auth_basic_user_file, satisfy any|all with allow/deny, $remote_user.

The password file holds every format nginx reads, made with real tools at test time:
`openssl passwd` (apr1, MD5, SHA-256, SHA-512), Apache's htpasswd for bcrypt when it is
installed (else Python's crypt, which is libcrypt), and Python's hashlib for {SHA}/{SSHA}.
Every expectation was checked against nginx (PORTICO_TEST_TARGET=nginx).
"""

import base64
import hashlib
import os
import shutil
import subprocess
import unittest
import warnings

from harness import RawConn, Server, build_request, eventually, nginx_differs, request

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt as pycrypt  # libcrypt, for bcrypt when htpasswd is missing
    except ImportError:  # Python 3.13+
        pycrypt = None

CONFIG = r"""
http {
    log_format user '$remote_user $status $request_uri';
    access_log logs/user.log user;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root {prefix}/html;
        add_header X-User "$remote_user" always;

        location / {
            auth_basic "closed site";
            auth_basic_user_file {prefix}/conf/htpasswd;

            location /inner/ { auth_basic off; }
            location /var/ {
                auth_basic_user_file $arg_f;  # relative to the prefix
            }
            location /realm/ { auth_basic "realm of $host"; }
            location /realm-off/ {
                set $realm off;
                auth_basic $realm;
            }
        }
        location /missing/ {
            auth_basic "x";
            auth_basic_user_file {prefix}/conf/nonexistent;
        }
        location /dir/ {
            auth_basic "x";
            auth_basic_user_file {prefix}/conf;
        }
        location /any/ {
            satisfy any;
            allow 192.0.2.1;
            deny all;
            auth_basic "any";
            auth_basic_user_file {prefix}/conf/htpasswd;
        }
        location /any-allowed/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            auth_basic "any";
            auth_basic_user_file {prefix}/conf/htpasswd;
        }
        location /all/ {
            allow 127.0.0.1;
            deny all;
            auth_basic "all";
            auth_basic_user_file {prefix}/conf/htpasswd;
        }
        location /all-denied/ {
            deny all;
            auth_basic "all";
            auth_basic_user_file {prefix}/conf/htpasswd;
        }
        location /file-only/ { auth_basic_user_file {prefix}/conf/htpasswd; }
        location /user-var/ { return 200 "[$remote_user]"; }
    }
}
"""

PASSWORD = "s3cret pass"


def openssl_passwd(*args):
    return subprocess.run(["openssl", "passwd", *args, PASSWORD], check=True,
                          capture_output=True, text=True).stdout.strip()


def bcrypt_hash():
    if shutil.which("htpasswd"):
        out = subprocess.run(["htpasswd", "-nbB", "-C", "5", "u", PASSWORD], check=True,
                             capture_output=True, text=True).stdout.strip()
        return out.split(":", 1)[1]
    if pycrypt:
        return pycrypt.crypt(PASSWORD, "$2b$05$abcdefghijklmnopqrstuu")
    return None


def htpasswd_file():
    sha = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    salt = b"NaCl1234"
    ssha = base64.b64encode(hashlib.sha1(PASSWORD.encode() + salt).digest() + salt).decode()
    users = {
        "apr1": openssl_passwd("-apr1"),
        "md5": openssl_passwd("-1"),
        "sha256": openssl_passwd("-5"),
        "sha512": openssl_passwd("-6"),
        "plain": "{PLAIN}" + PASSWORD,
        "sha": "{SHA}" + sha,
        "ssha": "{SSHA}" + ssha,
    }
    bc = bcrypt_hash()
    if bc:
        users["bcrypt"] = bc
    lines = ["# a comment: plain:{PLAIN}nope"]
    lines += [f"{u}:{h}" for u, h in users.items()]
    lines.append("commented:{PLAIN}" + PASSWORD + ":the rest is a comment")
    return users, "\n".join(lines) + "\n"


def auth(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class AuthBasicTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users, text = htpasswd_file()
        files = {"conf/htpasswd": text, "conf/other": "plain:{PLAIN}other\n"}
        for d in ("", "inner/", "var/", "realm/", "realm-off/", "missing/", "dir/", "any/",
                  "any-allowed/", "all/", "all-denied/", "file-only/"):
            files[f"html/{d}index.html"] = "SEETHIS"
        cls.srv = Server(CONFIG, files=files, error_log_level="info")
        cls.port = cls.srv.port()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, headers=None):
        return request(self.port, path, headers=headers)

    def test_no_credentials_is_401_with_realm(self):
        r = self.get("/")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="closed site"')
        self.srv.wait_error_log(r"no user/password was provided for basic authentication")

    def test_every_format(self):
        self.assertGreaterEqual(len(self.users), 7)
        for user in self.users:
            with self.subTest(user=user):
                r = self.get("/", auth(user, PASSWORD))
                self.assertEqual((r.status, r.text), (200, "SEETHIS"))
                self.assertEqual(r.header("X-User"), user)
                r = self.get("/", auth(user, PASSWORD + "x"))
                self.assertEqual(r.status, 401)
                self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="closed site"')

    def test_line_with_comment_field(self):
        self.assertEqual(self.get("/", auth("commented", PASSWORD)).status, 200)

    def test_unknown_user_and_comment_lines(self):
        self.assertEqual(self.get("/", auth("nobody", PASSWORD)).status, 401)
        self.assertEqual(self.get("/", auth("plain", "nope")).status, 401)
        self.assertEqual(self.get("/", auth("# a comment", PASSWORD)).status, 401)
        self.srv.wait_error_log(r'user "nobody" was not found in ".*htpasswd"')
        self.srv.wait_error_log(r'user "plain": password mismatch')

    def test_prefix_of_a_name_is_not_the_name(self):
        self.assertEqual(self.get("/", auth("apr", PASSWORD)).status, 401)
        self.assertEqual(self.get("/", auth("apr1x", PASSWORD)).status, 401)

    def test_malformed_authorization(self):
        for value in ("Basic", "Basic ", "Basic !!!", "Bearer abc",
                      "Basic " + base64.b64encode(b"nocolon").decode(),
                      "Basic " + base64.b64encode(b":empty-user").decode()):
            with self.subTest(value=value):
                r = self.get("/", {"Authorization": value})
                self.assertEqual(r.status, 401)
                self.assertTrue(r.has("WWW-Authenticate"))

    def test_lowercase_scheme_and_extra_spaces(self):
        token = base64.b64encode(f"plain:{PASSWORD}".encode()).decode()
        self.assertEqual(self.get("/", {"Authorization": f"basic   {token}"}).status, 200)

    def test_off_in_nested_location(self):
        r = self.get("/inner/")
        self.assertEqual((r.status, r.text), (200, "SEETHIS"))

    def test_realm_with_variables_and_off(self):
        self.assertEqual(self.get("/realm/").header("WWW-Authenticate"),
                         'Basic realm="realm of localhost"')
        self.assertEqual(self.get("/realm-off/").status, 200)

    def test_user_file_from_a_variable(self):
        conf = self.srv.path("conf")
        self.assertEqual(self.get(f"/var/?f={conf}/htpasswd", auth("plain", PASSWORD)).status,
                         200)
        self.assertEqual(self.get(f"/var/?f={conf}/other", auth("plain", PASSWORD)).status, 401)
        self.assertEqual(self.get(f"/var/?f={conf}/other", auth("plain", "other")).status, 200)
        self.assertEqual(self.get(f"/var/?f={conf}/nx", auth("plain", PASSWORD)).status, 403)

    @nginx_differs("nginx takes a relative name from the configuration file's directory")
    def test_relative_user_file_is_taken_from_the_prefix(self):
        self.assertEqual(self.get("/var/?f=conf/htpasswd", auth("plain", PASSWORD)).status, 200)

    def test_missing_file_is_403_and_unreadable_500(self):
        self.assertEqual(self.get("/missing/", auth("plain", PASSWORD)).status, 403)
        self.srv.wait_error_log(r'open\(\) ".*nonexistent" failed')
        self.assertEqual(self.get("/dir/", auth("plain", PASSWORD)).status, 500)

    def test_file_change_applies_at_once(self):
        path = "/var/?f=" + self.srv.path("conf/other")
        self.srv.write_file("conf/other", "late:{PLAIN}comer\n")
        try:
            self.assertEqual(self.get(path, auth("late", "comer")).status, 200)
        finally:
            self.srv.write_file("conf/other", "plain:{PLAIN}other\n")
        self.assertEqual(self.get(path, auth("late", "comer")).status, 401)

    def test_file_without_realm_is_off(self):
        self.assertEqual(self.get("/file-only/").status, 200)

    def test_satisfy_any(self):
        # deny all matches 127.0.0.1, but a good password is enough
        r = self.get("/any/")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="any"')
        self.assertEqual(self.get("/any/", auth("plain", PASSWORD)).status, 200)
        self.assertEqual(self.get("/any/", auth("plain", "bad")).status, 401)
        # allow matches: no password needed
        self.assertEqual(self.get("/any-allowed/").status, 200)

    def test_satisfy_all(self):
        self.assertEqual(self.get("/all/").status, 401)
        self.assertEqual(self.get("/all/", auth("plain", PASSWORD)).status, 200)
        r = self.get("/all-denied/", auth("plain", PASSWORD))
        self.assertEqual(r.status, 403)
        self.assertFalse(r.has("WWW-Authenticate"))

    def test_remote_user_without_auth_basic(self):
        r = self.get("/user-var/", auth("someone", "anything"))
        self.assertEqual(r.text, "[someone]")
        self.assertEqual(self.get("/user-var/").text, "[]")

    def test_remote_user_in_log(self):
        self.get("/?log-marker", auth("plain", PASSWORD))
        eventually(lambda: "plain 200 /?log-marker" in self.srv.access_log("logs/user.log"),
                   message="$remote_user in the access log")

    def test_keepalive_after_401(self):
        with RawConn(self.port) as c:
            c.send(build_request("GET", "/", close=False))
            self.assertEqual(c.read_final_response().status, 401)
            c.send(build_request("GET", "/", headers=auth("plain", PASSWORD)))
            self.assertEqual(c.read_final_response().status, 200)


class AuthBasicConfigTest(unittest.TestCase):
    def test_bad_satisfy_is_refused_with_file_and_line(self):
        srv = Server("http { server { listen 127.0.0.1:{port}; satisfy some; } }", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertRegex(out.stderr, r'invalid value "some" in \S+\.conf:5')
        finally:
            srv.stop()

    def test_auth_basic_arguments(self):
        srv = Server("http { server { listen 127.0.0.1:{port}; auth_basic a b; } }", start=False)
        try:
            out = srv.run_cli("-t")
            self.assertNotEqual(out.returncode, 0)
            self.assertIn('invalid number of arguments in "auth_basic" directive', out.stderr)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
