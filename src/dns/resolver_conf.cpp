#include "dns/resolver_conf.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

#include <fmt/format.h>

#include "core/strings.h"

namespace portico::dns {

namespace {

bool on_off(std::string_view v, bool* out) {
  if (v == "on")
    *out = true;
  else if (v == "off")
    *out = false;
  else
    return false;
  return true;
}

// "host", "host:port", "[v6]", "[v6]:port", bare "v6" -> host and port text.
bool split_host_port(const std::string& a, std::string* host, std::string* port) {
  if (!a.empty() && a[0] == '[') {
    auto close = a.find(']');
    if (close == std::string::npos) return false;
    *host = a.substr(1, close - 1);
    if (close + 1 == a.size()) return true;
    if (a[close + 1] != ':') return false;
    *port = a.substr(close + 2);
    return true;
  }
  auto colon = a.find(':');
  if (colon != std::string::npos && a.find(':', colon + 1) != std::string::npos) {
    *host = a;  // a bare IPv6 address: no port
    return true;
  }
  *host = a.substr(0, colon);
  if (colon != std::string::npos) *port = a.substr(colon + 1);
  return true;
}

bool add_address(const std::string& a, ResolverConf* out, std::string* error) {
  std::string host, port_text;
  if (!split_host_port(a, &host, &port_text) || host.empty()) {
    *error = fmt::format("no host in resolver \"{}\"", a);
    return false;
  }
  uint16_t port = 53;
  if (!port_text.empty() || (a.size() > 0 && a.back() == ':')) {
    auto p = parse_uint(port_text);
    if (!p || *p < 1 || *p > 65535) {
      *error = fmt::format("invalid port in resolver \"{}\"", a);
      return false;
    }
    port = uint16_t(*p);
  }
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) {
    *error = fmt::format("host not found in resolver \"{}\"", a);
    return false;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    SockAddr s{};
    if (ai->ai_family == AF_INET) {
      std::memcpy(&s.v4, ai->ai_addr, sizeof s.v4);
      s.v4.sin_port = htons(port);
    } else if (ai->ai_family == AF_INET6) {
      std::memcpy(&s.v6, ai->ai_addr, sizeof s.v6);
      s.v6.sin6_port = htons(port);
    } else {
      continue;
    }
    out->servers.push_back(s);
  }
  freeaddrinfo(res);
  return true;
}

}  // namespace

std::string ResolverConf::servers_csv() const {
  std::string s;
  for (const SockAddr& a : servers) {
    if (!s.empty()) s += ',';
    if (a.sa.sa_family == AF_INET6) {
      s += '[';
      append_addr_text(a, s);
      s += ']';
    } else {
      append_addr_text(a, s);
    }
    s += fmt::format(":{}", addr_port(a));
  }
  return s;
}

std::string ResolverConf::key() const {
  return fmt::format("{} valid={} ipv4={} ipv6={}", servers_csv(), valid_ms, ipv4, ipv6);
}

bool parse_resolver(std::span<const std::string> args, ResolverConf* out, std::string* error) {
  ResolverConf rc;
  for (const std::string& a : args) {
    std::string_view v(a);
    if (v.starts_with("valid=")) {
      auto t = parse_time_ms(v.substr(6));
      if (!t) {
        *error = fmt::format("invalid parameter: {}", a);
        return false;
      }
      rc.valid_ms = *t;
    } else if (v.starts_with("ipv4=") || v.starts_with("ipv6=")) {
      if (!on_off(v.substr(5), v[3] == '4' ? &rc.ipv4 : &rc.ipv6)) {
        *error = fmt::format("invalid parameter: {}", a);
        return false;
      }
    } else if (v.starts_with("status_zone=")) {
      // NGINX Plus' resolver statistics (open source since 1.27.x): accepted; portico keeps
      // no per-resolver counters yet.
    } else if (!add_address(a, &rc, error)) {
      return false;
    }
  }
  if (!rc.ipv4 && !rc.ipv6) {
    *error = "\"ipv4\" and \"ipv6\" cannot both be \"off\"";
    return false;
  }
  if (rc.servers.empty()) {
    *error = "no name servers defined";
    return false;
  }
  *out = std::move(rc);
  return true;
}

}  // namespace portico::dns
