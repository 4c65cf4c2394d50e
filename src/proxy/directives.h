// Directives of the proxy and upstream modules: registry entries, `upstream {}` blocks, the
// inheritable proxy_* settings and proxy_pass. Called by the http config builder.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "proxy/proxy_conf.h"

namespace portico::proxy {

void register_directives(config::Registry& r);

using UpstreamMap = std::map<std::string, std::shared_ptr<const UpstreamConf>>;

// Builds every `upstream` block of the http block. Peers keep the shared state of the
// same-named peers in `previous` (the running snapshot's upstreams), so a reload does not reset
// health, counters or in-flight accounting of upstreams that stayed.
void build_upstreams(const std::vector<config::Directive>& http_block, const UpstreamMap* previous,
                     http::VariableTable& vars, UpstreamMap& out,
                     std::vector<config::ConfigError>& errors);

// Applies one proxy_* directive to `s`. Returns false if `d` is not a proxy directive.
bool apply_directive(const config::Directive& d, ProxySettings& s, http::VariableTable& vars,
                     std::vector<config::ConfigError>& errors);
// Called once per level before its directives: array directives given at this level replace
// the inherited ones (nginx's merge rule).
void begin_level(ProxySettings& s);

// Resolves "host[:port]" or "unix:PATH" to peers (all addresses of a name). numeric_only: no
// DNS (run time, where a lookup would block the worker; nginx needs a `resolver` there).
bool resolve_peers(const std::string& text, int default_port, bool numeric_only,
                   std::vector<upstream::PeerConfig>* out, std::string* error);

// Parses `proxy_pass URL` for a location. `regex_location` forbids a URI part, as nginx does.
// Implicit groups (proxy_pass http://host:port) are shared across locations through `implicit`.
std::unique_ptr<ProxyPass> build_proxy_pass(const config::Directive& d, const std::string& location,
                                            bool regex_location, bool named_or_if,
                                            const UpstreamMap& upstreams, UpstreamMap& implicit,
                                            const UpstreamMap* previous, http::VariableTable& vars,
                                            std::vector<config::ConfigError>& errors);

}  // namespace portico::proxy
