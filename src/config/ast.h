// The configuration syntax tree: what the parser (config/parser.h) produces from nginx-syntax
// text and what the registry (config/registry.h) validates and the builder turns into a
// Snapshot. Plain values, owned by whoever holds the tree; built and read on the control thread.
#pragma once

#include <string>
#include <vector>

namespace portico::config {

// One directive: `name arg...;` or `name arg... { block }`. Includes are already expanded:
// directives read from an included file sit in the block that held the `include`, with the
// included file's name and line.
struct Directive {
  std::string name;
  std::vector<std::string> args;  // unescaped, quotes removed
  std::vector<bool> quoted;       // quoted[i]: args[i] was written "..." or '...'; same size
  bool name_quoted = false;       // the name was written "..." or '...' (legal in nginx)

  std::string file;  // file the directive was read from; "command line" for -g
  // nginx's line for this directive: the line of its terminating ';' or '{', which is where
  // nginx reports every error about the directive. 0 for -g (reported as "in command line").
  int line = 0;

  bool has_block = false;        // ended with '{ ... }' rather than ';'
  std::vector<Directive> block;  // children, in file order
};

// One configuration error, formatted like nginx's ngx_conf_log_error().
struct ConfigError {
  std::string message;  // e.g. `unknown directive "foo"`
  std::string file;     // empty when nginx gives no location (main file cannot be opened)
  int line = 0;         // 0 with a non-empty file: no line (the "command line")

  // "MSG in FILE:LINE", "MSG in command line" (line 0) or "MSG" (no file). As nginx, MSG is
  // cut after 1024 bytes (a 4 KB unknown directive name does not flood the log).
  std::string to_string() const;
};

// A file as read from disk, for `-T` (config/dump.h).
struct SourceFile {
  std::string path;
  std::string content;
};

}  // namespace portico::config
