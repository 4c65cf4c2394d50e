// The realip module (nginx's ngx_http_realip_module): when the connection comes from a
// trusted address (set_real_ip_from), the request's client address becomes the one a header
// names (real_ip_header, real_ip_recursive). It runs twice, as in nginx: right after the head
// is read, with the server's settings (post-read phase), and again before access checks with
// the location's (preaccess phase); the first change wins and lasts for that request only.
//
// Settings live in the config snapshot (immutable, shared by all workers); apply_realip runs
// on the worker thread that owns the request. A location without set_real_ip_from costs one
// emptiness check.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"
#include "http/cidr.h"
#include "http/parser.h"

namespace portico::http {

struct Request;

enum class RealIpSource : uint8_t {
  kXRealIp,        // real_ip_header X-Real-IP (the default): the first such header
  kXForwardedFor,  // real_ip_header X-Forwarded-For: every such header, last first
  kHeader,         // real_ip_header <field>: the first header of that name
  kProxyProtocol,  // real_ip_header proxy_protocol: the PROXY protocol header's source
};

// The realip settings of one location level, inherited field by field as nginx merges them.
struct RealIpConf {
  std::vector<Cidr> from;  // set_real_ip_from; empty = realip off
  RealIpSource source = RealIpSource::kXRealIp;
  std::string header;  // kHeader: the field name, lowercased
  bool recursive = false;
};

// What nginx's ngx_http_get_forwarded_addr reports.
enum class Forwarded : uint8_t {
  kDeclined,  // the address is not trusted or the last value does not parse: unchanged
  kOk,        // replaced, and every address walked was trusted
  kDone,      // replaced; the walk stopped at an untrusted or unparsable address
};

// Walks one header value from the right, as nginx does: while `addr` is trusted, it becomes
// the value's last address ("a, b" "a b" "a,,b" are lists; "addr", "v4:port", "[v6]:port");
// without `recursive` only the last one is taken. REQUIRES: `addr` is the connection's peer
// or the result of a previous walk.
Forwarded forwarded_addr(SockAddr& addr, std::string_view value, const std::vector<Cidr>& trusted,
                         bool recursive);
// The same over every header named `lname` (lowercase), the last header first, as if they
// were one list (nginx's X-Forwarded-For handling).
Forwarded forwarded_addr(SockAddr& addr, const std::vector<Header>& headers, std::string_view lname,
                         const std::vector<Cidr>& trusted, bool recursive);

// The realip handler: changes r's client address per `conf` unless a previous call did.
// Allocates nothing; without set_real_ip_from it is one inline test.
void apply_realip_trusted(Request& r, const RealIpConf& conf);
inline void apply_realip(Request& r, const RealIpConf& conf) {
  if (!conf.from.empty()) apply_realip_trusted(r, conf);
}

}  // namespace portico::http
