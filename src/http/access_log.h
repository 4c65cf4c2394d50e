// Access log of http{}: log_format (compiled once per snapshot against the http variables)
// and the log phase that writes a request's line to its location's access_log files.
#pragma once

#include <memory>
#include <string>

#include "core/log_file.h"
#include "http/variables.h"

namespace portico::http {

struct Request;

struct LogFormat {
  std::string name;
  ComplexValue value;
  enum class Escape : uint8_t { kDefault, kJson, kNone } escape = Escape::kDefault;
};

// nginx's predefined "combined" format.
inline constexpr const char* kCombinedFormat =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
    "\"$http_referer\" \"$http_user_agent\"";

// Appends the formatted line for request `r` (without '\n').
void format_line(const LogFormat& fmt, Request& r, std::string& out);

}  // namespace portico::http
