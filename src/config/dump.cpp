#include "config/dump.h"

namespace portico::config {

std::string dump(const std::vector<SourceFile>& files) {
  std::string out;
  for (const SourceFile& f : files) {
    out += "# configuration file ";
    out += f.path;
    out += ":\n";
    out += f.content;
    out += '\n';
  }
  return out;
}

}  // namespace portico::config
