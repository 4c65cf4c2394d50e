// IpHashBalancer: `ip_hash` (ngx_http_upstream_ip_hash_module.c). Clients from one IPv4 /24 (or
// one IPv6 address) go to the same server while it is available. PickContext::hash_key holds
// the client address bytes (ip_hash_key()). Per worker; see balancer.h.
//
// nginx's algorithm: hash starts at 89; for each address byte hash = (hash * 113 + byte) % 6271;
// then w = hash % total_weight walks the primaries by weight (`down` and draining ones keep their
// place, so marking a server down remaps only its own clients; an added peer comes last in the
// walk, a removed one leaves it). An unusable pick hashes the address again
// into the running hash, up to 20 times; after that, round robin.
//
// nginx keeps the running hash and the 20-try budget per request across retries; we start from
// 89 on every pick. The earlier candidates of the sequence are tried or still unavailable, so
// a retry lands on the same peer nginx would choose; only the budget is per pick, not per
// request.
#pragma once

#include "upstream/balancer.h"

namespace portico::upstream {

class IpHashBalancer final : public Balancer {
 public:
  explicit IpHashBalancer(std::shared_ptr<const Group> group) : Balancer(std::move(group)) {}

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override;
};

// Maps `w` (< members.primary_weight()) to the primary whose weight range holds it, the walk
// shared by ip_hash and hash: `while (w >= peer->weight) { w -= peer->weight; peer++; }`.
uint32_t primary_by_weight(const MemberList& members, uint64_t w);

}  // namespace portico::upstream
