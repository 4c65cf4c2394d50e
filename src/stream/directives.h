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
// Access log files are opened once per path in `log_files` (the snapshot's, shared with http).
void build_stream(const config::Directive& block, const std::string& prefix, int workers,
                  const StreamConf* previous, StreamConf& out, LogFiles& log_files,
                  std::vector<config::ConfigError>& errors);

}  // namespace portico::stream
