// Error log: nginx's levels and line format
//   2026/11/25 08:15:48 [error] 1234#1235: *17 open() "/x" failed (2: No such file or directory)
// One process-wide Logger; every thread may call it. Each enabled target gets whole lines with a
// single write(2) on an O_APPEND fd, so lines from different workers never interleave.
// Targets are swapped only by the control thread (reload/reopen); see reopen() for why that is
// safe while workers write.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace portico {

enum class LogLevel : uint8_t { kEmerg, kAlert, kCrit, kError, kWarn, kNotice, kInfo, kDebug };
const char* log_level_name(LogLevel level);
bool parse_log_level(std::string_view s, LogLevel* out);

struct LogTarget {
  std::string path;  // "stderr" for the standard error stream
  LogLevel level = LogLevel::kError;
  int fd = -1;
};

class LogFile;

// The error_log lines of an http level (http, server, location): where the messages of a
// request that runs there go instead of the process-wide targets (nginx's r->connection->log
// taking the location's error_log). Files are the snapshot's LogFiles (reopened on USR1).
struct ErrorLogSet {
  struct Target {
    std::shared_ptr<LogFile> file;  // null: stderr
    LogLevel level = LogLevel::kError;
  };
  std::vector<Target> targets;
  LogLevel max = LogLevel::kEmerg;
};

// While alive, messages logged on this thread go to `set` (null: the process-wide targets).
// Set around the phases of a request (http/phases.cpp); nests.
class LogScope {
 public:
  explicit LogScope(const ErrorLogSet* set);
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;
  static const ErrorLogSet* current();

 private:
  const ErrorLogSet* prev_;
};

class Logger {
 public:
  static Logger& instance();

  // Replaces the targets (control thread only). Opens files; on failure returns the error text
  // and leaves the current targets in place.
  bool set_targets(const std::vector<LogTarget>& targets, std::string* error);
  // Reopens every file target in place (USR1): the new file takes over the same fd number via
  // dup2, so a worker in the middle of write(2) never sees a closed or reused descriptor.
  void reopen();
  // Also mirror emerg/alert messages to stderr (during start-up, before daemonising).
  void set_stderr_mirror(bool on) { stderr_mirror_ = on; }

  bool enabled(LogLevel level) const {
    if (const ErrorLogSet* s = LogScope::current()) return level <= s->max;
    return level <= max_level_.load(std::memory_order_relaxed);
  }
  // conn_id 0 = not tied to a connection.
  void write(LogLevel level, uint64_t conn_id, std::string_view message);

  template <typename... Args>
  void log(LogLevel level, uint64_t conn_id, fmt::format_string<Args...> f, Args&&... args) {
    if (!enabled(level)) return;
    write(level, conn_id, fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  Logger();
  std::mutex mu_;  // guards targets_ replacement only; never taken on the request path
  std::shared_ptr<const std::vector<LogTarget>> targets_;
  std::atomic<LogLevel> max_level_{LogLevel::kError};
  bool stderr_mirror_ = true;
};

#define PORTICO_LOG(level, conn, ...)                               \
  do {                                                              \
    auto& portico_logger_ = ::portico::Logger::instance();          \
    if (portico_logger_.enabled(level))                             \
      portico_logger_.write(level, conn, fmt::format(__VA_ARGS__)); \
  } while (0)

#define LOG_EMERG(...) PORTICO_LOG(::portico::LogLevel::kEmerg, 0, __VA_ARGS__)
#define LOG_ALERT(...) PORTICO_LOG(::portico::LogLevel::kAlert, 0, __VA_ARGS__)
#define LOG_CRIT(...) PORTICO_LOG(::portico::LogLevel::kCrit, 0, __VA_ARGS__)
#define LOG_ERROR(...) PORTICO_LOG(::portico::LogLevel::kError, 0, __VA_ARGS__)
#define LOG_WARN(...) PORTICO_LOG(::portico::LogLevel::kWarn, 0, __VA_ARGS__)
#define LOG_NOTICE(...) PORTICO_LOG(::portico::LogLevel::kNotice, 0, __VA_ARGS__)
#define LOG_INFO(...) PORTICO_LOG(::portico::LogLevel::kInfo, 0, __VA_ARGS__)
#define LOG_DEBUG(...) PORTICO_LOG(::portico::LogLevel::kDebug, 0, __VA_ARGS__)

// errno text in nginx's form: "2: No such file or directory".
std::string errno_text(int err);

}  // namespace portico
