#include "core/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cassert>
#include <cstdlib>

namespace portico {

namespace {

pcre2_code* as_code(void* p) {
  return static_cast<pcre2_code*>(p);
}

// One match data per thread, big enough for kMaxCaptures pairs, created on the thread's first
// match and freed when the thread exits. pcre2 >= 10.41 also keeps its backtracking frames in
// it, so steady-state matching does not touch the heap.
class ThreadMatchData {
 public:
  ~ThreadMatchData() {
    if (data_ != nullptr) pcre2_match_data_free(data_);
  }
  pcre2_match_data* get() {
    if (data_ == nullptr) data_ = pcre2_match_data_create(kMaxCaptures, nullptr);
    if (data_ == nullptr) abort();  // out of memory: abort, as everywhere else
    return data_;
  }

 private:
  pcre2_match_data* data_ = nullptr;
};

thread_local ThreadMatchData t_match_data;

bool jit_available() {
  static const bool available = [] {
    uint32_t jit = 0;
    return pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit == 1;
  }();
  return available;
}

std::string compile_error(int errcode, size_t erroff, std::string_view pattern) {
  PCRE2_UCHAR buf[128];
  if (pcre2_get_error_message(errcode, buf, sizeof(buf)) < 0) buf[0] = 0;
  std::string msg = "pcre2_compile() failed: ";
  msg += reinterpret_cast<const char*>(buf);
  msg += " in \"";
  msg += pattern;
  msg += '"';
  if (erroff != pattern.size()) {  // nginx: no "at" part when the error is at the very end
    msg += " at \"";
    msg += pattern.substr(erroff < pattern.size() ? erroff : pattern.size());
    msg += '"';
  }
  return msg;
}

}  // namespace

bool Regex::jit_supported() {
  return jit_available();
}

std::unique_ptr<Regex> Regex::compile(std::string_view pattern, bool caseless, std::string* error) {
  int errcode = 0;
  PCRE2_SIZE erroff = 0;
  uint32_t options = caseless ? PCRE2_CASELESS : 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &errcode, &erroff, nullptr);
  if (code == nullptr) {
    if (error != nullptr) *error = compile_error(errcode, erroff, pattern);
    return nullptr;
  }

  std::unique_ptr<Regex> re(new Regex());
  re->code_ = code;
  re->pattern_ = std::string(pattern);
  re->caseless_ = caseless;
  // JIT is an optimisation only: on failure (unsupported pattern, no executable memory) the
  // interpreter gives the same answers.
  re->jit_ = jit_available() && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;

  uint32_t capture_count = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &capture_count);
  re->captures_ = int(capture_count);

  uint32_t name_count = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &name_count);
  if (name_count > 0) {
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < name_count; ++i) {
      // Entry: 2-byte big-endian group number, then the NUL-terminated name.
      const unsigned char* e = table + size_t(i) * entry_size;
      int index = (e[0] << 8) | e[1];
      re->names_.push_back({std::string(reinterpret_cast<const char*>(e + 2)), index});
    }
  }
  return re;
}

Regex::~Regex() {
  if (code_ != nullptr) pcre2_code_free(as_code(code_));
}

int Regex::group_index(std::string_view name) const {
  for (const NamedGroup& g : names_)
    if (g.name == name) return g.index;
  return -1;
}

bool Regex::match(std::string_view subject, Captures* caps) const {
  pcre2_match_data* md = t_match_data.get();
  int rc = pcre2_match(as_code(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                       0, 0, md, nullptr);
  // rc < 0: no match or a matching error (match/depth/JIT stack limit), both "no match" here;
  // rc == 0: more groups set than the ovector holds, the first kMaxCaptures are reported.
  if (rc < 0) return false;
  if (caps == nullptr) return true;
  int n = rc == 0 ? kMaxCaptures : rc;
  assert(n <= kMaxCaptures);
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  caps->subject = subject;
  caps->count = n;
  for (int i = 0; i < 2 * n; ++i) caps->ovector[i] = ov[i] == PCRE2_UNSET ? -1 : int(ov[i]);
  return true;
}

}  // namespace portico
