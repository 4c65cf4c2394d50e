// The realip module's directives (nginx's ngx_http_realip_module): which peers are trusted
// and which header names the client. The module runs in post-read and preaccess
// (http/realip.cpp).
#include <netdb.h>

#include <fmt/format.h>

#include "core/strings.h"
#include "http/connection.h"
#include "http/http_modules.h"
#include "http/level.h"
#include "http/request.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

void set_real_ip_from(Level& lv, const Directive& d) {
  // A level's own list replaces the inherited one, as nginx merges `from`.
  RealIpConf& conf = lv.loc.realip;
  if (lv.first(d)) conf.from.clear();
  const std::string& v = d.args[0];
  if (v == "unix:") {
    Cidr c;
    c.family = AF_UNIX;
    conf.from.push_back(c);
    return;
  }
  Cidr c;
  CidrParse rc = parse_cidr(v, &c);
  if (rc != CidrParse::kError) {
    if (rc == CidrParse::kLowBits)
      lv.warn(fmt::format("low address bits of {} are meaningless in {}:{}", v, d.file, d.line));
    conf.from.push_back(c);
    return;
  }
  // Not an address: a host name (nginx tries this for a bad CIDR too, hence its message).
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(v.c_str(), nullptr, &hints, &res) != 0 || !res) {
    lv.error(d, fmt::format("host not found in set_real_ip_from \"{}\"", v));
    return;
  }
  for (const addrinfo* ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
      conf.from.push_back(cidr_of(ai->ai_addr));
  freeaddrinfo(res);
}

void set_real_ip_header(Level& lv, const Directive& d) {
  const auto& a = d.args;
  RealIpConf& conf = lv.loc.realip;
  if (a[0] == "X-Real-IP") {
    conf.source = RealIpSource::kXRealIp;
  } else if (a[0] == "X-Forwarded-For") {
    conf.source = RealIpSource::kXForwardedFor;
  } else if (a[0] == "proxy_protocol") {
    // nginx accepts it whatever the listeners say; a connection without a PROXY protocol
    // header (or one without addresses) keeps its address.
    conf.source = RealIpSource::kProxyProtocol;
  } else {
    // Any other spelling, "x-forwarded-for" included, is a plain field: its first header.
    conf.source = RealIpSource::kHeader;
    conf.header = to_lower(a[0]);
  }
}

void set_real_ip_recursive(Level& lv, const Directive& d) {
  lv.flag(d, &lv.loc.realip.recursive);
}

// The connection's own address and port, whatever realip made of $remote_addr.
const VariableDef kVariables[] = {
    {"realip_remote_addr",
     [](Request& r, const VarRef&, std::string& out) {
       append_addr_text(r.conn->peer(), out);
       return true;
     }},
    {"realip_remote_port",
     [](Request& r, const VarRef&, std::string& out) {
       if (int port = addr_port(r.conn->peer())) append_uint(out, uint64_t(port));
       return true;
     }},
};

const Command kCommands[] = {
    {{"set_real_ip_from", kHSL, 1, 1, BlockKind::kNone, 0, false}, set_real_ip_from},
    {{"real_ip_header", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_real_ip_header},
    {{"real_ip_recursive", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_real_ip_recursive},
};

}  // namespace

Module realip_module = {.name = "realip", .commands = kCommands, .variables = kVariables};

}  // namespace portico::http
