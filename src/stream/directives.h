// Directives of the stream module (stream {} L4 proxy): registry entries and the builder.
#pragma once

#include <string>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "stream/stream_conf.h"

namespace portico {
struct Snapshot;
}

namespace portico::stream {

void register_directives(config::Registry& r);

// Builds snapshot.stream from a `stream` block. `previous` (nullable) keeps the peer state of
// unchanged upstreams across a reload.
void build_stream(const config::Directive& block, Snapshot& snapshot, int workers,
                  const Snapshot* previous, std::vector<config::ConfigError>& errors);

}  // namespace portico::stream
