// nginx variables and "complex values" (strings with $variables), compiled at config load.
// A ComplexValue is a list of parts: literal text, a variable reference or a regex capture.
// Evaluation appends to a caller-owned string (the request's scratch), so nothing is allocated
// per request once the buffers have grown.
// Built once per config snapshot; read concurrently by all workers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"
#include "core/status.h"

namespace portico::http {

struct Request;

struct VarRef;

// A variable that the host or a module provides (nginx's ngx_http_variable_t): its name, or
// with `prefix` a name prefix whose rest is a parameter ($http_NAME, $arg_NAME ...), and the
// getter that appends its value to `out` and returns false when it is "not found" (logged as
// "-"). Getters run on worker threads; they must not block or allocate beyond `out`.
struct VariableDef {
  std::string_view name;
  bool (*get)(Request& r, const VarRef& ref, std::string& out) = nullptr;
  bool prefix = false;
  bool header_param = false;  // the parameter names a header: lowercased, '_' becomes '-'
};

// Registers variables (the host's own at start, each module's with it). Names must be new.
// REQUIRES: start-up, one thread, before any configuration is built.
void register_variables(std::span<const VariableDef> defs);

struct VarRef {
  const VariableDef* def = nullptr;  // null: a user variable (set, map, named capture)
  std::string param;                 // the rest of a prefix variable's name
  int user_index = -1;
};

// The config-wide table of user variables (`set $x`, named captures, later `map`).
class VariableTable {
 public:
  // Index of user variable `name`, adding it if new.
  int user_index(std::string_view name);
  int find_user(std::string_view name) const;
  size_t user_count() const { return names_.size(); }
  // A `map` computes the variable on use instead of `set`.
  void set_map(int index, const struct MapConf* map);
  const struct MapConf* map(int index) const {
    return size_t(index) < maps_.size() ? maps_[size_t(index)] : nullptr;
  }

  // Resolves `name` (without '$') to a reference; unknown names are an error, as in nginx:
  // unknown "foo" variable
  Status resolve(std::string_view name, VarRef* out);

 private:
  std::vector<std::string> names_;
  std::vector<const struct MapConf*> maps_;
};

class ComplexValue {
 public:
  struct Part {
    enum class Kind : uint8_t { kLiteral, kVar, kCapture } kind;
    std::string literal;
    VarRef var;
    int capture = 0;  // $1..$9 (and $0)
  };

  // Compiles nginx syntax: "$var", "${var}", "$1", "\$" is not special in nginx (no escapes).
  static Status compile(std::string_view text, VariableTable& vars, ComplexValue* out);
  static ComplexValue literal_value(std::string text);

  bool empty() const { return parts_.empty(); }
  bool is_literal() const { return literal_; }
  // REQUIRES: is_literal()
  const std::string& literal() const { return text_; }
  const std::string& source() const { return text_; }
  bool has_captures() const;
  const std::vector<Part>& parts() const { return parts_; }

  // Appends the value to `out`.
  void eval(Request& r, std::string& out) const;
  // Calls emit(is_variable, text) for each part in order (access log escaping); `tmp` is
  // scratch space for variable values.
  template <typename Emit>
  void eval_parts(Request& r, Emit&& emit, std::string& tmp) const {
    for (const auto& p : parts_) {
      if (p.kind == Part::Kind::kLiteral) {
        emit(false, std::string_view(p.literal));
        continue;
      }
      tmp.clear();
      append_part(r, p, tmp);
      emit(true, std::string_view(tmp));
    }
  }
  static void append_part(Request& r, const Part& p, std::string& out);

 private:
  std::vector<Part> parts_;
  std::string text_;
  bool literal_ = true;
};

// Appends the value of a variable. Returns false if it is "not found" (empty in output).
bool get_variable(Request& r, const VarRef& ref, std::string& out);

// Helpers for getters.
void append_uint(std::string& out, uint64_t v);
// The client address as nginx's cached variable `bit` shows it (see Request::addr_vars_early).
const SockAddr& client_addr_for_variable(Request& r, uint8_t bit);

}  // namespace portico::http
