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
#include "upstream/directives.h"

namespace portico::proxy {

void register_directives(config::Registry& r);

using upstream::UpstreamMap;

// Applies one proxy_* directive to `s`. Returns false if `d` is not a proxy directive.
bool apply_directive(const config::Directive& d, ProxySettings& s, http::VariableTable& vars,
                     std::vector<config::ConfigError>& errors);
// Called once per level before its directives: array directives given at this level replace
// the inherited ones (nginx's merge rule).
void begin_level(ProxySettings& s);

// Parses `proxy_pass URL` for a location. `regex_location` forbids a URI part, as nginx does.
// Implicit groups (proxy_pass http://host:port) are shared across locations through `implicit`.
std::unique_ptr<ProxyPass> build_proxy_pass(const config::Directive& d, const std::string& location,
                                            bool regex_location, bool named_or_if,
                                            const UpstreamMap& upstreams, UpstreamMap& implicit,
                                            const UpstreamMap* previous, http::VariableTable& vars,
                                            std::vector<config::ConfigError>& errors);

}  // namespace portico::proxy
