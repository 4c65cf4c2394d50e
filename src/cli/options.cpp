#include "cli/options.h"

#include <unistd.h>

#include <string_view>

namespace portico::cli {

bool parse_options(int argc, char** argv, Options* o, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "status" || a == "app") {
      o->command.assign(argv + i, argv + argc);
      return true;
    }
    if (a.size() < 2 || a[0] != '-') {
      *error = "invalid option: \"" + std::string(a) + "\"";
      return false;
    }
    // nginx allows flags to be combined ("-tq") and values attached ("-cfile").
    for (size_t j = 1; j < a.size(); ++j) {
      char c = a[j];
      auto value = [&](std::string* dst, const char* what) {
        if (j + 1 < a.size()) {
          *dst = std::string(a.substr(j + 1));
        } else if (i + 1 < argc) {
          *dst = argv[++i];
        } else {
          *error = std::string("option \"-") + c + "\" requires " + what;
          return false;
        }
        j = a.size();
        return true;
      };
      switch (c) {
        case '?':
        case 'h':
          o->help = true;
          break;
        case 'v':
          o->version = true;
          break;
        case 'V':
          o->version_full = true;
          break;
        case 't':
          o->test = true;
          break;
        case 'T':
          o->test = o->dump = true;
          break;
        case 'q':
          o->quiet = true;
          break;
        case 'c':
          if (!value(&o->conf_path, "file name")) return false;
          o->conf_given = true;
          break;
        case 'p':
          if (!value(&o->prefix, "directory name")) return false;
          break;
        case 'e':
          if (!value(&o->error_log, "file name")) return false;
          break;
        case 'g':
          if (!value(&o->globals, "parameter")) return false;
          break;
        case 's':
          if (!value(&o->signal, "parameter")) return false;
          if (o->signal != "stop" && o->signal != "quit" && o->signal != "reopen" &&
              o->signal != "reload") {
            *error = "invalid option: \"-s " + o->signal + "\"";
            return false;
          }
          break;
        default:
          *error = "invalid option: \"" + std::string(a.substr(j)) + "\"";
          return false;
      }
    }
  }
  return true;
}

}  // namespace portico::cli
