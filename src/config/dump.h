// The text `portico -T` (nginx -T) prints after a successful test: every configuration file
// read, in the order first opened, each as
//   "# configuration file PATH:\n" CONTENT "\n"
// (nginx writes a newline after each file's content, so a file ending in "\n" is followed by
// an empty line).
#pragma once

#include <string>
#include <vector>

#include "config/ast.h"

namespace portico::config {

std::string dump(const std::vector<SourceFile>& files);

}  // namespace portico::config
