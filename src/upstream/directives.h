// `upstream {}` blocks (http and stream): the servers, balancing method, keep-alive pool and
// queue of each named group, built into UpstreamConf while a snapshot is built (control thread).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/ast.h"
#include "upstream/upstream_conf.h"

namespace portico::upstream {

using UpstreamMap = std::map<std::string, std::shared_ptr<const UpstreamConf>>;

// Builds every `upstream` block of an http or stream block. Peers keep the shared state of the
// same-named peers in `previous` (the running snapshot's upstreams), so a reload does not reset
// health, counters or in-flight accounting of upstreams that stayed. A `hash KEY` is kept as
// text (GroupConfig::hash_key): the protocol module compiles and evaluates it.
void build_upstreams(const std::vector<config::Directive>& block, const UpstreamMap* previous,
                     UpstreamMap& out, std::vector<config::ConfigError>& errors);

// Resolves "host[:port]" or "unix:PATH" to peers (all addresses of a name). numeric_only: no
// DNS (run time, where a lookup would block the worker; nginx needs a `resolver` there).
bool resolve_peers(const std::string& text, int default_port, bool numeric_only,
                   std::vector<PeerConfig>* out, std::string* error);

}  // namespace portico::upstream
