// Fuzzes the address parsers behind set_real_ip_from and the realip module (ports of nginx's
// ngx_inet.c) and the X-Forwarded-For walk over untrusted header text.
// Input layout: byte 0 = flags (bit 0 recursive, bit 1 trust everything, bit 2 IPv6 peer), the
// rest is split at the first NUL: a CIDR text, then a header value.
// Invariants: an address that parses prints as text that parses to the same bytes; a parsed
// CIDR has no bits outside its mask and matches its own network address (v4-mapped IPv6
// aside, as nginx); the walk only ever
// yields an address of a family the peer could have, and declines without changing anything.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"
#include "http/cidr.h"
#include "http/realip.h"

using namespace portico;
using namespace portico::http;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  if (len < 1) return 0;
  const uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), len - 1);
  size_t nul = rest.find('\0');
  std::string_view cidr_text = rest.substr(0, nul);
  std::string_view value =
      nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);

  uint8_t v4[4], v6[16];
  if (parse_ipv4(cidr_text, v4)) {
    char buf[INET_ADDRSTRLEN];
    FUZZ_CHECK(inet_ntop(AF_INET, v4, buf, sizeof buf));
    uint8_t again[4];
    FUZZ_CHECK(parse_ipv4(buf, again) && std::memcmp(v4, again, 4) == 0);
  }
  if (parse_ipv6(cidr_text, v6)) {
    char buf[INET6_ADDRSTRLEN];
    FUZZ_CHECK(inet_ntop(AF_INET6, v6, buf, sizeof buf));
    uint8_t again[16];
    // nginx reads an embedded dotted quad with ngx_inet_addr, which refuses 255.255.255.255
    // (INADDR_NONE): "::255.255.255.255" does not parse back, in nginx either.
    if (!std::strstr(buf, "255.255.255.255"))
      FUZZ_CHECK(parse_ipv6(buf, again) && std::memcmp(v6, again, 16) == 0);
  }
  SockAddr ap{};
  if (parse_addr_port(cidr_text, &ap)) {
    FUZZ_CHECK(ap.sa.sa_family == AF_INET || ap.sa.sa_family == AF_INET6);
    std::string text;
    append_addr_text(ap, text);
    FUZZ_CHECK(!text.empty());
  }

  std::vector<Cidr> trusted;
  Cidr c;
  CidrParse cp = parse_cidr(cidr_text, &c);
  if (cp != CidrParse::kError) {
    const size_t n = c.family == AF_INET ? 4 : c.family == AF_INET6 ? 16 : 0;
    for (size_t i = 0; i < n; ++i) FUZZ_CHECK((c.addr[i] & ~c.mask[i]) == 0);
    if (n) {
      SockAddr net{};
      if (c.family == AF_INET) {
        net.v4.sin_family = AF_INET;
        std::memcpy(&net.v4.sin_addr, c.addr.data(), 4);
      } else {
        net.v6.sin6_family = AF_INET6;
        std::memcpy(&net.v6.sin6_addr, c.addr.data(), 16);
      }
      // As nginx, a v4-mapped IPv6 address is matched against IPv4 blocks only, so a
      // "::ffff:a.b.c.d" block never matches itself.
      const bool mapped = c.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&net.v6.sin6_addr);
      FUZZ_CHECK(mapped || cidr_match(net, {c}));
    }
    trusted.push_back(c);
  }
  if (flags & 2) {
    Cidr all4, all6;
    FUZZ_CHECK(parse_cidr("0.0.0.0/0", &all4) == CidrParse::kOk);
    FUZZ_CHECK(parse_cidr("::/0", &all6) == CidrParse::kOk);
    trusted.push_back(all4);
    trusted.push_back(all6);
  }

  SockAddr peer{};
  if (flags & 4) {
    peer.v6.sin6_family = AF_INET6;
    peer.v6.sin6_addr = in6addr_loopback;
  } else {
    peer.v4.sin_family = AF_INET;
    peer.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  SockAddr before = peer;
  Forwarded f = forwarded_addr(peer, value, trusted, (flags & 1) != 0);
  if (f == Forwarded::kDeclined) {
    FUZZ_CHECK(std::memcmp(&before, &peer, sizeof peer) == 0);
  } else {
    FUZZ_CHECK(peer.sa.sa_family == AF_INET || peer.sa.sa_family == AF_INET6);
  }
  return 0;
}
