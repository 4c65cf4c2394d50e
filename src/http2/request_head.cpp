#include "http2/request_head.h"

namespace portico::http2 {

namespace {
constexpr size_t kMaxFields = 1000;  // far above ParseLimits::max_headers: that one answers 431
}

void HeadCollector::reset(size_t limit) {
  buf_.clear();
  line_.clear();
  method_.clear();
  path_.clear();
  authority_.clear();
  scheme_.clear();
  cookie_.clear();
  limit_ = limit;
  fields_ = 0;
  started_ = too_large_ = bad_ = false;
}

void HeadCollector::start_fields() {
  started_ = true;
  // CONNECT has no :path: its target is the authority (authority-form).
  const std::string& target = path_.empty() ? authority_ : path_;
  buf_ += method_;
  buf_ += ' ';
  buf_ += target;
  buf_ += " HTTP/1.1\r\n";
  if (!authority_.empty()) {
    buf_ += "Host: ";
    buf_ += authority_;
    buf_ += "\r\n";
  }
}

bool HeadCollector::add(std::string_view name, std::string_view value) {
  if (too_large_) return false;
  if (++fields_ > kMaxFields) {
    too_large_ = true;
    return false;
  }
  if (!name.empty() && name[0] == ':') {
    if (started_) {
      bad_ = true;  // a pseudo-field after a regular one
      return true;
    }
    std::string* dst = name == ":method"      ? &method_
                       : name == ":path"      ? &path_
                       : name == ":authority" ? &authority_
                       : name == ":scheme"    ? &scheme_
                                              : nullptr;
    if (!dst || !dst->empty()) {
      bad_ = true;  // unknown or repeated
      return true;
    }
    if (value.size() > limit_) {
      too_large_ = true;
      return false;
    }
    dst->assign(value);
    if (!method_.empty() && (!path_.empty() || !authority_.empty())) {
      line_ = method_;
      line_ += ' ';
      line_ += path_.empty() ? authority_ : path_;
      line_ += " HTTP/2.0";
    }
    return true;
  }
  if (!started_) start_fields();
  if (name == "cookie") {
    if (!cookie_.empty()) cookie_ += "; ";
    cookie_ += value;
  } else if (name == "host" && !authority_.empty()) {
    return true;  // :authority wins
  } else {
    buf_ += name;
    buf_ += ": ";
    buf_ += value;
    buf_ += "\r\n";
  }
  if (buf_.size() + cookie_.size() > limit_) {
    too_large_ = true;
    return false;
  }
  return true;
}

int HeadCollector::finish(const http::ParseLimits& limits, bool has_body, http::RequestHead& head) {
  if (too_large_) return 431;
  // RFC 9113 8.3.1: :method, :scheme and :path in every request but CONNECT, which carries
  // :authority and neither of the other two (nginx: "client sent no :scheme header", 400).
  if (bad_ || method_.empty()) return 400;
  if (method_ == "CONNECT" ? authority_.empty() || !scheme_.empty() || !path_.empty()
                           : scheme_.empty() || path_.empty())
    return 400;
  if (!started_) start_fields();
  if (!cookie_.empty()) {
    buf_ += "Cookie: ";
    buf_ += cookie_;
    buf_ += "\r\n";
  }
  buf_ += "\r\n";
  size_t consumed = 0;
  int err = 0;
  head.clear();
  const http::ParseStatus st = http::parse_request_head(buf_, limits, head, &consumed, &err);
  if (st != http::ParseStatus::kComplete) return st == http::ParseStatus::kError ? err : 400;
  if (consumed != buf_.size()) return 400;  // a field value that smuggled a line end
  head.request_line = line_;
  head.protocol = "HTTP/2.0";
  head.version_major = 2;
  head.version_minor = 0;
  head.keep_alive = true;
  head.expect_continue = false;
  if (has_body && head.content_length < 0) head.chunked = true;
  return 0;
}

}  // namespace portico::http2
