// The headers module's directives (nginx's ngx_http_headers_module): add_header and expires,
// applied to local and proxied responses (http/response.cpp append_add_headers).
#include <fmt/format.h>

#include "core/strings.h"
#include "http/http_modules.h"
#include "http/level.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

namespace {

// expires [modified] TIME | @TIME-OF-DAY | epoch | max | off (nginx's messages).
void set_expires(Level& lv, const Directive& d) {
  using Kind = LocationConf::Expires::Kind;
  LocationConf::Expires e;
  const auto& a = d.args;
  bool modified = false;
  size_t i = 0;
  if (a.size() == 2) {
    if (a[0] != "modified") {
      lv.error(d, "\"expires\" directive invalid value");
      return;
    }
    modified = true;
    i = 1;
  }
  std::string_view v = a[i];
  if (!modified && v == "epoch") {
    e.kind = Kind::kEpoch;
  } else if (!modified && v == "max") {
    e.kind = Kind::kMax;
  } else if (!modified && v == "off") {
    e.kind = Kind::kOff;
  } else {
    if (v.find('$') != std::string_view::npos) {
      lv.error(d, "variables in \"expires\" are not supported by portico yet");
      return;
    }
    bool daily = false, minus = false;
    if (!v.empty() && v[0] == '@') {
      daily = true;
      v.remove_prefix(1);
    } else if (!v.empty() && v[0] == '-') {
      minus = true;
      v.remove_prefix(1);
    } else if (!v.empty() && v[0] == '+') {
      v.remove_prefix(1);
    }
    auto ms = parse_time_ms(v);
    if (!ms || *ms % 1000 != 0 || *ms / 1000 > uint64_t(INT32_MAX)) {
      lv.error(d, "\"expires\" directive invalid value");
      return;
    }
    const int64_t secs = int64_t(*ms / 1000);
    if (daily) {
      if (secs >= 86400) {
        lv.error(d, "daily time value must be less than 24 hours");
        return;
      }
      if (modified) {
        lv.error(d, "daily time cannot be used with \"modified\" parameter");
        return;
      }
      e.kind = Kind::kDaily;
      e.seconds = secs;
    } else {
      e.kind = modified ? Kind::kModified : Kind::kAccess;
      e.seconds = minus ? -secs : secs;
    }
  }
  lv.loc.expires = e;
}

void set_add_header(Level& lv, const Directive& d) {
  const auto& a = d.args;
  if (lv.first(d)) lv.loc.add_headers.clear();
  AddHeader ah;
  ah.name = a[0];
  if (a.size() == 3) {
    if (a[2] != "always") {
      lv.error(d, fmt::format("invalid parameter \"{}\"", a[2]));
      return;
    }
    ah.always = true;
  }
  if (lv.value(d, a[1], &ah.value)) lv.loc.add_headers.push_back(std::move(ah));
}

const Command kCommands[] = {
    {{"add_header", kHSLI, 2, 3, BlockKind::kNone, 0, false}, set_add_header},
    {{"expires", kHSLI, 1, 2, BlockKind::kNone, 0, true}, set_expires},
};

}  // namespace

Module headers_module = {.name = "headers", .commands = kCommands};

}  // namespace portico::http
