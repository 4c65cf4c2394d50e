// The proxy module's variables ($proxy_host, $upstream_addr ...), registered with the module.
#pragma once

#include <span>

#include "http/variables.h"

namespace portico::proxy {

std::span<const http::VariableDef> variables();

}  // namespace portico::proxy
