"""Corner cases where portico must do what nginx does (each found by nginx's own test suite):
the location tree's '/'-first order (auto redirect past "/a-a"), alias inherited by nested
locations and used by try_files, try_files' directory test, redirect arguments appended with
'&', an error_page target's `return` keeping the error's status, and `$server_name` of a
".example.com" name."""

import os
import unittest

from harness import Server, request

CONFIG = r"""
http {
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name .dot.example.com;
        root {prefix}/html;

        # '-' sorts before '/': nginx's tree still finds "/a/" for "/a" (auto redirect).
        location /a/ { proxy_pass http://127.0.0.1:{port}/a-a; }
        location /a-a { return 204; }
        location /a-b { return 204; }

        location /nested/ {
            alias {prefix}/files/;
            location ~ \.txt$ { try_files $uri =404; }
        }
        location ~ /re-alias\.txt$ {
            alias {prefix}/files/sub;
            try_files $uri =404;
        }
        location /dir-test/ { try_files /dir/ =404; }

        location /add { rewrite ^ http://example.com/?c=d redirect; }

        location /err405 { error_page 405 /text200; return 405; }
        location /err405empty { error_page 405 /empty200; return 405; }
        location /err302 { error_page 302 /text200; return 302 /elsewhere; }
        location /text200 { return 200 "text"; }
        location /empty200 { return 200; }

        location /name { return 200 "$server_name"; }
    }
}
"""

FILES = {
    "files/one.txt": "ONE\n",
    "files/sub/re-alias.txt": "RE\n",
    "html/dir/.keep": "",
}


class NginxSemanticsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(CONFIG, FILES)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, **kw):
        return request(self.srv.port(), path, **kw)

    def test_auto_redirect_past_a_sibling_that_sorts_first(self):
        r = self.get("/a")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location", "").endswith("/a/"), r.headers)
        self.assertEqual(self.get("/a-a").status, 204)

    def test_alias_inherited_by_a_nested_location_with_try_files(self):
        r = self.get("/nested/one.txt")
        self.assertEqual((r.status, r.text), (200, "ONE\n"))
        self.assertEqual(self.get("/nested/missing.txt").status, 404)

    def test_try_files_in_a_regex_alias_location(self):
        # The alias plus $uri, as nginx (r->add_uri_to_alias).
        r = self.get("/re-alias.txt")
        self.assertEqual((r.status, r.text), (200, "RE\n"))

    def test_try_files_directory_becomes_the_uri(self):
        # "/dir/" found: the URI is "/dir", which the static module redirects to "/dir/".
        r = self.get("/dir-test/")
        self.assertEqual(r.status, 301)
        self.assertTrue(r.header("Location", "").endswith("/dir/"), r.headers)

    def test_redirect_appends_the_request_args_with_an_ampersand(self):
        self.assertEqual(self.get("/add?a=b").header("Location"), "http://example.com/?c=d&a=b")
        self.assertEqual(self.get("/add").header("Location"), "http://example.com/?c=d")

    def test_error_page_return_keeps_the_error_status(self):
        r = self.get("/err405")
        self.assertEqual((r.status, r.text), (405, "text"))
        r = self.get("/err405empty")
        self.assertEqual((r.status, r.header("Content-Length"), r.text), (405, "0", ""))
        # A status with no page of its own is an empty body of the default type.
        r = self.get("/empty200")
        self.assertEqual((r.status, r.header("Content-Type"), r.text), (200, "text/plain", ""))
        # A redirect's own status and Location stay.
        r = self.get("/err302")
        self.assertEqual((r.status, r.text), (302, "text"))
        self.assertTrue(r.header("Location", "").endswith("/elsewhere"), r.headers)

    def test_server_name_of_a_dot_name(self):
        self.assertEqual(self.get("/name", host="www.dot.example.com").text, "dot.example.com")


if __name__ == "__main__":
    unittest.main()
