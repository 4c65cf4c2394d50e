#include "core/file_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

namespace portico {

namespace {

// Reads a small file whole. Returns false on a short read (the file changed under us): the
// caller then falls back to streaming with the fd, which reports the truncation properly.
bool read_all(int fd, size_t size, std::string& out) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

}  // namespace

FileCache::~FileCache() {
  for (auto& [path, f] : entries_)
    if (f->fd >= 0) ::close(f->fd);
  for (auto& f : stale_)
    if (f->fd >= 0) ::close(f->fd);
}

CachedFile* FileCache::open(const std::string& path, int* err) {
  const uint64_t iteration = iteration_;
  auto it = entries_.find(std::string_view(path));
  if (it != entries_.end() && it->second->iteration == iteration) {
    ++it->second->refs;
    return it->second.get();
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    *err = errno;
    return nullptr;
  }
  auto f = std::make_unique<CachedFile>();
  f->fd = fd;
  if (::fstat(fd, &f->st) != 0) {
    *err = errno;
    ::close(fd);
    return nullptr;
  }
  f->path = path;
  f->iteration = iteration;
  f->refs = 1;
  if (S_ISREG(f->st.st_mode) && size_t(f->st.st_size) <= kSmallFile)
    f->has_body = read_all(fd, size_t(f->st.st_size), f->body);
  if (it != entries_.end()) {
    // An entry from an older iteration: replace it; keep it alive while responses use it.
    std::unique_ptr<CachedFile> old = std::move(it->second);
    if (old->refs == 0) {
      ::close(old->fd);
    } else {
      old->cached = false;
      stale_.push_back(std::move(old));
    }
    f->cached = true;
    it->second = std::move(f);
    return it->second.get();
  }
  if (entries_.size() >= kMaxEntries) {
    f->cached = false;  // owned by the request alone; destroyed on release
    return f.release();
  }
  f->cached = true;
  CachedFile* raw = f.get();
  entries_.emplace(path, std::move(f));
  return raw;
}

void FileCache::destroy(CachedFile* f) {
  if (f->fd >= 0) ::close(f->fd);
  f->fd = -1;
}

void FileCache::release(CachedFile* f) {
  assert(f->refs > 0);
  if (--f->refs > 0) return;
  if (f->cached) return;  // closed by end_iteration() once it is older than the current one
  auto s = std::find_if(stale_.begin(), stale_.end(), [f](const auto& p) { return p.get() == f; });
  if (s != stale_.end()) {
    destroy(f);
    stale_.erase(s);
    return;
  }
  destroy(f);
  delete f;  // an overflow entry
}

void FileCache::end_iteration() {
  ++iteration_;
  if (entries_.empty()) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->refs == 0) {
      destroy(it->second.get());
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace portico
