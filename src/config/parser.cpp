// Recursive-descent parser over Lexer statements, following ngx_conf_parse() and
// ngx_conf_include() (src/core/ngx_conf_file.c) for block handling, include resolution and
// error texts.
#include "config/parser.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "config/lexer.h"

namespace portico::config {

std::string ConfigError::to_string() const {
  // nginx formats the message into a NGX_MAX_CONF_ERRSTR (1024) byte buffer, cutting it there.
  constexpr size_t kMaxMessage = 1024;
  std::string_view msg = std::string_view(message).substr(0, kMaxMessage);
  if (file.empty()) return std::string(msg);
  if (line == 0) return fmt::format("{} in {}", msg, file);
  return fmt::format("{} in {}:{}", msg, file, line);
}

namespace {

constexpr std::string_view kCommandLine = "command line";

// nginx appends " (ERRNO: TEXT)" to a message logged with an errno.
std::string with_errno(std::string message, int err) {
  if (err == 0) return message;
  return fmt::format("{} ({}: {})", message, err, std::generic_category().message(err));
}

// Reads a whole file the way nginx does: open, fstat, then st_size bytes with pread. Character
// devices and FIFOs have size 0 and read as empty (O_NONBLOCK keeps a FIFO from blocking the
// open); a directory fails in pread with EISDIR. Returns false with *error set, and
// *open_failed if open() itself failed (nginx reports only that one at the include).
bool read_file(const std::string& path, std::string* content, std::string* error,
               bool* open_failed) {
  *open_failed = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *open_failed = true;
    *error = with_errno(fmt::format("open() \"{}\" failed", path), errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *error = with_errno(fmt::format("fstat() \"{}\" failed", path), errno);
    ::close(fd);
    return false;
  }
  const size_t size = st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
  content->assign(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, content->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = with_errno(fmt::format("pread() \"{}\" failed", path), errno);
      ::close(fd);
      return false;
    }
    if (n == 0) {
      *error = fmt::format("pread() returned only {} bytes instead of {}", done, size);
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return true;
}

// One input being parsed: its name for directives and errors, and whether it is -g text.
struct Source {
  std::string name;
  bool command_line = false;
};

// Parses into one ParseResult. Lives for one parse_* call.
class Parser {
 public:
  Parser(const ParseOptions& opts, ParseResult& out) : opts_(opts), out_(out) {
    for (const SourceFile& f : out_.files) dumped_.insert(f.path);
    if (!opts_.conf_prefix.empty() && opts_.conf_prefix.back() != '/') opts_.conf_prefix += '/';
  }

  // Parses the file at `path` into `dst`. `includer` is the include directive that named it
  // (its location is where open errors are reported), or null for the main file.
  // Returns false on a fatal error.
  bool parse_file(const std::string& path, int include_depth, const Directive* includer,
                  std::vector<Directive>& dst) {
    std::string content, error;
    bool open_failed = false;
    if (!read_file(path, &content, &error, &open_failed)) {
      // As nginx: open() errors point at the include; read errors have no location.
      if (includer != nullptr && open_failed) {
        add_error(std::move(error), includer->file, includer->line);
      } else {
        add_error(std::move(error), "", 0);
      }
      return true;
    }
    if (dumped_.insert(path).second) out_.files.push_back(SourceFile{path, content});
    Lexer lexer(content, Lexer::Mode::kFile);
    return parse_block(lexer, Source{path, false}, false, include_depth, dst);
  }

  bool parse_text(std::string_view text, Source source, std::vector<Directive>& dst) {
    if (!source.command_line && dumped_.insert(source.name).second) {
      out_.files.push_back(SourceFile{source.name, std::string(text)});
    }
    Lexer lexer(text, source.command_line ? Lexer::Mode::kCommandLine : Lexer::Mode::kFile);
    return parse_block(lexer, source, false, 0, dst);
  }

 private:
  void add_error(std::string message, std::string file, int line) {
    out_.errors.push_back(ConfigError{std::move(message), std::move(file), line});
  }

  // Reads statements until the matching '}' (in_block) or the end of the input (!in_block).
  // Returns false on a fatal error, which has been recorded.
  bool parse_block(Lexer& lexer, const Source& src, bool in_block, int include_depth,
                   std::vector<Directive>& dst) {
    std::vector<Token> words;
    for (;;) {
      const LexStatus status = lexer.next(&words);
      const int line = src.command_line ? 0 : lexer.line();
      switch (status) {
        case LexStatus::kError:
          add_error(lexer.error(), src.name, src.command_line ? 0 : lexer.error_line());
          return false;
        case LexStatus::kBlockEnd:
          if (in_block) return true;
          add_error("unexpected \"}\"", src.name, line);
          return false;
        case LexStatus::kEof:
          if (!in_block) return true;
          add_error("unexpected end of file, expecting \"}\"", src.name, line);
          return false;
        case LexStatus::kBlockStart:
          if (src.command_line) {
            add_error("block directives are not supported in -g option", src.name, line);
            return false;
          }
          break;
        case LexStatus::kSemicolon:
          break;
      }

      assert(!words.empty());  // the lexer reports `unexpected ";"` for an empty statement
      Directive d;
      d.name = std::move(words[0].text);
      d.name_quoted = words[0].quoted;
      d.args.reserve(words.size() - 1);
      d.quoted.reserve(words.size() - 1);
      for (size_t i = 1; i < words.size(); ++i) {
        d.args.push_back(std::move(words[i].text));
        d.quoted.push_back(words[i].quoted);
      }
      d.file = src.name;
      d.line = line;

      if (opts_.expand_includes && d.name == "include") {
        if (status == LexStatus::kBlockStart) {
          add_error("directive \"include\" is not terminated by \";\"", src.name, line);
          return false;
        }
        if (!include(d, include_depth, dst)) return false;
        continue;
      }

      if (status == LexStatus::kBlockStart) {
        if (block_depth_ >= opts_.max_block_depth) {
          add_error("too deep nesting", src.name, line);
          return false;
        }
        d.has_block = true;
        ++block_depth_;
        const bool ok = parse_block(lexer, src, true, include_depth, d.block);
        --block_depth_;
        dst.push_back(std::move(d));
        if (!ok) return false;
        continue;
      }
      dst.push_back(std::move(d));
    }
  }

  // nginx's ngx_conf_full_name(cycle, name, 1): absolute names stay, others get conf_prefix.
  std::string full_name(const std::string& name) const {
    if (!name.empty() && name[0] == '/') return name;
    return opts_.conf_prefix + name;
  }

  // Expands `include PATTERN;` into dst. Returns false on a fatal error.
  bool include(const Directive& d, int include_depth, std::vector<Directive>& dst) {
    if (d.args.size() != 1) {
      add_error("invalid number of arguments in \"include\" directive", d.file, d.line);
      return true;
    }
    if (include_depth >= opts_.max_include_depth) {
      add_error(
          fmt::format("include nesting is too deep (more than {} levels)", opts_.max_include_depth),
          d.file, d.line);
      return false;
    }
    const std::string pattern = full_name(d.args[0]);
    if (pattern.find_first_of("*?[") == std::string::npos) {
      return parse_file(pattern, include_depth + 1, &d, dst);
    }

    glob_t g{};
    errno = 0;
    const int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
    const int err = errno;
    if (rc != 0) {
      ::globfree(&g);
      if (rc == GLOB_NOMATCH) return true;  // nginx: a pattern may match nothing
      add_error(with_errno(fmt::format("glob() \"{}\" failed", pattern), err), d.file, d.line);
      return true;
    }
    std::vector<std::string> names(g.gl_pathv, g.gl_pathv + g.gl_pathc);
    ::globfree(&g);
    // glob(3)'s own sort follows the locale; nginx runs in the C locale, i.e. byte order.
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (!parse_file(name, include_depth + 1, &d, dst)) return false;
    }
    return true;
  }

  ParseOptions opts_;
  ParseResult& out_;
  std::unordered_set<std::string> dumped_;  // paths already in out_.files
  int block_depth_ = 0;
};

std::string dir_prefix(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace

bool parse_file(const std::string& path, const ParseOptions& opts, ParseResult& out) {
  const size_t before = out.errors.size();
  ParseOptions o = opts;
  if (o.conf_prefix.empty()) o.conf_prefix = dir_prefix(path);
  Parser(o, out).parse_file(path, 0, nullptr, out.directives);
  return out.errors.size() == before;
}

bool parse_string(std::string_view text, std::string_view source_name, const ParseOptions& opts,
                  ParseResult& out) {
  const size_t before = out.errors.size();
  Parser(opts, out).parse_text(text, Source{std::string(source_name), false}, out.directives);
  return out.errors.size() == before;
}

bool parse_command_line(std::string_view text, const ParseOptions& opts, ParseResult& out) {
  const size_t before = out.errors.size();
  Parser(opts, out).parse_text(text, Source{std::string(kCommandLine), true}, out.directives);
  return out.errors.size() == before;
}

}  // namespace portico::config
