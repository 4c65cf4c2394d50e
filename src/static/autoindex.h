// Directory listings of the autoindex module (nginx's ngx_http_autoindex_module): the
// entries of one directory, sorted as nginx sorts them (directories first, then by name in byte
// order; names starting with '.' are left out), formatted as html, json, jsonp or xml. Pure
// formatting (unit tested); reading the directory is autoindex_module.cpp's.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace portico::static_files {

enum class AutoindexFormat : uint8_t { kHtml, kXml, kJson, kJsonp };

struct DirEntry {
  std::string name;
  bool dir = false;
  bool file = true;  // a regular file (json/xml "file"; otherwise "other")
  time_t mtime = 0;
  uint64_t size = 0;
};

struct ListingOptions {
  AutoindexFormat format = AutoindexFormat::kHtml;
  bool exact_size = true;
  bool localtime = false;
  long gmtoff = 0;            // seconds east of UTC, for localtime
  bool utf8 = false;          // the response's charset is utf-8: names are cut by characters
  std::string_view uri;       // the directory's URI (titles)
  std::string_view callback;  // jsonp
};

void sort_entries(std::vector<DirEntry>& entries);
// Appends the listing to `out`.
void format_listing(const std::vector<DirEntry>& entries, const ListingOptions& o,
                    std::string& out);
// The jsonp callback names nginx accepts: letters, digits, '_', '.' and '$'.
bool valid_callback(std::string_view name);

}  // namespace portico::static_files
