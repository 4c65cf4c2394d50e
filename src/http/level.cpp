#include "http/level.h"

#include <fmt/format.h>

#include <algorithm>

#include "config/values.h"
#include "core/strings.h"

namespace portico::http {

bool Level::first_key(std::string_view key) {
  if (used(key)) return false;
  seen.push_back(key);
  return true;
}

bool Level::used(std::string_view key) const {
  return std::find(seen.begin(), seen.end(), key) != seen.end();
}

bool Level::flag(const config::Directive& d, bool* out) {
  std::string e;
  if (config::parse_flag(d, out, &e)) return true;
  error(d, std::move(e));
  return false;
}

bool Level::msec(const config::Directive& d, std::string_view text, uint64_t* out) {
  auto v = parse_time_ms(text);
  if (!v) {
    error(d, fmt::format("\"{}\" directive invalid value", d.name));
    return false;
  }
  *out = *v;
  return true;
}

bool Level::size(const config::Directive& d, std::string_view text, uint64_t* out) {
  auto v = parse_size(text);
  if (!v) {
    error(d, fmt::format("\"{}\" directive invalid value", d.name));
    return false;
  }
  *out = *v;
  return true;
}

bool Level::number(const config::Directive& d, std::string_view text, uint64_t* out) {
  auto v = parse_uint(text);
  if (!v) {
    error(d, fmt::format("invalid number \"{}\"", text));
    return false;
  }
  *out = *v;
  return true;
}

bool Level::value(const config::Directive& d, std::string_view text, ComplexValue* out) {
  Status st = ComplexValue::compile(text, vars(), out);
  if (!st) error(d, st.message());
  return bool(st);
}

void accept_size(Level& lv, const config::Directive& d) {
  uint64_t v;
  lv.size(d, d.args[0], &v);
}

void accept_any(Level&, const config::Directive&) {}

}  // namespace portico::http
