#include "config/path.h"

namespace portico::config {

std::string resolve_path(const std::string& prefix, std::string_view path) {
  if (!path.empty() && path[0] == '/') return std::string(path);
  if (path == "stderr") return std::string(path);
  return prefix + std::string(path);
}

}  // namespace portico::config
