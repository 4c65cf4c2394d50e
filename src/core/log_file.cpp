#include "core/log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <zlib.h>

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
                                       std::string* error, uint64_t flush_ms, int gzip_level) {
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
  if (buffer_size > 0) f->gzip_level_ = gzip_level;
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
    write_out(worker, line);
    return;
  }
  if (b.capacity() < buffer_size_) b.reserve(buffer_size_);
  b.append(line);
}

void LogFile::flush(int worker) {
  if (size_t(worker) >= buffers_.size()) return;
  std::string& b = buffers_[size_t(worker)];
  if (b.empty()) return;
  write_out(worker, b);
  b.clear();
}

// Writes `data` as it is, or as one gzip member.
void LogFile::write_out(int worker, std::string_view data) {
  if (gzip_level_ == 0) {
    write_all(fd_, data.data(), data.size());
    return;
  }
  (void)worker;
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer; memLevel 8 (zlib's default).
  if (deflateInit2(&z, gzip_level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    LOG_ALERT("deflateInit2() failed for \"{}\"", path_);
    return;
  }
  thread_local std::string out;
  out.resize(deflateBound(&z, uLong(data.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = uInt(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t n = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    LOG_ALERT("deflate() failed for \"{}\"", path_);
    return;
  }
  write_all(fd_, out.data(), n);
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
                                       std::string* error, uint64_t flush_ms, int gzip_level) {
  if (flush_ms && buffer_size && (flush_ms_ == 0 || flush_ms < flush_ms_)) flush_ms_ = flush_ms;
  for (const auto& f : files_)
    if (f->path() == path) return f;
  auto f = LogFile::open(path, buffer_size, workers, error, flush_ms, gzip_level);
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
