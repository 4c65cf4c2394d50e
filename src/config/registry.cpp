#include "config/registry.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <unordered_set>

namespace portico::config {

namespace {

// A malformed registration is a bug in the registering subsystem: stop at startup, loudly.
void check_spec(bool ok, std::string_view name, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "config registry: directive \"%.*s\": %s\n", static_cast<int>(name.size()),
               name.data(), what);
  std::abort();
}

ConfigError error_at(const Directive& d, std::string message) {
  return ConfigError{std::move(message), d.file, d.line};
}

}  // namespace

uint32_t child_context(const DirectiveSpec& spec, uint32_t parent) {
  if (spec.block_context != kIfBlockContext) return spec.block_context;
  if (parent & (kServer | kServerIf)) return kServerIf;
  if (parent & (kLocation | kLocationIf)) return kLocationIf;
  return parent;
}

void Registry::add(const DirectiveSpec& spec) {
  check_spec(!spec.name.empty(), spec.name, "empty name");
  check_spec(spec.contexts != 0 && (spec.contexts & ~kAnyContext) == 0, spec.name,
             "contexts must be a non-empty OR of context bits");
  check_spec(spec.min_args >= 0 && spec.min_args <= spec.max_args, spec.name,
             "need 0 <= min_args <= max_args");
  check_spec(spec.block == BlockKind::kNone || spec.block_context != 0, spec.name,
             "a block directive needs a block_context");
  check_spec(spec.block != BlockKind::kNone || spec.block_context == 0, spec.name,
             "block_context without a block");

  auto it = specs_.find(spec.name);
  if (it == specs_.end())
    it = specs_.emplace(std::string(spec.name), std::vector<DirectiveSpec>{}).first;
  for (const DirectiveSpec& other : it->second) {
    check_spec((other.contexts & spec.contexts) == 0, spec.name,
               "registered twice for the same context");
  }
  DirectiveSpec copy = spec;
  copy.name = it->first;  // the key outlives the caller's string
  it->second.push_back(copy);
  ++count_;
}

void Registry::add(std::initializer_list<DirectiveSpec> specs) {
  for (const DirectiveSpec& spec : specs) add(spec);
}

void Registry::add(std::span<const DirectiveSpec> specs) {
  for (const DirectiveSpec& spec : specs) add(spec);
}

const DirectiveSpec* Registry::find(std::string_view name, uint32_t context) const {
  auto it = specs_.find(name);
  if (it == specs_.end()) return nullptr;
  for (const DirectiveSpec& spec : it->second) {
    if (spec.contexts & context) return &spec;
  }
  return nullptr;
}

bool Registry::known(std::string_view name) const {
  return specs_.find(name) != specs_.end();
}

std::vector<ConfigError> Registry::validate(const std::vector<Directive>& directives,
                                            uint32_t context) const {
  std::vector<ConfigError> errors;
  validate_block(directives, context, errors);
  return errors;
}

// The checks and their order are ngx_conf_handler()'s, then the "is duplicate" of the
// ngx_conf_set_*_slot handlers. Unlike nginx we go on after an error to report the rest.
void Registry::validate_block(const std::vector<Directive>& block, uint32_t context,
                              std::vector<ConfigError>& errors) const {
  std::unordered_set<std::string_view> seen;  // unique directives met in this block
  for (const Directive& d : block) {
    if (!known(d.name)) {
      errors.push_back(error_at(d, fmt::format("unknown directive \"{}\"", d.name)));
      continue;
    }
    const DirectiveSpec* spec = find(d.name, context);
    if (spec == nullptr) {
      errors.push_back(error_at(d, fmt::format("\"{}\" directive is not allowed here", d.name)));
      continue;
    }
    if (spec->block == BlockKind::kNone && d.has_block) {
      errors.push_back(
          error_at(d, fmt::format("directive \"{}\" is not terminated by \";\"", d.name)));
      continue;
    }
    if (spec->block != BlockKind::kNone && !d.has_block) {
      errors.push_back(error_at(d, fmt::format("directive \"{}\" has no opening \"{{\"", d.name)));
      continue;
    }

    const size_t nargs = d.args.size();
    if (nargs < static_cast<size_t>(spec->min_args) ||
        nargs > static_cast<size_t>(spec->max_args)) {
      errors.push_back(
          error_at(d, fmt::format("invalid number of arguments in \"{}\" directive", d.name)));
    } else if (spec->unique && !seen.insert(d.name).second) {
      errors.push_back(error_at(d, fmt::format("\"{}\" directive is duplicate", d.name)));
    }

    if (spec->block == BlockKind::kBlock) {
      validate_block(d.block, child_context(*spec, context), errors);
    } else if (spec->block == BlockKind::kFreeform) {
      // nginx hands these statements to the block's own handler, which has no blocks.
      for (const Directive& child : d.block) {
        if (child.has_block) errors.push_back(error_at(child, "unexpected \"{\""));
      }
    }
  }
}

}  // namespace portico::config
