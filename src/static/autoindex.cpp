#include "static/autoindex.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/http_date.h"

namespace portico::static_files {

namespace {

constexpr size_t kNameLen = 50;  // nginx's NGX_HTTP_AUTOINDEX_NAME_LEN
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void escape_html(std::string_view s, std::string& out) {
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
}

// A URI path segment: everything but unreserved characters as %XX (a ':' cannot make the
// link a scheme, '?' and '#' stay in the name).
void escape_component(std::string_view s, std::string& out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

void escape_json(std::string_view s, std::string& out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += char(c);
    }
  }
}

// The length of s in characters (UTF-8) and the byte offset of character `n`.
size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}
size_t utf8_offset(std::string_view s, size_t chars) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) {
      if (n == chars) return i;
      ++n;
    }
  }
  return s.size();
}

struct tm time_of(time_t t, const ListingOptions& o) {
  struct tm tm;
  time_t shifted = t + (o.localtime ? o.gmtoff : 0);
  gmtime_r(&shifted, &tm);
  return tm;
}

void html_size(const DirEntry& e, bool exact, std::string& out) {
  if (exact) {
    if (e.dir)
      out += "                  -";
    else
      fmt::format_to(std::back_inserter(out), "{:>19}", e.size);
    return;
  }
  if (e.dir) {
    out += "      -";
    return;
  }
  const uint64_t len = e.size;
  uint64_t size;
  char scale = 0;
  constexpr uint64_t kG = 1024ull * 1024 * 1024, kM = 1024 * 1024;
  if (len > kG - 1) {
    size = len / kG + (len % kG > kG / 2 - 1);
    scale = 'G';
  } else if (len > kM - 1) {
    size = len / kM + (len % kM > kM / 2 - 1);
    scale = 'M';
  } else if (len > 9999) {
    size = len / 1024 + (len % 1024 > 511);
    scale = 'K';
  } else {
    size = len;
  }
  if (scale)
    fmt::format_to(std::back_inserter(out), "{:>6}{}", size, scale);
  else
    fmt::format_to(std::back_inserter(out), " {:>6}", size);
}

void format_html(const std::vector<DirEntry>& entries, const ListingOptions& o, std::string& out) {
  out += "<html>\r\n<head><title>Index of ";
  escape_html(o.uri, out);
  out += "</title></head>\r\n<body>\r\n<h1>Index of ";
  escape_html(o.uri, out);
  out += "</h1><hr><pre><a href=\"../\">../</a>\r\n";
  for (const DirEntry& e : entries) {
    out += "<a href=\"";
    escape_component(e.name, out);
    if (e.dir) out += '/';
    out += "\">";
    size_t len = o.utf8 ? utf8_chars(e.name) : e.name.size();
    if (len > kNameLen) {
      // The first 47 characters, then "..>".
      const size_t cut = o.utf8 ? utf8_offset(e.name, kNameLen - 3) : kNameLen - 3;
      escape_html(std::string_view(e.name).substr(0, cut), out);
      out += "..&gt;</a>";
    } else {
      escape_html(e.name, out);
      if (e.dir && len < kNameLen) {
        out += '/';
        ++len;
      }
      out += "</a>";
      out.append(kNameLen - len, ' ');
    }
    out += ' ';
    const struct tm tm = time_of(e.mtime, o);
    fmt::format_to(std::back_inserter(out), "{:02}-{}-{} {:02}:{:02} ", tm.tm_mday,
                   kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    html_size(e, o.exact_size, out);
    out += "\r\n";
  }
  out += "</pre><hr></body>\r\n</html>\r\n";
}

void format_json(const std::vector<DirEntry>& entries, const ListingOptions& o, std::string& out) {
  if (o.format == AutoindexFormat::kJsonp && !o.callback.empty()) {
    out += "/* callback */\r\n";
    out += o.callback;
    out += '(';
  }
  out += '[';
  bool first = true;
  for (const DirEntry& e : entries) {
    if (!first) out += ',';
    first = false;
    out += "\r\n{ \"name\":\"";
    escape_json(e.name, out);
    out += "\", \"type\":\"";
    out += e.dir ? "directory" : e.file ? "file" : "other";
    out += "\", \"mtime\":\"";
    char buf[40];
    out += format_http_date(e.mtime, buf);
    out += '"';
    if (!e.dir && e.file) fmt::format_to(std::back_inserter(out), ", \"size\":{}", e.size);
    out += " }";
  }
  out += "\r\n]";
  if (o.format == AutoindexFormat::kJsonp && !o.callback.empty()) out += ");";
}

void format_xml(const std::vector<DirEntry>& entries, std::string& out) {
  out += "<?xml version=\"1.0\"?>\r\n<list>\r\n";
  for (const DirEntry& e : entries) {
    const char* tag = e.dir ? "directory" : e.file ? "file" : "other";
    const struct tm tm = time_of(e.mtime, ListingOptions{});
    fmt::format_to(std::back_inserter(out), "<{} mtime=\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z\"",
                   tag, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec);
    if (!e.dir && e.file) fmt::format_to(std::back_inserter(out), " size=\"{}\"", e.size);
    out += '>';
    escape_html(e.name, out);
    fmt::format_to(std::back_inserter(out), "</{}>\r\n", tag);
  }
  out += "</list>\r\n";
}

}  // namespace

void sort_entries(std::vector<DirEntry>& entries) {
  std::sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) {
    if (a.dir != b.dir) return a.dir;
    return a.name < b.name;
  });
}

void format_listing(const std::vector<DirEntry>& entries, const ListingOptions& o,
                    std::string& out) {
  switch (o.format) {
    case AutoindexFormat::kHtml:
      return format_html(entries, o, out);
    case AutoindexFormat::kJson:
    case AutoindexFormat::kJsonp:
      return format_json(entries, o, out);
    case AutoindexFormat::kXml:
      return format_xml(entries, out);
  }
}

bool valid_callback(std::string_view name) {
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '$'))
      return false;
  return true;
}

}  // namespace portico::static_files
