// RequestBody: memory up to client_body_buffer_size, then a named temporary file (see the header).
#include "http/request_body.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "http/http_config.h"

namespace portico::http {

namespace {

constexpr size_t kKeepCapacity = 64 * 1024;  // memory a pooled request keeps between requests

// Creates the directories of `path` below `base` (the levels), as nginx's ngx_create_path.
void make_levels(const std::string& path, size_t base) {
  for (size_t pos = path.find('/', base + 1); pos != std::string::npos;
       pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    ::mkdir(dir.c_str(), 0700);
  }
}

// The next temporary file number of this thread: seeded at random, as nginx's ngx_temp_number,
// so workers and restarts rarely collide (a collision just takes the next number).
uint32_t next_temp_number() {
  thread_local uint32_t n = std::random_device{}() % 1000000000u;
  n = (n + 1) % 4000000000u;
  return n;
}

}  // namespace

void temp_file_name(std::string_view dir, const TempLevels& levels, uint32_t n, std::string& out) {
  char name[16];
  int len = snprintf(name, sizeof name, "%010u", n);
  out.assign(dir);
  if (out.empty() || out.back() != '/') out += '/';
  size_t end = size_t(len);
  for (uint8_t i = 0; i < levels.count; ++i) {
    end -= levels.len[i];
    out.append(name + end, levels.len[i]);
    out += '/';
  }
  out.append(name, size_t(len));
}

int RequestBody::open_file(const LocationConf& loc, std::string_view dir) {
  const TempLevels& levels = loc.client_body_temp_levels;
  for (int attempt = 0; attempt < 64; ++attempt) {
    temp_file_name(dir, levels, next_temp_number(), path_);
    for (int pass = 0; pass < 2; ++pass) {
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd_ >= 0 || errno != ENOENT || pass == 1) break;
      // The directory (or a level of it) does not exist yet.
      ::mkdir(std::string(dir).c_str(), 0700);
      make_levels(path_, dir.size());
    }
    if (fd_ >= 0) break;
    if (errno != EEXIST) {
      failed_call_ = "open";
      int err = errno;
      path_.clear();
      return err;
    }
  }
  if (fd_ < 0) {
    failed_call_ = "open";
    path_.clear();
    return EEXIST;
  }
  switch (loc.client_body_in_file_only) {
    case BodyInFile::kOff:
      ::unlink(path_.c_str());  // nginx's non-persistent file: the name stays for the variable
      break;
    case BodyInFile::kClean:
      unlink_at_end_ = true;
      break;
    case BodyInFile::kOn:
      break;
  }
  return 0;
}

int RequestBody::write_all(const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      failed_call_ = "write";
      return w < 0 ? errno : ENOSPC;
    }
    data += w;
    n -= size_t(w);
  }
  return 0;
}

int RequestBody::append(const LocationConf& loc, std::string_view dir, const char* data, size_t n) {
  if (fd_ < 0 && (loc.client_body_in_file_only != BodyInFile::kOff ||
                  size_ + n > loc.client_body_buffer_size)) {
    if (int err = open_file(loc, dir)) return err;
    if (int err = write_all(mem_.data(), mem_.size())) return err;
    mem_.clear();
    if (mem_.capacity() > kKeepCapacity) mem_.shrink_to_fit();
  }
  size_ += n;
  if (fd_ >= 0) return write_all(data, n);
  mem_.append(data, n);
  return 0;
}

void RequestBody::note_streamed(const LocationConf& loc, const char* data, size_t n) {
  size_ += n;
  if (overflow_) return;
  if (size_ > loc.client_body_buffer_size) {
    overflow_ = true;
    mem_.clear();
    return;
  }
  mem_.append(data, n);
}

int RequestBody::finish(const LocationConf& loc, std::string_view dir) {
  if (fd_ >= 0 || loc.client_body_in_file_only == BodyInFile::kOff) return 0;
  if (int err = open_file(loc, dir)) return err;
  int err = write_all(mem_.data(), mem_.size());
  mem_.clear();
  return err;
}

void RequestBody::reset() {
  if (fd_ >= 0) {
    ::close(fd_);
    if (unlink_at_end_) ::unlink(path_.c_str());
  }
  fd_ = -1;
  unlink_at_end_ = false;
  overflow_ = false;
  size_ = 0;
  path_.clear();
  mem_.clear();
  if (mem_.capacity() > kKeepCapacity) mem_.shrink_to_fit();
  failed_call_ = "";
}

}  // namespace portico::http
