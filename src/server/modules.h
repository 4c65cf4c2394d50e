// The http modules built into this binary, registered with the http host in one place: the
// host (http/) never names a module, and adding one is a line here.
#pragma once

#include <span>

#include "http/module.h"

namespace portico::server {

// Registers every http module and the default content handler. Idempotent; call before any
// configuration is built (the loader does).
void register_http_modules();

}  // namespace portico::server
