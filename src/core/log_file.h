// LogFile: an append-only log file (access logs of http{} and stream{}) with optional
// per-worker buffering (`access_log PATH FORMAT buffer=SIZE`). Without a buffer each line goes
// out with one write(2) on an O_APPEND descriptor, as nginx does; with one, each worker fills
// its own buffer (no lock between workers) and flushes when full, on reload, when it stops, and
// every `flush=` interval (the worker's flush timer, LogFiles::flush_interval_ms). With `gzip`
// each flushed buffer is written as one gzip member (zlib), as nginx does: the file is a valid
// concatenation that zcat reads whole.
// Opened on the control thread while a snapshot is built; shared by the snapshot's workers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portico {

class LogFile {
 public:
  // Opens `path` (O_APPEND|O_CREAT). `workers` buffers of `buffer_size` bytes each when > 0,
  // flushed at least every flush_ms when that is > 0 (see LogFiles::flush_timed).
  static std::shared_ptr<LogFile> open(const std::string& path, size_t buffer_size, int workers,
                                       std::string* error, uint64_t flush_ms = 0,
                                       int gzip_level = 0);
  ~LogFile();

  const std::string& path() const { return path_; }
  // The descriptor (its number never changes: reopen() dup2s onto it); for unbuffered writers.
  int fd() const { return fd_; }
  // Worker thread `worker`: appends one line (with '\n').
  void write_line(int worker, std::string_view line);
  void flush(int worker);
  uint64_t flush_ms() const { return flush_ms_; }  // `flush=`, 0 if none
  // Control thread (USR1): the new file takes the same fd number (dup2), see Logger::reopen.
  void reopen();

 private:
  std::string path_;
  int fd_ = -1;
  size_t buffer_size_ = 0;
  uint64_t flush_ms_ = 0;
  int gzip_level_ = 0;                // 0: plain
  std::vector<std::string> buffers_;  // one per worker
  void write_out(int worker, std::string_view data);
};

// Every access log file of one configuration snapshot, http and stream alike, each path opened
// once: the one list that USR1 reopens and that a worker flushes (reload, exit). Builders add to
// it on the control thread; read-only once the snapshot is published.
class LogFiles {
 public:
  // The file for `path`, opened on first use; the first caller's buffer size applies.
  // flush_ms > 0: buffered lines must not wait longer than that (`flush=`).
  std::shared_ptr<LogFile> get(const std::string& path, size_t buffer_size, int workers,
                               std::string* error, uint64_t flush_ms = 0, int gzip_level = 0);
  // The shortest `flush=` of any buffered file (0: none): how often a worker runs
  // flush_timed(), so no line waits longer than its file's flush= (nginx's bound).
  uint64_t flush_interval_ms() const { return flush_ms_; }
  // Worker thread `worker`: writes out what it buffered for the files that have a flush=.
  void flush_timed(int worker) const;
  // Control thread (USR1).
  void reopen() const;
  // Worker thread `worker`: writes out what it buffered.
  void flush(int worker) const;
  size_t size() const { return files_.size(); }

 private:
  std::vector<std::shared_ptr<LogFile>> files_;
  uint64_t flush_ms_ = 0;
};

}  // namespace portico
