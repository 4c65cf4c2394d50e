#include "core/sockaddr.h"

#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>

namespace portico {

namespace {

// nginx's ngx_inet6_ntop, which differs from inet_ntop(3) on a few addresses (it prints
// "::0.0.18.52" for ::1234): the first longest run of two or more zero words becomes "::";
// ::a.b.c.d when only the last 32 bits (not ::1) or the IPv4-mapped bits are set.
void append_inet6(const uint8_t* p, std::string& out) {
  size_t zero = SIZE_MAX, last = SIZE_MAX, max = 1, n = 0;
  for (size_t i = 0; i < 16; i += 2) {
    if (p[i] || p[i + 1]) {
      if (max < n) {
        zero = last;
        max = n;
      }
      n = 0;
      continue;
    }
    if (n++ == 0) last = i;
  }
  if (max < n) {
    zero = last;
    max = n;
  }
  size_t words_end = 16;
  if (zero == 0) {
    if ((max == 5 && p[10] == 0xff && p[11] == 0xff) || max == 6 ||
        (max == 7 && p[14] != 0 && p[15] != 1))
      words_end = 12;
    out += ':';
  }
  char buf[20];
  for (size_t i = 0; i < words_end; i += 2) {
    if (i == zero) {
      out += ':';
      i += (max - 1) * 2;
      continue;
    }
    out.append(buf, size_t(snprintf(buf, sizeof buf, "%x", unsigned(p[i] << 8 | p[i + 1]))));
    if (i < 14) out += ':';
  }
  if (words_end == 12)
    out.append(buf, size_t(snprintf(buf, sizeof buf, "%u.%u.%u.%u", p[12], p[13], p[14], p[15])));
}

}  // namespace

void append_addr_text(const SockAddr& a, std::string& out) {
  if (a.sa.sa_family == AF_INET) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.v4.sin_addr, buf, sizeof buf);
    out += buf;
  } else if (a.sa.sa_family == AF_INET6) {
    append_inet6(reinterpret_cast<const uint8_t*>(&a.v6.sin6_addr), out);
  } else {
    out += "unix:";
  }
}

std::string addr_text(const SockAddr& a) {
  std::string s;
  append_addr_text(a, s);
  return s;
}

int addr_port(const SockAddr& a) {
  if (a.sa.sa_family == AF_INET) return ntohs(a.v4.sin_port);
  if (a.sa.sa_family == AF_INET6) return ntohs(a.v6.sin6_port);
  return 0;
}

}  // namespace portico
