// The status pages: `portico_status;` (JSON) and `portico_metrics;` (Prometheus' text format)
// in a location, as nginx's stub_status and the NGINX Plus API are used: the workers'
// connection and request counters, every http upstream's peers (requests, in flight,
// failures, health) and the managed apps with their processes (apps/supervisor.h's status).
// Restrict them as any location (allow/deny). Reading them takes no lock a request path takes:
// worker counters are single-writer atomics (http/worker_stats.h), peers' are PeerState's, the
// apps' figures a snapshot the supervisor publishes once a second.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "http/module.h"
#include "http/worker_stats.h"
#include "tls/slot.h"

namespace portico::server {

extern http::Module status_module;

// The workers' counters, published by Runtime::start once the workers exist (they are fixed
// for the life of the process).
void publish_worker_stats(std::vector<const http::WorkerStats*> all);

// Every TLS server of the running configuration (http and stream), for the certificates on
// the status pages: published by the control thread when a configuration goes live.
struct TlsServer {
  std::string name;  // the server's first name, else where it is written (file:line)
  std::shared_ptr<tls::ContextSlot> slot;
};
void publish_tls_servers(std::vector<TlsServer> all);

}  // namespace portico::server
