// UpstreamConf: an upstream group with its connection-pool and queue settings (an `upstream`
// block, or the implicit group of `proxy_pass http://host:port`). Built with the snapshot,
// read-only afterwards, shared by all workers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dns/resolver_conf.h"

#include "upstream/group.h"

namespace portico::upstream {

// An upstream group with its connection-pool settings (`upstream` block or the implicit group
// of `proxy_pass http://host:port`).
struct UpstreamConf {
  std::shared_ptr<const Group> group;
  uint32_t keepalive = 0;  // idle connections kept per worker (nginx: per worker process)
  uint64_t keepalive_timeout_ms = 60'000;
  uint32_t keepalive_requests = 1000;
  // keepalive_time: a connection older than this is not kept for another request.
  uint64_t keepalive_time_ms = 3'600'000;
  bool implicit = false;  // made for a proxy_pass URL, not an upstream block
  // Where `hash KEY` stands (the key's text is group->config().hash_key), for errors the
  // protocol module reports when it compiles the key.
  std::string hash_file;
  int hash_line = 0;
  // `queue N timeout=T`: a request that finds no peer available (all at max_conns, failed out,
  // unhealthy, draining, or none at all) waits, FIFO per worker, in the group's LocalGroup.
  uint32_t queue_max = 0;
  uint64_t queue_timeout_ms = 60'000;
  // `server app:NAME`: the group's members are the ready processes of managed app NAME
  // (apps/), published while running; the group starts empty.
  std::string app;
  // `server NAME resolve` (nginx 1.27): NAME is looked up at run time by the control thread's
  // resolver (upstream/dns_refresh.h), again as its TTL runs out, and its addresses become the
  // group's members beside the other servers (static_peers), which are kept as configured.
  struct ResolvedServer {
    std::string server;  // as written, "backend.example.com:8080": the peers' `server`
    std::string host;
    uint16_t port = 80;
    PeerConfig params;  // weight, max_fails ... for every address of the name
  };
  std::vector<ResolvedServer> resolve;
  std::vector<PeerConfig> static_peers;
  std::shared_ptr<const dns::ResolverConf> resolver;  // the upstream's or the http/stream one
  uint64_t resolver_timeout_ms = dns::kDefaultTimeoutMs;
  std::string file;
  int line = 0;
};

}  // namespace portico::upstream
