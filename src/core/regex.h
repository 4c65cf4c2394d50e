// Regex: a compiled PCRE2 pattern with nginx's compile options and error texts.
//
// Built while the configuration is loaded, then shared read-only by every worker thread of the
// snapshot that owns it: match() is const and thread-safe. Matching allocates nothing per call:
// each thread keeps one pcre2_match_data sized for kMaxCaptures, and capture offsets are copied
// into a caller-owned Captures (usually part of the request).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portico {

// Capture pairs kept per match, group 0 (the whole match) included. Groups past this limit
// still take part in matching; their offsets are just not reported.
inline constexpr int kMaxCaptures = 32;

// Offsets of the groups of the last successful match, into `subject` (which must outlive any
// use of group()). Plain data, so it can live in a request arena and be copied freely.
struct Captures {
  std::string_view subject;
  int count = 0;                       // groups set: highest set group + 1 (0: no match kept)
  int ovector[2 * kMaxCaptures] = {};  // start/end pairs; -1/-1 for a group that did not take part

  // The text of group `i` ($0, $1, ... in nginx); empty if `i` is out of range or unset.
  std::string_view group(int i) const {
    if (i < 0 || i >= count || i >= kMaxCaptures || ovector[2 * i] < 0) return {};
    return subject.substr(size_t(ovector[2 * i]), size_t(ovector[2 * i + 1] - ovector[2 * i]));
  }
  bool group_set(int i) const {
    return i >= 0 && i < count && i < kMaxCaptures && ovector[2 * i] >= 0;
  }
  void clear() { count = 0; }
};

class Regex {
 public:
  // A named group `(?<name>...)`; with (?J) one name may map to several indexes.
  struct NamedGroup {
    std::string name;
    int index;
  };

  // Compiles `pattern` like nginx's ngx_regex_compile (no UTF mode; PCRE2_CASELESS when
  // `caseless`) and JIT-compiles it when the library supports it (falling back silently).
  // Returns nullptr on failure and sets *error (if non-null) to nginx's text, e.g.
  // `pcre2_compile() failed: missing closing parenthesis in "(foo"`.
  static std::unique_ptr<Regex> compile(std::string_view pattern, bool caseless,
                                        std::string* error);

  // Whether the PCRE2 library linked in can JIT-compile (nginx's --with-pcre-jit).
  static bool jit_supported();

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // True if the pattern matches somewhere in `subject`. On a match and if `caps` is non-null,
  // *caps receives the subject and the group offsets; on no match *caps is left untouched (as
  // nginx leaves r->captures). Thread-safe; allocates nothing after the thread's first call.
  bool match(std::string_view subject, Captures* caps) const;

  const std::string& pattern() const { return pattern_; }
  bool caseless() const { return caseless_; }
  bool jit() const { return jit_; }
  int captures() const { return captures_; }  // number of groups, group 0 not counted
  const std::vector<NamedGroup>& named_groups() const { return names_; }
  // Index of the first group called `name`, or -1.
  int group_index(std::string_view name) const;

 private:
  Regex() = default;

  void* code_ = nullptr;  // pcre2_code*, kept opaque so users need not include pcre2.h
  std::string pattern_;
  bool caseless_ = false;
  bool jit_ = false;
  int captures_ = 0;
  std::vector<NamedGroup> names_;
};

}  // namespace portico
