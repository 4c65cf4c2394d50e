#include "http/access_log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "config/path.h"
#include "core/log.h"
#include "http/connection.h"
#include "http/handler.h"
#include "http/phases.h"
#include "http/request.h"

namespace portico::http {

namespace {

uint64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

int open_log(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t w = ::write(fd, s.data(), s.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s.remove_prefix(size_t(w));
  }
}

// A line for a log whose path has variables: opened for the line, or through the location's
// open_log_file_cache; a relative one is under the prefix. A path whose value climbs out with
// ".." is refused (nginx opens it).
void write_variable_log(Request& r, const AccessLog& al, std::string_view line) {
  thread_local std::string path;
  path.clear();
  al.path->eval(r, path);
  if (path.find("/../") != std::string::npos || path.ends_with("/..")) {
    PORTICO_LOG(LogLevel::kError, r.conn->id(), "invalid log file path \"{}\"{}", path,
                log_context(r));
    return;
  }
  if (!path.empty() && path[0] != '/') path = config::resolve_path(r.http->prefix, path);
  const OpenLogCache* cache = r.loc->open_log_cache.get();
  bool owned = true;
  int fd = cache ? const_cast<OpenLogCache*>(cache)->acquire(r.conn->worker()->index(), path,
                                                             now_ms(), &owned)
                 : open_log(path);
  if (fd < 0) {
    PORTICO_LOG(LogLevel::kError, r.conn->id(), "open() \"{}\" failed ({}){}", path,
                errno_text(errno), log_context(r));
    return;
  }
  write_all(fd, line);
  if (owned) ::close(fd);
}

}  // namespace

void append_escaped(LogFormat::Escape escape, std::string_view v, std::string& out) {
  // nginx's rules: default writes "-" for an empty value and '"', '\\' and bytes outside
  // 0x20..0x7e as \xHH; json writes nothing for an empty value and '"', '\\' and control
  // bytes as \u00HH; none writes the value as it is.
  if (escape == LogFormat::Escape::kNone) {
    out += v;
    return;
  }
  if (v.empty()) {
    if (escape == LogFormat::Escape::kDefault) out += '-';
    return;
  }
  static const char kHex[] = "0123456789ABCDEF";
  const bool json = escape == LogFormat::Escape::kJson;
  for (unsigned char c : v) {
    const bool esc = json ? (c == '"' || c == '\\' || c < 0x20)
                          : (c == '"' || c == '\\' || c < 0x20 || c > 0x7e);
    if (!esc) {
      out += char(c);
      continue;
    }
    if (json) {
      // JSON's short escapes where it has one (nginx's ngx_escape_json).
      const char* s = c == '"'    ? "\\\""
                      : c == '\\' ? "\\\\"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t"
                      : c == '\b' ? "\\b"
                      : c == '\f' ? "\\f"
                                  : nullptr;
      if (s) {
        out += s;
        continue;
      }
    }
    out += json ? "\\u00" : "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

void format_line(const LogFormat& fmt, Request& r, std::string& out) {
  std::string& tmp = r.scratch;
  fmt.value.eval_parts(
      r,
      [&](bool is_var, std::string_view v) {
        if (!is_var)
          out += v;
        else
          append_escaped(fmt.escape, v, out);
      },
      tmp);
}

void log_request(Request& r) {
  if (r.log_done) return;
  r.log_done = true;
  r.conn->worker()->stats().count_response(r.resp.status);
  if (!r.loc) return;
  if (r.loc->access_logs.empty()) return;
  static thread_local std::string line;  // reused: no allocation per logged request
  static thread_local std::string cond;
  int worker = r.conn->worker()->index();
  for (const auto& al : r.loc->access_logs) {
    if (al.cond) {
      cond.clear();
      al.cond->eval(r, cond);
      if (cond.empty() || cond == "0") continue;
    }
    line.clear();
    format_line(*al.format, r, line);
    line += '\n';
    if (al.file)
      al.file->write_line(worker, line);
    else
      write_variable_log(r, al, line);
  }
}

OpenLogCache::~OpenLogCache() {
  for (auto& slot : slots_)
    for (Entry& e : slot)
      if (e.fd >= 0) ::close(e.fd);
}

size_t OpenLogCache::open_count(int worker) const {
  size_t n = 0;
  for (const Entry& e : slots_[size_t(worker)]) n += e.fd >= 0;
  return n;
}

int OpenLogCache::acquire(int worker, const std::string& path, uint64_t now, bool* owned) {
  auto& slot = slots_[size_t(worker)];
  // Entries not used for `inactive` go first.
  for (size_t i = 0; i < slot.size();) {
    if (now - slot[i].used_ms >= p_.inactive_ms) {
      if (slot[i].fd >= 0) ::close(slot[i].fd);
      slot.erase(slot.begin() + ptrdiff_t(i));
    } else {
      ++i;
    }
  }
  // The slot is kept in use order, least recently used first.
  auto it = std::find_if(slot.begin(), slot.end(), [&](const Entry& x) { return x.path == path; });
  if (it == slot.end()) {
    // A file that cannot be opened gets no entry (nginx's open_file_cache).
    const int fd = open_log(path);
    if (fd < 0) return -1;
    if (slot.size() >= p_.max && !slot.empty()) {
      if (slot.front().fd >= 0) ::close(slot.front().fd);
      slot.erase(slot.begin());
    }
    const bool keep = p_.min_uses <= 1;
    slot.push_back(Entry{path, keep ? fd : -1, 1, now, now});
    *owned = !keep;
    return fd;
  }
  std::rotate(it, it + 1, slot.end());
  Entry* e = &slot.back();
  e->uses++;
  e->used_ms = now;
  if (e->fd >= 0 && now - e->opened_ms < p_.valid_ms) {
    *owned = false;
    return e->fd;
  }
  if (e->fd >= 0) {  // past `valid`: opened again, the file may have been rotated
    ::close(e->fd);
    e->fd = -1;
  }
  int fd = open_log(path);
  if (fd < 0 || e->uses < p_.min_uses) {
    *owned = true;
    return fd;
  }
  e->fd = fd;
  e->opened_ms = now;
  *owned = false;
  return fd;
}

}  // namespace portico::http
