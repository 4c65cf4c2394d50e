// `hash KEY` and `hash KEY consistent` (ngx_http_upstream_hash_module.c). The caller evaluates
// KEY per request and passes it in PickContext::hash_key; an empty key means round robin, as in
// nginx. Per worker; see balancer.h.
//
// HashBalancer, nginx's non-consistent hash (compatible with Cache::Memcached): the running
// hash adds (crc32([REHASH] KEY) >> 16) & 0x7fff, REHASH being the decimal attempt number and
// omitted on the first; w = hash % total_weight walks the primaries by weight. Up to 20
// rehashes, then round robin. Adding or removing a server remaps most keys.
//
// ConsistentHashBalancer, nginx's ketama-like ring (compatible with Cache::Memcached::Fast):
// each server has 160 * weight points (MemberList::ring(), built by the publisher with each
// member list, so a worker adopting a list rebuilds nothing); a key goes to the first point at or
// after crc32(KEY), wrapping; if that server has no usable peer the next point is tried, up to
// 20, then round robin. Peers resolved from one `server` share its points and take turns by
// smooth weighted round robin. Adding one server to N remaps about 1/(N+1) of the keys.
//
// Like ip_hash, the running hash and try budget restart on every pick instead of carrying over
// between attempts of one request; retries land where nginx's would.
#pragma once

#include "upstream/balancer.h"

namespace portico::upstream {

class HashBalancer final : public Balancer {
 public:
  explicit HashBalancer(std::shared_ptr<const Group> group) : Balancer(std::move(group)) {}

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override;
};

class ConsistentHashBalancer final : public Balancer {
 public:
  explicit ConsistentHashBalancer(std::shared_ptr<const Group> group)
      : Balancer(std::move(group)) {}

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override;
};

// The first ring position whose point hash is >= `hash`; ring.size() when there is none (the
// caller wraps). nginx: ngx_http_upstream_find_chash_point.
size_t find_ring_point(const std::vector<MemberList::RingPoint>& ring, uint32_t hash);

}  // namespace portico::upstream
