#include "http/cidr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

#include "core/sockaddr.h"

namespace portico::http {
namespace {

// "addr" or "[addr]:port" text of a parsed address, for compact expectations.
std::string text_of(std::string_view in) {
  SockAddr a;
  if (!parse_addr_port(in, &a)) return "invalid";
  std::string s = addr_text(a);
  if (int port = addr_port(a))
    s = (a.sa.sa_family == AF_INET6 ? "[" + s + "]" : s) + ":" + std::to_string(port);
  return s;
}

SockAddr v4(const char* text) {
  SockAddr a{};
  a.v4.sin_family = AF_INET;
  inet_pton(AF_INET, text, &a.v4.sin_addr);
  return a;
}

SockAddr v6(const char* text) {
  SockAddr a{};
  a.v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &a.v6.sin6_addr);
  return a;
}

std::vector<Cidr> list(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) {
    Cidr c;
    EXPECT_NE(parse_cidr(t, &c), CidrParse::kError) << t;
    out.push_back(c);
  }
  return out;
}

TEST(HttpCidr, Ipv4AsNginxReadsIt) {
  uint8_t b[4];
  ASSERT_TRUE(parse_ipv4("192.168.1.2", b));
  EXPECT_EQ(b[0], 192);
  EXPECT_EQ(b[3], 2);
  EXPECT_EQ(text_of("010.001.1.1"), "10.1.1.1");  // leading zeros are decimal
  EXPECT_EQ(text_of("1..2.3"), "1.0.2.3");        // an empty octet is 0
  EXPECT_EQ(text_of("1.2.3."), "1.2.3.0");
  EXPECT_EQ(text_of("255.255.255.255"), "invalid");  // nginx's INADDR_NONE
  EXPECT_EQ(text_of("1.2.3"), "invalid");
  EXPECT_EQ(text_of("1.2.3.4.5"), "invalid");
  EXPECT_EQ(text_of("1.2.3.256"), "invalid");
  EXPECT_EQ(text_of("1.2.3.4 "), "invalid");
  EXPECT_EQ(text_of(""), "invalid");
}

TEST(HttpCidr, Ipv6AsNginxReadsIt) {
  EXPECT_EQ(text_of("2001:DB8::1"), "2001:db8::1");
  EXPECT_EQ(text_of("::"), "::");
  EXPECT_EQ(text_of("::1"), "::1");
  EXPECT_EQ(text_of("1::"), "1::");
  EXPECT_EQ(text_of(":1::2"), "1::2");  // nginx skips one leading ':'
  EXPECT_EQ(text_of("::ffff:10.1.2.3"), "::ffff:10.1.2.3");
  EXPECT_EQ(text_of("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(text_of("::1234"), "::0.0.18.52");       // nginx's ngx_inet6_ntop, not inet_ntop(3)
  EXPECT_EQ(text_of("d::4:"), "d::4:0");             // a trailing ':' ends in a 0 word
  EXPECT_EQ(text_of("1:2:3:4:5:6:7::"), "invalid");  // "::" must stand for a zero word
  EXPECT_EQ(text_of("1:2:3:4:5:6:7:8:9"), "invalid");
  EXPECT_EQ(text_of("1::2::3"), "invalid");
  EXPECT_EQ(text_of("12345::"), "invalid");
  EXPECT_EQ(text_of("1:2:3:4:5:6:7"), "invalid");
  EXPECT_EQ(text_of("g::1"), "invalid");
  EXPECT_EQ(text_of("1:2:3:4:5:6:7:1.2.3.4"), "invalid");  // no room for the dotted quad
}

TEST(HttpCidr, AddressWithPort) {
  EXPECT_EQ(text_of("10.0.0.1:8080"), "10.0.0.1:8080");
  EXPECT_EQ(text_of("[2001:db8::1]:443"), "[2001:db8::1]:443");
  EXPECT_EQ(text_of("::1:80"), "::0.1.0.128");     // an IPv6 address (no port), printed as nginx
  EXPECT_EQ(text_of("[2001:db8::1]"), "invalid");  // brackets need a port
  EXPECT_EQ(text_of("[2001:db8::1]80"), "invalid");
  EXPECT_EQ(text_of("10.0.0.1:0"), "invalid");
  EXPECT_EQ(text_of("10.0.0.1:65536"), "invalid");
  EXPECT_EQ(text_of("10.0.0.1:"), "invalid");
  EXPECT_EQ(text_of("10.0.0.1:8x"), "invalid");
  EXPECT_EQ(text_of("host:80"), "invalid");
  EXPECT_EQ(text_of("unix:"), "invalid");
}

TEST(HttpCidr, ParseBlocks) {
  Cidr c;
  ASSERT_EQ(parse_cidr("10.0.0.0/8", &c), CidrParse::kOk);
  EXPECT_EQ(c.family, AF_INET);
  EXPECT_EQ(c.mask[0], 0xff);
  EXPECT_EQ(c.mask[1], 0);
  ASSERT_EQ(parse_cidr("10.1.2.3/8", &c), CidrParse::kLowBits);  // nginx warns, keeps 10/8
  EXPECT_EQ(c.addr[1], 0);
  ASSERT_EQ(parse_cidr("192.168.1.0/23", &c), CidrParse::kLowBits);
  EXPECT_EQ(c.mask[2], 0xfe);
  EXPECT_EQ(parse_cidr("0.0.0.0/0", &c), CidrParse::kOk);
  EXPECT_EQ(parse_cidr("2001:db8::/32", &c), CidrParse::kOk);
  EXPECT_EQ(c.family, AF_INET6);
  EXPECT_EQ(parse_cidr("::1/0", &c), CidrParse::kLowBits);
  EXPECT_EQ(parse_cidr("10.0.0.0/33", &c), CidrParse::kError);
  EXPECT_EQ(parse_cidr("::/129", &c), CidrParse::kError);
  EXPECT_EQ(parse_cidr("10.0.0.0/", &c), CidrParse::kError);
  EXPECT_EQ(parse_cidr("10.0.0.0/8x", &c), CidrParse::kError);
  EXPECT_EQ(parse_cidr("localhost", &c), CidrParse::kError);  // a host name: resolved by caller
}

TEST(HttpCidr, Match) {
  auto trusted = list({"10.0.0.0/8", "192.168.1.7", "2001:db8::/32"});
  EXPECT_TRUE(cidr_match(v4("10.200.3.4"), trusted));
  EXPECT_TRUE(cidr_match(v4("192.168.1.7"), trusted));
  EXPECT_FALSE(cidr_match(v4("192.168.1.8"), trusted));
  EXPECT_FALSE(cidr_match(v4("11.0.0.1"), trusted));
  EXPECT_TRUE(cidr_match(v6("2001:db8:ffff::1"), trusted));
  EXPECT_FALSE(cidr_match(v6("2001:db9::1"), trusted));
  // An IPv4-mapped peer is checked against the IPv4 blocks only.
  EXPECT_TRUE(cidr_match(v6("::ffff:10.1.1.1"), trusted));
  EXPECT_FALSE(cidr_match(v6("::ffff:11.1.1.1"), trusted));
  EXPECT_FALSE(cidr_match(v6("::a01:101"), trusted));  // IPv4-compatible is not mapped
  EXPECT_TRUE(cidr_match(v4("1.2.3.4"), list({"0.0.0.0/0"})));
  EXPECT_FALSE(cidr_match(v6("::1"), list({"0.0.0.0/0"})));
  EXPECT_TRUE(cidr_match(v6("::1"), list({"::/0"})));
  EXPECT_FALSE(cidr_match(v4("1.2.3.4"), {}));
}

TEST(HttpCidr, UnixPeers) {
  SockAddr u{};
  u.sa.sa_family = AF_UNIX;
  Cidr any_unix;
  any_unix.family = AF_UNIX;
  EXPECT_TRUE(cidr_match(u, {any_unix}));
  EXPECT_FALSE(cidr_match(u, list({"0.0.0.0/0", "::/0"})));
  EXPECT_FALSE(cidr_match(v4("127.0.0.1"), {any_unix}));
}

TEST(HttpCidr, ResolvedHostBlock) {
  SockAddr a = v6("2001:db8::5");
  Cidr c = cidr_of(&a.sa);
  EXPECT_TRUE(cidr_match(a, {c}));
  EXPECT_FALSE(cidr_match(v6("2001:db8::6"), {c}));
  SockAddr b = v4("10.9.8.7");
  EXPECT_TRUE(cidr_match(b, {cidr_of(&b.sa)}));
  EXPECT_FALSE(cidr_match(v4("10.9.8.6"), {cidr_of(&b.sa)}));
}

}  // namespace
}  // namespace portico::http
