// The PROXY protocol (HAProxy's, versions 1 and 2): the header an L4 balancer (a cloud NLB,
// HAProxy, another portico or nginx) puts in front of a connection to hand over the client's
// address. Pure functions: parsing a received header (nginx's ngx_proxy_protocol_read) and
// writing a version 1 header (ngx_proxy_protocol_write), plus the TLV lookup behind
// $proxy_protocol_tlv_*. Used by http (`listen ... proxy_protocol`) and stream (the same, and
// `proxy_protocol on` towards upstreams). No state, no allocation except into the caller's
// ProxyHeader; callable from any thread.
//
//   ProxyHeader h;
//   size_t used = 0;
//   switch (parse_proxy_header(peeked, &h, &used, &why)) {
//     case ProxyParse::kComplete: consume(used); break;   // h.has_addrs: addresses known
//     case ProxyParse::kIncomplete: wait_for_more(); break;
//     case ProxyParse::kError: log(why); close(); break;
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/sockaddr.h"

namespace portico {

// A v1 header is at most 107 bytes (the spec's bound, which nginx keeps).
constexpr size_t kProxyV1MaxHeader = 107;
// The most a receiver reads looking for a header (nginx's NGX_PROXY_PROTOCOL_MAX_HEADER): a v2
// header with its TLVs must fit.
constexpr size_t kProxyMaxHeader = 4096;

// What a header said. Without addresses (v1 UNKNOWN, v2 LOCAL, a v2 family or transport other
// than TCP over IPv4/IPv6) only `version` is set: nginx then keeps no PROXY protocol data.
struct ProxyHeader {
  uint8_t version = 0;  // 1 or 2
  bool has_addrs = false;
  // Addresses as nginx shows them: v1 the text as received (validated), v2 printed.
  std::string src_text, dst_text;
  uint16_t src_port = 0, dst_port = 0;
  SockAddr src{}, dst{};  // the same, parsed, ports set (realip uses src)
  std::string tlvs;       // v2: the TLV bytes after the addresses, unparsed
};

enum class ProxyParse : uint8_t {
  kComplete,    // *out filled, *consumed = the header's length
  kIncomplete,  // a valid prefix: read more (at most kProxyMaxHeader in all)
  kError,       // not a PROXY protocol header (or a broken one): close the connection
};

// Parses the header at the start of `in` (what a connection received first). On kError `why`
// (if given) names the fault in nginx's words ("broken header", "unknown PROXY protocol
// version", "header is too large"). Never reads past `in`.
ProxyParse parse_proxy_header(std::string_view in, ProxyHeader* out, size_t* consumed,
                              const char** why = nullptr);

// Looks up a v2 TLV by nginx's variable name ($proxy_protocol_tlv_NAME): "alpn", "authority",
// "unique_id", "netns", "ssl" (the whole value), "ssl_version", "ssl_cn", "ssl_cipher",
// "ssl_sig_alg", "ssl_key_alg" (sub-TLVs of ssl), "ssl_verify" (decimal, appended to `num`
// storage), or "0xHH" (a type in hex). Returns false when absent, unknown or malformed.
// `*value` points into `tlvs` (or into `num` for ssl_verify).
bool find_proxy_tlv(std::string_view tlvs, std::string_view name, std::string_view* value,
                    std::string* num);

// Writes nginx's v1 header for a connection from `src` to `dst` ("PROXY TCP4 a b p q\r\n", or
// "PROXY UNKNOWN\r\n" for other families) into `out`, which holds kProxyV1MaxHeader bytes.
// Returns its length.
size_t write_proxy_v1(const SockAddr& src, const SockAddr& dst, char* out);

}  // namespace portico
