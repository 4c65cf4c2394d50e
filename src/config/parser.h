// Parser: nginx-syntax text -> syntax tree (config/ast.h), with `include` expanded. Purely
// syntactic: names, argument counts and contexts are checked afterwards by
// Registry::validate() (config/registry.h). Runs on the control thread; no global state.
//
// Typical use, as nginx does it (-g directives come before the file's, so a directive set in
// both is reported as duplicate at the file's line):
//
//   ParseResult r;
//   parse_command_line(g_option, opts, r);   // only if -g was given
//   parse_file(conf_path, opts, r);
//   if (!r.ok()) { for (auto& e : r.errors) log_emerg(e.to_string()); return; }
//   auto errors = registry.validate(r.directives);
//
// Errors. A syntax error (anything the lexer reports, an unbalanced brace, a block in -g, too
// deep nesting or includes) stops the whole parse, as in nginx. A failed include (file missing
// or unreadable, wrong argument count) is recorded and parsing goes on, so several are reported
// at once. Whenever `errors` is non-empty the tree may be incomplete: report, do not build.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/ast.h"

namespace portico::config {

struct ParseOptions {
  // Directory relative `include` patterns are resolved against (nginx's conf_prefix). With or
  // without a trailing '/'. Empty: parse_file() uses the directory of the file it is given;
  // parse_string()/parse_command_line() then resolve against the working directory.
  std::string conf_prefix;
  int max_include_depth = 32;  // main file = 0; deeper includes fail with a syntax error
  int max_block_depth = 64;    // nested '{' across all files; deeper fails ("too deep nesting")
  // false: `include` is left in the tree as an ordinary directive and no file is opened
  // (fuzzing, tools that only look at one file).
  bool expand_includes = true;
};

struct ParseResult {
  std::vector<Directive> directives;  // the main context, appended to by each parse_* call
  // Every file read, in the order first opened, each once even if included several times
  // (nginx's config_dump), for `-T`. -g text is not listed; parse_string() text is.
  std::vector<SourceFile> files;
  std::vector<ConfigError> errors;

  bool ok() const { return errors.empty(); }
};

// Parses the file at `path` (absolute, or relative to the working directory) into `out`.
// Returns true if this call added no error. A file that cannot be opened is reported as
// `open() "PATH" failed (2: No such file or directory)` without location, as nginx does.
bool parse_file(const std::string& path, const ParseOptions& opts, ParseResult& out);

// Parses `text` as if it were the content of a file named `source_name` (errors read
// "... in SOURCE_NAME:LINE"). Returns true if this call added no error.
bool parse_string(std::string_view text, std::string_view source_name, const ParseOptions& opts,
                  ParseResult& out);

// Parses the text of nginx's -g option: directives must end with ';', blocks are refused,
// directives get file "command line" and line 0, so errors read "... in command line".
// Returns true if this call added no error.
bool parse_command_line(std::string_view text, const ParseOptions& opts, ParseResult& out);

}  // namespace portico::config
