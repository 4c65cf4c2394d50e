// Command-line options, as nginx's: -c -p -e -g -t -T -q -s -v -V -h.
#pragma once

#include <string>
#include <vector>

namespace portico::cli {

struct Options {
  std::string conf_path;  // -c (absolute after resolve)
  bool conf_given = false;
  std::string prefix;         // -p, with trailing '/'
  std::string error_log;      // -e
  std::string globals;        // -g
  std::string signal;         // -s
  bool test = false;          // -t
  bool dump = false;          // -T
  bool quiet = false;         // -q
  bool version = false;       // -v
  bool version_full = false;  // -V
  bool help = false;          // -h / -?
  // A command for the running server, after the options: `status [--json]`,
  // `app restart NAME`, `app scale NAME N` (sent over the control socket).
  std::vector<std::string> command;
};

// Parses argv; on error returns false with *error set (nginx: "invalid option: ...").
bool parse_options(int argc, char** argv, Options* out, std::string* error);

}  // namespace portico::cli
