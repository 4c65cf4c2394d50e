// The static module as the http host sees it: its location settings (index, etag,
// if_modified_since, max_ranges) and its directive table (static/directives.cpp), and the
// content handler that answers every location whose content no other module claims
// (static/static_handler.cpp).
#pragma once

#include <cstdint>
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

}  // namespace portico::static_files
