// The status pages: `portico_status;` (JSON) and `portico_metrics;` (Prometheus' text format)
// in a location, as nginx's stub_status and the NGINX Plus API are used: the workers'
// connection and request counters, every http upstream's peers (requests, in flight,
// failures, health) and the managed apps with their processes (apps/supervisor.h's status).
// Restrict them as any location (allow/deny). Reading them takes no lock a request path takes:
// worker counters are single-writer atomics (http/worker_stats.h), peers' are PeerState's, the
// apps' figures a snapshot the supervisor publishes once a second.
#pragma once

#include <vector>

#include "http/module.h"
#include "http/worker_stats.h"

namespace portico::server {

extern http::Module status_module;

// The workers' counters, published by Runtime::start once the workers exist (they are fixed
// for the life of the process).
void publish_worker_stats(std::vector<const http::WorkerStats*> all);

}  // namespace portico::server
