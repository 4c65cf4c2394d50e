#include "http/module.h"

#include <cassert>
#include <vector>

namespace portico::http {

namespace {

std::vector<Module*>& registered() {
  static std::vector<Module*> list;
  return list;
}

const ContentHandler* default_handler = nullptr;

// The modules that offer body filters: the response path asks only these.
std::vector<Module*>& filter_modules() {
  static std::vector<Module*> list;
  return list;
}

}  // namespace

const ContentHandler& default_content() {
  assert(default_handler);
  return *default_handler;
}

void set_default_content(const ContentHandler& h) {
  default_handler = &h;
}

std::span<Module* const> modules() {
  return registered();
}

void register_module(Module& m) {
  for (Module* x : registered()) assert(x != &m && "module registered twice");
  m.index = int(registered().size());
  registered().push_back(&m);
  if (m.body_filter) filter_modules().push_back(&m);
  register_variables(m.variables);
}

BodyFilter* find_body_filter(Request& r) {
  for (const Module* m : filter_modules())
    if (BodyFilter* f = m->body_filter(r)) return f;
  return nullptr;
}

const Command* find_command(std::string_view name, uint32_t context) {
  for (const Module* m : registered())
    for (const Command& c : m->commands)
      if (c.spec.name == name && (c.spec.contexts & context)) return &c;
  return nullptr;
}

void register_directives(config::Registry& r) {
  for (const Module* m : registered())
    for (const Command& c : m->commands) r.add(c.spec);
}

}  // namespace portico::http
