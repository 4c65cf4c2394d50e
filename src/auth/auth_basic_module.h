// The auth_basic module (nginx's ngx_http_auth_basic_module): HTTP Basic authentication
// against an htpasswd file, in the access phase after allow/deny (`satisfy` combines them).
#pragma once

#include "http/module.h"

namespace portico::auth {

extern http::Module auth_basic_module;

}  // namespace portico::auth
