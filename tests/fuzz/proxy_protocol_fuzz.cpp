// Fuzzes the PROXY protocol header parser (v1 text and v2 binary) and the TLV lookup behind
// $proxy_protocol_tlv_*, which read bytes straight from untrusted peers.
// Input: the bytes a connection received first. Invariants: a complete header consumed at most
// what was given and at most kProxyMaxHeader (kProxyV1MaxHeader for v1); a header with
// addresses has IPv4/IPv6 addresses whose text parses and whose ports match; the same input cut
// anywhere before its end is never an error when the whole was complete (a prefix of a valid
// header is "incomplete", so a slow sender is not cut off); every TLV name lookup terminates.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/proxy_protocol.h"

using namespace portico;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  std::string_view in(reinterpret_cast<const char*>(data), len);
  ProxyHeader h;
  size_t used = 0;
  const char* why = nullptr;
  ProxyParse st = parse_proxy_header(in, &h, &used, &why);
  if (st == ProxyParse::kError) {
    FUZZ_CHECK(why != nullptr);
    return 0;
  }
  if (st == ProxyParse::kIncomplete) {
    FUZZ_CHECK(len < kProxyMaxHeader);
    return 0;
  }
  FUZZ_CHECK(used > 0 && used <= len && used <= kProxyMaxHeader);
  FUZZ_CHECK(h.version == 1 || h.version == 2);
  if (h.version == 1) FUZZ_CHECK(used <= kProxyV1MaxHeader);
  if (h.has_addrs) {
    for (const SockAddr* a : {&h.src, &h.dst})
      FUZZ_CHECK(a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6);
    FUZZ_CHECK(addr_port(h.src) == h.src_port && addr_port(h.dst) == h.dst_port);
    unsigned char buf[16];
    FUZZ_CHECK(inet_pton(AF_INET, h.src_text.c_str(), buf) == 1 ||
               inet_pton(AF_INET6, h.src_text.c_str(), buf) == 1);
  }
  // Every prefix of a complete header is incomplete, not an error.
  for (size_t cut = 0; cut < used; cut += 1 + cut / 8) {
    ProxyHeader p;
    size_t u = 0;
    FUZZ_CHECK(parse_proxy_header(in.substr(0, cut), &p, &u) == ProxyParse::kIncomplete);
  }
  static const char* kNames[] = {"alpn",       "authority",   "unique_id",   "ssl",
                                 "netns",      "ssl_verify",  "ssl_cn",      "ssl_version",
                                 "ssl_cipher", "ssl_sig_alg", "ssl_key_alg", "0x00",
                                 "0xE0",       "0x",          "0xfff"};
  std::string num;
  for (const char* n : kNames) {
    std::string_view v;
    if (find_proxy_tlv(h.tlvs, n, &v, &num) && v.data() != num.data())
      FUZZ_CHECK(v.data() >= h.tlvs.data() && v.data() + v.size() <= h.tlvs.data() + h.tlvs.size());
  }
  return 0;
}
