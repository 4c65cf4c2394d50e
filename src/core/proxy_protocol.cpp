#include "core/proxy_protocol.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace portico {

namespace {

constexpr char kV2Sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV1Sig = "PROXY ";

ProxyParse fail(const char** why, const char* text) {
  if (why) *why = text;
  return ProxyParse::kError;
}

uint16_t be16(const char* p) {
  return uint16_t(uint8_t(p[0]) << 8 | uint8_t(p[1]));
}

bool addr_char(char c) {
  return c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// nginx's ngx_proxy_protocol_read_addr: hex digits, '.' and ':' up to a space, then an IPv4 or
// IPv6 address. Advances *pos past the space.
bool read_addr(std::string_view line, size_t* pos, std::string* text, SockAddr* sa) {
  size_t start = *pos, i = start;
  while (i < line.size() && line[i] != ' ') {
    if (!addr_char(line[i])) return false;
    ++i;
  }
  if (i == line.size() || i == start || i - start >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, line.data() + start, i - start);
  buf[i - start] = '\0';
  *sa = SockAddr{};
  if (inet_pton(AF_INET, buf, &sa->v4.sin_addr) == 1) {
    sa->v4.sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, buf, &sa->v6.sin6_addr) == 1) {
    sa->v6.sin6_family = AF_INET6;
  } else {
    return false;
  }
  text->assign(buf, i - start);
  *pos = i + 1;
  return true;
}

// nginx's ngx_proxy_protocol_read_port: decimal 0..65535 up to `sep`.
bool read_port(std::string_view line, size_t* pos, char sep, uint16_t* port) {
  size_t i = *pos;
  uint32_t v = 0;
  for (; i < line.size() && line[i] != sep; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
    v = v * 10 + uint32_t(line[i] - '0');
    if (v > 65535) return false;
  }
  if (i == line.size() || i == *pos) return false;
  *port = uint16_t(v);
  *pos = i + 1;
  return true;
}

void set_port(SockAddr& a, uint16_t port) {
  if (a.sa.sa_family == AF_INET)
    a.v4.sin_port = htons(port);
  else
    a.v6.sin6_port = htons(port);
}

ProxyParse parse_v1(std::string_view in, ProxyHeader* out, size_t* consumed, const char** why) {
  if (std::memcmp(in.data(), kV1Sig.data(), std::min(in.size(), kV1Sig.size())) != 0)
    return fail(why, "broken header");
  const size_t window = std::min(in.size(), kProxyV1MaxHeader);
  const size_t lf = in.substr(0, window).find('\n');
  if (lf == std::string_view::npos)
    return window < kProxyV1MaxHeader ? ProxyParse::kIncomplete : fail(why, "broken header");
  // The line without its LF; it must end in CR.
  std::string_view line = in.substr(0, lf);
  if (line.size() < 8 || line.back() != '\r') return fail(why, "broken header");
  std::string_view rest = line.substr(kV1Sig.size());
  *out = ProxyHeader{};
  out->version = 1;
  *consumed = lf + 1;
  if (rest.substr(0, 7) == "UNKNOWN") return ProxyParse::kComplete;  // the rest is ignored
  if (rest.size() < 5 || rest.substr(0, 3) != "TCP" || (rest[3] != '4' && rest[3] != '6') ||
      rest[4] != ' ')
    return fail(why, "broken header");
  size_t pos = 5;
  if (!read_addr(rest, &pos, &out->src_text, &out->src) ||
      !read_addr(rest, &pos, &out->dst_text, &out->dst) ||
      !read_port(rest, &pos, ' ', &out->src_port) || !read_port(rest, &pos, '\r', &out->dst_port) ||
      pos != rest.size())
    return fail(why, "broken header");
  set_port(out->src, out->src_port);
  set_port(out->dst, out->dst_port);
  out->has_addrs = true;
  return ProxyParse::kComplete;
}

ProxyParse parse_v2(std::string_view in, ProxyHeader* out, size_t* consumed, const char** why) {
  if (in.size() < 16) return ProxyParse::kIncomplete;
  const uint8_t ver_cmd = uint8_t(in[12]), fam = uint8_t(in[13]);
  if (ver_cmd >> 4 != 2) return fail(why, "unknown PROXY protocol version");
  const size_t len = be16(in.data() + 14);
  if (16 + len > kProxyMaxHeader) return fail(why, "header is too large");
  if (in.size() < 16 + len) return ProxyParse::kIncomplete;
  *out = ProxyHeader{};
  out->version = 2;
  *consumed = 16 + len;
  // Only PROXY over TCP (STREAM) on IPv4 or IPv6 carries addresses nginx keeps; LOCAL and the
  // rest are accepted and skipped.
  if ((ver_cmd & 0x0f) != 1 || (fam & 0x0f) != 1) return ProxyParse::kComplete;
  const char* p = in.data() + 16;
  size_t need;
  if (fam >> 4 == 1) {
    need = 12;
    if (len < need) return fail(why, "broken header");
    out->src.v4.sin_family = out->dst.v4.sin_family = AF_INET;
    std::memcpy(&out->src.v4.sin_addr, p, 4);
    std::memcpy(&out->dst.v4.sin_addr, p + 4, 4);
    p += 8;
  } else if (fam >> 4 == 2) {
    need = 36;
    if (len < need) return fail(why, "broken header");
    out->src.v6.sin6_family = out->dst.v6.sin6_family = AF_INET6;
    std::memcpy(&out->src.v6.sin6_addr, p, 16);
    std::memcpy(&out->dst.v6.sin6_addr, p + 16, 16);
    p += 32;
  } else {
    return ProxyParse::kComplete;
  }
  out->src_port = be16(p);
  out->dst_port = be16(p + 2);
  set_port(out->src, out->src_port);
  set_port(out->dst, out->dst_port);
  append_addr_text(out->src, out->src_text);
  append_addr_text(out->dst, out->dst_text);
  out->tlvs.assign(in.data() + 16 + need, len - need);
  out->has_addrs = true;
  return ProxyParse::kComplete;
}

// nginx's ngx_proxy_protocol_lookup_tlv: type(1) length(2) value, in order.
bool lookup_tlv(std::string_view tlvs, uint8_t type, std::string_view* value) {
  size_t p = 0;
  while (p < tlvs.size()) {
    if (tlvs.size() - p < 3) return false;  // broken TLV
    const uint8_t t = uint8_t(tlvs[p]);
    const size_t n = be16(tlvs.data() + p + 1);
    p += 3;
    if (tlvs.size() - p < n) return false;
    if (t == type) {
      *value = tlvs.substr(p, n);
      return true;
    }
    p += n;
  }
  return false;
}

struct TlvName {
  std::string_view name;
  uint8_t type;
};
constexpr TlvName kTlvs[] = {
    {"alpn", 0x01}, {"authority", 0x02}, {"unique_id", 0x05}, {"ssl", 0x20}, {"netns", 0x30}};
constexpr TlvName kSslTlvs[] = {
    {"version", 0x21}, {"cn", 0x22}, {"cipher", 0x23}, {"sig_alg", 0x24}, {"key_alg", 0x25}};

}  // namespace

ProxyParse parse_proxy_header(std::string_view in, ProxyHeader* out, size_t* consumed,
                              const char** why) {
  if (in.empty()) return ProxyParse::kIncomplete;
  if (in[0] == kV2Sig[0]) {
    if (std::memcmp(in.data(), kV2Sig, std::min(in.size(), sizeof kV2Sig)) != 0)
      return fail(why, "broken header");
    return parse_v2(in, out, consumed, why);
  }
  return parse_v1(in, out, consumed, why);
}

bool find_proxy_tlv(std::string_view tlvs, std::string_view name, std::string_view* value,
                    std::string* num) {
  if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
    unsigned type = 0;
    for (char c : name.substr(2)) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return false;
      type = type * 16 + unsigned(d);
      if (type > 0xff) return false;
    }
    return lookup_tlv(tlvs, uint8_t(type), value);
  }
  if (name.size() > 4 && name.substr(0, 4) == "ssl_") {
    std::string_view ssl;
    // The ssl TLV: client (1 byte), verify (4 bytes, big-endian), then sub-TLVs.
    if (!lookup_tlv(tlvs, 0x20, &ssl) || ssl.size() < 5) return false;
    if (name == "ssl_verify") {
      const uint32_t v = uint32_t(uint8_t(ssl[1])) << 24 | uint32_t(uint8_t(ssl[2])) << 16 |
                         uint32_t(uint8_t(ssl[3])) << 8 | uint32_t(uint8_t(ssl[4]));
      char buf[16];
      num->assign(buf, size_t(snprintf(buf, sizeof buf, "%u", v)));
      *value = *num;
      return true;
    }
    for (const TlvName& t : kSslTlvs)
      if (t.name == name.substr(4)) return lookup_tlv(ssl.substr(5), t.type, value);
    return false;
  }
  for (const TlvName& t : kTlvs)
    if (t.name == name) return lookup_tlv(tlvs, t.type, value);
  return false;
}

size_t write_proxy_v1(const SockAddr& src, const SockAddr& dst, char* out) {
  const int family = src.sa.sa_family;
  if ((family != AF_INET && family != AF_INET6) ||
      (dst.sa.sa_family != AF_INET && dst.sa.sa_family != AF_INET6)) {
    std::memcpy(out, "PROXY UNKNOWN\r\n", 15);
    return 15;
  }
  thread_local std::string text;  // reused: no allocation per connection once warm
  text.assign(family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ");
  append_addr_text(src, text);
  text += ' ';
  append_addr_text(dst, text);
  char ports[16];
  text.append(ports,
              size_t(snprintf(ports, sizeof ports, " %d %d\r\n", addr_port(src), addr_port(dst))));
  // Two IPv6 addresses of at most 39 characters each and two ports fit in 107 bytes.
  const size_t n = std::min(text.size(), kProxyV1MaxHeader);
  std::memcpy(out, text.data(), n);
  return n;
}

}  // namespace portico
