#include "http/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portico::http {
namespace {

using namespace std::string_literals;

constexpr int kIncomplete = -1;
constexpr int kComplete = 0;

// 0 when complete, -1 when incomplete, else the error status.
int outcome(std::string_view data, RequestHead& head, const ParseLimits& limits = {},
            size_t* consumed = nullptr) {
  size_t used = 12345;
  int status = 0;
  switch (parse_request_head(data, limits, head, &used, &status)) {
    case ParseStatus::kComplete:
      if (consumed != nullptr) *consumed = used;
      return kComplete;
    case ParseStatus::kIncomplete:
      return kIncomplete;
    case ParseStatus::kError:
      EXPECT_NE(status, 0);
      return status;
  }
  return -2;
}

int outcome(std::string_view data, const ParseLimits& limits = {}) {
  RequestHead head;
  return outcome(data, head, limits);
}

// Every strict prefix of `data` is either incomplete or gets the whole input's answer; every
// prefix shorter than a complete head is incomplete.
void expect_prefix_consistent(std::string_view data, const ParseLimits& limits = {}) {
  RequestHead head;
  size_t consumed = 0;
  const int whole = outcome(data, head, limits, &consumed);
  for (size_t k = 0; k < data.size(); ++k) {
    const int part = outcome(data.substr(0, k), limits);
    if (whole == kComplete && k < consumed) {
      EXPECT_EQ(part, kIncomplete) << "prefix " << k << " of " << data;
    } else {
      EXPECT_TRUE(part == kIncomplete || part == whole)
          << "prefix " << k << " got " << part << ", whole " << whole;
    }
  }
}

bool inside(std::string_view view, std::string_view data) {
  return view.empty() ||
         (view.data() >= data.data() && view.data() + view.size() <= data.data() + data.size());
}

TEST(HttpParser, SimpleGet) {
  const std::string req =
      "GET /index.html?x=1&y=2 HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "User-Agent:  curl/8.0 \t\r\n"
      "Accept:*/*\r\n"
      "\r\n";
  RequestHead h;
  size_t consumed = 0;
  ASSERT_EQ(outcome(req, h, {}, &consumed), kComplete);
  EXPECT_EQ(consumed, req.size());
  EXPECT_EQ(h.request_line, "GET /index.html?x=1&y=2 HTTP/1.1");
  EXPECT_EQ(h.method_name, "GET");
  EXPECT_EQ(h.method, Method::kGet);
  EXPECT_EQ(h.target, "/index.html?x=1&y=2");
  EXPECT_EQ(h.path, "/index.html");
  EXPECT_TRUE(h.has_query);
  EXPECT_EQ(h.query, "x=1&y=2");
  EXPECT_EQ(h.scheme, "");
  EXPECT_EQ(h.authority, "");
  EXPECT_EQ(h.protocol, "HTTP/1.1");
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.version_minor, 1);
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "example.com");
  EXPECT_EQ(h.headers[1].name, "User-Agent");
  EXPECT_EQ(h.headers[1].value, "curl/8.0");
  EXPECT_EQ(h.headers[2].value, "*/*");
  EXPECT_EQ(h.host, "example.com");
  EXPECT_EQ(h.content_length, -1);
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_FALSE(h.connection_upgrade);
  for (const Header& hd : h.headers) {
    EXPECT_TRUE(inside(hd.name, req));
    EXPECT_TRUE(inside(hd.value, req));
  }
  EXPECT_TRUE(inside(h.path, req));
  EXPECT_TRUE(inside(h.request_line, req));
}

TEST(HttpParser, Find) {
  RequestHead h;
  ASSERT_EQ(outcome("GET / HTTP/1.1\r\nHOST: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n", h), kComplete);
  ASSERT_NE(h.find("x-a"), nullptr);
  EXPECT_EQ(h.find("x-a")->value, "1");
  EXPECT_EQ(h.find("host")->value, "a");
  EXPECT_EQ(h.find("x-b"), nullptr);
}

TEST(HttpParser, EmptyValuesAndNoQuery) {
  RequestHead h;
  ASSERT_EQ(outcome("GET /a/b HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Ws: \t \r\n\r\n", h), kComplete);
  EXPECT_EQ(h.path, "/a/b");
  EXPECT_FALSE(h.has_query);
  EXPECT_EQ(h.query, "");
  EXPECT_EQ(h.find("x-empty")->value, "");
  EXPECT_EQ(h.find("x-ws")->value, "");
  ASSERT_EQ(outcome("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", h), kComplete);
  EXPECT_TRUE(h.has_query);
  EXPECT_EQ(h.query, "");
  EXPECT_EQ(h.path, "/a");
  ASSERT_EQ(outcome("GET /a?b?c/d HTTP/1.1\r\nHost: h\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.query, "b?c/d");
}

TEST(HttpParser, Methods) {
  const std::pair<const char*, Method> cases[] = {
      {"GET", Method::kGet},        {"HEAD", Method::kHead},      {"POST", Method::kPost},
      {"PUT", Method::kPut},        {"DELETE", Method::kDelete},  {"PATCH", Method::kPatch},
      {"TRACE", Method::kTrace},    {"PROPFIND", Method::kOther}, {"X-CUSTOM", Method::kOther},
      {"M_SEARCH", Method::kOther},
  };
  for (const auto& [name, method] : cases) {
    RequestHead h;
    const std::string req = std::string(name) + " / HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_EQ(outcome(req, h), kComplete) << name;
    EXPECT_EQ(h.method, method) << name;
    EXPECT_EQ(h.method_name, name);
  }
  RequestHead h;
  ASSERT_EQ(outcome("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.method, Method::kOptions);
  EXPECT_EQ(h.path, "*");
  ASSERT_EQ(outcome("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", h),
            kComplete);
  EXPECT_EQ(h.method, Method::kConnect);
  EXPECT_EQ(h.target, "example.com:443");
  EXPECT_EQ(h.path, "");
  EXPECT_EQ(h.authority, "");
  EXPECT_EQ(method_from_name("CONNECT"), Method::kConnect);
}

TEST(HttpParser, BadMethodAndTargetForms) {
  EXPECT_EQ(outcome("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GE\x01T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  // nginx: methods are upper-case letters, '_' and '-'.
  EXPECT_EQ(outcome("get / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("X-CUSTOM! / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);  // asterisk only for OPTIONS
  EXPECT_EQ(outcome("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);  // relative reference
  {
    // A fragment is accepted and dropped from path and query, as nginx does.
    RequestHead f;
    ASSERT_EQ(outcome("GET /a?q#frag HTTP/1.1\r\nHost: h\r\n\r\n", f), kComplete);
    EXPECT_EQ(f.path, "/a");
    EXPECT_EQ(f.query, "q");
    ASSERT_EQ(outcome("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", f), kComplete);
    EXPECT_EQ(f.path, "/a");
    EXPECT_FALSE(f.has_query);
  }
  EXPECT_EQ(outcome("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"), kComplete);  // then 405
  EXPECT_EQ(outcome("CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("CONNECT example.com:https HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("CONNECT :443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("CONNECT u@example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  // Raw UTF-8 in the path is let through, as nginx does.
  EXPECT_EQ(outcome("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), kComplete);
}

TEST(HttpParser, AbsoluteForm) {
  const std::string req = "GET http://Example.com:8080/p/q?x=y HTTP/1.1\r\nHost: other\r\n\r\n";
  RequestHead h;
  ASSERT_EQ(outcome(req, h), kComplete);
  EXPECT_EQ(h.scheme, "http");
  EXPECT_EQ(h.authority, "Example.com:8080");
  EXPECT_EQ(h.path, "/p/q");
  EXPECT_EQ(h.query, "x=y");
  EXPECT_EQ(h.target, "http://Example.com:8080/p/q?x=y");
  EXPECT_EQ(h.host, "Example.com:8080");  // the authority wins over Host, as in nginx

  const std::string bare = "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
  ASSERT_EQ(outcome(bare, h), kComplete);
  EXPECT_EQ(h.scheme, "HTTPS");
  EXPECT_EQ(h.authority, "example.com");
  EXPECT_EQ(h.path, "/");
  EXPECT_TRUE(inside(h.path, bare));
  EXPECT_FALSE(h.has_query);

  const std::string q = "GET http://[::1]:81?a HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(outcome(q, h), kComplete);
  EXPECT_EQ(h.authority, "[::1]:81");
  EXPECT_EQ(h.path, "/");
  EXPECT_TRUE(inside(h.path, q));
  EXPECT_EQ(h.query, "a");

  EXPECT_EQ(outcome("GET ftp://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n"), 0);  // nginx: any scheme
  EXPECT_EQ(outcome("GET http://user@example.com/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET http://:80/p HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET http:/example.com/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET http://a..b/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET http://a/#f HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
  // HTTP/1.1 needs Host even with absolute-form (RFC 9112 3.2; nginx agrees).
  EXPECT_EQ(outcome("GET http://example.com/ HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET http://example.com/ HTTP/1.0\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.host, "example.com");
}

TEST(HttpParser, Versions) {
  RequestHead h;
  ASSERT_EQ(outcome("GET / HTTP/1.0\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.version_minor, 0);
  EXPECT_TRUE(h.is_http10());
  EXPECT_EQ(h.host, "");
  ASSERT_EQ(outcome("GET / HTTP/1.2\r\nHost: h\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_EQ(h.protocol, "HTTP/1.2");
  EXPECT_EQ(outcome("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(outcome("GET / HTTP/3.0\r\n\r\n"), 505);
  // nginx judges the target first: "*" is no target it takes (the h2c preface on an HTTP/1.x
  // address is a 400, nginx-tests h2_ssl.t).
  EXPECT_EQ(outcome("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/0.9\r\n\r\n"), 505);
  EXPECT_EQ(outcome("GET /\r\n\r\n"), 400);  // HTTP/0.9 simple request
  EXPECT_EQ(outcome("GET\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/11.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
  // Extra spaces between words and after the version are accepted (nginx; RFC 9112 3).
  EXPECT_EQ(outcome("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 0);
  EXPECT_EQ(outcome("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
  EXPECT_EQ(outcome("GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
  EXPECT_EQ(outcome("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  // 505 waits for the end of the line: "HTTP/2.0x" would be a 400.
  EXPECT_EQ(outcome("GET / HTTP/2.0"), kIncomplete);
  EXPECT_EQ(outcome("GET / HTTP/2.0x\r\n"), 400);
}

TEST(HttpParser, LineEndings) {
  RequestHead h;
  size_t consumed = 0;
  const std::string lf = "GET / HTTP/1.1\nHost: h\nX: y\n\n";
  ASSERT_EQ(outcome(lf, h, {}, &consumed), kComplete);
  EXPECT_EQ(consumed, lf.size());
  EXPECT_EQ(h.find("x")->value, "y");
  const std::string mixed = "GET / HTTP/1.1\r\nHost: h\n\r\n";
  ASSERT_EQ(outcome(mixed, h, {}, &consumed), kComplete);
  EXPECT_EQ(consumed, mixed.size());

  EXPECT_EQ(outcome("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\rX\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400);
  EXPECT_EQ(outcome("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n\r"), kIncomplete);
}

TEST(HttpParser, LeadingEmptyLines) {
  RequestHead h;
  size_t consumed = 0;
  const std::string req = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\nrest";
  ASSERT_EQ(outcome(req, h, {}, &consumed), kComplete);
  EXPECT_EQ(consumed, req.size() - 4);
  EXPECT_EQ(h.request_line, "GET / HTTP/1.1");
  EXPECT_EQ(outcome("\r\n\r\n"), kIncomplete);
  EXPECT_EQ(outcome("\r\n \r\n"), 400);
}

TEST(HttpParser, FieldSyntax) {
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), 400);   // obs-fold
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"), 400);  // obs-fold
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400);  // whitespace after start line
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"), 400);
  // Lines nginx ignores (ignore_invalid_headers): no colon, or a name outside [A-Za-z0-9-].
  {
    RequestHead g;
    ASSERT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\nA(b): v\r\n"
                      "A\xc3\xa9: v\r\nX_Y: z\r\nTransfer_Encoding: chunked\r\n\r\n",
                      g),
              kComplete);
    ASSERT_EQ(g.headers.size(), 1u);
    EXPECT_FALSE(g.chunked);
  }
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01 b\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n"), 0);  // DEL passes, as nginx
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX\0: a\r\n\r\n"s), 400);

  RequestHead h;
  ASSERT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xff\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.find("x")->value, "a\tb \xff");
}

// ignore_invalid_headers off keeps names that are RFC 9110 tokens ('_', '.');
// underscores_in_headers admits '_' alone. A name that is no token (here '(' and UTF-8) is dropped
// whatever the switches.
TEST(HttpParser, InvalidHeaderSwitches) {
  const std::string req =
      "GET / HTTP/1.1\r\nHost: h\r\nx_foo: 1\r\nx.foo: 2\r\nA(b): 3\r\nA\xc3\xa9: 4\r\n\r\n";
  ParseLimits off;
  off.ignore_invalid = false;
  RequestHead g;
  ASSERT_EQ(outcome(req, g, off), kComplete);
  ASSERT_EQ(g.headers.size(), 3u);
  EXPECT_EQ(g.find("x_foo")->value, "1");
  EXPECT_EQ(g.find("x.foo")->value, "2");
  ParseLimits underscores;
  underscores.underscores = true;
  ASSERT_EQ(outcome(req, g, underscores), kComplete);
  ASSERT_EQ(g.headers.size(), 2u);
  EXPECT_EQ(g.find("x_foo")->value, "1");
  EXPECT_EQ(g.find("x.foo"), nullptr);
  // Kept under another name, it is never taken for the framing field it resembles.
  ASSERT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\n\r\n", g, off),
            kComplete);
  EXPECT_FALSE(g.chunked);
}

TEST(HttpParser, ContentLength) {
  RequestHead h;
  ASSERT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.content_length, 42);
  ASSERT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\ncontent-length:0\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.content_length, 0);
  ASSERT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", h),
            kComplete);
  EXPECT_EQ(h.content_length, INT64_MAX);

  const char* bad[] = {"+1",
                       "-1",
                       "1 1",
                       "1,1",
                       "1, 1",
                       "0x10",
                       "",
                       "1a",
                       "9223372036854775808",
                       "99999999999999999999999"};
  for (const char* v : bad) {
    EXPECT_EQ(
        outcome(std::string("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ") + v + "\r\n\r\n"),
        400)
        << v;
  }
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
            400);
}

TEST(HttpParser, TransferEncoding) {
  RequestHead h;
  for (const char* v : {"chunked", "Chunked", "CHUNKED", " chunked\t"}) {
    ASSERT_EQ(
        outcome(std::string("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:") + v + "\r\n\r\n",
                h),
        kComplete)
        << v;
    EXPECT_TRUE(h.chunked);
    EXPECT_EQ(h.content_length, -1);
  }
  for (const char* v :
       {"gzip, chunked", "identity", "chunked, gzip", "gzip", "chunked,", "chunkedx"}) {
    EXPECT_EQ(
        outcome(std::string("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ") + v + "\r\n\r\n"),
        501)
        << v;
  }
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n"), 400);
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 5\r\n\r\n"),
            400);
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            400);
  // nginx's order: an unknown coding is a 501 before the Content-Length conflict.
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: gzip\r\n\r\n"),
            501);
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            400);
  // chunked applied twice (RFC 9112 7) has no framing: 400 as for two Transfer-Encoding lines
  for (const char* v : {"chunked, chunked", "chunked,chunked", "gzip, Chunked , chunked"})
    EXPECT_EQ(
        outcome(std::string("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ") + v + "\r\n\r\n"),
        400)
        << v;
  EXPECT_EQ(outcome("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(outcome("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"),
            400);
}

TEST(HttpParser, Host) {
  RequestHead h;
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
  // RFC 9112 3.2: a Host whose value is no uri-host[:port] is a 400 (nginx accepts these)
  for (const char* v : {"a\\b", "a@b", "a\"b", "a<b", "a>b", "a^b", "a`b", "a{b", "a|b", "a}b",
                        "a?b", "a#b", "user@a:80"})
    EXPECT_EQ(outcome(std::string("GET / HTTP/1.1\r\nHost: ") + v + "\r\n\r\n"), 400) << v;
  // what RFC 3986's reg-name and IP-literal allow passes, and bytes >= 0x80 as in nginx
  for (const char* v : {"a-b_c~d.e", "a!$&'()*+,;=b", "a%41", "[v1.x:y]", "\xc3\xa9.example"})
    EXPECT_EQ(outcome(std::string("GET / HTTP/1.1\r\nHost: ") + v + "\r\n\r\n"), 0) << v;
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(outcome("GET / HTTP/1.0\r\nHost: ../x\r\n\r\n"), 400);
  ASSERT_EQ(outcome("GET / HTTP/1.1\r\nhost: Example.COM:8080\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.host, "Example.COM:8080");
  ASSERT_EQ(outcome("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.host, "[::1]:80");
  ASSERT_EQ(outcome("GET / HTTP/1.0\r\nHost: a.b.\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.host, "a.b.");
}

TEST(HttpParser, Connection) {
  struct Case {
    const char* version;
    const char* headers;
    bool keep_alive;
    bool upgrade;
  };
  const Case cases[] = {
      {"1.1", "", true, false},
      {"1.1", "Connection: close\r\n", false, false},
      {"1.1", "Connection: Close\r\n", false, false},
      {"1.1", "Connection: keep-alive\r\n", true, false},
      {"1.1", "Connection: closed\r\n", true, false},
      {"1.1", "Connection: Upgrade\r\nUpgrade: websocket\r\n", true, true},
      {"1.1", "Connection: keep-alive, Upgrade\r\n", true, true},
      {"1.1", "Connection: foo,  close ,bar\r\n", false, false},
      {"1.1", "Connection: keep-alive\r\nConnection: close\r\n", false, false},
      {"1.0", "", false, false},
      {"1.0", "Connection: keep-alive\r\n", true, false},
      {"1.0", "Connection: Keep-Alive\r\n", true, false},
      {"1.0", "Connection: keep-alive, close\r\n", false, false},
      {"1.0", "Connection: x\r\nConnection: keep-alive\r\n", true, false},
      {"1.0", "Connection: close\r\n", false, false},
  };
  for (const Case& c : cases) {
    RequestHead h;
    const std::string req =
        std::string("GET / HTTP/") + c.version + "\r\nHost: h\r\n" + c.headers + "\r\n";
    ASSERT_EQ(outcome(req, h), kComplete) << req;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << req;
    EXPECT_EQ(h.connection_upgrade, c.upgrade) << req;
  }
}

TEST(HttpParser, Expect) {
  RequestHead h;
  ASSERT_EQ(outcome("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", h), kComplete);
  EXPECT_TRUE(h.expect_continue);
  ASSERT_EQ(outcome("PUT / HTTP/1.1\r\nHost: h\r\nexpect: 100-Continue\r\n\r\n", h), kComplete);
  EXPECT_TRUE(h.expect_continue);
  // Other expectations get 417 (RFC 9110 10.1.1; nginx ignores them), from HTTP/1.1 clients.
  EXPECT_EQ(outcome("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n"), 417);
  EXPECT_EQ(outcome("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue;a=b\r\n\r\n"), 417);
  // Expect is a single field: a second one is refused as nginx does.
  EXPECT_EQ(outcome("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                    "Expect: 100-continue\r\n\r\n"),
            400);
  ASSERT_EQ(outcome("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", h), kComplete);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_EQ(outcome("PUT / HTTP/1.0\r\nExpect: whatever\r\n\r\n"), kComplete);
  // A framing error wins over the expectation.
  EXPECT_EQ(outcome("PUT / HTTP/1.1\r\nExpect: x\r\n\r\n"), 400);
}

// Fields that are one value each are refused when repeated (400), as nginx refuses them.
TEST(HttpParser, SingleValueFieldsMustNotRepeat) {
  for (const char* name : {"Host", "If-Modified-Since", "If-Unmodified-Since", "If-Match",
                           "If-None-Match", "Content-Length", "Content-Range", "If-Range",
                           "Transfer-Encoding", "Expect", "Authorization"}) {
    const std::string one = std::string(name) + ": x\r\n";
    EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + one + one + "\r\n"), 400) << name;
  }
  // List fields combine.
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nVia: a\r\nVia: b\r\nCookie: a\r\n"
                    "Cookie: b\r\n\r\n"),
            kComplete);
}

TEST(HttpParser, RequestLineLimit) {
  ParseLimits limits;
  limits.max_request_line = 32;
  const std::string at = "GET /" + std::string(18, 'a') + " HTTP/1.1";  // exactly 32
  ASSERT_EQ(at.size(), 32u);
  EXPECT_EQ(outcome(at + "\r\nHost: h\r\n\r\n", limits), kComplete);
  EXPECT_EQ(outcome(at + "\nHost: h\r\n\r\n", limits), kComplete);
  EXPECT_EQ(outcome(at, limits), kIncomplete);
  const std::string over = "GET /" + std::string(19, 'a') + " HTTP/1.1";
  EXPECT_EQ(outcome(over + "\r\nHost: h\r\n\r\n", limits), 414);
  // As soon as the bytes prove it, without waiting for the line to end.
  EXPECT_EQ(outcome("GET /" + std::string(28, 'a'), limits), 414);
  EXPECT_EQ(outcome("GET /" + std::string(27, 'a'), limits), kIncomplete);
  // Leading empty lines do not count toward the request line.
  EXPECT_EQ(outcome("\r\n\r\n" + at + "\r\nHost: h\r\n\r\n", limits), kComplete);
}

TEST(HttpParser, HeaderLineLimit) {
  ParseLimits limits;
  limits.max_header_line = 16;
  const std::string line = "X: " + std::string(13, 'v');  // exactly 16
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + line + "\r\n\r\n", limits), kComplete);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + line + "v\r\n\r\n", limits), 431);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + line + "v", limits), 431);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + line, limits), kIncomplete);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + std::string(17, 'n'), limits), 431);
  // Trailing OWS counts: it is part of the line.
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\n" + line + "  \r\n\r\n", limits), 431);
}

TEST(HttpParser, HeadSizeLimit) {
  ParseLimits limits;
  limits.max_head_size = 64;
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(32, 'v') + "\r\n\r\n";
  ASSERT_EQ(head.size(), 64u);
  size_t consumed = 0;
  RequestHead h;
  EXPECT_EQ(outcome(head + "GET / HTTP/1.1\r\n", h, limits, &consumed), kComplete);
  EXPECT_EQ(consumed, 64u);
  const std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(33, 'v') + "\r\n\r\n";
  EXPECT_EQ(outcome(big, limits), 431);
  EXPECT_EQ(outcome(big.substr(0, 64), limits), kIncomplete);
  EXPECT_EQ(outcome(big.substr(0, 65), limits), 431);
  // Blank lines before the request line count toward the head.
  EXPECT_EQ(outcome(std::string(65, '\n'), limits), 431);
  EXPECT_EQ(outcome(std::string(64, '\n'), limits), kIncomplete);
}

TEST(HttpParser, HeaderCountLimit) {
  ParseLimits limits;
  limits.max_headers = 3;
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits), kComplete);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits), 431);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC", limits), 431);
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n", limits), kIncomplete);
}

TEST(HttpParser, RequestLineKeptOnError) {
  RequestHead h;
  ASSERT_EQ(outcome("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", h), 400);
  EXPECT_EQ(h.request_line, "POST /x HTTP/1.1");
  ASSERT_EQ(outcome("GET / HTTP/1.1\r\nBad Name: v\r\n", h), 400);
  EXPECT_EQ(h.request_line, "GET / HTTP/1.1");
  ASSERT_EQ(outcome("GET / HTTP/9.9\r\n", h), 505);
  EXPECT_EQ(h.request_line, "GET / HTTP/9.9");
  ParseLimits limits;
  limits.max_request_line = 8;
  ASSERT_EQ(outcome("GET /abcdef HTTP/1.1\r\n", h, limits), 414);
  EXPECT_EQ(h.request_line, "");
}

TEST(HttpParser, Pipelined) {
  const std::string data =
      "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  RequestHead h;
  size_t off = 0, consumed = 0;
  ASSERT_EQ(outcome(std::string_view(data).substr(off), h, {}, &consumed), kComplete);
  EXPECT_EQ(h.path, "/one");
  off += consumed;
  ASSERT_EQ(outcome(std::string_view(data).substr(off), h, {}, &consumed), kComplete);
  EXPECT_EQ(h.path, "/two");
  EXPECT_EQ(h.content_length, 3);
  EXPECT_EQ(data.substr(off + consumed, 3), "abc");
  off += consumed + 3;
  ASSERT_EQ(outcome(std::string_view(data).substr(off), h, {}, &consumed), kComplete);
  EXPECT_EQ(h.path, "/three");
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(off + consumed, data.size());
}

TEST(HttpParser, EveryByteBoundary) {
  const std::string valid[] = {
      "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "\r\nPOST /upload?x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n"
      "Expect: 100-continue\r\nX-Long: " +
          std::string(40, 'z') + "\r\n\r\n",
      "GET http://a.example:8080 HTTP/1.1\nHost: b\nConnection: Upgrade\n\n",
      "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
  };
  for (const std::string& req : valid) {
    RequestHead h;
    size_t consumed = 0;
    ASSERT_EQ(outcome(req, h, {}, &consumed), kComplete) << req;
    for (size_t k = 0; k < consumed; ++k)
      EXPECT_EQ(outcome(std::string_view(req).substr(0, k)), kIncomplete) << k << ": " << req;
    for (size_t k = consumed; k <= req.size(); ++k) {
      size_t c2 = 0;
      EXPECT_EQ(outcome(std::string_view(req).substr(0, k), h, {}, &c2), kComplete);
      EXPECT_EQ(c2, consumed);
    }
  }
  ParseLimits small;
  small.max_request_line = 20;
  small.max_header_line = 20;
  small.max_head_size = 80;
  small.max_headers = 2;
  const std::string bad[] = {
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
      "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n",
      "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n",
      "GET / HTTP/1.1\r\nHost: hhhhhhhhhhhhhhhhhhhhhhhhhhhh\r\n",
      "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
      "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
      "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
  };
  for (const std::string& req : bad) {
    ASSERT_GT(outcome(req, small), 0) << req;
    expect_prefix_consistent(req, small);
  }
}

// With prev_size the answers match, only reached with less work.
TEST(HttpParser, PrevSizeFastPath) {
  const std::string req =
      "GET /some/path HTTP/1.1\r\nHost: example.com\r\nUser-Agent: " + std::string(100, 'u') +
      "\r\nAccept: */*\r\n\r\n";
  RequestHead h;
  size_t prev = 0;
  int status = 0;
  size_t consumed = 0;
  for (size_t k = 1; k <= req.size(); ++k) {
    const ParseStatus st =
        parse_request_head(std::string_view(req).substr(0, k), {}, h, &consumed, &status, prev);
    if (k < req.size()) {
      ASSERT_EQ(st, ParseStatus::kIncomplete) << k;
    } else {
      ASSERT_EQ(st, ParseStatus::kComplete);
      EXPECT_EQ(consumed, req.size());
      EXPECT_EQ(h.find("user-agent")->value, std::string(100, 'u'));
    }
    prev = k;
  }
  // A CTL in the new bytes forces a full parse.
  EXPECT_EQ(
      parse_request_head("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01", {}, h, &consumed, &status, 29),
      ParseStatus::kError);
  EXPECT_EQ(status, 400);
  // A line past its limit forces a full parse.
  ParseLimits limits;
  limits.max_header_line = 10;
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost: h\r\nX: aaaaaaaaa", limits, h, &consumed,
                               &status, 34),
            ParseStatus::kError);
  EXPECT_EQ(status, 431);
  // An error inside the unfinished line is reported once the line ends.
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost: h\r\nX Y", {}, h, &consumed, &status, 27),
            ParseStatus::kIncomplete);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost: h\r\nX Y\r", {}, h, &consumed, &status, 29),
            ParseStatus::kError);
  EXPECT_EQ(status, 400);
}

TEST(HttpParser, ReuseKeepsCapacity) {
  RequestHead h;
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 20; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  req += "\r\n";
  ASSERT_EQ(outcome(req, h), kComplete);
  ASSERT_EQ(h.headers.size(), 21u);
  const Header* storage = h.headers.data();
  const size_t capacity = h.headers.capacity();
  ASSERT_EQ(outcome("GET /x HTTP/1.0\r\n\r\n", h), kComplete);
  EXPECT_EQ(h.headers.size(), 0u);
  EXPECT_EQ(h.path, "/x");
  ASSERT_EQ(outcome(req, h), kComplete);
  EXPECT_EQ(h.headers.data(), storage);
  EXPECT_EQ(h.headers.capacity(), capacity);
  h.clear();
  EXPECT_EQ(h.headers.capacity(), capacity);
  EXPECT_EQ(h.content_length, -1);
  EXPECT_TRUE(h.keep_alive);
}

TEST(HttpParser, LongValuesSwarPath) {
  // Values longer than a word, with a bad byte at every offset, are still caught.
  for (size_t at = 0; at < 40; ++at) {
    std::string v(40, 'a');
    v[at] = '\x01';
    EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: h\r\nX: " + v + "\r\n\r\n"), 400) << at;
    v[at] = '\t';
    RequestHead h;
    const std::string req = "GET / HTTP/1.1\r\nHost: h\r\nX: " + v + "\r\n\r\n";
    ASSERT_EQ(outcome(req, h), kComplete) << at;
    EXPECT_EQ(h.find("x")->value,
              std::string_view(v).substr(at == 0 ? 1 : 0, at == 0 ? 39 : (at == 39 ? 39 : 40)));
    v[at] = '\x7f';
    EXPECT_EQ(outcome("GET /" + v + " HTTP/1.1\r\nHost: h\r\n\r\n"), 400) << at;
  }
}

}  // namespace
}  // namespace portico::http
