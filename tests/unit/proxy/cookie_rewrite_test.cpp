// proxy_cookie_domain / proxy_cookie_path's pure parts: splitting a Set-Cookie value into
// attributes and back, and the plain domain and path rules (nginx's
// ngx_http_proxy_rewrite_domain_handler and ngx_http_proxy_rewrite_complex_handler).
#include "proxy/cookie_rewrite.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portico::proxy {
namespace {

std::string roundtrip(std::string_view v) {
  std::vector<CookieAttr> attrs;
  if (!parse_cookie(v, attrs)) return "<not a cookie>";
  std::string out;
  rebuild_cookie(attrs, out);
  return out;
}

TEST(CookieParse, SplitsAtSemicolonsAndFirstEquals) {
  std::vector<CookieAttr> attrs;
  ASSERT_TRUE(parse_cookie("v=path=domain=;  Domain = a.example ;Secure; Path=/x", attrs));
  ASSERT_EQ(attrs.size(), 4u);
  EXPECT_EQ(attrs[0].key, "v");
  EXPECT_EQ(attrs[0].value, "path=domain=");
  EXPECT_EQ(attrs[1].key, "Domain");
  EXPECT_EQ(attrs[1].value, "a.example");
  EXPECT_EQ(attrs[2].key, "Secure");
  EXPECT_FALSE(attrs[2].has_value);
  EXPECT_EQ(attrs[3].key, "Path");
  EXPECT_EQ(attrs[3].value, "/x");
}

TEST(CookieParse, RebuildsWithOneSpaceAfterEachSemicolon) {
  EXPECT_EQ(roundtrip("a=b;Path=/;  HttpOnly"), "a=b; Path=/; HttpOnly");
  EXPECT_EQ(roundtrip("a=; Max-Age=0;"), "a=; Max-Age=0");
  EXPECT_EQ(roundtrip("a=b;;Secure"), "a=b; Secure");
}

TEST(CookieParse, ACookieWithoutEqualsIsLeftAlone) {
  std::vector<CookieAttr> attrs;
  EXPECT_FALSE(parse_cookie("justaname; Path=/", attrs));
  EXPECT_FALSE(parse_cookie("", attrs));
}

TEST(CookieDomain, WholeDomainIgnoringCaseKeepingTheDot) {
  std::string out;
  EXPECT_TRUE(rewrite_domain("www.Example.org", "www.example.org", "example.com", out));
  EXPECT_EQ(out, "example.com");
  EXPECT_TRUE(rewrite_domain(".LocalHost.com", "localhost.com", "en.localhost.org", out));
  EXPECT_EQ(out, ".en.localhost.org");
  // a suffix or a prefix is no match
  EXPECT_FALSE(rewrite_domain("a.www.example.org", "www.example.org", "x", out));
  EXPECT_FALSE(rewrite_domain("www.example.org.uk", "www.example.org", "x", out));
  EXPECT_FALSE(rewrite_domain("", "www.example.org", "x", out));
}

TEST(CookieDomain, EmptyPatternMatchesOnlyAnEmptyDomain) {
  std::string out;
  EXPECT_TRUE(rewrite_domain(".", "", "x.org", out));
  EXPECT_EQ(out, ".x.org");
  EXPECT_FALSE(rewrite_domain("a", "", "x.org", out));
}

TEST(CookiePath, PrefixIsReplacedCaseSensitively) {
  std::string out;
  EXPECT_TRUE(rewrite_path("/path/test.html", "/path/", "/new/", out));
  EXPECT_EQ(out, "/new/test.html");
  EXPECT_TRUE(rewrite_path("/path/", "/path/", "/", out));
  EXPECT_EQ(out, "/");
  EXPECT_FALSE(rewrite_path("/PATH/test.html", "/path/", "/new/", out));
  EXPECT_FALSE(rewrite_path("/pa", "/path/", "/new/", out));
}

}  // namespace
}  // namespace portico::proxy
