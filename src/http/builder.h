// The http{} builder: turns an http block into
// http::HttpConf with nginx's inheritance (http -> server -> location -> if), applying each
// directive through its module's command table (http/module.h).
#pragma once

#include <string>
#include <vector>

#include "config/ast.h"
#include "config/registry.h"
#include "http/http_config.h"

namespace portico::http {

// Builds `out` from the `http` block. Errors are appended in file order. `prefix`: -p, with
// trailing '/'. `previous` (nullable): the running configuration's http{}, whose upstream peer
// state is carried over. Access log files are opened once per path in `log_files` (the
// snapshot's, shared with stream{}).
void build_http(const config::Directive& http, const std::string& prefix, int workers,
                const HttpConf* previous, HttpConf& out, LogFiles& log_files,
                std::vector<config::ConfigError>& errors, std::vector<std::string>& warnings);

}  // namespace portico::http
