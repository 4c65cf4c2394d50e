#include "http/cidr.h"

#include <arpa/inet.h>

#include <cstring>

namespace portico::http {

namespace {

// nginx's ngx_atoi: decimal digits only; -1 when empty, not a number or too large.
// (Our callers want at most 65535, so "too large" starts far lower than nginx's limit.)
int64_t parse_decimal(std::string_view s) {
  if (s.empty()) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
    if (v > 1'000'000'000) return -1;
  }
  return v;
}

}  // namespace

bool parse_ipv4(std::string_view text, uint8_t out[4]) {
  uint32_t addr = 0, octet = 0, dots = 0;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      octet = octet * 10 + uint32_t(c - '0');
      if (octet > 255) return false;
      continue;
    }
    if (c != '.') return false;
    addr = (addr << 8) + octet;  // a fourth dot shifts the first octet out, as in nginx
    octet = 0;
    ++dots;
  }
  if (dots != 3) return false;
  addr = (addr << 8) + octet;
  if (addr == 0xffffffffu) return false;  // INADDR_NONE is nginx's "not an address"
  out[0] = uint8_t(addr >> 24);
  out[1] = uint8_t(addr >> 16);
  out[2] = uint8_t(addr >> 8);
  out[3] = uint8_t(addr);
  return true;
}

bool parse_ipv6(std::string_view text, uint8_t out[16]) {
  if (text.empty()) return false;
  const char* p = text.data();
  size_t len = text.size();
  uint8_t* a = out;
  uint8_t* zero = nullptr;      // where "::" stands
  const char* digit = nullptr;  // start of the current group (for a trailing dotted quad)
  size_t len4 = 0;              // bytes left from `digit - 1`
  uint32_t nibbles = 0, word = 0, n = 8;
  if (p[0] == ':') {  // nginx skips one leading ':' ("::1" and also ":1::2")
    ++p;
    --len;
  }
  for (; len; --len) {
    char c = *p++;
    if (c == ':') {
      if (nibbles) {
        digit = p;
        len4 = len;
        *a++ = uint8_t(word >> 8);
        *a++ = uint8_t(word & 0xff);
        if (--n) {
          nibbles = 0;
          word = 0;
          continue;
        }
      } else if (zero == nullptr) {
        digit = p;
        len4 = len;
        zero = a;
        continue;
      }
      return false;
    }
    if (c == '.' && nibbles) {
      uint8_t v4[4];
      if (n < 2 || digit == nullptr || !parse_ipv4(std::string_view(digit, len4 - 1), v4))
        return false;
      *a++ = v4[0];
      *a++ = v4[1];
      word = uint32_t(v4[2]) << 8 | v4[3];  // the last two bytes are stored below
      --n;
      break;
    }
    if (++nibbles > 4) return false;
    if (c >= '0' && c <= '9') {
      word = word * 16 + uint32_t(c - '0');
      continue;
    }
    c = char(c | 0x20);
    if (c >= 'a' && c <= 'f') {
      word = word * 16 + uint32_t(c - 'a') + 10;
      continue;
    }
    return false;
  }
  if (nibbles == 0 && zero == nullptr) return false;
  *a++ = uint8_t(word >> 8);
  *a++ = uint8_t(word & 0xff);
  if (--n) {
    if (!zero) return false;
    // Move what follows "::" to the end and fill the gap with zeros.
    size_t gap = size_t(n) * 2;
    size_t tail = size_t(a - zero);
    std::memmove(zero + gap, zero, tail);
    std::memset(zero, 0, gap);
    return true;
  }
  return zero == nullptr;
}

bool parse_addr_port(std::string_view text, SockAddr* out) {
  std::memset(out, 0, sizeof *out);
  auto parse_addr = [out](std::string_view t) {
    uint8_t b[16];
    if (parse_ipv4(t, b)) {
      out->v4.sin_family = AF_INET;
      std::memcpy(&out->v4.sin_addr, b, 4);
      return true;
    }
    if (parse_ipv6(t, b)) {
      out->v6.sin6_family = AF_INET6;
      std::memcpy(&out->v6.sin6_addr, b, 16);
      return true;
    }
    return false;
  };
  if (parse_addr(text)) return true;
  size_t colon;
  std::string_view host;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 == text.size() || text[close + 1] != ':')
      return false;
    colon = close + 1;
    host = text.substr(1, close - 1);
  } else {
    colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
  }
  int64_t port = parse_decimal(text.substr(colon + 1));
  if (port < 1 || port > 65535) return false;
  if (!parse_addr(host)) return false;
  if (out->sa.sa_family == AF_INET)
    out->v4.sin_port = htons(uint16_t(port));
  else
    out->v6.sin6_port = htons(uint16_t(port));
  return true;
}

CidrParse parse_cidr(std::string_view text, Cidr* out) {
  *out = Cidr{};
  size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  size_t bits_max;
  if (parse_ipv4(addr, out->addr.data())) {
    out->family = AF_INET;
    bits_max = 32;
  } else if (parse_ipv6(addr, out->addr.data())) {
    out->family = AF_INET6;
    bits_max = 128;
  } else {
    return CidrParse::kError;
  }
  int64_t bits = int64_t(bits_max);
  if (slash != std::string_view::npos) {
    bits = parse_decimal(text.substr(slash + 1));
    if (bits < 0 || bits > int64_t(bits_max)) return CidrParse::kError;
  }
  CidrParse rc = CidrParse::kOk;
  for (size_t i = 0; i < bits_max / 8; ++i) {
    int64_t s = bits > 8 ? 8 : bits;
    bits -= s;
    out->mask[i] = uint8_t(0xff00u >> s);
    if (out->addr[i] & ~out->mask[i]) {
      rc = CidrParse::kLowBits;
      out->addr[i] &= out->mask[i];
    }
  }
  return rc;
}

Cidr cidr_of(const sockaddr* sa) {
  Cidr c;
  c.family = sa->sa_family;
  if (sa->sa_family == AF_INET6) {
    std::memcpy(c.addr.data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    c.mask.fill(0xff);
  } else {
    std::memcpy(c.addr.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    std::memset(c.mask.data(), 0xff, 4);
  }
  return c;
}

bool cidr_match(const SockAddr& a, const std::vector<Cidr>& list) {
  int family = a.sa.sa_family;
  const uint8_t* bytes = nullptr;
  if (family == AF_INET) {
    bytes = reinterpret_cast<const uint8_t*>(&a.v4.sin_addr);
  } else if (family == AF_INET6) {
    bytes = reinterpret_cast<const uint8_t*>(&a.v6.sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&a.v6.sin6_addr)) {
      family = AF_INET;
      bytes += 12;
    }
  }
  const size_t len = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
  for (const Cidr& c : list) {
    if (c.family != family) continue;
    bool in = true;
    for (size_t i = 0; i < len && in; ++i) in = (bytes[i] & c.mask[i]) == c.addr[i];
    if (in) return true;
  }
  return false;
}

}  // namespace portico::http
