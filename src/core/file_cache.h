// FileCache: a worker's open files, shared by the requests of one event-loop iteration.
//
// Under load one epoll batch carries many requests for the same few files. Opening, fstat-ing
// and closing the file once per batch instead of once per request saves three system calls a
// request, and small files are read once per batch so each response leaves with a single
// writev (head + body). An entry is only reused within the iteration that opened it, so a
// changed file is seen by the very next batch: unlike nginx's opt-in open_file_cache there is
// no validity window to configure or to get wrong. Entries still referenced by responses in
// flight (sendfile of a large file spans iterations) stay open until released.
// Owned by a Worker; used only on its thread. Bounded: at most kMaxEntries per iteration;
// beyond that files are opened uncached.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico {

struct CachedFile {
  std::string path;
  int fd = -1;
  struct stat st {};
  uint32_t refs = 0;
  uint64_t iteration = 0;  // the loop iteration that opened it
  bool cached = false;     // false: an overflow entry owned by one request
  bool has_body = false;   // small file: `body` holds its content
  std::string body;
};

class FileCache {
 public:
  static constexpr size_t kMaxEntries = 64;
  static constexpr size_t kSmallFile = 16 * 1024;  // read into memory up to this size

  FileCache() = default;
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;
  ~FileCache();

  // Opens `path` (O_RDONLY|O_NONBLOCK) or returns this iteration's entry for it, with a
  // reference the caller must release(). On failure returns null with *err set to errno.
  // Directories are returned too (st tells); their content is never read.
  CachedFile* open(const std::string& path, int* err);
  void release(CachedFile* f);
  // End of a loop iteration: entries are closed once unused, and none is reused after this.
  void end_iteration();
  size_t size() const { return entries_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void destroy(CachedFile* f);

  std::unordered_map<std::string, std::unique_ptr<CachedFile>, Hash, std::equal_to<>> entries_;
  std::vector<std::unique_ptr<CachedFile>> stale_;  // replaced while still referenced
  uint64_t iteration_ = 0;
};

}  // namespace portico
