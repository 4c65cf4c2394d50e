// Argument values every context reads the same way, with nginx's error texts.
#pragma once

#include <fmt/format.h>

#include <string>

#include "config/ast.h"

namespace portico::config {

// `on` or `off` in d.args[0]. False with *error set (nginx's message) otherwise.
inline bool parse_flag(const Directive& d, bool* out, std::string* error) {
  if (d.args[0] != "on" && d.args[0] != "off") {
    *error = fmt::format("invalid value \"{}\" in \"{}\" directive, it must be \"on\" or \"off\"",
                         d.args[0], d.name);
    return false;
  }
  *out = d.args[0] == "on";
  return true;
}

}  // namespace portico::config
