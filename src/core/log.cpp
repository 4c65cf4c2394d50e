#include "core/log.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "core/log_file.h"

namespace portico {

namespace {
constexpr const char* kLevelNames[] = {"emerg", "alert",  "crit", "error",
                                       "warn",  "notice", "info", "debug"};

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log
    }
    p += w;
    n -= size_t(w);
  }
}

int open_log(const std::string& path, std::string* error) {
  if (path == "stderr") return STDERR_FILENO;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 && error) *error = fmt::format("open() \"{}\" failed ({})", path, errno_text(errno));
  return fd;
}
}  // namespace

namespace {
thread_local const ErrorLogSet* tl_scope = nullptr;
}

LogScope::LogScope(const ErrorLogSet* set) : prev_(tl_scope) {
  tl_scope = set;
}
LogScope::~LogScope() {
  tl_scope = prev_;
}
const ErrorLogSet* LogScope::current() {
  return tl_scope;
}

const char* log_level_name(LogLevel level) {
  return kLevelNames[static_cast<int>(level)];
}

bool parse_log_level(std::string_view s, LogLevel* out) {
  for (int i = 0; i < 8; ++i) {
    if (s == kLevelNames[i]) {
      *out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

std::string errno_text(int err) {
  return fmt::format("{}: {}", err, strerrordesc_np(err));
}

Logger& Logger::instance() {
  static Logger* logger = new Logger();  // never destroyed: workers may log during exit
  return *logger;
}

Logger::Logger() {
  auto t = std::make_shared<std::vector<LogTarget>>();
  t->push_back(LogTarget{"stderr", LogLevel::kError, STDERR_FILENO});
  targets_ = std::move(t);
}

bool Logger::set_targets(const std::vector<LogTarget>& targets, std::string* error) {
  auto fresh = std::make_shared<std::vector<LogTarget>>(targets);
  LogLevel max = LogLevel::kEmerg;
  for (auto& t : *fresh) {
    t.fd = open_log(t.path, error);
    if (t.fd < 0) {
      for (auto& c : *fresh)
        if (c.fd > STDERR_FILENO) ::close(c.fd);
      return false;
    }
    if (t.level > max) max = t.level;
  }
  std::shared_ptr<const std::vector<LogTarget>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(targets_);
    targets_ = std::move(fresh);
  }
  max_level_.store(max, std::memory_order_relaxed);
  // Old descriptors stay open: a worker may hold a copy of the old list for a moment. They are
  // few (one per error_log line per reload) and are closed when the process ends.
  (void)old;
  return true;
}

void Logger::reopen() {
  std::shared_ptr<const std::vector<LogTarget>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    targets = targets_;
  }
  for (const auto& t : *targets) {
    if (t.fd <= STDERR_FILENO) continue;
    std::string err;
    int fd = open_log(t.path, &err);
    if (fd < 0) {
      write(LogLevel::kAlert, 0, err);
      continue;
    }
    ::dup2(fd, t.fd);
    ::close(fd);
  }
}

void Logger::write(LogLevel level, uint64_t conn_id, std::string_view message) {
  const ErrorLogSet* scope = tl_scope;
  std::shared_ptr<const std::vector<LogTarget>> targets;
  if (!scope) {
    std::lock_guard<std::mutex> lock(mu_);
    targets = targets_;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line),
                 "{:04}/{:02}/{:02} {:02}:{:02}:{:02} [{}] {}#{}: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, log_level_name(level),
                 getpid(), long(syscall(SYS_gettid)));
  if (conn_id) fmt::format_to(std::back_inserter(line), "*{} ", conn_id);
  line.append(message);
  line.push_back('\n');
  if (scope) {
    for (const auto& t : scope->targets) {
      if (level > t.level) continue;
      write_all(t.file ? t.file->fd() : STDERR_FILENO, line.data(), line.size());
    }
    return;
  }
  // During start-up, serious messages also go to the terminal in nginx's short form
  // ("portico: [emerg] ..."), instead of a second copy of the log line.
  const bool mirror = stderr_mirror_ && level <= LogLevel::kAlert;
  for (const auto& t : *targets) {
    if (level > t.level || (mirror && t.fd == STDERR_FILENO)) continue;
    write_all(t.fd, line.data(), line.size());
  }
  if (mirror) {
    std::string short_line = fmt::format("portico: [{}] {}\n", log_level_name(level), message);
    write_all(STDERR_FILENO, short_line.data(), short_line.size());
  }
}

}  // namespace portico
