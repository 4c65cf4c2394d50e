// Address text and CIDR blocks the way nginx reads them (src/core/ngx_inet.c): the parsers
// behind set_real_ip_from and the realip module's header values. They follow nginx to the
// letter, quirks included: "1..2.3" is 1.0.2.3, "010.1.1.1" is 10.1.1.1, "255.255.255.255" is
// not an address (it is INADDR_NONE), ":1::2" is 1::2, "[::1]" without a port is refused.
// Pure functions: no allocation, any thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"

namespace portico::http {

// One trusted block: an IPv4 or IPv6 network, or every unix-domain peer (family AF_UNIX).
struct Cidr {
  int family = AF_INET;
  std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes, masked
  std::array<uint8_t, 16> mask{};
};

enum class CidrParse : uint8_t {
  kOk,
  kLowBits,  // valid, but bits outside the mask were set (nginx warns and clears them)
  kError,
};

// nginx's ngx_inet_addr: dotted quad, decimal octets of at most 255, empty octets read as 0.
// Returns false for anything else and for 255.255.255.255 (nginx's INADDR_NONE).
bool parse_ipv4(std::string_view text, uint8_t out[4]);
// nginx's ngx_inet6_addr: RFC 4291 text with "::" and a trailing dotted quad.
bool parse_ipv6(std::string_view text, uint8_t out[16]);
// nginx's ngx_parse_addr_port: "addr", "ipv4:port" or "[ipv6]:port" (port 1..65535). The
// port is 0 when absent. Returns false if the text is none of these.
bool parse_addr_port(std::string_view text, SockAddr* out);
// nginx's ngx_ptocidr: "addr" (a /32 or /128) or "addr/bits".
CidrParse parse_cidr(std::string_view text, Cidr* out);
// A one-address block for a resolved host name.
Cidr cidr_of(const sockaddr* sa);

// nginx's ngx_cidr_match: true if `a` is in one of `list`. An IPv4-mapped IPv6 address is
// matched against the IPv4 blocks; a unix-domain peer matches an AF_UNIX entry.
bool cidr_match(const SockAddr& a, const std::vector<Cidr>& list);

}  // namespace portico::http
