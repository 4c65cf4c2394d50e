// Loading a configuration: parse (with includes and -g), validate against the directive
// registry, then build an immutable Snapshot. Runs on the control thread, at start-up, for -t
// and on reload. Nothing here touches the running server: a failed load changes nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "server/snapshot.h"

namespace portico::server {

struct LoadOptions {
  std::string prefix;                  // -p, with trailing '/'
  std::string conf_path;               // -c; empty = embedded default configuration
  std::string globals;                 // -g
  int workers_hint = 0;                // number of workers the runtime will run (for log buffers)
  const Snapshot* previous = nullptr;  // the running configuration, on reload
};

struct LoadResult {
  std::shared_ptr<Snapshot> snapshot;  // null on error
  std::vector<config::ConfigError> errors;
  std::vector<std::string> warnings;  // "[warn]" lines, e.g. conflicting server names
  std::vector<config::SourceFile> files;
};

LoadResult load(const LoadOptions& opts);

// The configuration used when no -c is given and the default file does not exist.
extern const char* const kEmbeddedConfig;

// Every directive portico knows, with its contexts and arguments.
const config::Registry& registry();

}  // namespace portico::server
