// The headers module's directives (nginx's ngx_http_headers_module): add_header, add_trailer
// and expires, applied to local and proxied responses (http/response.cpp apply_headers_filter).
#include <fmt/format.h>

#include "core/strings.h"
#include "http/http_modules.h"
#include "http/level.h"
#include "http/phases.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

// expires [modified] TIME | @TIME-OF-DAY | epoch | max | off | a value with variables, parsed
// per response (nginx's messages).
void set_expires(Level& lv, const Directive& d) {
  const auto& a = d.args;
  bool modified = false;
  if (a.size() == 2) {
    if (a[0] != "modified") {
      lv.error(d, "\"expires\" directive invalid value");
      return;
    }
    modified = true;
  }
  const std::string& v = a.back();
  LocationConf::Expires e;
  if (v.find('$') != std::string::npos) {
    if (!lv.value(d, v, &e.value)) return;
    e.kind = LocationConf::Expires::Kind::kVariable;
    e.modified = modified;
    lv.loc.expires = std::move(e);
    return;
  }
  if (const char* err = parse_expires(v, modified, &e)) {
    lv.error(d, err);
    return;
  }
  lv.loc.expires = std::move(e);
}

// add_header and add_trailer: NAME VALUE [always]; a level's own list replaces its parent's.
void set_add_header(Level& lv, const Directive& d) {
  const auto& a = d.args;
  std::vector<AddHeader>& list = d.name == "add_trailer" ? lv.loc.add_trailers : lv.loc.add_headers;
  if (lv.first(d)) list.clear();
  AddHeader ah;
  ah.name = a[0];
  if (a.size() == 3) {
    if (a[2] != "always") {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a[2]));
      return;
    }
    ah.always = true;
  }
  if (lv.value(d, a[1], &ah.value)) list.push_back(std::move(ah));
}

const Command kCommands[] = {
    {{"add_header", kHSLI, 2, 3, BlockKind::kNone, 0, false}, set_add_header},
    {{"add_trailer", kHSLI, 2, 3, BlockKind::kNone, 0, false}, set_add_header},
    {{"expires", kHSLI, 1, 2, BlockKind::kNone, 0, true}, set_expires},
};

}  // namespace

Module headers_module = {.name = "headers", .commands = kCommands};

}  // namespace portico::http
