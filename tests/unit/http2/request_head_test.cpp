#include "http2/request_head.h"

#include <string>

#include <gtest/gtest.h>

#include "http/request.h"
#include "http2/response_head.h"

namespace portico::http2 {
namespace {

http::RequestHead head;

int collect(HeadCollector& c, std::initializer_list<std::pair<const char*, const char*>> fields,
            bool has_body = false, size_t limit = 32768) {
  c.reset(limit);
  for (const auto& [n, v] : fields)
    if (!c.add(n, v)) break;
  http::ParseLimits lim;
  return c.finish(lim, has_body, head);
}

TEST(HeadCollector, PseudoFieldsBecomeTheRequestLineAndHost) {
  HeadCollector c;
  ASSERT_EQ(collect(c, {{":method", "GET"},
                        {":scheme", "https"},
                        {":authority", "a.test:8443"},
                        {":path", "/x/y?q=1"},
                        {"user-agent", "t"}}),
            0);
  EXPECT_EQ(head.method, http::Method::kGet);
  EXPECT_EQ(head.path, "/x/y");
  EXPECT_EQ(head.query, "q=1");
  EXPECT_EQ(head.host, "a.test:8443");
  EXPECT_EQ(head.request_line, "GET /x/y?q=1 HTTP/2.0");
  EXPECT_EQ(head.protocol, "HTTP/2.0");
  EXPECT_EQ(head.version_major, 2);
  ASSERT_NE(head.find("user-agent"), nullptr);
  EXPECT_EQ(head.find("user-agent")->value, "t");
  EXPECT_FALSE(head.chunked);
}

TEST(HeadCollector, AuthorityWinsOverHostAndCookiesAreJoined) {
  HeadCollector c;
  ASSERT_EQ(collect(c, {{":method", "GET"},
                        {":scheme", "http"},
                        {":path", "/"},
                        {":authority", "a.test"},
                        {"host", "b.test"},
                        {"cookie", "a=1"},
                        {"x", "y"},
                        {"cookie", "b=2"}}),
            0);
  EXPECT_EQ(head.host, "a.test");
  ASSERT_NE(head.find("cookie"), nullptr);
  EXPECT_EQ(head.find("cookie")->value, "a=1; b=2");
}

TEST(HeadCollector, HostFieldWithoutAuthority) {
  HeadCollector c;
  ASSERT_EQ(
      collect(c, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "b.test"}}), 0);
  EXPECT_EQ(head.host, "b.test");
}

TEST(HeadCollector, BodyWithoutLengthIsOfUnknownLength) {
  HeadCollector c;
  ASSERT_EQ(
      collect(c, {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}},
              true),
      0);
  EXPECT_TRUE(head.chunked);
  EXPECT_EQ(head.content_length, -1);
  ASSERT_EQ(collect(c,
                    {{":method", "POST"},
                     {":scheme", "http"},
                     {":path", "/"},
                     {":authority", "a"},
                     {"content-length", "12"}},
                    true),
            0);
  EXPECT_FALSE(head.chunked);
  EXPECT_EQ(head.content_length, 12);
}

TEST(HeadCollector, TheHttp1RulesApply) {
  HeadCollector c;
  // No Host at all: as an HTTP/1.1 request without Host.
  EXPECT_EQ(collect(c, {{":method", "GET"}, {":path", "/"}}), 400);
  // Two different lengths.
  EXPECT_EQ(collect(c, {{":method", "POST"},
                        {":path", "/"},
                        {":authority", "a"},
                        {"content-length", "1"},
                        {"content-length", "2"}}),
            400);
  // A path that is not a path.
  EXPECT_EQ(collect(c, {{":method", "GET"}, {":path", "a b"}, {":authority", "a"}}), 400);
  // Missing pseudo-fields, repeated or late ones.
  EXPECT_EQ(collect(c, {{":path", "/"}, {":authority", "a"}}), 400);
  EXPECT_EQ(collect(c, {{":method", "GET"}, {":method", "GET"}, {":path", "/"}}), 400);
  EXPECT_EQ(collect(c, {{":method", "GET"}, {"x", "y"}, {":path", "/"}}), 400);
  // RFC 9113 8.3.1: no :scheme, an empty :path, CONNECT with a :path.
  EXPECT_EQ(collect(c, {{":method", "GET"}, {":path", "/"}, {":authority", "a"}}), 400);
  EXPECT_EQ(
      collect(c, {{":method", "GET"}, {":scheme", "http"}, {":path", ""}, {":authority", "a"}}),
      400);
  EXPECT_EQ(collect(c, {{":method", "CONNECT"}, {":path", "/"}, {":authority", "a:443"}}), 400);
}

TEST(HeadCollector, LimitsAnswer431) {
  HeadCollector c;
  std::string big(5000, 'v');
  c.reset(4096);
  EXPECT_TRUE(c.add(":method", "GET"));
  EXPECT_TRUE(c.add(":path", "/"));
  EXPECT_FALSE(c.add("x-big", big));
  EXPECT_FALSE(c.add("x-more", "1"));  // dropped once over
  http::ParseLimits lim;
  EXPECT_EQ(c.finish(lim, false, head), 431);
  EXPECT_EQ(c.request_line(), "GET / HTTP/2.0");
  // Many small fields: the field count.
  c.reset(1 << 20);
  c.add(":method", "GET");
  c.add(":path", "/");
  c.add(":authority", "a");
  bool ok = true;
  for (int i = 0; i < 5000 && ok; ++i) ok = c.add("x", "y");
  EXPECT_FALSE(ok);
  EXPECT_EQ(c.finish(lim, false, head), 431);
  // Under the field count but over the parser's header count.
  c.reset(1 << 20);
  c.add(":method", "GET");
  c.add(":scheme", "http");
  c.add(":path", "/");
  c.add(":authority", "a");
  for (int i = 0; i < 200; ++i) c.add("x", "y");
  EXPECT_EQ(c.finish(lim, false, head), 431);
}

TEST(HeadCollector, ConnectUsesTheAuthority) {
  HeadCollector c;
  const int st = collect(c, {{":method", "CONNECT"}, {":authority", "a.test:443"}});
  EXPECT_EQ(c.request_line(), "CONNECT a.test:443 HTTP/2.0");
  (void)st;  // the HTTP/1.1 rules decide (nginx answers CONNECT with 405 later)
}

TEST(ResponseFields, LowercaseNamesNoConnectionFields) {
  http::Request r;
  r.resp.status = 404;
  r.resp.content_type = "text/html";
  r.resp.content_length = 12;
  r.resp.add("X-Custom", "v");
  r.resp.fields.push_back({"Connection", "close"});
  r.resp.fields.push_back({"Transfer-Encoding", "chunked"});
  r.resp.fields.push_back({"Set-Cookie", "a=b"});
  std::string store;
  std::vector<nghttp2_nv> nva;
  build_response_fields(r, store, nva);
  auto text = [](const nghttp2_nv& nv) {
    return std::string(reinterpret_cast<const char*>(nv.name), nv.namelen) + "=" +
           std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen);
  };
  std::vector<std::string> got;
  for (const auto& nv : nva) got.push_back(text(nv));
  ASSERT_GE(got.size(), 6u);
  EXPECT_EQ(got[0], ":status=404");
  EXPECT_EQ(got[1].rfind("server=portico", 0), 0u);
  EXPECT_EQ(got[2].rfind("date=", 0), 0u);
  EXPECT_EQ(got[3], "content-type=text/html");
  EXPECT_EQ(got[4], "content-length=12");
  // The upstream's fields, then the ones portico added (nginx's filters append).
  EXPECT_EQ(got[5], "set-cookie=a=b");
  EXPECT_EQ(got.back(), "x-custom=v");
  for (const auto& g : got) {
    EXPECT_EQ(g.find("connection"), std::string::npos);
    EXPECT_EQ(g.find("transfer-encoding"), std::string::npos);
  }
  EXPECT_TRUE(r.resp.fields.empty());  // views: dropped once the head is built
}

}  // namespace
}  // namespace portico::http2
