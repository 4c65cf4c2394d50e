// Status: the result of an operation that can fail, with a message for the operator.
// Cheap when ok (no allocation). Used instead of exceptions everywhere off the config path.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace portico {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

}  // namespace portico
