// ResolverConf: what a `resolver` directive says (nginx's ngx_resolver_create arguments): the
// DNS servers to ask, `valid=` (a fixed lifetime for answers instead of their TTLs) and which
// address families to look up. `resolver_timeout` is a separate directive; the two meet in
// dns::Resolver. Plain data, built on the control thread while a snapshot is built, shared
// read-only (std::shared_ptr<const ResolverConf>) by every worker afterwards.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/sockaddr.h"

namespace portico::dns {

struct ResolverConf {
  std::vector<SockAddr> servers;  // each with its port (53 unless given)
  uint64_t valid_ms = 0;          // valid=T; 0 = each answer's TTL
  bool ipv4 = true;               // ipv4=off (nginx 1.23.1)
  bool ipv6 = true;               // ipv6=off
  // The servers as c-ares takes them ("127.0.0.1:53,[::1]:5353").
  std::string servers_csv() const;
  // Identity of the configuration: equal keys make equal resolvers (a worker shares one
  // resolver, and its answer cache, among the locations and reloads that configure the same).
  std::string key() const;
};

// nginx's default resolver_timeout.
constexpr uint64_t kDefaultTimeoutMs = 30'000;

// Parses the arguments of `resolver ADDRESS ... [valid=TIME] [ipv4=on|off] [ipv6=on|off]
// [status_zone=NAME]`. An ADDRESS is an IPv4 address, [IPv6] or bare IPv6, or a host name
// resolved now (nginx resolves it while reading the configuration), each with an optional
// :PORT. Returns false with nginx's message in *error (the caller adds " in FILE:LINE").
bool parse_resolver(std::span<const std::string> args, ResolverConf* out, std::string* error);

}  // namespace portico::dns
