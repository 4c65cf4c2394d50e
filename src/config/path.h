// Paths in a configuration: relative ones are taken from the prefix (-p), as nginx does.
#pragma once

#include <string>
#include <string_view>

namespace portico::config {

// "path" relative to prefix unless absolute; "stderr" is kept as is.
std::string resolve_path(const std::string& prefix, std::string_view path);

}  // namespace portico::config
