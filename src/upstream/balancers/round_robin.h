// RoundRobinBalancer: nginx's default method, smooth weighted round robin
// (ngx_http_upstream_round_robin.c). For weights {a=5, b=1, c=1} it yields a a b a c a a, the
// sequence nginx documents, rather than a burst of five a's. Per worker; see balancer.h.
#pragma once

#include "upstream/balancer.h"

namespace portico::upstream {

class RoundRobinBalancer final : public Balancer {
 public:
  explicit RoundRobinBalancer(std::shared_ptr<const Group> group) : Balancer(std::move(group)) {}

 protected:
  int select(const PickContext& ctx, const TriedSet& tried) override {
    return round_robin(tried, ctx.now_ms);
  }
};

}  // namespace portico::upstream
