// The http{} directives: their registry entries and the builder that turns an http block into
// http::HttpConf with nginx's inheritance (http -> server -> location -> if).
#pragma once

#include <string>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "config/snapshot.h"

namespace portico::http {

void register_directives(config::Registry& r);

// Builds snapshot.http from the `http` block. Errors are appended in file order.
// Parses the address of an allow/deny rule ("10.0.0.0/8", "::1").
bool parse_access_rule(std::string_view text, AccessRule& rule);

// Parses a `listen` directive's address and parameters (http and stream share the syntax).
bool parse_listen(const config::Directive& d, ListenAddr* out, bool* default_server,
                  std::string* error);

// `previous` (nullable): the running snapshot, whose upstream peer state is carried over.
void build_http(const config::Directive& http, Snapshot& snapshot, int workers,
                const Snapshot* previous, std::vector<config::ConfigError>& errors,
                std::vector<std::string>& warnings);

}  // namespace portico::http
