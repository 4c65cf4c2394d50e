#include "proxy/hop_by_hop.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/parser.h"
#include "proxy/response_parser.h"

namespace portico::proxy {
namespace {

using http::Header;

std::vector<Header> connection(std::initializer_list<std::string_view> values) {
  std::vector<Header> headers;
  for (std::string_view v : values) headers.push_back(Header{"Connection", v});
  return headers;
}

std::vector<std::string> items(std::string_view value) {
  std::vector<std::string> out;
  for_each_list_item(value, [&](std::string_view item) { out.emplace_back(item); });
  return out;
}

TEST(ProxyHopByHop, ListItems) {
  EXPECT_EQ(items(""), std::vector<std::string>{});
  EXPECT_EQ(items(" , ,\t,"), std::vector<std::string>{});
  EXPECT_EQ(items("close"), std::vector<std::string>{"close"});
  EXPECT_EQ(items(" a ,b,\tc d\t, ,e,"), (std::vector<std::string>{"a", "b", "c d", "e"}));
}

TEST(ProxyHopByHop, FixedSet) {
  for (const char* name :
       {"Connection", "connection", "CONNECTION", "Keep-Alive", "keep-alive", "Proxy-Connection",
        "TE", "te", "Trailer", "Transfer-Encoding", "transfer-encoding", "Upgrade", "upgrade"}) {
    EXPECT_TRUE(is_fixed_hop_by_hop(name, false)) << name;
  }
  for (const char* name : {"Content-Length", "Content-Type", "Host", "Trailers", "TE2", "T",
                           "Upgrade-Insecure-Requests", "Proxy-Authorization", "Proxy-Authenticate",
                           "Close", "Set-Cookie", ""}) {
    EXPECT_FALSE(is_fixed_hop_by_hop(name, false)) << name;
  }
  // Tunnelling keeps Upgrade only; Connection is re-written by the sender of the head.
  EXPECT_FALSE(is_fixed_hop_by_hop("Upgrade", true));
  EXPECT_TRUE(is_fixed_hop_by_hop("Connection", true));
  EXPECT_TRUE(is_fixed_hop_by_hop("Keep-Alive", true));
  EXPECT_TRUE(is_fixed_hop_by_hop("Transfer-Encoding", true));
}

TEST(ProxyHopByHop, NoConnectionHeader) {
  HopByHop hop;
  const std::vector<Header> headers = {{"Host", "a"}, {"X-Foo", "1"}};
  ASSERT_TRUE(hop.init(headers));
  EXPECT_EQ(hop.named_count(), 0u);
  EXPECT_FALSE(hop.is_hop("X-Foo", false));
  EXPECT_FALSE(hop.is_hop("Host", false));
  EXPECT_TRUE(hop.is_hop("Keep-Alive", false));
  EXPECT_TRUE(hop.is_hop("te", false));
}

TEST(ProxyHopByHop, NamedByConnection) {
  HopByHop hop;
  ASSERT_TRUE(hop.init(connection({"close, X-Foo , x-bar"})));
  EXPECT_EQ(hop.named_count(), 3u);  // close, X-Foo, x-bar
  EXPECT_TRUE(hop.is_hop("X-Foo", false));
  EXPECT_TRUE(hop.is_hop("x-foo", false));
  EXPECT_TRUE(hop.is_hop("X-BAR", false));
  EXPECT_TRUE(hop.is_hop("X-Bar", true));  // named fields go even when tunnelling
  EXPECT_TRUE(hop.is_hop("Close", false));
  EXPECT_FALSE(hop.is_hop("X-Fo", false));
  EXPECT_FALSE(hop.is_hop("X-Foo2", false));
  EXPECT_FALSE(hop.is_hop("X-Baz", false));
  EXPECT_TRUE(hop.is_hop("Connection", false));
}

TEST(ProxyHopByHop, SeveralConnectionHeadersCombine) {
  HopByHop hop;
  std::vector<Header> headers = {{"Connection", "x-a"}, {"X-A", "1"}, {"connection", " ,x-b,\t"},
                                 {"CONNECTION", ""},    {"X-B", "2"}, {"X-C", "3"}};
  ASSERT_TRUE(hop.init(headers));
  EXPECT_EQ(hop.named_count(), 2u);
  EXPECT_TRUE(hop.is_hop("X-A", false));
  EXPECT_TRUE(hop.is_hop("X-B", false));
  EXPECT_FALSE(hop.is_hop("X-C", false));
}

TEST(ProxyHopByHop, UpgradeWhenTunnelling) {
  HopByHop hop;
  ASSERT_TRUE(hop.init(connection({"Upgrade"})));
  EXPECT_EQ(hop.named_count(), 0u);  // a fixed name, not stored
  EXPECT_TRUE(hop.is_hop("Upgrade", false));
  // Named in Connection, but the tunnel needs it: kept.
  EXPECT_FALSE(hop.is_hop("Upgrade", true));
  EXPECT_TRUE(hop.is_hop("Connection", true));
}

TEST(ProxyHopByHop, NonTokensAndRepeatsAreNotCounted) {
  HopByHop hop;
  ASSERT_TRUE(hop.init(connection({"foo bar, \"x-q\", a/b, x-ok", "x-ok, X-OK, keep-alive, TE"})));
  EXPECT_EQ(hop.named_count(), 1u);
  EXPECT_TRUE(hop.is_hop("x-ok", false));
  EXPECT_FALSE(hop.is_hop("foo bar", false));
  EXPECT_FALSE(hop.is_hop("\"x-q\"", false));

  std::string many;
  for (int i = 0; i < 100; ++i) many += "x-same, keep-alive, ";
  ASSERT_TRUE(hop.init(connection({many})));
  EXPECT_EQ(hop.named_count(), 1u);
}

TEST(ProxyHopByHop, LimitAndOverflow) {
  std::vector<std::string> names;
  std::string sixteen;
  for (size_t i = 0; i < HopByHop::kMaxNamed; ++i) {
    names.push_back("x-n" + std::to_string(i));
    sixteen += names.back() + ",";
  }
  HopByHop hop;
  ASSERT_TRUE(hop.init(connection({sixteen})));
  EXPECT_FALSE(hop.overflowed());
  EXPECT_EQ(hop.named_count(), HopByHop::kMaxNamed);
  for (const std::string& n : names) EXPECT_TRUE(hop.is_hop(n, false)) << n;
  EXPECT_FALSE(hop.is_hop("Content-Type", false));

  // One more distinct name: the message is to be rejected; if forwarded anyway, nothing of it is.
  const std::string seventeen = sixteen + "x-one-more";
  EXPECT_FALSE(hop.init(connection({seventeen})));
  EXPECT_TRUE(hop.overflowed());
  EXPECT_TRUE(hop.is_hop("Content-Type", false));
  EXPECT_TRUE(hop.is_hop("Host", true));
  // Split over two headers counts the same.
  EXPECT_FALSE(hop.init(connection({sixteen, "x-one-more"})));

  // init() starts over.
  ASSERT_TRUE(hop.init(connection({"x-a"})));
  EXPECT_FALSE(hop.overflowed());
  EXPECT_EQ(hop.named_count(), 1u);
  EXPECT_FALSE(hop.is_hop("Content-Type", false));
  EXPECT_FALSE(hop.is_hop("x-n0", false));
}

TEST(ProxyHopByHop, ViewsOutliveTheHeaderVector) {
  // The names point into the message buffer, so the caller may edit its vector while filtering.
  const std::string buffer =
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nX-Internal: secret\r\n"
      "Keep-Alive: timeout=5\r\nContent-Length: 0\r\nX-Public: yes\r\n\r\n";
  ResponseHead head;
  size_t consumed = 0;
  ASSERT_EQ(parse_response_head(buffer, {}, head, &consumed, nullptr), ParseStatus::kComplete);
  HopByHop hop;
  ASSERT_TRUE(hop.init(head.headers));
  std::erase_if(head.headers, [&](const Header& h) { return hop.is_hop(h.name, false); });
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[0].name, "Content-Length");
  EXPECT_EQ(head.headers[1].name, "X-Public");
  head.headers.clear();
  head.headers.shrink_to_fit();
  EXPECT_TRUE(hop.is_hop("x-internal", false));
}

TEST(ProxyHopByHop, RequestHeadAbuse) {
  // A client naming X-Forwarded-For or Authorization in Connection loses its own copy; the
  // proxy's own fields are added after filtering, so they are never tested here.
  const std::string req =
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Forwarded-For, Authorization\r\n"
      "X-Forwarded-For: 6.6.6.6\r\nAuthorization: Basic eA==\r\nTE: trailers\r\n"
      "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n";
  http::RequestHead head;
  size_t consumed = 0;
  int status = 0;
  ASSERT_EQ(http::parse_request_head(req, {}, head, &consumed, &status),
            http::ParseStatus::kComplete);
  HopByHop hop;
  ASSERT_TRUE(hop.init(head.headers));
  std::vector<std::string> forwarded;
  for (const Header& h : head.headers)
    if (!hop.is_hop(h.name, false)) forwarded.emplace_back(h.name);
  EXPECT_EQ(forwarded, (std::vector<std::string>{"Host", "Accept"}));
}

TEST(ProxyHopByHop, WebSocketResponse) {
  const std::vector<Header> headers = {
      {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", "x"}};
  HopByHop hop;
  ASSERT_TRUE(hop.init(headers));
  std::vector<std::string> forwarded;
  for (const Header& h : headers)
    if (!hop.is_hop(h.name, true)) forwarded.emplace_back(h.name);
  EXPECT_EQ(forwarded, (std::vector<std::string>{"Upgrade", "Sec-WebSocket-Accept"}));
}

}  // namespace
}  // namespace portico::proxy
