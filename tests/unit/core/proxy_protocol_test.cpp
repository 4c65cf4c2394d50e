#include "core/proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace portico {

namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(unsigned v) {
  return std::string{char(v >> 8), char(v & 0xff)};
}

// A v2 header: version/command, family/transport, then `body` (addresses and TLVs).
std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& body) {
  return kSig + char(ver_cmd) + char(fam) + be16(unsigned(body.size())) + body;
}

std::string tcp4_body() {
  return std::string("\xc0\x00\x02\x01\xc0\x00\x02\x02", 8) + be16(123) + be16(5678);
}

std::string tlv(unsigned char type, const std::string& value) {
  return char(type) + be16(unsigned(value.size())) + value;
}

ProxyParse parse(std::string_view in, ProxyHeader* h, size_t* used, const char** why = nullptr) {
  return parse_proxy_header(in, h, used, why);
}

}  // namespace

TEST(ProxyProtocol, V1Tcp4) {
  ProxyHeader h;
  size_t used = 0;
  std::string in = "PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\nGET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(parse(in, &h, &used), ProxyParse::kComplete);
  EXPECT_EQ(used, in.find('\n') + 1);
  EXPECT_EQ(h.version, 1);
  EXPECT_TRUE(h.has_addrs);
  EXPECT_EQ(h.src_text, "192.0.2.1");
  EXPECT_EQ(h.dst_text, "192.0.2.2");
  EXPECT_EQ(h.src_port, 123);
  EXPECT_EQ(h.dst_port, 5678);
  EXPECT_EQ(h.src.sa.sa_family, AF_INET);
  EXPECT_EQ(addr_port(h.src), 123);
  EXPECT_EQ(addr_text(h.dst), "192.0.2.2");
}

TEST(ProxyProtocol, V1Tcp6KeepsTheTextAsSent) {
  ProxyHeader h;
  size_t used = 0;
  ASSERT_EQ(parse("PROXY TCP6 2001:Db8::1 2001:Db8::2 123 05678\r\n", &h, &used),
            ProxyParse::kComplete);
  EXPECT_EQ(h.src_text, "2001:Db8::1");  // as nginx: $proxy_protocol_addr is the text received
  EXPECT_EQ(addr_text(h.src), "2001:db8::1");
  EXPECT_EQ(h.dst_port, 5678);
  EXPECT_EQ(h.src.sa.sa_family, AF_INET6);
}

TEST(ProxyProtocol, V1Unknown) {
  for (const char* in : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN 1 2 3 4 5 6\r\n"}) {
    ProxyHeader h;
    size_t used = 0;
    ASSERT_EQ(parse(in, &h, &used), ProxyParse::kComplete) << in;
    EXPECT_EQ(used, std::string(in).size());
    EXPECT_FALSE(h.has_addrs);
  }
}

TEST(ProxyProtocol, V1Incomplete) {
  std::string full = "PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    ProxyHeader h;
    size_t used = 0;
    EXPECT_EQ(parse(full.substr(0, n), &h, &used), ProxyParse::kIncomplete) << n;
  }
}

TEST(ProxyProtocol, V1Broken) {
  const char* bad[] = {
      "GET / HTTP/1.0\r\n\r\n",
      "PROXY",  // a prefix of "PROXY " is incomplete, but "PROXX" is not
      "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n",        // no CR
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n",  // port out of range
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 \r\n",       // empty port
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",    // extra field
      "PROXY TCP4 192.0.2.x 192.0.2.2 1 2\r\n",      // not an address character
      "PROXY TCP4 192.0.2.300 192.0.2.2 1 2\r\n",    // not an address
      "PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n",     // empty address
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 +2\r\n",
  };
  for (const char* in : bad) {
    ProxyHeader h;
    size_t used = 0;
    const char* why = nullptr;
    ProxyParse st = parse(in, &h, &used, &why);
    if (std::string_view(in) == "PROXY") {
      EXPECT_EQ(st, ProxyParse::kIncomplete);
      EXPECT_EQ(parse("PROXX", &h, &used), ProxyParse::kError);
      continue;
    }
    EXPECT_EQ(st, ProxyParse::kError) << in;
    EXPECT_STREQ(why, "broken header") << in;
  }
}

TEST(ProxyProtocol, V1LongerThan107BytesIsRefused) {
  std::string in = "PROXY UNKNOWN " + std::string(100, 'x');
  ProxyHeader h;
  size_t used = 0;
  EXPECT_EQ(parse(in, &h, &used), ProxyParse::kError);  // no LF in the first 107 bytes
  EXPECT_EQ(parse(in.substr(0, 106), &h, &used), ProxyParse::kIncomplete);
}

TEST(ProxyProtocol, V2Tcp4) {
  ProxyHeader h;
  size_t used = 0;
  std::string in = v2(0x21, 0x11, tcp4_body()) + "GET";
  ASSERT_EQ(parse(in, &h, &used), ProxyParse::kComplete);
  EXPECT_EQ(used, in.size() - 3);
  EXPECT_EQ(h.version, 2);
  EXPECT_TRUE(h.has_addrs);
  EXPECT_EQ(h.src_text, "192.0.2.1");
  EXPECT_EQ(h.dst_text, "192.0.2.2");
  EXPECT_EQ(h.src_port, 123);
  EXPECT_EQ(h.dst_port, 5678);
  EXPECT_TRUE(h.tlvs.empty());
}

TEST(ProxyProtocol, V2Tcp6PrintsAsNginx) {
  std::string a(16, '\0'), b(16, '\0');
  a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = char(0xb8), a[15] = 1;
  b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = char(0xb8), b[15] = 2;
  ProxyHeader h;
  size_t used = 0;
  ASSERT_EQ(parse(v2(0x21, 0x21, a + b + be16(123) + be16(5678)), &h, &used),
            ProxyParse::kComplete);
  EXPECT_EQ(h.src_text, "2001:db8::1");
  EXPECT_EQ(h.dst_text, "2001:db8::2");
  EXPECT_EQ(addr_port(h.dst), 5678);
}

TEST(ProxyProtocol, V2WithoutAddresses) {
  // LOCAL, an unspecified family, a unix family, UDP: accepted and skipped, as nginx.
  const std::string cases[] = {v2(0x20, 0x00, ""), v2(0x21, 0x01, ""),
                               v2(0x21, 0x41, "\x01\x02\x03\x04"), v2(0x21, 0x12, tcp4_body())};
  for (const auto& in : cases) {
    ProxyHeader h;
    size_t used = 0;
    ASSERT_EQ(parse(in, &h, &used), ProxyParse::kComplete);
    EXPECT_EQ(used, in.size());
    EXPECT_FALSE(h.has_addrs);
  }
}

TEST(ProxyProtocol, V2Errors) {
  ProxyHeader h;
  size_t used = 0;
  const char* why = nullptr;
  EXPECT_EQ(parse(v2(0x11, 0x11, tcp4_body()), &h, &used, &why), ProxyParse::kError);
  EXPECT_STREQ(why, "unknown PROXY protocol version");
  EXPECT_EQ(parse(v2(0x21, 0x11, "\x01\x02"), &h, &used, &why), ProxyParse::kError);
  EXPECT_STREQ(why, "broken header");  // shorter than two IPv4 addresses and ports
  std::string huge = kSig + "\x21\x11" + be16(5000);
  EXPECT_EQ(parse(huge, &h, &used, &why), ProxyParse::kError);
  EXPECT_STREQ(why, "header is too large");
  std::string wrong_sig = kSig;
  wrong_sig[7] = 'X';
  EXPECT_EQ(parse(wrong_sig, &h, &used), ProxyParse::kError);
}

TEST(ProxyProtocol, V2Incomplete) {
  std::string full = v2(0x21, 0x11, tcp4_body() + tlv(0x01, "h2"));
  for (size_t n = 0; n < full.size(); ++n) {
    ProxyHeader h;
    size_t used = 0;
    EXPECT_EQ(parse(full.substr(0, n), &h, &used), ProxyParse::kIncomplete) << n;
  }
}

TEST(ProxyProtocol, Tlvs) {
  std::string ssl = std::string("\x05", 1) + std::string("\x00\x00\x01\x02", 4) +
                    tlv(0x21, "TLSv1.3") + tlv(0x22, "example.com") + tlv(0x23, "AES");
  std::string body = tcp4_body() + tlv(0x01, "h2") + tlv(0x02, "host.example") + tlv(0x20, ssl) +
                     tlv(0xe0, "abc") + tlv(0x05, "");
  ProxyHeader h;
  size_t used = 0;
  ASSERT_EQ(parse(v2(0x21, 0x11, body), &h, &used), ProxyParse::kComplete);
  std::string num;
  std::string_view v;
  auto get = [&](std::string_view name) -> std::string {
    return find_proxy_tlv(h.tlvs, name, &v, &num) ? std::string(v) : std::string("<none>");
  };
  EXPECT_EQ(get("alpn"), "h2");
  EXPECT_EQ(get("authority"), "host.example");
  EXPECT_EQ(get("0x01"), "h2");
  EXPECT_EQ(get("0xE0"), "abc");
  EXPECT_EQ(get("0xe0"), "abc");
  EXPECT_EQ(get("unique_id"), "");
  EXPECT_EQ(get("netns"), "<none>");
  EXPECT_EQ(get("ssl_version"), "TLSv1.3");
  EXPECT_EQ(get("ssl_cn"), "example.com");
  EXPECT_EQ(get("ssl_cipher"), "AES");
  EXPECT_EQ(get("ssl_sig_alg"), "<none>");
  EXPECT_EQ(get("ssl_verify"), "258");
  EXPECT_EQ(get("ssl"), ssl);
  EXPECT_EQ(get("nonsense"), "<none>");
  EXPECT_EQ(get("0x"), "<none>");
  EXPECT_EQ(get("0x1ff"), "<none>");
  // A TLV whose length runs past the end is broken: nothing is found behind it.
  ASSERT_EQ(parse(v2(0x21, 0x11, tcp4_body() + "\x01\x00\x09h2"), &h, &used),
            ProxyParse::kComplete);
  EXPECT_EQ(get("alpn"), "<none>");
}

TEST(ProxyProtocol, WriteV1) {
  SockAddr src{}, dst{};
  src.v4.sin_family = dst.v4.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.1", &src.v4.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &dst.v4.sin_addr);
  src.v4.sin_port = htons(40000);
  dst.v4.sin_port = htons(8080);
  char out[kProxyV1MaxHeader];
  size_t n = write_proxy_v1(src, dst, out);
  EXPECT_EQ(std::string(out, n), "PROXY TCP4 192.0.2.1 127.0.0.1 40000 8080\r\n");

  SockAddr s6{}, d6{};
  s6.v6.sin6_family = d6.v6.sin6_family = AF_INET6;
  for (int i = 0; i < 16; ++i) s6.v6.sin6_addr.s6_addr[i] = d6.v6.sin6_addr.s6_addr[i] = 0xff;
  s6.v6.sin6_port = d6.v6.sin6_port = htons(65535);
  n = write_proxy_v1(s6, d6, out);
  std::string longest(out, n);
  EXPECT_EQ(longest,
            "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
  ProxyHeader h;
  size_t used = 0;
  EXPECT_EQ(parse(longest, &h, &used), ProxyParse::kComplete);  // fits in 107 bytes

  SockAddr un{};
  un.sa.sa_family = AF_UNIX;
  n = write_proxy_v1(un, dst, out);
  EXPECT_EQ(std::string(out, n), "PROXY UNKNOWN\r\n");
}

}  // namespace portico
