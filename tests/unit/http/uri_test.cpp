#include "http/uri.h"

#include <gtest/gtest.h>

#include <string>

namespace portico::http {
namespace {

// "BAD" for kBad, else the normalised path.
std::string norm(std::string_view raw, bool merge = true) {
  std::string out;
  return normalize_path(raw, out, merge) == UriResult::kOk ? out : "BAD";
}

// Every expectation below was checked against nginx 1.22.1 ($uri echoed by `return 200`); a
// randomised differential run of 26,000 paths built from "/", ".", "..", %2e, %2f, %25, %00,
// bad escapes etc. agreed on all of them, with and without merge_slashes.
TEST(Uri, NormalizeDotSegments) {
  EXPECT_EQ(norm("/"), "/");
  EXPECT_EQ(norm("/a/./b"), "/a/b");
  EXPECT_EQ(norm("/a/../b"), "/b");
  EXPECT_EQ(norm("/a/.."), "/");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
  EXPECT_EQ(norm("/a/."), "/a/");
  EXPECT_EQ(norm("/."), "/");
  EXPECT_EQ(norm("/a/b/"), "/a/b/");
  EXPECT_EQ(norm("/a/..x"), "/a/..x");
  EXPECT_EQ(norm("/a/..."), "/a/...");
  EXPECT_EQ(norm("/a/.b"), "/a/.b");
  EXPECT_EQ(norm("/a./b"), "/a./b");
  EXPECT_EQ(norm("/a/b/c/../../d"), "/a/d");
}

TEST(Uri, NormalizeAboveRootIsBad) {
  EXPECT_EQ(norm("/.."), "BAD");
  EXPECT_EQ(norm("/../x"), "BAD");
  EXPECT_EQ(norm("/a/b/../../.."), "BAD");
  EXPECT_EQ(norm("/a/b/../../../"), "BAD");
  EXPECT_EQ(norm("/%2e%2e/x"), "BAD");
  EXPECT_EQ(norm("/a/%2e%2e%2f%2e%2e/x"), "BAD");
}

TEST(Uri, NormalizeMergeSlashes) {
  EXPECT_EQ(norm("//a///b"), "/a/b");
  EXPECT_EQ(norm("/a//.."), "/");
  EXPECT_EQ(norm("/a/b//.."), "/a/");
  EXPECT_EQ(norm("/a%2F%2Fb"), "/a/b");
  EXPECT_EQ(norm("/a//"), "/a/");
}

TEST(Uri, NormalizeKeepSlashes) {
  EXPECT_EQ(norm("//a///b", false), "//a///b");
  EXPECT_EQ(norm("/a//..", false), "/a/");  // ".." removes the empty segment
  EXPECT_EQ(norm("/a/b//..", false), "/a/b/");
  EXPECT_EQ(norm("//..", false), "/");
  EXPECT_EQ(norm("//../x", false), "/x");
  EXPECT_EQ(norm("/a%2F%2Fb", false), "/a//b");
  EXPECT_EQ(norm("/a/b//../c", false), "/a/b/c");
  EXPECT_EQ(norm("/../x", false), "BAD");
}

TEST(Uri, NormalizePercentDecoding) {
  EXPECT_EQ(norm("/a%20b"), "/a b");
  EXPECT_EQ(norm("/%41%42%63"), "/ABc");
  EXPECT_EQ(norm("/%e2%82%AC"), "/\xe2\x82\xac");
  EXPECT_EQ(norm("/a+b"), "/a+b");
  EXPECT_EQ(norm("/a%2Bb"), "/a+b");
  EXPECT_EQ(norm("/a%0ab"), "/a\nb");  // decoded CTLs are allowed in $uri
  EXPECT_EQ(norm("/a%00b"), "BAD");
  EXPECT_EQ(norm("/a%2"), "BAD");
  EXPECT_EQ(norm("/a%"), "BAD");
  EXPECT_EQ(norm("/a%zz"), "BAD");
  EXPECT_EQ(norm("/a%g0"), "BAD");
}

TEST(Uri, NormalizeDecodedDelimiters) {
  // A decoded '/' and '.' act like raw ones...
  EXPECT_EQ(norm("/a%2Fb"), "/a/b");
  EXPECT_EQ(norm("/a%2fb"), "/a/b");
  EXPECT_EQ(norm("/a%2F..%2Fb"), "/b");
  EXPECT_EQ(norm("/a/%2e%2e/b"), "/b");
  EXPECT_EQ(norm("/a/%2E%2E"), "/");
  EXPECT_EQ(norm("/%2e"), "/");
  EXPECT_EQ(norm("/a/..%2F"), "/");
  EXPECT_EQ(norm("/a/.%2e"), "/");
  EXPECT_EQ(norm("/b%2e.%5C%41"), "/b..\\A");
  // ...but a decoded '%', '#' or '?' is always data, never an escape or a delimiter.
  EXPECT_EQ(norm("/%25"), "/%");
  EXPECT_EQ(norm("/%2541"), "/%41");
  EXPECT_EQ(norm("/%25%32%65"), "/%2e");
  EXPECT_EQ(norm("/%23"), "/#");
  EXPECT_EQ(norm("/%3F"), "/?");
  EXPECT_EQ(norm("/%3f%2b%2Fb"), "/?+/b");
  EXPECT_EQ(norm("/a/..%3F"), "/a/..?");
}

TEST(Uri, NormalizeRawDelimitersEndThePath) {
  EXPECT_EQ(norm("/a?x=1"), "/a");
  EXPECT_EQ(norm("/a/.?x"), "/a/");
  EXPECT_EQ(norm("/a/b/..?x"), "/a/");
  EXPECT_EQ(norm("/a#frag"), "/a");
  EXPECT_EQ(norm("/a/..#f"), "/");
}

TEST(Uri, NormalizeEdgeForms) {
  EXPECT_EQ(norm(""), "/");  // absolute-form "http://host" has an empty path
  EXPECT_EQ(norm("a/b"), "BAD");
  EXPECT_EQ(norm("*"), "BAD");
  EXPECT_EQ(norm(std::string_view("/a\0b", 4)), "BAD");  // raw NUL
}

TEST(Uri, NormalizeReusesOutput) {
  std::string out;
  out.reserve(64);
  const char* data = out.data();
  ASSERT_EQ(normalize_path("/a/./b/../c", out), UriResult::kOk);
  EXPECT_EQ(out, "/a/c");
  ASSERT_EQ(normalize_path("/x", out), UriResult::kOk);
  EXPECT_EQ(out, "/x");
  EXPECT_EQ(out.data(), data);  // no reallocation
}

std::string host(std::string_view in) {
  std::string out;
  return validate_host(in, out) ? out : "BAD";
}

// Checked against nginx 1.22.1 ($host), except '\\' (see uri.h).
TEST(Uri, ValidateHost) {
  EXPECT_EQ(host("Example.COM"), "example.com");
  EXPECT_EQ(host("example.com:8080"), "example.com");
  EXPECT_EQ(host("example.com."), "example.com");
  EXPECT_EQ(host("example.com.:80"), "example.com");
  EXPECT_EQ(host("EXAMPLE.com.:"), "example.com");
  EXPECT_EQ(host("example.com:80:90"), "example.com");
  EXPECT_EQ(host("example.com:8."), "example.com");
  EXPECT_EQ(host("[::1]:8080"), "[::1]");
  EXPECT_EQ(host("[::1]"), "[::1]");
  EXPECT_EQ(host("[::1"), "[::1");
  EXPECT_EQ(host("[a]b:c"), "[a]");
  EXPECT_EQ(host(".example.com"), ".example.com");
  EXPECT_EQ(host("x:"), "x");
  EXPECT_EQ(host("a_b"), "a_b");
  EXPECT_EQ(host("a.:80"), "a");
  EXPECT_EQ(host("a%2fb"), "a%2fb");
  EXPECT_EQ(host("\xc3\xa9.COM"), "\xc3\xa9.com");
  EXPECT_EQ(host("203.0.113.10"), "203.0.113.10");
  // nginx quirk: only the last dot counts, so a dot in the port hides the host's trailing dot.
  EXPECT_EQ(host("a.:8."), "a.");
  EXPECT_EQ(host("a.:8"), "a");
  EXPECT_EQ(host(".:8."), ".");
}

TEST(Uri, ValidateHostRejects) {
  EXPECT_EQ(host(""), "BAD");
  EXPECT_EQ(host(":80"), "BAD");
  EXPECT_EQ(host("."), "BAD");
  EXPECT_EQ(host(".."), "BAD");
  EXPECT_EQ(host("a..b"), "BAD");
  EXPECT_EQ(host("a.b.."), "BAD");
  EXPECT_EQ(host("a..:80"), "BAD");
  EXPECT_EQ(host("a/b"), "BAD");
  EXPECT_EQ(host("a:b/c"), "BAD");  // checked after the port too
  EXPECT_EQ(host("a\\b"), "a\\b");  // as nginx on Unix: only "/" is a path separator
  EXPECT_EQ(host("exa mple"), "BAD");
  EXPECT_EQ(host("a\tb"), "BAD");
  EXPECT_EQ(host("a\x01"
                 "b"),
            "BAD");
  EXPECT_EQ(host(std::string_view("a\0b", 3)), "BAD");
  EXPECT_EQ(host("a\x7f"), "BAD");
}

TEST(Uri, PercentDecode) {
  std::string out;
  ASSERT_TRUE(percent_decode("a%20b+c%2F%2f", out, false));
  EXPECT_EQ(out, "a b+c//");
  ASSERT_TRUE(percent_decode("a%20b+c", out, true));
  EXPECT_EQ(out, "a b c");
  ASSERT_TRUE(percent_decode("%00", out, false));
  EXPECT_EQ(out, std::string(1, '\0'));
  ASSERT_TRUE(percent_decode("", out, false));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(percent_decode("a%2", out, false));
  EXPECT_FALSE(percent_decode("a%", out, false));
  EXPECT_FALSE(percent_decode("%zz", out, false));
}

TEST(Uri, EscapeUri) {
  // The proxied request line of nginx 1.22 for "/p/<this>" with proxy_pass .../q/.
  std::string decoded = "\"<>^{|}` #?%\xc3\xa9~!$&'()*+,;=:@[]\\\x7f\x01\t";
  std::string out = "/q/";
  escape_uri(decoded, out);
  EXPECT_EQ(out, "/q/%22%3C%3E%5E%7B%7C%7D%60%20%23%3F%25%C3%A9~!$&'()*+,;=:@[]%5C%7F%01%09");
  EXPECT_EQ(escape_uri_count(decoded), 18u);
  out.clear();
  escape_uri("/plain/path-1.2_3", out);
  EXPECT_EQ(out, "/plain/path-1.2_3");
}

// As ngx_http_arg ($arg_NAME), checked against nginx 1.22.1.
TEST(Uri, FindArg) {
  EXPECT_EQ(find_arg("a=1&b", "a"), "1");
  EXPECT_EQ(find_arg("a=1&b", "b"), "");
  EXPECT_EQ(find_arg("A=2", "a"), "2");
  EXPECT_EQ(find_arg("a=2", "A"), "2");
  EXPECT_EQ(find_arg("xa=1&a=3", "a"), "3");
  EXPECT_EQ(find_arg("b=1&b=2", "b"), "1");
  EXPECT_EQ(find_arg("&a=5", "a"), "5");
  EXPECT_EQ(find_arg("a=1;b=2", "a"), "1;b=2");
  EXPECT_EQ(find_arg("a=%20x+y", "a"), "%20x+y");
  EXPECT_EQ(find_arg("aa=1&a", "a"), "");
  EXPECT_EQ(find_arg("a&a=7", "a"), "7");
  EXPECT_EQ(find_arg("b=x=y", "b"), "x=y");
  EXPECT_EQ(find_arg("", "a"), "");

  std::string_view v;
  EXPECT_FALSE(find_arg("a", "a", &v));
  EXPECT_FALSE(find_arg("", "a", &v));
  EXPECT_FALSE(find_arg("a=1", "", &v));
  ASSERT_TRUE(find_arg("x=1&a=", "a", &v));
  EXPECT_EQ(v, "");
  ASSERT_TRUE(find_arg("x=1&a=2&y", "a", &v));
  EXPECT_EQ(v, "2");
}

}  // namespace
}  // namespace portico::http

namespace portico::http {
namespace {

// nginx's ngx_http_parse_unsafe_uri (X-Accel-Redirect's check).
TEST(UnsafeUri, SplitsArgsAndDecodes) {
  std::string uri, args;
  ASSERT_TRUE(parse_unsafe_uri("/foo?bar", uri, args));
  EXPECT_EQ(uri, "/foo");
  EXPECT_EQ(args, "bar");
  ASSERT_TRUE(parse_unsafe_uri("/foo%20bar?a=%20", uri, args));
  EXPECT_EQ(uri, "/foo bar");
  EXPECT_EQ(args, "a=%20");  // the args verbatim
  ASSERT_TRUE(parse_unsafe_uri("/100%", uri, args));
  EXPECT_EQ(uri, "/100%");  // no escape: kept
  ASSERT_TRUE(parse_unsafe_uri("/a..b/..c/c..", uri, args));
  EXPECT_EQ(uri, "/a..b/..c/c..");
}

TEST(UnsafeUri, DotDotSegmentsBeforeAndAfterDecoding) {
  std::string uri, args;
  for (const char* bad : {"", "?a", "..", "../x", "/..", "/x/..", "/x/../y", "/x/.%2e",
                          "/x/%2e%2e/y", "%2e%2e", "/a%00b"}) {
    EXPECT_FALSE(parse_unsafe_uri(bad, uri, args)) << bad;
  }
  EXPECT_FALSE(parse_unsafe_uri("/x/.%2e/y", uri, args));
  EXPECT_EQ(uri, "/x/../y");
  // after the '?' nothing is checked
  EXPECT_TRUE(parse_unsafe_uri("/x?../..", uri, args));
}

}  // namespace
}  // namespace portico::http
