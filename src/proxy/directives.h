// The proxy module (proxy_*, proxy_pass, upstream{}, match{}, health_check) as the http host
// sees it: its directive table and content handler (proxy/directives.cpp), and the http-wide
// settings it builds. Control thread while a snapshot is built; read-only afterwards.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/module.h"
#include "proxy/health_check.h"
#include "proxy/proxy_conf.h"
#include "upstream/directives.h"

namespace portico::proxy {

// The content handler of a location with proxy_pass: a Session produces the response.
extern const http::ContentHandler kProxyContent;

// http-wide: match{} blocks and health checks (read by whoever runs the checks), and, while
// building, the implicit groups of `proxy_pass http://host:port` (then in HttpConf::upstreams
// under "\x01host:port").
struct ProxyMainConf : http::ModuleConfOf<ProxyMainConf> {
  static http::Module& module() { return proxy_module; }
  std::map<std::string, std::shared_ptr<const MatchConf>> matches;
  std::vector<std::shared_ptr<const HealthCheckConf>> health_checks;
  upstream::UpstreamMap implicit;
};

}  // namespace portico::proxy
