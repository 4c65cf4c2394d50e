// The map module's directive (nginx's ngx_http_map_module): `map $source $variable { ... }`
// blocks, built before the servers so every level can use the variable.
#include <fmt/format.h>

#include "core/strings.h"
#include "http/http_modules.h"
#include "http/level.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

NamedCaptures named_captures_of(const Regex& re, VariableTable& vars);

namespace {

void build_map(Level& lv, const Directive& d) {
  const auto& a = d.args;
  if (a[1].size() < 2 || a[1][0] != '$') {
    lv.error(d, fmt::format("invalid variable name \"{}\"", a[1]));
    return;
  }
  auto m = std::make_unique<MapConf>();
  if (!lv.value(d, a[0], &m->source)) return;
  for (const auto& e : d.block) {
    // In a map block each entry is "key value;" read as a directive named `key`.
    if (e.name == "hostnames" || e.name == "volatile") continue;
    if (e.name == "include") continue;  // expanded by the parser
    if (e.args.size() != 1) {
      lv.error(e, "invalid number of the map parameters");
      continue;
    }
    ComplexValue value;
    if (!lv.value(e, e.args[0], &value)) continue;
    if (e.name == "default" && !e.name_quoted) {
      m->default_value = std::move(value);
    } else if (!e.name_quoted && e.name.size() > 1 && e.name[0] == '~') {
      bool caseless = e.name.size() > 2 && e.name[1] == '*';
      std::string pattern = e.name.substr(caseless ? 2 : 1);
      std::string error;
      auto re = Regex::compile(pattern, caseless, &error);
      if (!re) {
        lv.error(e, error);
        continue;
      }
      auto named = named_captures_of(*re, lv.vars());
      m->regexes.push_back({std::move(re), std::move(value), std::move(named)});
    } else {
      std::string key = e.name;
      if (!key.empty() && key[0] == '\\') key.erase(0, 1);  // "\~x" is the literal "~x"
      m->exact.emplace(to_lower(key), std::move(value));
    }
  }
  int index = lv.vars().user_index(std::string_view(a[1]).substr(1));
  lv.vars().set_map(index, m.get());
  lv.http().maps.push_back(std::move(m));
}

void begin_http(Level& lv, const Directive& http) {
  for (const auto& d : http.block)
    if (d.name == "map") build_map(lv, d);
}

const Command kCommands[] = {
    {{"map", kHttp, 2, 2, BlockKind::kFreeform, kMap, false}, nullptr, When::kBuilder},
};

}  // namespace

Module map_module = {.name = "map", .commands = kCommands, .begin_http = begin_http};

}  // namespace portico::http
