// The static module as the http host sees it: its location settings (index, etag,
// if_modified_since, max_ranges) and its directive table (static/directives.cpp), and the
// content handler that answers every location whose content no other module claims
// (static/static_handler.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/module.h"
#include "http/variables.h"
#include "static/conditional.h"

namespace portico::static_files {

extern http::Module static_module;
// The default content handler (files, index files, directories).
extern const http::ContentHandler kStaticContent;

struct StaticConf : http::ModuleConfOf<StaticConf> {
  static http::Module& module() { return static_module; }
  std::vector<http::ComplexValue> index{http::ComplexValue::literal_value("index.html")};
  bool etag = true;
  ImsMode if_modified_since = ImsMode::kExact;
  uint32_t max_ranges = UINT32_MAX;
};

// Precompressed variants of a file ("FILE.gz" for gzip_static, ".br", ".zst"): which ones may
// answer a request, best first. Asked of the module that owns those directives (compress),
// through the lookup server/modules.cpp sets once at start-up.
struct PrecompressedChoice {
  struct Variant {
    std::string_view suffix;    // ".gz"
    std::string_view encoding;  // its Content-Encoding: "gzip"
    bool serve = false;         // the client takes it (or `always`); else only looked at for vary
  };
  Variant variants[3];
  size_t count = 0;
  bool vary = false;  // a variant found on disk adds "Vary: Accept-Encoding" (gzip_vary)
};
using PrecompressedLookup = void (*)(const http::Request& r, PrecompressedChoice& out);
// REQUIRES: start-up, before any worker runs.
void set_precompressed_lookup(PrecompressedLookup lookup);

}  // namespace portico::static_files
