#include "static/charset.h"

#include <fmt/format.h>

#include "core/strings.h"

namespace portico::static_files {

namespace {

bool parse_hex(std::string_view s, uint32_t* out, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return false;
  uint32_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = v * 16 + uint32_t(d);
  }
  *out = v;
  return true;
}

// Decodes one UTF-8 sequence at p (n bytes available): the code point and its length;
// len 0 when the sequence is incomplete, code point UINT32_MAX when it is invalid (len 1).
struct Decoded {
  uint32_t cp;
  size_t len;
};
Decoded decode_utf8(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  if (c < 0x80) return {c, 1};
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return {UINT32_MAX, 1};
  }
  for (size_t i = 1; i < len; ++i) {
    if (i >= n) return {0, 0};
    if ((p[i] & 0xc0) != 0x80) return {UINT32_MAX, 1};
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {UINT32_MAX, 1};
  return {cp, len};
}

}  // namespace

int Charsets::find(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (iequals(names_[i], name)) return int(i);
  return kNone;
}

int Charsets::add(std::string_view name) {
  int i = find(name);
  if (i != kNone) return i;
  names_.emplace_back(name);
  return int(names_.size() - 1);
}

bool Charsets::utf8(int i) const {
  return i >= 0 && iequals(names_[size_t(i)], "utf-8");
}

bool Charsets::add_map(std::string_view src, std::string_view dst,
                       const std::vector<std::pair<std::string, std::string>>& entries,
                       std::string* error) {
  const int s = add(src), d = add(dst);
  if (utf8(s)) {
    *error = fmt::format("\"charset_map\" source charset \"{}\" may not be \"utf-8\"", src);
    return false;
  }
  if (table(s, d)) {
    *error =
        fmt::format("duplicate \"charset_map\" between the charsets \"{}\" and \"{}\"", src, dst);
    return false;
  }
  auto fwd = std::make_unique<CharsetTable>();
  auto back = std::make_unique<CharsetTable>();
  if (!utf8(d)) {
    for (int i = 0; i < 256; ++i) fwd->byte[i] = back->byte[i] = uint8_t(i);
    for (const auto& [a, b] : entries) {
      uint32_t x, y;
      if (!parse_hex(a, &x, 2) || !parse_hex(b, &y, 2)) {
        *error = fmt::format("invalid value \"{}\"", parse_hex(a, &x, 2) ? b : a);
        return false;
      }
      fwd->byte[x] = uint8_t(y);
      back->byte[y] = uint8_t(x);
    }
  } else {
    fwd->kind = CharsetTable::Kind::kToUtf8;
    back->kind = CharsetTable::Kind::kFromUtf8;
    for (int i = 0; i < 256; ++i) {
      fwd->utf8[i][0] = i < 0x80 ? char(i) : '?';
      fwd->utf8_len[i] = 1;
    }
    for (const auto& [a, b] : entries) {
      uint32_t x;
      if (!parse_hex(a, &x, 2)) {
        *error = fmt::format("invalid value \"{}\"", a);
        return false;
      }
      // The UTF-8 bytes, big-endian in hex: "D18E" is 0xD1 0x8E.
      unsigned char bytes[4];
      size_t n = b.size() / 2;
      bool ok = b.size() % 2 == 0 && n >= 1 && n <= 4;
      for (size_t k = 0; ok && k < n; ++k) {
        uint32_t v = 0;
        ok = parse_hex(std::string_view(b).substr(2 * k, 2), &v, 2);
        bytes[k] = uint8_t(v);
      }
      Decoded dec = ok ? decode_utf8(bytes, n) : Decoded{UINT32_MAX, 0};
      if (!ok || dec.cp == UINT32_MAX || dec.len != n) {
        *error = fmt::format("invalid value \"{}\"", b);
        return false;
      }
      for (size_t k = 0; k < n; ++k) fwd->utf8[x][k] = char(bytes[k]);
      fwd->utf8_len[x] = uint8_t(n);
      if (dec.cp >= 0x80) back->from[dec.cp] = uint8_t(x);
    }
  }
  tables_[(uint64_t(uint32_t(s)) << 32) | uint32_t(d)] = std::move(fwd);
  tables_[(uint64_t(uint32_t(d)) << 32) | uint32_t(s)] = std::move(back);
  return true;
}

const CharsetTable* Charsets::table(int src, int dst) const {
  if (src < 0 || dst < 0) return nullptr;
  auto it = tables_.find((uint64_t(uint32_t(src)) << 32) | uint32_t(dst));
  return it == tables_.end() ? nullptr : it->second.get();
}

void Recoder::recode(std::string_view in, std::string& out) {
  switch (table_->kind) {
    case CharsetTable::Kind::kByte:
      for (unsigned char c : in) out += char(table_->byte[c]);
      return;
    case CharsetTable::Kind::kToUtf8:
      for (unsigned char c : in) out.append(table_->utf8[c], table_->utf8_len[c]);
      return;
    case CharsetTable::Kind::kFromUtf8:
      from_utf8(in, out);
      return;
  }
}

void Recoder::from_utf8(std::string_view in, std::string& out) {
  // A sequence split between pieces: complete it from the front of this one.
  while (saved_len_ > 0 && !in.empty()) {
    saved_[saved_len_++] = in.front();
    in.remove_prefix(1);
    Decoded d = decode_utf8(reinterpret_cast<const unsigned char*>(saved_), saved_len_);
    if (d.len == 0 && saved_len_ < 4) continue;
    if (d.len == 0 || d.cp == UINT32_MAX) {
      // Invalid: the first byte becomes '?', the rest is read again.
      out += '?';
      std::string_view rest(saved_ + 1, saved_len_ - 1);
      saved_len_ = 0;
      std::string again(rest);
      again.append(in);
      from_utf8(again, out);
      return;
    }
    saved_len_ = 0;
    auto it = table_->from.find(d.cp);
    if (d.cp < 0x80)
      out += char(d.cp);
    else if (it != table_->from.end())
      out += char(it->second);
    else
      fmt::format_to(std::back_inserter(out), "&#{};", d.cp);
  }
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size(), i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      out += char(p[i++]);
      continue;
    }
    Decoded d = decode_utf8(p + i, n - i);
    if (d.len == 0) {
      saved_len_ = n - i;
      std::copy(in.data() + i, in.data() + n, saved_);
      return;
    }
    i += d.len;
    if (d.cp == UINT32_MAX) {
      out += '?';
      continue;
    }
    auto it = table_->from.find(d.cp);
    if (it != table_->from.end())
      out += char(it->second);
    else
      fmt::format_to(std::back_inserter(out), "&#{};", d.cp);
  }
}

void Recoder::finish(std::string& out) {
  if (saved_len_ > 0) out += '?';
  saved_len_ = 0;
}

ContentTypeParts split_content_type(std::string_view v) {
  ContentTypeParts p;
  size_t semi = v.find(';');
  p.type = trim(v.substr(0, semi));
  while (semi != std::string_view::npos) {
    v.remove_prefix(semi + 1);
    semi = v.find(';');
    std::string_view param = trim(v.substr(0, semi));
    if (param.size() > 8 && iequals(param.substr(0, 8), "charset=")) {
      std::string_view cs = param.substr(8);
      if (cs.size() >= 2 && cs.front() == '"' && cs.back() == '"') cs = cs.substr(1, cs.size() - 2);
      p.charset = cs;
    }
  }
  return p;
}

}  // namespace portico::static_files
