// The X-Forwarded-For walk of the realip module; every expectation was checked against
// nginx 1.22 (tests/integration/test_realip.py covers the same ground end to end).
#include "http/realip.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace portico::http {
namespace {

SockAddr peer(const char* text) {
  SockAddr a{};
  if (inet_pton(AF_INET, text, &a.v4.sin_addr) == 1) {
    a.v4.sin_family = AF_INET;
    a.v4.sin_port = htons(40000);
  } else {
    a.v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, text, &a.v6.sin6_addr);
    a.v6.sin6_port = htons(40000);
  }
  return a;
}

std::vector<Cidr> trusted(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) {
    Cidr c;
    EXPECT_NE(parse_cidr(t, &c), CidrParse::kError) << t;
    out.push_back(c);
  }
  return out;
}

struct Walk {
  Forwarded rc;
  std::string addr;  // "addr" or "addr:port" (IPv6 in brackets with a port)
};

std::string show(const SockAddr& a) {
  std::string s = addr_text(a);
  if (int port = addr_port(a))
    s = (a.sa.sa_family == AF_INET6 ? "[" + s + "]" : s) + ":" + std::to_string(port);
  return s;
}

Walk walk(std::string_view value, bool recursive, const char* from = "127.0.0.1",
          std::vector<Cidr> t = trusted({"127.0.0.1", "10.0.0.0/8"})) {
  SockAddr a = peer(from);
  Forwarded rc = forwarded_addr(a, value, t, recursive);
  return {rc, show(a)};
}

Walk walk_headers(std::vector<Header> headers, bool recursive) {
  SockAddr a = peer("127.0.0.1");
  Forwarded rc = forwarded_addr(a, headers, "x-forwarded-for", trusted({"127.0.0.1", "10.0.0.0/8"}),
                                recursive);
  return {rc, show(a)};
}

#define EXPECT_WALK(w, want_rc, want_addr) \
  do {                                     \
    Walk got = (w);                        \
    EXPECT_EQ(got.rc, want_rc);            \
    EXPECT_EQ(got.addr, want_addr);        \
  } while (0)

constexpr auto kOk = Forwarded::kOk;
constexpr auto kDone = Forwarded::kDone;
constexpr auto kDeclined = Forwarded::kDeclined;

TEST(HttpRealIp, NotRecursiveTakesTheLastAddress) {
  EXPECT_WALK(walk("1.1.1.1", false), kOk, "1.1.1.1");
  EXPECT_WALK(walk("1.1.1.1, 2.2.2.2, 127.0.0.1", false), kOk, "127.0.0.1");
  EXPECT_WALK(walk("1.1.1.1, 2.2.2.2:99", false), kOk, "2.2.2.2:99");
  EXPECT_WALK(walk("1.1.1.1 2.2.2.2", false), kOk, "2.2.2.2");       // spaces separate too
  EXPECT_WALK(walk("1.1.1.1, 2.2.2.2 ,, ", false), kOk, "2.2.2.2");  // trailing separators
  EXPECT_WALK(walk("5.5.5.5,[2001:db8::1]:8080", false), kOk, "[2001:db8::1]:8080");
}

TEST(HttpRealIp, UntrustedPeerChangesNothing) {
  EXPECT_WALK(walk("1.1.1.1", false, "192.0.2.1"), kDeclined, "192.0.2.1:40000");
  EXPECT_WALK(walk("1.1.1.1", true, "192.0.2.1"), kDeclined, "192.0.2.1:40000");
  EXPECT_WALK(walk("1.1.1.1", false, "::1"), kDeclined, "[::1]:40000");
}

TEST(HttpRealIp, UnparsableLastValueChangesNothing) {
  EXPECT_WALK(walk("bogus", false), kDeclined, "127.0.0.1:40000");
  EXPECT_WALK(walk("", false), kDeclined, "127.0.0.1:40000");
  EXPECT_WALK(walk("1.1.1.1, bogus", true), kDeclined, "127.0.0.1:40000");
  EXPECT_WALK(walk("[2001:db8::1]", false), kDeclined, "127.0.0.1:40000");
  // The first byte is never a separator for nginx: ",a" is one address, and not a valid one.
  EXPECT_WALK(walk(",127.0.0.1", true), kDeclined, "127.0.0.1:40000");
}

TEST(HttpRealIp, RecursiveTakesTheLastUntrustedAddress) {
  EXPECT_WALK(walk("1.1.1.1, 2.2.2.2, 127.0.0.1", true), kDone, "2.2.2.2");
  EXPECT_WALK(walk("1.1.1.1, 10.0.0.1, 10.9.9.9:80, 127.0.0.1", true), kOk, "1.1.1.1");
  EXPECT_WALK(walk("9.9.9.9, 1.1.1.1, 10.0.0.1", true), kDone, "1.1.1.1");
  EXPECT_WALK(walk("5.5.5.5,127.0.0.1", true), kOk, "5.5.5.5");
  // All trusted: the first (leftmost) address.
  EXPECT_WALK(walk("127.0.0.1, 127.0.0.1", true), kOk, "127.0.0.1");
  // An unparsable address stops the walk at the last good one.
  EXPECT_WALK(walk("1.1.1.1, bogus, 127.0.0.1", true), kDone, "127.0.0.1");
  // An IPv4-mapped address is trusted by the IPv4 blocks.
  EXPECT_WALK(walk("9.9.9.9, ::ffff:10.1.1.1, 127.0.0.1", true), kOk, "9.9.9.9");
  EXPECT_WALK(walk("9.9.9.9, 2001:db8::5, 127.0.0.1", true), kDone, "2001:db8::5");
}

TEST(HttpRealIp, SeveralHeadersAreOneListLastFirst) {
  std::vector<Header> h = {
      {"X-Forwarded-For", "1.1.1.1"}, {"Other", "3.3.3.3"}, {"x-forwarded-for", "2.2.2.2"}};
  EXPECT_WALK(walk_headers(h, false), kOk, "2.2.2.2");  // only the last header
  EXPECT_WALK(walk_headers(h, true), kDone, "2.2.2.2");

  EXPECT_WALK(
      walk_headers({{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", "127.0.0.1"}}, true), kOk,
      "1.1.1.1");
  EXPECT_WALK(
      walk_headers({{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", "2.2.2.2, 127.0.0.1"}},
                   true),
      kDone, "2.2.2.2");
  // An empty or unparsable last header stops everything, as in nginx.
  EXPECT_WALK(walk_headers({{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", ""}}, true),
              kDeclined, "127.0.0.1:40000");
  EXPECT_WALK(walk_headers({{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", "bogus"}}, true),
              kDeclined, "127.0.0.1:40000");
  // An unparsable earlier header keeps what the later ones gave.
  EXPECT_WALK(walk_headers({{"X-Forwarded-For", "bogus"}, {"X-Forwarded-For", "10.0.0.3"}}, true),
              kDone, "10.0.0.3");
  EXPECT_WALK(walk_headers({{"Via", "1.1.1.1"}}, true), kDeclined, "127.0.0.1:40000");
}

}  // namespace
}  // namespace portico::http
