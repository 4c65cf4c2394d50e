// What `portico -V` says about modules, in nginx's `configure arguments:` form, derived from
// the directive registry of this binary instead of being written by hand.
//
// nginx names a module in its configure arguments only where the build differs from nginx's
// default: `--with-X` for an optional module that is built (http_realip_module, stream, ...),
// `--without-X` for a default module that is not (http_gzip_module, ...). Tools read it that
// way, nginx's own test suite among them (lib/Test/Nginx.pm has_module: a feature is present
// when `--with-X` is printed, resp. unless `--without-X` is). A module counts as built here
// when the registry knows its defining directive in its context, e.g. `proxy_pass` in a
// location for http_proxy_module: register a module's directives and -V reports it, remove
// them and -V says --without. The table below only spells nginx's vocabulary (module names,
// which are default, which directive defines each); it says nothing about what portico has.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/registry.h"

namespace portico::config {

struct NginxModule {
  std::string_view name;       // as in nginx's configure: "http_proxy_module", "stream", "http"
  bool default_on;             // built by nginx unless --without-NAME
  std::string_view directive;  // a directive only this module defines ...
  uint32_t context;            // ... in this context; 0: a name no other module uses
};

// nginx 1.22's configurable modules (those nginx's test suite asks about, and the rest of
// the http and stream ones), in nginx's order.
std::span<const NginxModule> nginx_modules();

bool module_built(const NginxModule& m, const Registry& r);

// "--with-http_realip_module --with-stream ... --without-http_gzip_module ...": the optional
// modules that are built, then the default modules that are not.
std::string module_arguments(const Registry& r);

}  // namespace portico::config
