// The modules that live in the http library beside the host: core (http/core_module.cpp),
// rewrite, access (allow/deny), realip, headers (add_header, expires), log (log_format,
// access_log) and map. Each file holds one module's directive table; server/modules.cpp
// registers them with the modules of the layers above (static, proxy ...).
#pragma once

#include "http/module.h"

namespace portico::http {

extern Module core_module;
extern Module rewrite_module;
extern Module access_module;
extern Module realip_module;
extern Module headers_module;
extern Module log_module;
extern Module map_module;
extern Module limit_module;  // limit_req and limit_conn

}  // namespace portico::http
