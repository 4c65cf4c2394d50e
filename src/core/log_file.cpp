#include "core/log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace portico {

namespace {
void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= size_t(w);
  }
}
}  // namespace

std::shared_ptr<LogFile> LogFile::open(const std::string& path, size_t buffer_size, int workers,
                                       std::string* error, uint64_t flush_ms) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = fmt::format("open() \"{}\" failed ({})", path, errno_text(errno));
    return nullptr;
  }
  auto f = std::make_shared<LogFile>();
  f->path_ = path;
  f->fd_ = fd;
  f->buffer_size_ = buffer_size;
  if (buffer_size > 0) f->flush_ms_ = flush_ms;
  if (buffer_size > 0) f->buffers_.resize(size_t(workers));
  return f;
}

LogFile::~LogFile() {
  for (size_t i = 0; i < buffers_.size(); ++i) flush(int(i));
  if (fd_ >= 0) ::close(fd_);
}

void LogFile::write_line(int worker, std::string_view line) {
  if (buffer_size_ == 0 || size_t(worker) >= buffers_.size()) {
    write_all(fd_, line.data(), line.size());
    return;
  }
  std::string& b = buffers_[size_t(worker)];
  if (b.size() + line.size() > buffer_size_) flush(worker);
  if (line.size() >= buffer_size_) {
    write_all(fd_, line.data(), line.size());
    return;
  }
  if (b.capacity() < buffer_size_) b.reserve(buffer_size_);
  b.append(line);
}

void LogFile::flush(int worker) {
  if (size_t(worker) >= buffers_.size()) return;
  std::string& b = buffers_[size_t(worker)];
  if (b.empty()) return;
  write_all(fd_, b.data(), b.size());
  b.clear();
}

void LogFile::reopen() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    LOG_ALERT("open() \"{}\" failed ({})", path_, errno_text(errno));
    return;
  }
  ::dup2(fd, fd_);
  ::close(fd);
}

std::shared_ptr<LogFile> LogFiles::get(const std::string& path, size_t buffer_size, int workers,
                                       std::string* error, uint64_t flush_ms) {
  if (flush_ms && buffer_size && (flush_ms_ == 0 || flush_ms < flush_ms_)) flush_ms_ = flush_ms;
  for (const auto& f : files_)
    if (f->path() == path) return f;
  auto f = LogFile::open(path, buffer_size, workers, error, flush_ms);
  if (f) files_.push_back(f);
  return f;
}

void LogFiles::reopen() const {
  for (const auto& f : files_) f->reopen();
}

void LogFiles::flush(int worker) const {
  for (const auto& f : files_) f->flush(worker);
}

void LogFiles::flush_timed(int worker) const {
  for (const auto& f : files_)
    if (f->flush_ms()) f->flush(worker);
}

}  // namespace portico
