#include "http/server_name.h"

#include <gtest/gtest.h>

#include <string>

namespace portico::http {
namespace {

// Payloads are the servers' labels; lookup() results are turned back into labels.
struct Fixture {
  ServerNameMatcher m{"127.0.0.1:80"};
  std::string warning;

  void add(std::string_view name, const char* server) {
    Status st = m.add(name, server, &warning);
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  std::string find(std::string_view host, Captures* caps = nullptr) const {
    const void* p = m.find(host, caps);
    return p == nullptr ? "default" : static_cast<const char*>(p);
  }
};

TEST(RouterServerName, ExactWildcardsRegexOrder) {
  Fixture f;
  f.add("~^www\\.example\\.(com|org)$", "regex");
  f.add("www.example.*", "tail");
  f.add("*.example.com", "head");
  f.add("www.example.com", "exact");
  EXPECT_EQ(f.find("www.example.com"), "exact");
  EXPECT_EQ(f.find("api.example.com"), "head");  // leading wildcard before trailing
  EXPECT_EQ(f.find("www.example.org"), "tail");  // trailing wildcard before regex
  EXPECT_EQ(f.find("example.com"), "default");   // "*.x" does not match x
  EXPECT_EQ(f.find("www.example"), "default");   // "x.*" needs something after the dot
  EXPECT_EQ(f.find("other.org"), "default");
}

TEST(RouterServerName, LongestLeadingWildcardWins) {
  Fixture f;
  f.add("*.com", "com");
  f.add("*.example.com", "example");
  f.add("*.b.example.com", "b");
  EXPECT_EQ(f.find("a.b.example.com"), "b");
  EXPECT_EQ(f.find("x.y.b.example.com"), "b");  // any depth
  EXPECT_EQ(f.find("b.example.com"), "example");
  EXPECT_EQ(f.find("a.example.com"), "example");
  EXPECT_EQ(f.find("example.com"), "com");
  EXPECT_EQ(f.find("com"), "default");
  EXPECT_EQ(f.find(".example.com"), "example");  // validate_host lets a leading dot through
}

TEST(RouterServerName, DotFormMatchesBareAndSubdomains) {
  Fixture f;
  f.add(".example.com", "dot");
  f.add("*.www.example.com", "www-sub");
  EXPECT_EQ(f.find("example.com"), "dot");
  EXPECT_EQ(f.find("a.example.com"), "dot");
  EXPECT_EQ(f.find("www.example.com"), "dot");  // "*.www..." is strict subdomains only
  EXPECT_EQ(f.find("a.www.example.com"), "www-sub");
  EXPECT_EQ(f.find("notexample.com"), "default");
}

TEST(RouterServerName, LongestTrailingWildcardWins) {
  Fixture f;
  f.add("www.*", "www");
  f.add("www.example.*", "www-example");
  EXPECT_EQ(f.find("www.example.com"), "www-example");
  EXPECT_EQ(f.find("www.example.co.uk"), "www-example");
  EXPECT_EQ(f.find("www.example"), "www");
  EXPECT_EQ(f.find("www.examplex.com"), "www");
  EXPECT_EQ(f.find("www"), "default");
  EXPECT_EQ(f.find("mail.example.com"), "default");
}

TEST(RouterServerName, ExactNamesAreCaseFolded) {
  Fixture f;
  f.add("Example.COM", "a");
  f.add("*.Example.ORG", "b");
  EXPECT_EQ(f.find("example.com"), "a");
  EXPECT_EQ(f.find("www.example.org"), "b");
  EXPECT_EQ(f.find("example.com."), "default");  // hosts arrive without the trailing dot
}

TEST(RouterServerName, EmptyNameMatchesMissingHost) {
  Fixture f;
  f.add("", "empty");
  f.add("~.*", "any");
  EXPECT_EQ(f.find(""), "empty");
  EXPECT_EQ(f.find("x"), "any");
  Fixture g;
  g.add("~.*", "any");
  EXPECT_EQ(g.find(""), "default");  // nginx never runs regexes on an empty host
}

TEST(RouterServerName, RegexesInConfigOrderWithCaptures) {
  Fixture f;
  f.add("~^(?<sub>.+)\\.baz\\.com$", "sub");
  f.add("~^x", "x");
  f.add("~baz", "baz");
  Captures caps;
  ServerNameMatcher::Match m = f.m.lookup("a.b.baz.com", &caps);
  ASSERT_NE(m.payload, nullptr);
  EXPECT_STREQ(static_cast<const char*>(m.payload), "sub");
  ASSERT_NE(m.regex, nullptr);
  EXPECT_EQ(caps.group(m.regex->group_index("sub")), "a.b");
  EXPECT_EQ(caps.group(1), "a.b");
  EXPECT_EQ(f.find("xbaz"), "x");
  EXPECT_EQ(f.find("abaz"), "baz");
  EXPECT_EQ(f.find("nothing"), "default");

  Captures untouched;
  untouched.count = 7;
  EXPECT_EQ(f.find("nothing", &untouched), "default");
  EXPECT_EQ(untouched.count, 7);
}

// nginx compiles a server_name regex caselessly only if the pattern has an uppercase letter.
TEST(RouterServerName, RegexCaselessOnlyWithUppercase) {
  Fixture f;
  f.add("~^WWW\\.Foo\\.com$", "upper");
  f.add("~^www\\.bar\\.com$", "lower");
  EXPECT_EQ(f.find("www.foo.com"), "upper");
  EXPECT_EQ(f.find("www.bar.com"), "lower");
  const ServerNameMatcher::Match m = f.m.lookup("www.foo.com", nullptr);
  ASSERT_NE(m.regex, nullptr);
  EXPECT_TRUE(m.regex->caseless());
  EXPECT_FALSE(f.m.lookup("www.bar.com", nullptr).regex->caseless());
}

TEST(RouterServerName, ConflictsKeepTheFirst) {
  Fixture f;
  f.add("a.b", "first");
  EXPECT_EQ(f.warning, "");
  f.add("A.B", "second");
  EXPECT_EQ(f.warning, "conflicting server name \"a.b\" on 127.0.0.1:80, ignored");
  f.add("*.w.com", "w1");
  f.add("*.w.com", "w2");
  EXPECT_EQ(f.warning, "conflicting server name \"*.w.com\" on 127.0.0.1:80, ignored");
  f.add("www.t.*", "t1");
  f.add("www.t.*", "t2");
  EXPECT_EQ(f.warning, "conflicting server name \"www.t.*\" on 127.0.0.1:80, ignored");
  f.add("~^same$", "r1");
  f.add("~^same$", "r2");  // regexes never conflict; the first one in order matches
  EXPECT_EQ(f.warning, "");
  EXPECT_EQ(f.find("a.b"), "first");
  EXPECT_EQ(f.find("x.w.com"), "w1");
  EXPECT_EQ(f.find("www.t.org"), "t1");
  EXPECT_EQ(f.find("same"), "r1");
}

// `server_name *.example.com .example.com example.com;` in nginx 1.22 warns twice and then
// sends "example.com" to the default server: the ignored ".example.com" still claimed it.
TEST(RouterServerName, DotFormConflictQuirk) {
  Fixture f;
  f.add("*.example.com", "A");
  f.add(".example.com", "A");
  EXPECT_EQ(f.warning, "conflicting server name \".example.com\" on 127.0.0.1:80, ignored");
  f.add("example.com", "A");
  EXPECT_EQ(f.warning, "conflicting server name \"example.com\" on 127.0.0.1:80, ignored");
  EXPECT_EQ(f.find("example.com"), "default");
  EXPECT_EQ(f.find("a.example.com"), "A");

  Fixture g;
  g.add("example.com", "exact");
  g.add(".example.com", "dot");
  EXPECT_EQ(g.warning, "conflicting server name \".example.com\" on 127.0.0.1:80, ignored");
  EXPECT_EQ(g.find("example.com"), "exact");
  EXPECT_EQ(g.find("a.example.com"), "default");  // the whole ".example.com" was dropped

  Fixture h;
  h.add(".example.com", "dot");
  h.add("example.com", "exact");
  EXPECT_EQ(h.warning, "conflicting server name \"example.com\" on 127.0.0.1:80, ignored");
  EXPECT_EQ(h.find("example.com"), "dot");
}

TEST(RouterServerName, InvalidNames) {
  ServerNameMatcher m("0.0.0.0:80");
  std::string w;
  const char* p = "p";
  EXPECT_EQ(m.add("*", p, &w).message(), "server name \"*\" is invalid");
  EXPECT_EQ(m.add("*.", p, &w).message(), "server name \"*.\" is invalid");
  EXPECT_EQ(m.add("*example.com", p, &w).message(), "server name \"*example.com\" is invalid");
  EXPECT_EQ(m.add(".", p, &w).message(), "server name \".\" is invalid");
  EXPECT_EQ(m.add("~", p, &w).message(), "empty regex in server name \"~\"");
  EXPECT_EQ(m.add("www.*.com", p, &w).message(),
            "invalid server name or wildcard \"www.*.com\" on 0.0.0.0:80");
  EXPECT_EQ(m.add("*.example.*", p, &w).message(),
            "invalid server name or wildcard \"*.example.*\" on 0.0.0.0:80");
  EXPECT_EQ(m.add("w*", p, &w).message(), "invalid server name or wildcard \"w*\" on 0.0.0.0:80");
  EXPECT_EQ(m.add("A..B", p, &w).message(),
            "invalid server name or wildcard \"a..b\" on 0.0.0.0:80");
  EXPECT_EQ(m.add("~(x", p, &w).message(),
            "pcre2_compile() failed: missing closing parenthesis in \"(x\"");
  EXPECT_TRUE(m.empty());
}

TEST(RouterServerName, CheckNameWarnings) {
  std::string w = "stale";
  EXPECT_TRUE(ServerNameMatcher::check_name("a/b", &w).is_ok());
  EXPECT_EQ(w, "server name \"a/b\" has suspicious symbols");
  EXPECT_TRUE(ServerNameMatcher::check_name("ok.com", &w).is_ok());
  EXPECT_EQ(w, "");
  EXPECT_FALSE(ServerNameMatcher::check_name("*", &w).is_ok());
  EXPECT_TRUE(ServerNameMatcher::check_name("", nullptr).is_ok());
  EXPECT_TRUE(ServerNameMatcher::check_name("*.a", nullptr).is_ok());
}

TEST(RouterServerName, OddButAcceptedWildcards) {
  Fixture f;
  f.add(".*", "dot-star");  // nginx reads it as ".x" with x = "*"
  EXPECT_EQ(f.find("*"), "dot-star");
  EXPECT_EQ(f.find("a.*"), "dot-star");
  f.add("a.*", "tail");
  EXPECT_EQ(f.find("a.b"), "tail");
  EXPECT_EQ(f.find("a"), "default");
}

// The reference setup of DESIGN.md: one IP-named and one DNS-named server on port 80.
TEST(RouterServerName, ReferenceSetup) {
  Fixture f;
  f.add("203.0.113.10", "site-a");
  f.add("ec2-203-0-113-10.compute.example.com", "site-b");
  EXPECT_EQ(f.find("203.0.113.10"), "site-a");
  EXPECT_EQ(f.find("ec2-203-0-113-10.compute.example.com"), "site-b");
  EXPECT_EQ(f.find("localhost"), "default");
}

}  // namespace
}  // namespace portico::http
