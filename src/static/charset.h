// Charsets and recoding tables of the charset module (nginx's ngx_http_charset_filter_module):
// the charsets a configuration names, the charset_map tables between them, and a Recoder that
// turns a body from one charset into another piece by piece. Built on the control thread with
// the http{} block; read-only afterwards. A Recoder is per response, worker thread only.
//
// Three kinds of table, as nginx: one-byte to one-byte (`charset_map koi8-r windows-1251`),
// one-byte to UTF-8 and UTF-8 to one-byte (`charset_map koi8-r utf-8`: the second column is the
// character's UTF-8 bytes in hex). A character UTF-8 cannot map to a byte becomes "&#NNNN;".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::static_files {

struct CharsetTable {
  enum class Kind : uint8_t { kByte, kToUtf8, kFromUtf8 };
  Kind kind = Kind::kByte;
  uint8_t byte[256];                           // kByte: byte -> byte
  char utf8[256][4];                           // kToUtf8: byte -> its UTF-8 sequence
  uint8_t utf8_len[256];                       // ... of this many bytes
  std::unordered_map<uint32_t, uint8_t> from;  // kFromUtf8: code point -> byte (>= 0x80 only)
};

class Charsets {
 public:
  static constexpr int kNone = -1;  // a name no directive or map declares
  // The index of `name` (case-insensitive), or kNone.
  int find(std::string_view name) const;
  // The index of `name`, declared now if it is new.
  int add(std::string_view name);
  const std::string& name(int i) const { return names_[size_t(i)]; }
  bool utf8(int i) const;
  // Declares `charset_map src dst { entries }`; entries are the block's lines, two hex
  // numbers each. False and `error` (nginx's words) when a line or the pair is invalid.
  bool add_map(std::string_view src, std::string_view dst,
               const std::vector<std::pair<std::string, std::string>>& entries, std::string* error);
  // The table recoding from `src` to `dst`, or null when no charset_map joins them.
  const CharsetTable* table(int src, int dst) const;

 private:
  std::vector<std::string> names_;
  std::unordered_map<uint64_t, std::shared_ptr<const CharsetTable>> tables_;  // (src << 32) | dst
};

// Recodes a body through one table; keeps an incomplete UTF-8 sequence between pieces.
class Recoder {
 public:
  void start(const CharsetTable* t) {
    table_ = t;
    saved_len_ = 0;
  }
  // The most output one input byte can give (an "&#1114111;" entity is 10 bytes).
  static constexpr size_t kMaxExpansion = 12;
  // Appends `in` recoded to `out`.
  void recode(std::string_view in, std::string& out);
  // The body ended: an incomplete sequence held back becomes '?'.
  void finish(std::string& out);

 private:
  void from_utf8(std::string_view in, std::string& out);
  const CharsetTable* table_ = nullptr;
  char saved_[4];
  size_t saved_len_ = 0;
};

// The parameters of a Content-Type value: its type without parameters ("text/html") and the
// value of its charset parameter (unquoted; empty when none).
struct ContentTypeParts {
  std::string_view type;
  std::string_view charset;
};
ContentTypeParts split_content_type(std::string_view value);

}  // namespace portico::static_files
