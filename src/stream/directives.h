// Directives of the stream module (stream {} L4 proxy): registry entries and the builder.
#pragma once

#include <string>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "stream/stream_conf.h"

namespace portico::stream {

void register_directives(config::Registry& r);

// Builds `out` from a `stream` block. `prefix`: -p, with trailing '/'. `previous` (nullable):
// the running configuration's stream{}, whose unchanged upstreams keep their peer state.
void build_stream(const config::Directive& block, const std::string& prefix, int workers,
                  const StreamConf* previous, StreamConf& out,
                  std::vector<config::ConfigError>& errors);

}  // namespace portico::stream
