// RequestBody: a request's body as content that reads it whole keeps it (nginx's
// r->request_body): in memory up to client_body_buffer_size, then in a temporary file under
// client_body_temp_path (with its `levels`), never unbounded in memory. It is what
// $request_body (the body while it is in memory) and $request_body_file (the file's name) show,
// and what the proxy sends (again, to the next upstream) when it buffers the request.
//
// A content session that streams the body (proxy_request_buffering off) still records it with
// note_streamed() while it fits the buffer, as nginx's body buffer keeps the last bytes read,
// so $request_body works there for small bodies.
//
// File life (client_body_in_file_only): off, the file is unlinked as soon as it is created
// (only its name stays for $request_body_file); clean, unlinked when the request ends; on, kept.
//
// Owned by the pooled http::Request (reset() with it); worker thread only. Never blocks on the
// network; writes to the file are plain write(2) calls, as nginx's.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace portico::http {

struct LocationConf;

// client_body_in_file_only.
enum class BodyInFile : uint8_t { kOff, kClean, kOn };

// client_body_temp_path's levels: up to three directory name lengths (1 or 2).
struct TempLevels {
  std::array<uint8_t, 3> len{};
  uint8_t count = 0;
};

// The path of temporary file number `n` under `dir` with `levels` (nginx's ngx_create_hashed_
// filename: ten digits, the level directories taken from the end of the name, e.g. levels 1:2
// and 0000000123 give DIR/3/12/0000000123). `out` is cleared first.
void temp_file_name(std::string_view dir, const TempLevels& levels, uint32_t n, std::string& out);

class RequestBody {
 public:
  RequestBody() = default;
  RequestBody(const RequestBody&) = delete;
  RequestBody& operator=(const RequestBody&) = delete;
  ~RequestBody() { reset(); }

  // Appends n body bytes: to memory while the whole body fits client_body_buffer_size (and
  // client_body_in_file_only is off), else to the temporary file (created on the first byte that
  // does not fit; what was in memory moves there). `dir` is the temporary directory to use.
  // Returns 0, or the errno of the open/write that failed (`failed_call()` names it).
  int append(const LocationConf& loc, std::string_view dir, const char* data, size_t n);
  // Records streamed body bytes for $request_body while the body so far fits the buffer.
  void note_streamed(const LocationConf& loc, const char* data, size_t n);
  // The body is stored whole in a file: makes sure one exists (client_body_in_file_only with an
  // empty body). Returns 0 or an errno.
  int finish(const LocationConf& loc, std::string_view dir);

  bool in_file() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // The body while all of it is in memory (valid() says whether it is).
  std::string_view memory() const { return mem_; }
  bool memory_valid() const { return fd_ < 0 && !overflow_; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0 && fd_ < 0 && mem_.empty(); }
  const char* failed_call() const { return failed_call_; }

  // Forgets the body: closes the file, unlinks it when `clean`, frees memory over 64 KiB.
  void reset();

 private:
  int open_file(const LocationConf& loc, std::string_view dir);
  int write_all(const char* data, size_t n);

  std::string mem_;
  std::string path_;
  uint64_t size_ = 0;
  int fd_ = -1;
  bool overflow_ = false;       // streamed bytes no longer fit the buffer
  bool unlink_at_end_ = false;  // client_body_in_file_only clean
  const char* failed_call_ = "";
};

}  // namespace portico::http
