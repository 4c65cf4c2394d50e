#include "http/realip.h"

#include <arpa/inet.h>

#include "core/strings.h"
#include "http/connection.h"
#include "http/request.h"

namespace portico::http {

namespace {

bool is_separator(char c) {
  return c == ' ' || c == ',';
}

}  // namespace

// nginx's ngx_http_get_forwarded_addr_internal, byte for byte: the first byte of the value is
// never taken for a separator, so ",1.2.3.4" is one (unparsable) address.
Forwarded forwarded_addr(SockAddr& addr, std::string_view value, const std::vector<Cidr>& trusted,
                         bool recursive) {
  bool found = false;
  size_t len = value.size();  // the part of `value` not walked yet; shrinks every round
  for (;;) {
    if (!cidr_match(addr, trusted)) return found ? Forwarded::kDone : Forwarded::kDeclined;
    if (len == 0) return found ? Forwarded::kDone : Forwarded::kDeclined;  // an empty value
    size_t end = len;
    while (end > 1 && is_separator(value[end - 1])) --end;
    size_t k = end - 1;
    while (k > 0 && !is_separator(value[k])) --k;
    const size_t start = k > 0 ? k + 1 : 0;
    SockAddr next;
    if (!parse_addr_port(value.substr(start, end - start), &next))
      return found ? Forwarded::kDone : Forwarded::kDeclined;
    addr = next;
    found = true;
    if (!recursive || start == 0) return Forwarded::kOk;
    len = start - 1;  // >= 1: drops the separator before this address
  }
}

Forwarded forwarded_addr(SockAddr& addr, const std::vector<Header>& headers, std::string_view lname,
                         const std::vector<Cidr>& trusted, bool recursive) {
  Forwarded rc = Forwarded::kDeclined;
  bool found = false;
  for (size_t i = headers.size(); i-- > 0;) {
    if (!iequals(headers[i].name, lname)) continue;
    rc = forwarded_addr(addr, headers[i].value, trusted, recursive);
    if (!recursive) break;
    if (rc == Forwarded::kDeclined && found) return Forwarded::kDone;
    if (rc != Forwarded::kOk) break;
    found = true;
  }
  return rc;
}

void apply_realip_trusted(Request& r, const RealIpConf& conf) {
  if (r.realip_set) return;
  SockAddr addr = r.conn->peer();
  Forwarded rc = Forwarded::kDeclined;
  const Header* h = nullptr;
  switch (conf.source) {
    case RealIpSource::kXRealIp:
      h = r.head.find("x-real-ip");
      break;
    case RealIpSource::kXForwardedFor:
      rc = forwarded_addr(addr, r.head.headers, "x-forwarded-for", conf.from, conf.recursive);
      break;
    case RealIpSource::kHeader:
      h = r.head.find(conf.header);
      break;
    case RealIpSource::kProxyProtocol:
      // The header's source address, if the connection is trusted; its port comes along.
      if (const ProxyHeader* pp = r.conn->proxy_protocol()) {
        rc = forwarded_addr(addr, pp->src_text, conf.from, conf.recursive);
        if (rc != Forwarded::kDeclined) {
          if (addr.sa.sa_family == AF_INET)
            addr.v4.sin_port = htons(pp->src_port);
          else if (addr.sa.sa_family == AF_INET6)
            addr.v6.sin6_port = htons(pp->src_port);
        }
      }
      break;
  }
  if (h) rc = forwarded_addr(addr, h->value, conf.from, conf.recursive);
  if (rc == Forwarded::kDeclined) return;
  r.realip_addr = addr;
  r.realip_set = true;
}

}  // namespace portico::http
