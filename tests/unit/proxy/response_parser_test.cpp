#include "proxy/response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/chunked.h"

namespace portico::proxy {
namespace {

using namespace std::string_literals;
using http::Header;

struct Outcome {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;  // only when complete
  std::string why;      // only on error
};

Outcome parse(std::string_view data, ResponseHead& head, const ResponseParseLimits& limits = {},
              size_t prev_size = 0) {
  Outcome o;
  size_t used = 12345;
  std::string why = "unset";
  o.status = parse_response_head(data, limits, head, &used, &why, prev_size);
  if (o.status == ParseStatus::kComplete) o.consumed = used;
  if (o.status == ParseStatus::kError) o.why = why;
  return o;
}

Outcome parse(std::string_view data, const ResponseParseLimits& limits = {}) {
  ResponseHead head;
  return parse(data, head, limits);
}

// The log line of a rejected head; "" when the head was not rejected.
std::string error_of(std::string_view data, const ResponseParseLimits& limits = {}) {
  const Outcome o = parse(data, limits);
  return o.status == ParseStatus::kError ? o.why : "";
}

bool complete(std::string_view data, const ResponseParseLimits& limits = {}) {
  return parse(data, limits).status == ParseStatus::kComplete;
}

bool inside(std::string_view view, std::string_view data) {
  return view.empty() ||
         (view.data() >= data.data() && view.data() + view.size() <= data.data() + data.size());
}

// Every strict prefix of `data` is incomplete while shorter than a complete head, and otherwise
// either incomplete or the whole input's answer.
void expect_prefix_consistent(std::string_view data, const ResponseParseLimits& limits = {}) {
  const Outcome whole = parse(data, limits);
  for (size_t k = 0; k < data.size(); ++k) {
    const Outcome part = parse(data.substr(0, k), limits);
    if (whole.status == ParseStatus::kComplete && k < whole.consumed) {
      EXPECT_EQ(part.status, ParseStatus::kIncomplete) << "prefix " << k << " of " << data;
    } else if (part.status != ParseStatus::kIncomplete) {
      EXPECT_EQ(part.status, whole.status) << "prefix " << k << " of " << data;
      EXPECT_EQ(part.consumed, whole.consumed) << "prefix " << k;
      EXPECT_EQ(part.why, whole.why) << "prefix " << k;
    }
  }
}

constexpr std::string_view kNoStatus = "upstream sent no valid HTTP/1.0 header";
constexpr std::string_view kBoth =
    "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time";
constexpr std::string_view kTooBig = "upstream sent too big header";

TEST(ProxyResponseParser, SimpleOk) {
  const std::string resp =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/html\r\n"
      "Content-Length:  5 \t\r\n"
      "X-Empty:\r\n"
      "Set-Cookie: a=1\r\n"
      "Set-Cookie: b=2\r\n"
      "\r\n"
      "hello";
  ResponseHead h;
  const Outcome o = parse(resp, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(o.consumed, resp.size() - 5);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.status_text, "200 OK");
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_FALSE(h.is_http10());
  EXPECT_FALSE(h.is_informational());
  ASSERT_EQ(h.headers.size(), 5u);
  EXPECT_EQ(h.headers[0].name, "Content-Type");
  EXPECT_EQ(h.headers[0].value, "text/html");
  EXPECT_EQ(h.headers[1].value, "5");
  EXPECT_EQ(h.headers[2].name, "X-Empty");
  EXPECT_EQ(h.headers[2].value, "");
  EXPECT_EQ(h.headers[4].value, "b=2");
  EXPECT_EQ(h.content_length, 5);
  EXPECT_FALSE(h.chunked);
  EXPECT_FALSE(h.connection_close);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.upgrade);
  EXPECT_EQ(framing(h, false), BodyFraming::kLength);
  EXPECT_TRUE(connection_reusable(h, framing(h, false)));
  const std::string_view head_bytes = std::string_view(resp).substr(0, o.consumed);
  for (const Header& hd : h.headers) {
    EXPECT_TRUE(inside(hd.name, head_bytes));
    EXPECT_TRUE(inside(hd.value, head_bytes));
  }
  EXPECT_TRUE(inside(h.status_text, head_bytes));
  EXPECT_TRUE(inside(h.reason, head_bytes));
  EXPECT_EQ(resp.substr(o.consumed), "hello");
}

TEST(ProxyResponseParser, FindIsCaseInsensitiveAndFirst) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nSERVER: s\r\n\r\n", h).status,
            ParseStatus::kComplete);
  ASSERT_NE(h.find("x-a"), nullptr);
  EXPECT_EQ(h.find("x-a")->value, "1");
  EXPECT_EQ(h.find("server")->value, "s");
  EXPECT_EQ(h.find("x-b"), nullptr);
}

TEST(ProxyResponseParser, ReasonPhraseForms) {
  ResponseHead h;
  // No SP after the code: accepted, as nginx does.
  ASSERT_EQ(parse("HTTP/1.1 200\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "");
  EXPECT_EQ(h.status_text, "200");
  ASSERT_EQ(parse("HTTP/1.1 204 \r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.reason, "");
  EXPECT_EQ(h.status_text, "204 ");
  ASSERT_EQ(parse("HTTP/1.1 404 Not  Found \t\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.reason, "Not  Found \t");  // verbatim, as nginx forwards it
  ASSERT_EQ(parse("HTTP/1.1 200 D\xc3\xa9j\xc3\xa0 vu\x7f\r\n\r\n", h).status,
            ParseStatus::kComplete);  // obs-text and DEL
  EXPECT_EQ(h.reason, "D\xc3\xa9j\xc3\xa0 vu\x7f");
  // Several SPs before the code (nginx), and IIS's sub-status.
  ASSERT_EQ(parse("HTTP/1.1   301 Moved\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 301);
  EXPECT_EQ(h.status_text, "301 Moved");
  ASSERT_EQ(parse("HTTP/1.1 403.1 Forbidden\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 403);
  EXPECT_EQ(h.status_text, "403.1 Forbidden");
  EXPECT_EQ(h.reason, ".1 Forbidden");
  ASSERT_EQ(parse("HTTP/1.1 200 :-) ok: yes\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.reason, ":-) ok: yes");
}

TEST(ProxyResponseParser, Versions) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.0 200 OK\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(h.version_minor, 0);
  EXPECT_TRUE(h.is_http10());
  for (char minor = '1'; minor <= '9'; ++minor) {
    const std::string resp = "HTTP/1."s + minor + " 200 OK\r\n\r\n";
    ASSERT_EQ(parse(resp, h).status, ParseStatus::kComplete) << resp;
    EXPECT_EQ(h.version_minor, 1) << resp;
  }
}

TEST(ProxyResponseParser, StatusCodes) {
  ResponseHead h;
  for (int code : {100, 101, 103, 199, 200, 299, 404, 500, 599, 600, 999}) {
    const std::string resp = "HTTP/1.1 " + std::to_string(code) + " X\r\n\r\n";
    ASSERT_EQ(parse(resp, h).status, ParseStatus::kComplete) << code;
    EXPECT_EQ(h.status, code);
  }
  EXPECT_EQ(error_of("HTTP/1.1 099 Low\r\n\r\n"), "upstream sent invalid status \"099\"");
  EXPECT_EQ(error_of("HTTP/1.1 000\r\n\r\n"), "upstream sent invalid status \"000\"");
  EXPECT_EQ(error_of("HTTP/1.1 1000 X\r\n\r\n"), kNoStatus);  // four digits
}

TEST(ProxyResponseParser, InvalidStatusLines) {
  const std::string cases[] = {
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/0.9 200 OK\r\n\r\n",
      "HTTP/1.10 200 OK\r\n\r\n",
      "HTTP/1 200 OK\r\n\r\n",
      "HTTP/1.x 200 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "HTTPS/1.1 200 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      " HTTP/1.1 200 OK\r\n\r\n",
      "\r\nHTTP/1.1 200 OK\r\n\r\n",  // no leading empty lines in a response (nginx neither)
      "HTTP/1.1\t200 OK\r\n\r\n",
      "HTTP/1.1200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 20\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 -20 OK\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "HTTP/1.1 200\tOK\r\n\r\n",
      "HTTP/1.1 200 O\0K\r\n\r\n"s,
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "HTTP/1.1 200 OK\rX\r\n\r\n",  // bare CR
      "HTTP/1.1 200 OK\r\r\n\r\n",
      "HTTP/1.1 \r\n\r\n",
      "HTTP/1.1\r\n\r\n",
      "<html><body>hi</body></html>\n",  // an HTTP/0.9-style body: nginx passes it, we do not
  };
  for (const std::string& c : cases) {
    EXPECT_EQ(error_of(c), kNoStatus) << c;
    expect_prefix_consistent(c);
  }
}

TEST(ProxyResponseParser, NotHttpFailsOnTheFirstBytes) {
  // A response that is not HTTP/1.x is rejected without waiting for a line end or a full buffer.
  EXPECT_EQ(error_of("<"), kNoStatus);
  EXPECT_EQ(error_of("HTTX"), kNoStatus);
  EXPECT_EQ(error_of("HTTP/2"), kNoStatus);
  EXPECT_EQ(error_of("HTTP/1.1 2x"), kNoStatus);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\x01"), kNoStatus);
  EXPECT_EQ(parse("HTTP/1.").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse("HTTP/1.1 20").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse("").status, ParseStatus::kIncomplete);
}

TEST(ProxyResponseParser, InvalidFieldLines) {
  // nginx's wording: the line up to the offending byte, which follows in hex.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo : bar\r\n\r\n"),
            "upstream sent invalid header: \"X-Foo\\x20...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\n"),
            "upstream sent invalid header: \"Content-Length\\x09...\"");
  // obs-fold, at the first field line and after one.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\n X-Foo: bar\r\n\r\n"),
            "upstream sent invalid header: \"\\x20...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo: bar\r\n\tbaz\r\n\r\n"),
            "upstream sent invalid header: \"\\x09...\"");
  // Bare CR inside a value, at a value's end, on the final line.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo: a\rb\r\n\r\n"),
            "upstream sent invalid header: \"X-Foo: a\\x0d...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo: a\r\r\n\r\n"),
            "upstream sent invalid header: \"X-Foo: a\\x0d...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo: a\r\n\rX"),
            "upstream sent invalid header: \"\\x0d...\"");
  // NUL and other CTLs in a value or a name; DEL in a name.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo: a\0b\r\n\r\n"s),
            "upstream sent invalid header: \"X-Foo: a\\x00...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-F\0oo: ab\r\n\r\n"s),
            "upstream sent invalid header: \"X-F\\x00...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo: a\x1b[0m\r\n\r\n"),
            "upstream sent invalid header: \"X-Foo: a\\x1b...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-F\x7fo: a\r\n\r\n"),
            "upstream sent invalid header: \"X-F\\x7f...\"");
  // No colon, an empty name.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo\r\n\r\n"),
            "upstream sent invalid header: \"X-Foo\\x0d...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo\n\n"),
            "upstream sent invalid header: \"X-Foo\\x0a...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\n: bar\r\n\r\n"),
            "upstream sent invalid header: \"\\x3a...\"");
  // The head is rejected as soon as the offending byte arrives.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX-Foo "),
            "upstream sent invalid header: \"X-Foo\\x20...\"");
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nX: a\rb"),
            "upstream sent invalid header: \"X: a\\x0d...\"");
}

TEST(ProxyResponseParser, ErrorKeepsTheStatus) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.1 302 Found\r\nX : y\r\n\r\n", h).status, ParseStatus::kError);
  EXPECT_EQ(h.status, 302);  // for the access log
}

TEST(ProxyResponseParser, OddNamesAreDroppedUnderscoresKept) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\n"
                  "X@Y: 1\r\n"
                  "X(Y): 2\r\n"
                  "\xc3\x9c: 3\r\n"
                  "X_Under.score~!: 4\r\n"
                  "Content-Length\"x: abc\r\n"
                  "\r\n",
                  h)
                .status,
            ParseStatus::kComplete);
  ASSERT_EQ(h.headers.size(), 1u);
  EXPECT_EQ(h.headers[0].name, "X_Under.score~!");
  EXPECT_EQ(h.headers[0].value, "4");
  EXPECT_EQ(h.content_length, -1);  // the dropped line is no Content-Length
}

TEST(ProxyResponseParser, FieldValues) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\n"
                  "A:x\r\n"
                  "B: \t x y \t \r\n"
                  "C: \t \r\n"
                  "D: caf\xc3\xa9\x7f\r\n"
                  "E: a:b: c\r\n"
                  "\r\n",
                  h)
                .status,
            ParseStatus::kComplete);
  ASSERT_EQ(h.headers.size(), 5u);
  EXPECT_EQ(h.headers[0].value, "x");
  EXPECT_EQ(h.headers[1].value, "x y");
  EXPECT_EQ(h.headers[2].value, "");
  EXPECT_EQ(h.headers[3].value, "caf\xc3\xa9\x7f");
  EXPECT_EQ(h.headers[4].value, "a:b: c");
}

TEST(ProxyResponseParser, BareLfLineEnds) {
  const std::string resp = "HTTP/1.1 200 OK\nContent-Length: 3\nX: y\r\n\nabc";
  ResponseHead h;
  const Outcome o = parse(resp, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(o.consumed, resp.size() - 3);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.content_length, 3);
  EXPECT_EQ(h.find("x")->value, "y");
  expect_prefix_consistent(resp);
}

TEST(ProxyResponseParser, ContentLength) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(h.content_length, 0);
  EXPECT_EQ(framing(h, false), BodyFraming::kLength);
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\ncontent-length: 0009223372036854775807\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(h.content_length, INT64_MAX);

  for (const char* bad : {"abc", "-1", "+1", "1, 1", "1 1", "1,", "0x10", "1.0", "", "1e3",
                          "9223372036854775808", "99999999999999999999999"}) {
    const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: "s + bad + "\r\n\r\n";
    EXPECT_EQ(error_of(resp),
              "upstream sent invalid \"Content-Length\" header: \"Content-Length: "s + bad + "\"")
        << bad;
  }
}

TEST(ProxyResponseParser, DuplicateContentLength) {
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"),
            "upstream sent duplicate header line: \"Content-Length: 5\", previous value: "
            "\"Content-Length: 4\"");
  // Identical values too (nginx 1.23+).
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\ncontent-length: 4\r\nX: y\r\nCONTENT-LENGTH: 4\r\n\r\n"),
            "upstream sent duplicate header line: \"CONTENT-LENGTH: 4\", previous value: "
            "\"content-length: 4\"");
  // The first offending line is the one named, as nginx checks field by field.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length: x\r\nContent-Length: 5\r\n\r\n"),
            "upstream sent invalid \"Content-Length\" header: \"Content-Length: x\"");
}

TEST(ProxyResponseParser, ContentLengthWithTransferEncoding) {
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            kBoth);
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            kBoth);
  // Even where the status means no body: nginx checks the fields first too.
  EXPECT_EQ(error_of("HTTP/1.1 304 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            kBoth);
}

TEST(ProxyResponseParser, TransferEncoding) {
  ResponseHead h;
  for (const char* te : {"chunked", "Chunked", "CHUNKED", "chunked \t"}) {
    const std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "s + te + "\r\n\r\n";
    ASSERT_EQ(parse(resp, h).status, ParseStatus::kComplete) << te;
    EXPECT_TRUE(h.chunked);
    EXPECT_EQ(h.content_length, -1);
    EXPECT_EQ(framing(h, false), BodyFraming::kChunked);
  }
  for (const char* te : {"gzip", "gzip, chunked", "chunked, gzip", "chunked,", "identity", "",
                         "chunked;q=1", "\"chunked\""}) {
    const std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "s + te + "\r\n\r\n";
    EXPECT_EQ(error_of(resp), "upstream sent unknown \"Transfer-Encoding\": \""s + te + "\"") << te;
  }
  EXPECT_EQ(
      error_of(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n"),
      "upstream sent duplicate header line: \"transfer-encoding: chunked\", previous value: "
      "\"Transfer-Encoding: chunked\"");
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
  EXPECT_EQ(error_of("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "upstream sent \"Transfer-Encoding\" in an HTTP/1.0 response");
}

TEST(ProxyResponseParser, ConnectionOptions) {
  struct Case {
    const char* version;
    const char* connection;  // nullptr: no Connection header
    bool close, keep_alive, upgrade;
  };
  const Case cases[] = {
      {"1.1", nullptr, false, true, false},
      {"1.0", nullptr, false, false, false},
      {"1.1", "close", true, false, false},
      {"1.1", "Close", true, false, false},
      {"1.0", "keep-alive", false, true, false},
      {"1.0", "Keep-Alive", false, true, false},
      {"1.0", "keep-alive, close", true, false, false},
      {"1.1", "keep-alive, CLOSE", true, false, false},
      {"1.1", "Upgrade", false, true, true},
      {"1.1", " , upgrade ,\tclose ,", true, false, true},
      {"1.1", "closed, x-close, keep-alive2", false, true, false},
      {"1.1", "", false, true, false},
  };
  for (const Case& c : cases) {
    std::string resp = "HTTP/"s + c.version + " 200 OK\r\n";
    if (c.connection != nullptr) resp += "Connection: "s + c.connection + "\r\n";
    resp += "Content-Length: 0\r\n\r\n";
    ResponseHead h;
    ASSERT_EQ(parse(resp, h).status, ParseStatus::kComplete) << resp;
    EXPECT_EQ(h.connection_close, c.close) << resp;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << resp;
    EXPECT_EQ(h.upgrade, c.upgrade) << resp;
  }
  // Several Connection headers combine.
  ResponseHead h;
  ASSERT_EQ(
      parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: upgrade\r\n\r\n", h).status,
      ParseStatus::kComplete);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_TRUE(h.upgrade);
  ASSERT_EQ(
      parse("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", h).status,
      ParseStatus::kComplete);
  EXPECT_FALSE(h.keep_alive);
}

TEST(ProxyResponseParser, FramingNoBody) {
  ResponseHead h;
  // A response to HEAD has no body whatever the fields say.
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(framing(h, true), BodyFraming::kNone);
  EXPECT_EQ(framing(h, false), BodyFraming::kLength);
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(framing(h, true), BodyFraming::kNone);
  ASSERT_EQ(parse("HTTP/1.0 200 OK\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_EQ(framing(h, true), BodyFraming::kNone);

  // 204 and 304, even with a Content-Length (of the representation) or chunked.
  for (const char* resp :
       {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",
        "HTTP/1.0 304 Not Modified\r\n\r\n"}) {
    ASSERT_EQ(parse(resp, h).status, ParseStatus::kComplete) << resp;
    EXPECT_EQ(framing(h, false), BodyFraming::kNone) << resp;
  }
  ASSERT_EQ(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_TRUE(connection_reusable(h, framing(h, false)));
  // 205 is framed normally (RFC 9110 15.3.6 only says the content is empty).
  ASSERT_EQ(parse("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(framing(h, false), BodyFraming::kLength);
}

TEST(ProxyResponseParser, InterimResponses) {
  // 100 Continue and 103 Early Hints are complete heads of their own; the final response follows.
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  ResponseHead h;
  std::string_view rest = wire;
  Outcome o = parse(rest, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 100);
  EXPECT_TRUE(h.is_informational());
  EXPECT_EQ(framing(h, false), BodyFraming::kNone);
  rest.remove_prefix(o.consumed);
  o = parse(rest, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 103);
  EXPECT_EQ(h.find("link")->value, "</a.css>; rel=preload");
  EXPECT_EQ(framing(h, false), BodyFraming::kNone);
  rest.remove_prefix(o.consumed);
  o = parse(rest, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 201);
  EXPECT_EQ(framing(h, false), BodyFraming::kLength);
  EXPECT_EQ(rest.substr(o.consumed), "ok");
}

TEST(ProxyResponseParser, SwitchingProtocols) {
  const std::string wire =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello";
  ResponseHead h;
  const Outcome o = parse(wire, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(h.status, 101);
  EXPECT_TRUE(h.upgrade);
  EXPECT_EQ(framing(h, false), BodyFraming::kNone);
  EXPECT_FALSE(connection_reusable(h, framing(h, false)));  // the bytes after are the tunnel's
  EXPECT_EQ(wire.substr(o.consumed), "\x81\x05hello");
}

TEST(ProxyResponseParser, CloseDelimited) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(framing(h, false), BodyFraming::kUntilClose);
  EXPECT_FALSE(connection_reusable(h, framing(h, false)));
  // HTTP/1.1 without a length is close-delimited too, whatever keep-alive says.
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\n\r\n", h).status, ParseStatus::kComplete);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(framing(h, false), BodyFraming::kUntilClose);
  EXPECT_FALSE(connection_reusable(h, framing(h, false)));
  // HTTP/1.0 with keep-alive and a length could be reused (RFC 9112 9.3), but nginx never
  // reuses an HTTP/1.0 upstream connection (such servers often get keep-alive wrong): neither
  // does portico.
  ASSERT_EQ(
      parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", h).status,
      ParseStatus::kComplete);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(connection_reusable(h, framing(h, false)));
  ASSERT_EQ(parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_FALSE(connection_reusable(h, framing(h, false)));
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_FALSE(connection_reusable(h, framing(h, false)));
}

TEST(ProxyResponseParser, BodyBytesAfterTheHeadAreNotLookedAt) {
  // Whatever follows the empty line is body: CTLs, NULs, bare CRs, another status line.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n";
  const std::string wire = head + "\0\r\x01 X : y\r\n\r\nHTTP/1.1 500 Oops\r\n\r\n"s;
  const Outcome o = parse(wire);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(o.consumed, head.size());
  // Also when the body runs past max_head_size.
  ResponseParseLimits small;
  small.max_head_size = head.size();
  const Outcome o2 = parse(wire, small);
  ASSERT_EQ(o2.status, ParseStatus::kComplete);
  EXPECT_EQ(o2.consumed, head.size());
}

TEST(ProxyResponseParser, ChunkedBodyThroughTheDecoder) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  ResponseHead h;
  const Outcome o = parse(wire, h);
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  ASSERT_EQ(framing(h, false), BodyFraming::kChunked);
  std::string body = wire.substr(o.consumed);
  http::ChunkedDecoder dec;
  const http::ChunkedDecoder::Result r = dec.decode(body, body.data());
  ASSERT_TRUE(r.done);
  EXPECT_EQ(body.substr(0, r.data_len), "hello world");
  // The next response on the keepalive connection.
  ResponseHead next;
  ASSERT_EQ(parse(std::string_view(body).substr(r.consumed), next).status, ParseStatus::kComplete);
  EXPECT_EQ(next.status, 204);
}

TEST(ProxyResponseParser, SplitAtEveryByte) {
  const std::string cases[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
      "HTTP/1.1 200\r\n\r\n",
      "HTTP/1.0 404 Not Found\nServer: x\n\nbody",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 403.1 Forbidden\r\nX@Y: dropped\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      // errors
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Foo : bar\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Foo: bar\r\n baz\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Foo: b\rar\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Foo: b\0ar\r\n\r\n"s,
      "HTTP/1.1 099 OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
  };
  for (const std::string& c : cases) {
    SCOPED_TRACE(c);
    expect_prefix_consistent(c);
    ResponseParseLimits small;
    small.max_head_size = 30;
    expect_prefix_consistent(c, small);
  }
}

TEST(ProxyResponseParser, OneByteAtATimeWithPrevSize) {
  // As a connection that reads one byte at a time would call it: the fast path may only delay
  // an error inside the unfinished line, never change a complete answer.
  const std::string resp =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc";
  ResponseHead h;
  size_t prev = 0;
  Outcome o;
  for (size_t k = 1; k <= resp.size(); ++k) {
    o = parse(std::string_view(resp).substr(0, k), h, {}, prev);
    if (o.status != ParseStatus::kIncomplete) break;
    prev = k;
  }
  ASSERT_EQ(o.status, ParseStatus::kComplete);
  EXPECT_EQ(o.consumed, resp.size() - 3);
  EXPECT_EQ(h.content_length, 3);
  EXPECT_EQ(h.find("content-type")->value, "text/plain");

  // A space in a field name is found when the line ends, not when it arrives.
  const std::string bad = "HTTP/1.1 200 OK\r\nX-Fo o: 1\r\n\r\n";
  const size_t space = bad.find("Fo ") + 2;
  const std::string_view view(bad);
  EXPECT_EQ(parse(view.substr(0, space), h).status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse(view.substr(0, space + 1), h, {}, space).status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse(view.substr(0, space + 1), h).status, ParseStatus::kError);
  const Outcome late = parse(bad, h, {}, space + 1);
  ASSERT_EQ(late.status, ParseStatus::kError);
  EXPECT_EQ(late.why, "upstream sent invalid header: \"X-Fo\\x20...\"");
  // A CTL among the new bytes always takes the slow path.
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nX: a\x01"s, h, {}, 20).status, ParseStatus::kError);
}

TEST(ProxyResponseParser, TooBigHead) {
  const std::string head = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(50, 'v') + "\r\n\r\n";
  ResponseParseLimits limits;
  limits.max_head_size = head.size();
  // Exactly the limit fits, with or without body bytes after it.
  EXPECT_TRUE(complete(head, limits));
  EXPECT_TRUE(complete(head + "body", limits));
  // One byte more does not: the answer comes once max_head_size bytes are there, so a buffer of
  // exactly proxy_buffer_size suffices to find out.
  limits.max_head_size = head.size() - 1;
  EXPECT_EQ(error_of(head, limits), kTooBig);
  EXPECT_EQ(error_of(head.substr(0, head.size() - 1), limits), kTooBig);
  EXPECT_EQ(parse(head.substr(0, head.size() - 2), limits).status, ParseStatus::kIncomplete);
  // Cut inside the status line, a value, the final CRLF.
  limits.max_head_size = 10;
  EXPECT_EQ(error_of(head, limits), kTooBig);
  limits.max_head_size = 30;
  EXPECT_EQ(error_of(head, limits), kTooBig);
  // A bogus status line is reported as such even past the limit.
  EXPECT_EQ(error_of("HTTP/1.1 200 OK\x01" + std::string(100, 'x'), limits), kNoStatus);
  // Default: 4k, nginx's proxy_buffer_size on x86-64.
  EXPECT_EQ(ResponseParseLimits{}.max_head_size, 4096u);
  const std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(5000, 'a') + "\r\n\r\n";
  EXPECT_EQ(error_of(big), kTooBig);
  EXPECT_EQ(error_of(big.substr(0, 4096)), kTooBig);
  EXPECT_EQ(parse(big.substr(0, 4095)).status, ParseStatus::kIncomplete);
  expect_prefix_consistent(head, limits);
}

TEST(ProxyResponseParser, ManyHeadersWithinTheLimit) {
  std::string resp = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 500; ++i) resp += "S" + std::to_string(i) + ": v\r\n";
  resp += "\r\n";
  ResponseParseLimits limits;
  limits.max_head_size = 8192;
  ResponseHead h;
  ASSERT_EQ(parse(resp, h, limits).status, ParseStatus::kComplete);
  EXPECT_EQ(h.headers.size(), 500u);
  EXPECT_EQ(h.headers[499].name, "S499");
}

TEST(ProxyResponseParser, ReuseKeepsCapacityAndResets) {
  ResponseHead h;
  ASSERT_EQ(parse("HTTP/1.0 500 X\r\nA: 1\r\nB: 2\r\nC: 3\r\nConnection: close, upgrade\r\n"
                  "Content-Length: 7\r\n\r\n",
                  h)
                .status,
            ParseStatus::kComplete);
  const size_t capacity = h.headers.capacity();
  const Header* storage = h.headers.data();
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", h).status,
            ParseStatus::kComplete);
  EXPECT_EQ(h.headers.capacity(), capacity);
  EXPECT_EQ(h.headers.data(), storage);
  EXPECT_EQ(h.headers.size(), 1u);
  EXPECT_EQ(h.content_length, -1);
  EXPECT_TRUE(h.chunked);
  EXPECT_FALSE(h.connection_close);
  EXPECT_FALSE(h.upgrade);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.version_minor, 1);
  h.clear();
  EXPECT_EQ(h.status, 0);
  EXPECT_TRUE(h.headers.empty());
  EXPECT_EQ(h.headers.capacity(), capacity);
}

TEST(ProxyResponseParser, WhyMayBeNull) {
  ResponseHead h;
  size_t consumed = 0;
  EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", {}, h, &consumed, nullptr),
            ParseStatus::kError);
  EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                                {}, h, &consumed, nullptr),
            ParseStatus::kError);
  EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\n\r\n", {}, h, &consumed, nullptr),
            ParseStatus::kComplete);
  EXPECT_EQ(consumed, 19u);
}

}  // namespace
}  // namespace portico::proxy
