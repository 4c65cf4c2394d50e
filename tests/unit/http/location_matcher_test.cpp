#include "http/location_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portico::http {
namespace {

using Kind = LocationDef::Kind;

// A location whose payload is its label.
LocationDef loc(Kind kind, std::string pattern, const char* label,
                std::vector<LocationDef> children = {}, int line = 1) {
  LocationDef d;
  d.kind = kind;
  d.pattern = std::move(pattern);
  d.payload = label;
  d.children = std::move(children);
  d.file = "/etc/portico/portico.conf";
  d.line = line;
  return d;
}
LocationDef exact(std::string p, const char* l) {
  return loc(Kind::kExact, std::move(p), l);
}
LocationDef prefix(std::string p, const char* l, std::vector<LocationDef> c = {}) {
  return loc(Kind::kPrefix, std::move(p), l, std::move(c));
}
LocationDef noregex(std::string p, const char* l, std::vector<LocationDef> c = {}) {
  return loc(Kind::kPrefixNoRegex, std::move(p), l, std::move(c));
}
LocationDef regex(std::string p, const char* l, std::vector<LocationDef> c = {}) {
  return loc(Kind::kRegex, std::move(p), l, std::move(c));
}
LocationDef iregex(std::string p, const char* l) {
  return loc(Kind::kRegexCaseless, std::move(p), l);
}
LocationDef named(std::string p, const char* l) {
  return loc(Kind::kNamed, std::move(p), l);
}
LocationDef proxied(std::string p, const char* l) {
  LocationDef d = prefix(std::move(p), l);
  d.auto_redirect = true;
  return d;
}

LocationMatcher build(std::vector<LocationDef> defs) {
  LocationMatcher m;
  Status st = m.build(std::move(defs));
  EXPECT_TRUE(st.is_ok()) << st.message();
  return m;
}

std::string pick(const LocationMatcher& m, std::string_view uri, Captures* caps = nullptr) {
  LocationMatch r = m.lookup(uri, caps);
  if (r.payload == nullptr) return "none";
  std::string label = static_cast<const char*>(r.payload);
  return r.redirect_slash ? "redirect:" + label : label;
}

std::string build_error(std::vector<LocationDef> defs) {
  LocationMatcher m;
  Status st = m.build(std::move(defs));
  EXPECT_FALSE(st.is_ok());
  return st.message();
}

// The example from nginx's documentation of `location`, checked against nginx 1.22.
TEST(RouterLocation, NginxDocsExample) {
  LocationMatcher m = build({
      exact("/", "A"),
      prefix("/", "B"),
      prefix("/documents/", "C"),
      noregex("/images/", "D"),
      iregex("\\.(gif|jpg|jpeg)$", "E"),
  });
  EXPECT_EQ(pick(m, "/"), "A");
  EXPECT_EQ(pick(m, "/index.html"), "B");
  EXPECT_EQ(pick(m, "/documents/document.html"), "C");
  EXPECT_EQ(pick(m, "/images/1.gif"), "D");
  EXPECT_EQ(pick(m, "/documents/1.jpg"), "E");
  EXPECT_EQ(pick(m, "/DOCUMENTS/1.JPG"), "E");  // prefixes are case-sensitive, ~* is not
  EXPECT_EQ(pick(m, "/Documents/x"), "B");
}

TEST(RouterLocation, LongestPrefixAndExact) {
  LocationMatcher m = build({
      prefix("/a", "a"),
      prefix("/ab", "ab"),
      prefix("/abc/", "abc/"),
      exact("/abc", "=abc"),
      exact("/x", "=x"),
      prefix("/b/c", "bc"),
      prefix("/b", "b"),
  });
  EXPECT_EQ(pick(m, "/a"), "a");
  EXPECT_EQ(pick(m, "/ab"), "ab");
  EXPECT_EQ(pick(m, "/abz"), "ab");
  EXPECT_EQ(pick(m, "/abc"), "=abc");
  EXPECT_EQ(pick(m, "/abcd"), "ab");
  EXPECT_EQ(pick(m, "/abc/"), "abc/");
  EXPECT_EQ(pick(m, "/abc/d"), "abc/");
  EXPECT_EQ(pick(m, "/x"), "=x");
  EXPECT_EQ(pick(m, "/xy"), "none");  // "= /x" is not a prefix location
  EXPECT_EQ(pick(m, "/b/c/d"), "bc");
  EXPECT_EQ(pick(m, "/b/"), "b");
  EXPECT_EQ(pick(m, "/"), "none");  // no "location /": the server level handles it
  EXPECT_EQ(pick(m, "/A"), "none");
}

TEST(RouterLocation, ExactAndPrefixWithSameName) {
  LocationMatcher m = build({prefix("/p", "prefix"), exact("/p", "exact")});
  EXPECT_EQ(pick(m, "/p"), "exact");
  EXPECT_EQ(pick(m, "/p/q"), "prefix");
}

TEST(RouterLocation, ExactOnlyNodeStillLetsLongerPrefixesMatch) {
  LocationMatcher m = build({exact("/a", "=a"), prefix("/ab", "ab"), prefix("/a0", "a0")});
  EXPECT_EQ(pick(m, "/a"), "=a");
  EXPECT_EQ(pick(m, "/abc"), "ab");
  EXPECT_EQ(pick(m, "/a0"), "a0");
  EXPECT_EQ(pick(m, "/a-"), "none");
}

TEST(RouterLocation, RegexesInConfigOrderAfterLongestPrefix) {
  LocationMatcher m = build({
      prefix("/", "root"),
      regex("\\.php$", "php"),
      regex("^/admin", "admin"),
      prefix("/admin/static/", "static"),
  });
  EXPECT_EQ(pick(m, "/admin/index.php"), "php");  // first regex in config order
  EXPECT_EQ(pick(m, "/admin/x"), "admin");
  EXPECT_EQ(pick(m, "/admin/static/a.css"), "admin");  // a plain prefix loses to regexes
  EXPECT_EQ(pick(m, "/other"), "root");
}

TEST(RouterLocation, NoRegexPrefixStopsRegexes) {
  LocationMatcher m = build({
      noregex("/static/", "static"),
      prefix("/static/js/", "js"),  // longer plain prefix: regexes run again
      regex("\\.js$", "js-regex"),
  });
  EXPECT_EQ(pick(m, "/static/a.js"), "static");
  EXPECT_EQ(pick(m, "/static/js/a.js"), "js-regex");
}

TEST(RouterLocation, RegexCaptures) {
  LocationMatcher m = build({
      prefix("/", "root"),
      regex("^/users/(?<id>\\d+)/(\\w+)$", "user"),
  });
  Captures caps;
  std::string uri = "/users/42/edit";
  LocationMatch r = m.lookup(uri, &caps);
  ASSERT_NE(r.payload, nullptr);
  EXPECT_STREQ(static_cast<const char*>(r.payload), "user");
  ASSERT_NE(r.regex, nullptr);
  EXPECT_EQ(caps.count, 3);
  EXPECT_EQ(caps.group(1), "42");
  EXPECT_EQ(caps.group(r.regex->group_index("id")), "42");
  EXPECT_EQ(caps.group(2), "edit");
  EXPECT_EQ(caps.subject.data(), uri.data());

  // No regex chosen: captures (e.g. from a server_name regex) are left as they were.
  Captures other;
  other.count = 5;
  r = m.lookup("/users/x", &other);
  EXPECT_EQ(r.regex, nullptr);
  EXPECT_EQ(other.count, 5);
}

// Nesting and the quirks of nginx's search, each checked against nginx 1.22:
//   location /a { location ^~ /a/b {} location ~ /a/c {} }
//   location ~ \.txt$ {}
//   location ~ ^/r(\d+) { location ~ ^/r2 {} }
//   location ~ /s { location /s/static {} }
TEST(RouterLocation, NestedLocations) {
  LocationMatcher m = build({
      prefix("/a", "a", {noregex("/a/b", "nested-noregex"), regex("/a/c", "nested-regex")}),
      regex("\\.txt$", "top-regex"),
      regex("^/r(\\d+)", "regex", {regex("^/r2", "regex-in-regex")}),
      regex("/s", "s-regex", {prefix("/s/static", "static-in-regex")}),
  });
  EXPECT_EQ(pick(m, "/a"), "a");
  EXPECT_EQ(pick(m, "/a/b"), "nested-noregex");
  EXPECT_EQ(pick(m, "/a/c"), "nested-regex");
  EXPECT_EQ(pick(m, "/a/c.txt"), "nested-regex");  // nested regexes are tried first
  EXPECT_EQ(pick(m, "/a/x.txt"), "top-regex");
  // A nested ^~ only stops the regexes of its own level, not the server-level ones.
  EXPECT_EQ(pick(m, "/a/b.txt"), "top-regex");

  Captures caps;
  EXPECT_EQ(pick(m, "/r1", &caps), "regex");
  EXPECT_EQ(caps.group(1), "1");
  EXPECT_EQ(pick(m, "/r2x", &caps), "regex-in-regex");
  EXPECT_EQ(caps.count, 1);  // the nested regex's captures replace the outer ones
  EXPECT_EQ(caps.group(1), "");
  // Prefix locations inside a regex location are never searched.
  EXPECT_EQ(pick(m, "/s/static"), "s-regex");
  EXPECT_EQ(pick(m, "/s/static/x"), "s-regex");
}

TEST(RouterLocation, DeepNesting) {
  LocationMatcher m = build({
      prefix("/", "root",
             {prefix("/api/", "api",
                     {exact("/api/health", "health"), prefix("/api/v1/", "v1"),
                      regex("\\.json$", "json")})}),
      regex("^/api/v1/legacy", "legacy"),
  });
  EXPECT_EQ(pick(m, "/"), "root");
  EXPECT_EQ(pick(m, "/x"), "root");
  EXPECT_EQ(pick(m, "/api/"), "api");
  EXPECT_EQ(pick(m, "/api/health"), "health");
  EXPECT_EQ(pick(m, "/api/v1/users"), "v1");
  EXPECT_EQ(pick(m, "/api/v1/users.json"), "json");
  EXPECT_EQ(pick(m, "/api/v1/legacy"), "legacy");
  EXPECT_EQ(pick(m, "/api/v1/legacy.json"), "json");
}

// A proxied "/app/" answers "/app" with a 301 to "/app/", even when a regex would match
// (nginx returns NGX_DONE before trying regexes). Checked against nginx 1.22.
TEST(RouterLocation, AutoRedirect) {
  LocationMatcher m = build({
      proxied("/app/", "app"),
      regex("^/app$", "regex-app"),
      prefix("/lit/", "lit"),
      prefix("/", "root"),
  });
  EXPECT_EQ(pick(m, "/app"), "redirect:app");
  EXPECT_EQ(pick(m, "/app/"), "app");
  EXPECT_EQ(pick(m, "/app/x"), "app");
  EXPECT_EQ(pick(m, "/lit"), "root");  // no *_pass: no redirect
  EXPECT_EQ(pick(m, "/ap"), "root");

  LocationMatcher n = build({proxied("/app/", "app"), prefix("/app", "plain")});
  EXPECT_EQ(pick(n, "/app"), "plain");  // an exact-length prefix is found first
}

TEST(RouterLocation, AutoRedirectNested) {
  LocationMatcher m = build({prefix("/", "root", {proxied("/svc/", "svc")})});
  EXPECT_EQ(pick(m, "/svc"), "redirect:svc");
  EXPECT_EQ(pick(m, "/svc/a"), "svc");
}

TEST(RouterLocation, NamedLocations) {
  LocationMatcher m = build({
      prefix("/", "root"),
      named("@fallback", "fallback"),
      named("@fallback", "second"),  // nginx accepts duplicates; the first wins
      named("@app", "app"),
  });
  EXPECT_STREQ(static_cast<const char*>(m.find_named("@fallback")), "fallback");
  EXPECT_STREQ(static_cast<const char*>(m.find_named("@app")), "app");
  EXPECT_EQ(m.find_named("@none"), nullptr);
  EXPECT_EQ(m.find_named("fallback"), nullptr);
  EXPECT_EQ(pick(m, "@fallback"), "none");  // never matched by URI
}

TEST(RouterLocation, EmptyMatcher) {
  LocationMatcher m;
  EXPECT_EQ(pick(m, "/"), "none");
  EXPECT_EQ(m.find_named("@x"), nullptr);
  LocationMatcher b = build({});
  EXPECT_EQ(pick(b, "/x"), "none");
}

// Error texts as printed by `nginx -t` 1.22 (without the "[emerg] pid#tid: " prefix).
TEST(RouterLocation, BuildErrors) {
  const std::string at = " in /etc/portico/portico.conf:";
  EXPECT_EQ(
      build_error({loc(Kind::kPrefix, "/x", "1", {}, 6), loc(Kind::kPrefix, "/x", "2", {}, 7)}),
      "duplicate location \"/x\"" + at + "7");
  EXPECT_EQ(build_error({loc(Kind::kPrefixNoRegex, "/x", "1", {}, 6),
                         loc(Kind::kPrefix, "/x", "2", {}, 7)}),
            "duplicate location \"/x\"" + at + "7");
  EXPECT_EQ(build_error({loc(Kind::kExact, "/x", "1", {}, 6), loc(Kind::kExact, "/x", "2", {}, 7)}),
            "duplicate location \"/x\"" + at + "7");
  EXPECT_EQ(build_error({loc(Kind::kPrefix, "/x", "1", {}, 5), loc(Kind::kExact, "/x", "2", {}, 6),
                         loc(Kind::kPrefix, "/x", "3", {}, 7)}),
            "duplicate location \"/x\"" + at + "7");
  EXPECT_EQ(build_error({loc(
                Kind::kPrefix, "/a", "a",
                {loc(Kind::kPrefix, "/a/b", "1", {}, 6), loc(Kind::kPrefix, "/a/b", "2", {}, 8)})}),
            "duplicate location \"/a/b\"" + at + "8");
  EXPECT_EQ(build_error({loc(Kind::kExact, "/x", "x", {loc(Kind::kPrefix, "/x/y", "y", {}, 9)})}),
            "location \"/x/y\" cannot be inside the exact location \"/x\"" + at + "9");
  EXPECT_EQ(build_error({loc(Kind::kNamed, "@n", "n", {loc(Kind::kPrefix, "/y", "y", {}, 9)})}),
            "location \"/y\" cannot be inside the named location \"@n\"" + at + "9");
  EXPECT_EQ(build_error({loc(Kind::kPrefix, "/a", "a", {loc(Kind::kNamed, "@n", "n", {}, 9)})}),
            "named location \"@n\" can be on the server level only" + at + "9");
  EXPECT_EQ(build_error({loc(Kind::kPrefix, "/a", "a", {loc(Kind::kPrefix, "/b", "b", {}, 9)})}),
            "location \"/b\" is outside location \"/a\"" + at + "9");
  EXPECT_EQ(build_error({loc(Kind::kRegex, "y", "y", {loc(Kind::kPrefix, "/a/b", "b", {}, 9)})}),
            "location \"/a/b\" is outside location \"y\"" + at + "9");
  EXPECT_EQ(build_error({loc(Kind::kRegex, "(foo", "f", {}, 6)}),
            "pcre2_compile() failed: missing closing parenthesis in \"(foo\"" + at + "6");
  EXPECT_EQ(build_error({loc(Kind::kRegexCaseless, "a{2,1}", "f", {}, 6)}),
            "pcre2_compile() failed: numbers out of order in {} quantifier in \"a{2,1}\" at "
            "\"}\"" +
                at + "6");
}

TEST(RouterLocation, AcceptedOddities) {
  // Nested regexes are not checked against the parent's name; nested "/a" in "/a" is fine;
  // an empty regex matches everything.
  LocationMatcher m = build({
      prefix("/a", "a", {prefix("/a", "inner-a"), regex("zzz", "z")}),
  });
  EXPECT_EQ(pick(m, "/a"), "inner-a");
  EXPECT_EQ(pick(m, "/a/zzz"), "z");
  LocationMatcher e = build({prefix("/", "root"), regex("", "empty-regex")});
  EXPECT_EQ(pick(e, "/b"), "empty-regex");
  EXPECT_EQ(pick(e, "/"), "empty-regex");
}

TEST(RouterLocation, FailedBuildLeavesMatcherEmpty) {
  LocationMatcher m = build({prefix("/", "root")});
  EXPECT_FALSE(m.build({prefix("/x", "1"), prefix("/x", "2")}).is_ok());
  EXPECT_EQ(pick(m, "/"), "none");
  EXPECT_TRUE(m.build({prefix("/", "again")}).is_ok());
  EXPECT_EQ(pick(m, "/z"), "again");
}

TEST(RouterLocation, MovedMatcherStillWorks) {
  LocationMatcher a = build({prefix("/", "root", {prefix("/n", "n")}), regex("q$", "q")});
  LocationMatcher b = std::move(a);
  EXPECT_EQ(pick(b, "/n"), "n");
  EXPECT_EQ(pick(b, "/nq"), "q");
}

// Many sibling prefixes: the binary tree must find the longest one for every uri.
TEST(RouterLocation, ManyPrefixes) {
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back("/p" + std::to_string(i));
  std::vector<LocationDef> defs;
  for (const std::string& n : names) defs.push_back(prefix(n, n.c_str()));
  LocationMatcher m = build(std::move(defs));
  for (int i = 0; i < 200; ++i) {
    // "/p12x" -> "/p12" ("/p1" is also a prefix but shorter).
    EXPECT_EQ(pick(m, names[size_t(i)] + "x"), names[size_t(i)]);
    EXPECT_EQ(pick(m, names[size_t(i)]), names[size_t(i)]);
  }
  EXPECT_EQ(pick(m, "/p"), "none");
  EXPECT_EQ(pick(m, "/q1"), "none");
}

}  // namespace
}  // namespace portico::http
