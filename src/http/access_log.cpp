#include "http/access_log.h"

#include "http/connection.h"
#include "http/handler.h"
#include "http/request.h"

namespace portico::http {

void format_line(const LogFormat& fmt, Request& r, std::string& out) {
  // Variables are escaped as nginx does: '"', '\\' and bytes outside 0x20..0x7e become \xHH;
  // an empty or missing variable is written as "-".
  std::string& tmp = r.scratch;
  fmt.value.eval_parts(
      r,
      [&](bool is_var, std::string_view v) {
        if (!is_var || fmt.escape == LogFormat::Escape::kNone) {
          if (is_var && v.empty() && fmt.escape != LogFormat::Escape::kNone) {
            out += '-';
            return;
          }
          out += v;
          return;
        }
        if (v.empty()) {
          if (fmt.escape == LogFormat::Escape::kDefault) out += '-';
          return;
        }
        static const char kHex[] = "0123456789ABCDEF";
        for (unsigned char c : v) {
          bool esc = fmt.escape == LogFormat::Escape::kJson
                         ? (c == '"' || c == '\\' || c < 0x20)
                         : (c == '"' || c == '\\' || c < 0x20 || c > 0x7e);
          if (!esc) {
            out += char(c);
          } else if (fmt.escape == LogFormat::Escape::kJson) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          }
        }
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
  int worker = r.conn->worker()->index();
  for (const auto& al : r.loc->access_logs) {
    line.clear();
    format_line(*al.format, r, line);
    line += '\n';
    al.file->write_line(worker, line);
  }
}

}  // namespace portico::http
