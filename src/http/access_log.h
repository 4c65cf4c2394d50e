// Access log of http{}: log_format (compiled once per snapshot against the http variables)
// and the log phase that writes a request's line to its location's access_log files.
#pragma once

#include <memory>
#include <string>

#include "core/log_file.h"
#include "http/variables.h"

namespace portico::http {

struct Request;

struct LogFormat {
  std::string name;
  ComplexValue value;
  enum class Escape : uint8_t { kDefault, kJson, kNone } escape = Escape::kDefault;
};

// nginx's predefined "combined" format.
inline constexpr const char* kCombinedFormat =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
    "\"$http_referer\" \"$http_user_agent\"";

// Appends the formatted line for request `r` (without '\n').
void format_line(const LogFormat& fmt, Request& r, std::string& out);
// Appends `v` escaped as `escape` says (the rule for one variable's value in a line).
void append_escaped(LogFormat::Escape escape, std::string_view v, std::string& out);

// open_log_file_cache max=N [inactive=T] [min_uses=N] [valid=T]: descriptors of log files
// whose paths have variables, kept open between lines (nginx's open_file_cache for logs). One
// set of entries per worker (each worker touches only its own: no lock); at most `max` each,
// the least recently used closed first. Owned by the snapshot (shared by the levels that
// inherit it); the descriptors close with it.
class OpenLogCache {
 public:
  struct Params {
    size_t max = 0;
    uint64_t inactive_ms = 10'000;
    uint32_t min_uses = 1;
    uint64_t valid_ms = 60'000;
  };
  OpenLogCache(const Params& p, int workers) : p_(p), slots_(size_t(workers)) {}
  ~OpenLogCache();
  OpenLogCache(const OpenLogCache&) = delete;
  OpenLogCache& operator=(const OpenLogCache&) = delete;
  // Worker thread `worker`: a descriptor for `path` at time now_ms (-1 and errno when it cannot
  // be opened). *owned: the caller must close it (the cache did not keep it).
  int acquire(int worker, const std::string& path, uint64_t now_ms, bool* owned);
  size_t open_count(int worker) const;  // descriptors kept (tests)

 private:
  struct Entry {
    std::string path;
    int fd = -1;
    uint32_t uses = 0;
    uint64_t opened_ms = 0, used_ms = 0;
  };
  Params p_;
  std::vector<std::vector<Entry>> slots_;
};

}  // namespace portico::http
