#include "core/sockaddr.h"

#include <arpa/inet.h>

namespace portico {

void append_addr_text(const SockAddr& a, std::string& out) {
  char buf[INET6_ADDRSTRLEN];
  if (a.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a.v4.sin_addr, buf, sizeof buf);
  } else if (a.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a.v6.sin6_addr, buf, sizeof buf);
  } else {
    out += "unix:";
    return;
  }
  out += buf;
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
